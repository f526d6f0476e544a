"""Dropout: zero elements at random during training, rescaling the rest.

`broadcast_axes` names axes along which one random decision is shared (e.g. drop
whole positions for every embedding dimension at once). The mask is drawn over
the remaining axes, by name, so the layout of the input does not matter: the
random bits are drawn with the axes in name order and then laid out like the input,
so `x` and `x.rearrange(...)` get the same mask at every named position.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import AxisSelection, axis_name, axis_positions, axis_spec_to_tuple
from namedax.core._broadcast import align_array
from namedax.core._errors import describe
from namedax.ops._random import canonical_axes, single_key

__all__ = ["Dropout", "dropout"]


def dropout(
    x: NamedArray,
    pdrop: float,
    broadcast_axes: AxisSelection | None = None,
    *,
    inference: bool,
    key: Any = None,
) -> NamedArray:
    """Zeroes each element of `x` with probability `pdrop` and scales the rest by `1/(1-pdrop)`.

    Args:
        x: The input.
        pdrop: The drop probability, in [0, 1].
        broadcast_axes: Axes along which the same decision is used (one mask value
            per combination of the other axes).
        inference: If true, `x` is returned unchanged.
        key: A PRNG key (or a 0-d NamedArray holding one, as a `Stacked` call passes
            a per-layer slice of keys); required unless `inference` or `pdrop == 0`.

    Returns:
        A NamedArray with the axes of `x`.

    Raises:
        ValueError: If `pdrop` is outside [0, 1], no key is given when one is needed,
            or `x` lacks a broadcast axis.
        TypeError: If `x` is not a NamedArray.

    Examples:
        >>> x = named(jnp.ones((2, 3)), ("batch", "embed"))
        >>> y = nx.nn.dropout(x, 0.5, "embed", inference=False, key=jax.random.key(0))
        >>> bool(((y.array == 0) | (y.array == 2)).all())
        True
        >>> nx.nn.dropout(x, 0.5, inference=True) is x
        True
    """
    if not isinstance(x, NamedArray):
        raise TypeError(f"dropout: x must be a NamedArray, got {describe(x)}.")
    if isinstance(pdrop, (int, float)) and not 0.0 <= pdrop <= 1.0:
        raise ValueError(f"dropout: pdrop must lie in [0, 1], got {pdrop}.")
    if inference or (isinstance(pdrop, (int, float)) and pdrop == 0):
        return x
    if key is None:
        raise ValueError(
            "dropout: a PRNG key is needed in training mode. Pass key=..., or run in inference "
            "mode (Dropout(..., inference=True), or call it with inference=True)."
        )
    key = single_key(key, "dropout")
    shared = (
        set() if broadcast_axes is None else set(axis_positions(x.axes, broadcast_axes, "dropout"))
    )
    drawn = canonical_axes(tuple(ax for i, ax in enumerate(x.axes) if i not in shared))
    keep = 1.0 - pdrop
    mask = jax.random.bernoulli(key, keep, tuple(ax.size for ax in drawn))
    mask = align_array(mask, drawn, x.axes)  # size 1 along the broadcast axes
    out = jnp.where(mask, x.array / jnp.asarray(keep, x.dtype), jnp.zeros((), x.dtype))
    return _wrap(out, x.axes)


class Dropout(eqx.Module):
    """A dropout layer; see `dropout`.

    Args:
        pdrop: The drop probability.
        broadcast_axes: Axes along which one random decision is shared.
        inference: The default mode; a call may override it with `inference=`.

    Examples:
        >>> drop = nx.nn.Dropout(0.1, inference=True)
        >>> x = named(jnp.ones(3), "embed")
        >>> drop(x) is x
        True
    """

    pdrop: float = eqx.field(static=True)
    broadcast_axes: tuple[str, ...] | None = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        pdrop: float = 0.5,
        broadcast_axes: AxisSelection | None = None,
        inference: bool = False,
    ):
        if not 0.0 <= pdrop <= 1.0:
            raise ValueError(f"Dropout: pdrop must lie in [0, 1], got {pdrop}.")
        self.pdrop = pdrop
        self.broadcast_axes = (
            None
            if broadcast_axes is None
            else tuple(axis_name(a) for a in axis_spec_to_tuple(broadcast_axes))  # type: ignore[misc]
        )
        self.inference = inference

    def __call__(
        self, x: NamedArray, *, inference: bool | None = None, key: Any = None
    ) -> NamedArray:
        """Applies dropout; `inference` (if given) overrides the layer's mode."""
        if inference is None:
            inference = self.inference
        return dropout(x, self.pdrop, self.broadcast_axes, inference=inference, key=key)
