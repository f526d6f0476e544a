"""Normalisation: `softmax`, `log_softmax`, `logsumexp`, `standardize`, and the `LayerNormBase`
modules `LayerNorm` and `RmsNorm`.

Each function normalises over the axes it is given by name and keeps (or, for
`logsumexp`, removes) them; the other axes are batch axes. The axis may be one
axis or several, and it may sit anywhere in the array.

Examples:
    >>> x = named(jnp.array([[1.0, 2.0], [3.0, 5.0]]), ("batch", "vocab"))
    >>> nx.nn.softmax(x, "vocab").array.sum(axis=1).round(4)
    Array([1., 1.], dtype=float32)
    >>> nx.nn.logsumexp(x, "vocab").axes
    (Axis(name='batch', size=2),)
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Self

import equinox as eqx
import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import (
    Axis,
    AxisSelection,
    AxisSpec,
    axis_positions,
    check_unique_names,
    sized_axes,
)
from namedax.core._broadcast import align_array
from namedax.core._errors import describe, format_axes
from namedax.parallel._sharding import auto_sharded, explicit_sharded

from ._export import ModuleWithStateDictSerialization, flatten_norm, unflatten_norm
from ._init_hint import builds_with_init

__all__ = [
    "LayerNorm",
    "LayerNormBase",
    "RmsNorm",
    "log_softmax",
    "logsumexp",
    "softmax",
    "standardize",
]


def _positions(op: str, x: Any, axis: AxisSelection | None) -> tuple[int, ...]:
    if not isinstance(x, NamedArray):
        raise TypeError(f"{op}: expected a NamedArray, got {describe(x)}.")
    if axis is None:
        return tuple(range(x.ndim))
    return axis_positions(x.axes, axis, op)


def _aligned(op: str, name: str, value: Any, x: NamedArray) -> Any:
    """`value` (a NamedArray with some of `x`'s axes, or a scalar) aligned to `x` by name."""
    if value is None or not isinstance(value, NamedArray):
        return value
    names = set(x.axis_names)
    extra = [a for a in value.axes if a.name not in names]
    if extra:
        raise ValueError(
            f"{op}: {name} {format_axes(value.axes)} has axes {format_axes(extra)} that x "
            f"{format_axes(x.axes)} lacks. It is broadcast against x by name, so its axes must "
            "be a subset of x's."
        )
    for a in value.axes:
        axis_positions(x.axes, a, op)  # checks the size
    return align_array(value.array, value.axes, x.axes)


def softmax(x: NamedArray, axis: AxisSelection | None = None) -> NamedArray:
    """Softmax over `axis` (one axis or several; all axes if None); the axes are kept.

    Args:
        x: The logits.
        axis: The axes the probabilities sum to one over.

    Returns:
        A NamedArray with the axes of `x`.

    Raises:
        ValueError: If `x` lacks an axis of `axis`.

    Examples:
        >>> x = named(jnp.zeros((2, 4)), ("batch", "vocab"))
        >>> nx.nn.softmax(x, "vocab").array[0]
        Array([0.25, 0.25, 0.25, 0.25], dtype=float32)
    """
    positions = _positions("softmax", x, axis)
    return _wrap(jax.nn.softmax(x.array, axis=positions), x.axes)


def log_softmax(x: NamedArray, axis: AxisSelection | None = None) -> NamedArray:
    """Log of the softmax over `axis` (all axes if None), computed stably; the axes are kept.

    Examples:
        >>> x = named(jnp.zeros(4), "vocab")
        >>> nx.nn.log_softmax(x, "vocab").array
        Array([-1.3862944, -1.3862944, -1.3862944, -1.3862944], dtype=float32)
    """
    positions = _positions("log_softmax", x, axis)
    return _wrap(jax.nn.log_softmax(x.array, axis=positions), x.axes)


def logsumexp(x: NamedArray, axis: AxisSelection | None = None) -> NamedArray:
    """`log(sum(exp(x)))` over `axis` (all axes if None), computed stably; those axes are removed.

    Examples:
        >>> x = named(jnp.zeros((2, 4)), ("batch", "vocab"))
        >>> y = nx.nn.logsumexp(x, "vocab")
        >>> y.axes, y.array
        ((Axis(name='batch', size=2),), Array([1.3862944, 1.3862944], dtype=float32))
    """
    positions = _positions("logsumexp", x, axis)
    out = jax.nn.logsumexp(x.array, axis=positions)
    return _wrap(out, tuple(a for i, a in enumerate(x.axes) if i not in positions))


def standardize(
    x: NamedArray,
    axis: AxisSelection,
    *,
    mean: NamedArray | None = None,
    variance: NamedArray | None = None,
    epsilon: float = 1e-5,
    where: NamedArray | None = None,
) -> NamedArray:
    """Subtracts the mean and divides by the standard deviation over `axis`.

    Args:
        x: The input.
        axis: The axes the statistics are taken over.
        mean: A precomputed mean (axes a subset of `x`'s); computed if None.
        variance: A precomputed variance (axes a subset of `x`'s); computed if None.
        epsilon: Added to the variance before the square root.
        where: A boolean mask, broadcast to `x` by name: only those elements enter
            the statistics.

    Returns:
        A NamedArray with the axes of `x`.

    Raises:
        ValueError: If `x` lacks an axis of `axis`, or `mean`/`variance`/`where` has an
            axis that `x` lacks.

    Examples:
        >>> x = named(jnp.array([[1.0, 3.0], [2.0, 6.0]]), ("batch", "embed"))
        >>> nx.nn.standardize(x, "embed", epsilon=0.0).array
        Array([[-1.,  1.],
               [-1.,  1.]], dtype=float32)
    """
    positions = _positions("standardize", x, axis)
    out = jax.nn.standardize(
        x.array,
        axis=positions,
        mean=_aligned("standardize", "mean", mean, x),
        variance=_aligned("standardize", "variance", variance, x),
        epsilon=epsilon,
        where=_aligned("standardize", "where", where, x),
    )
    return _wrap(out, x.axes)


class LayerNormBase(ModuleWithStateDictSerialization):
    """What `LayerNorm` and `RmsNorm` share: the axes, the optional affine parameters, `eps`.

    Subclass it to write another normalisation over named axes: `init` builds the
    parameters, and a subclass's `__call__` normalises `x` with `_input` (the array in
    the computation dtype, and the positions of the normalised axes) and finishes with
    `_affine` (back to the input's dtype, then `* weight + bias`, aligned by name).

    Attributes:
        axis: The normalised axis or axes (sized), as given to `init`.
        weight: The scale, with the axes of `axis`, or None.
        bias: The offset, with the axes of `axis`, or None.
        eps: Added inside the square root.
        dtype: The computation dtype (None: the input's).
    """

    axis: AxisSpec = eqx.field(static=True)
    weight: NamedArray | None
    bias: NamedArray | None
    eps: float = eqx.field(static=True, default=1e-5)
    dtype: Any = eqx.field(static=True, default=None)

    @classmethod
    def init(
        cls,
        axis: AxisSpec,
        eps: float = 1e-5,
        *,
        use_weight: bool = True,
        use_bias: bool = True,
        dtype: Any = None,
    ) -> Self:
        """Builds the module over `axis` (one axis or several, fully sized).

        Args:
            axis: The normalised axes; also the axes of `weight` and `bias`.
            eps: Added to the variance (or mean square) inside the square root.
            use_weight: Whether to learn a scale (initialised to ones).
            use_bias: Whether to learn an offset (initialised to zeros).
            dtype: The dtype of the computation (default: the input's); the result has
                the input's dtype before the affine parameters (float32) are applied.

        Returns:
            The module.

        Examples:
            >>> norm = nx.nn.RmsNorm.init(Axis("embed", 4), use_bias=False)
            >>> norm.eps, norm.bias is None
            (1e-05, True)
        """
        axes = sized_axes(axis, f"{cls.__name__}.init")
        check_unique_names(axes, f"{cls.__name__}.init")
        shape = tuple(a.size for a in axes)
        weight = _wrap(jnp.ones(shape, jnp.float32), axes) if use_weight else None
        bias = _wrap(jnp.zeros(shape, jnp.float32), axes) if use_bias else None
        spec = axes[0] if isinstance(axis, Axis) else axes
        return cls(spec, weight, bias, eps, dtype)

    def flatten_for_export(self) -> Self:
        """This module in the torch layout: its axes merged into one `__OUT` axis."""
        axes = sized_axes(self.axis, type(self).__name__)
        (weight, bias), merged = flatten_norm((self.weight, self.bias), axes)
        return dataclasses.replace(self, axis=merged, weight=weight, bias=bias)

    def unflatten_from_export(self, template: Self) -> Self:
        """A module from `flatten_for_export` split back into `template`'s axes."""
        axes = sized_axes(template.axis, type(self).__name__)
        weight, bias = unflatten_norm(
            (self.weight, self.bias), axes, (template.weight, template.bias)
        )
        return dataclasses.replace(self, axis=template.axis, weight=weight, bias=bias)

    @abc.abstractmethod
    def __call__(self, x: NamedArray, *, key: Any = None) -> NamedArray:
        """Normalises `x` over the module's axes (`key` is accepted and ignored)."""

    def _affine(self, op: str, out: jax.Array, x: NamedArray) -> NamedArray:
        out = out.astype(x.dtype)
        if self.weight is not None:
            out = out * _aligned(op, "weight", explicit_sharded(self.weight), x)
        if self.bias is not None:
            out = out + _aligned(op, "bias", explicit_sharded(self.bias), x)
        return auto_sharded(_wrap(out, x.axes))  # keeps the input's mapped layout

    def _input(self, op: str, x: NamedArray) -> tuple[jax.Array, tuple[int, ...]]:
        positions = _positions(op, x, self.axis)
        array = x.array if self.dtype is None else x.array.astype(self.dtype)
        return array, positions


@builds_with_init
class LayerNorm(LayerNormBase):
    """Layer normalisation over named axes: `(x - mean) / sqrt(var + eps) * weight + bias`.

    Build it with `LayerNorm.init(axis, eps=1e-5, *, use_weight=True, use_bias=True,
    dtype=None)`. The statistics are taken over `axis` (every other axis is a batch
    axis); `weight` and `bias` have exactly the axes of `axis`.

    Examples:
        >>> Embed = Axis("embed", 4)
        >>> ln = nx.nn.LayerNorm.init(Embed)
        >>> x = named(jnp.array([[1.0, 2.0, 3.0, 4.0]]), ("batch", "embed"))
        >>> ln(x).axes == x.axes
        True
    """

    def __call__(self, x: NamedArray, *, key: Any = None) -> NamedArray:
        """Normalises `x` over the module's axes (`key` is accepted and ignored)."""
        array, positions = self._input("LayerNorm", x)
        mean = jnp.mean(array, axis=positions, keepdims=True)
        centred = array - mean
        var = jnp.mean(jnp.square(centred), axis=positions, keepdims=True)
        return self._affine("LayerNorm", centred * jax.lax.rsqrt(var + self.eps), x)


@builds_with_init
class RmsNorm(LayerNormBase):
    """Root-mean-square normalisation over named axes: `x / sqrt(mean(x**2) + eps) * weight`.

    Build it with `RmsNorm.init(axis, eps=1e-5, *, use_weight=True, use_bias=True,
    dtype=None)`: Haliax's defaults, so the module has a (zero) bias unless
    `use_bias=False`. Unlike `LayerNorm` it does not centre the input.

    Examples:
        >>> norm = nx.nn.RmsNorm.init(Axis("embed", 2), eps=0.0)
        >>> norm(named(jnp.array([3.0, 4.0]), "embed")).array.tolist()  # [3, 4] / sqrt(12.5)
        [0.8485281467437744, 1.1313709020614624]
    """

    def __call__(self, x: NamedArray, *, key: Any = None) -> NamedArray:
        """Normalises `x` over the module's axes (`key` is accepted and ignored)."""
        array, positions = self._input("RmsNorm", x)
        mean_square = jnp.mean(jnp.square(array), axis=positions, keepdims=True)
        return self._affine("RmsNorm", array * jax.lax.rsqrt(mean_square + self.eps), x)
