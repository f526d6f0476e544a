"""Losses and label encodings: `one_hot`, `cross_entropy_loss`, `binary_cross_entropy_loss`.

Losses are computed per element (every axis but the class axis is kept) and then
reduced by `reduction` (default `namedax.mean`) over `reduction_axis` (default: all
axes), counting only the elements where `where` is true. `reduction=None` returns
the per-element loss, zeroed where `where` is false.

`weight=` gives each element a weight (broadcast by name; `where` multiplies into it as
0/1). With weights, the mean is the weighted mean `sum(w * loss) / sum(w)`, which is 0
where every weight is 0; any other reduction reduces `w * loss`, and `reduction=None`
returns `w * loss`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSelection, AxisSelector, resolve_axis
from namedax.core._broadcast import apply_aligned, broadcast_to
from namedax.core._errors import describe, format_axes
from namedax.ops._dot import dot
from namedax.ops._indexing import take
from namedax.ops._reductions import mean, sum as sum_

from ._normalization import logsumexp

__all__ = [
    "binary_cross_entropy_loss",
    "cross_entropy_loss",
    "cross_entropy_loss_and_log_normalizers",
    "maybe_reduce_loss",
    "one_hot",
    "reduce_loss",
]

Reduction = Callable[..., NamedArray]


def one_hot(x: NamedArray | int | jax.Array, class_axis: Axis, *, dtype: Any = None) -> NamedArray:
    """One-hot encodes integer labels along a new axis `class_axis` (placed last).

    Args:
        x: Integer labels (a NamedArray, or one Python int).
        class_axis: The class axis. Array labels outside `[0, class_axis.size)` give all
            zeros. A scalar label (a Python int or a 0-d integer array) counts from the
            end when negative, as in Haliax: `one_hot(-1, Pos)` is the last position.
        dtype: The result dtype (default float32).

    Returns:
        A NamedArray with the axes of `x` followed by `class_axis`.

    Raises:
        TypeError: If `x` is not an integer NamedArray or int, or `class_axis` is not an Axis.
        ValueError: If `x` already has an axis named like `class_axis`.

    Examples:
        >>> labels = named(jnp.array([2, 0]), "batch")
        >>> nx.nn.one_hot(labels, Axis("class", 3)).array
        Array([[0., 0., 1.],
               [1., 0., 0.]], dtype=float32)
    """
    if not isinstance(class_axis, Axis):
        raise TypeError(f"one_hot: class_axis must be a sized Axis, got {describe(class_axis)}.")
    dtype = dtype or jnp.float32
    if not isinstance(x, NamedArray) and jnp.ndim(x) == 0:
        return _scalar_one_hot(x, class_axis, dtype)
    if not isinstance(x, NamedArray) or not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(
            f"one_hot: x must be integer labels (a NamedArray or int), got {describe(x)}."
        )
    if class_axis.name in x.axis_names:
        raise ValueError(
            f"one_hot: x {format_axes(x.axes)} already has an axis named {class_axis.name!r}."
        )
    return _wrap(jax.nn.one_hot(x.array, class_axis.size, dtype=dtype), (*x.axes, class_axis))


def _scalar_one_hot(x: Any, class_axis: Axis, dtype: Any) -> NamedArray:
    """The one-hot vector of one scalar label; negative labels count from the end."""
    n = class_axis.size
    if isinstance(x, bool) or not (
        isinstance(x, int) or jnp.issubdtype(jnp.asarray(x).dtype, jnp.integer)
    ):
        raise TypeError(
            f"one_hot: x must be integer labels (a NamedArray or int), got {describe(x)}."
        )
    if isinstance(x, int) and not -n <= x < n:
        raise ValueError(f"one_hot: label {x} is outside [-{n}, {n}) for class_axis {class_axis}.")
    index = jnp.asarray(x)
    index = jnp.where(index < 0, index + n, index)
    return _wrap(jax.nn.one_hot(index, n, dtype=dtype), (class_axis,))


def cross_entropy_loss_and_log_normalizers(
    logits: NamedArray, Label: AxisSelector, targets: NamedArray
) -> tuple[NamedArray, NamedArray]:
    """The per-element cross-entropy and `logsumexp(logits, Label)`, both without `Label`.

    Args:
        logits: Unnormalised log-probabilities with the `Label` axis.
        Label: The class axis.
        targets: Either probabilities with the `Label` axis (e.g. `one_hot` labels), or
            integer class ids without it.

    Returns:
        `(loss, log_normalizers)`.

    Raises:
        TypeError: If `targets` has neither form.
        ValueError: If `logits` lacks `Label`.
    """
    op = "cross_entropy_loss"
    if not isinstance(logits, NamedArray):
        raise TypeError(f"{op}: logits must be a NamedArray, got {describe(logits)}.")
    label = resolve_axis(logits.axes, Label, op)
    log_norm = logsumexp(logits, label)
    if not isinstance(targets, NamedArray):
        raise TypeError(f"{op}: targets must be a NamedArray, got {describe(targets)}.")
    if label.name in targets.axis_names:
        return dot(targets, log_norm - logits, axis=label), log_norm
    if jnp.issubdtype(targets.dtype, jnp.integer):
        return log_norm - take(logits, label, targets), log_norm
    raise TypeError(
        f"{op}: targets {format_axes(targets.axes)} of dtype {targets.dtype} are neither "
        f"probabilities over the label axis {label.name!r} nor integer class ids. Give class ids "
        f"as an integer array, or one_hot(ids, {label}) for probabilities."
    )


def cross_entropy_loss(
    logits: NamedArray,
    Label: AxisSelector,
    targets: NamedArray,
    reduction: Reduction | None = mean,
    where: NamedArray | None = None,
    reduction_axis: AxisSelection | None = None,
    *,
    weight: NamedArray | None = None,
) -> NamedArray:
    """Softmax cross-entropy between `logits` and `targets` over the class axis `Label`.

    Args:
        logits: Unnormalised log-probabilities with the `Label` axis.
        Label: The class axis.
        targets: Probabilities with the `Label` axis, or integer class ids without it.
        reduction: A reduction like `namedax.mean` or `namedax.sum` (called with `axis=`
            and `where=`), or None for the per-element loss.
        where: A boolean mask of the elements that count, broadcast by name.
        reduction_axis: The axes to reduce (default: all).
        weight: Per-element weights, broadcast by name (see the module documentation).

    Returns:
        The reduced loss (0-d by default).

    Examples:
        >>> Label = Axis("label", 3)
        >>> logits = named(jnp.array([[0.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), ("batch", Label))
        >>> ids = named(jnp.array([0, 1]), "batch")
        >>> nx.nn.cross_entropy_loss(logits, Label, ids, reduction=None).array.round(4)
        Array([1.0986, 0.2395], dtype=float32)
        >>> nx.nn.cross_entropy_loss(logits, Label, nx.nn.one_hot(ids, Label)).shape
        {}
    """
    loss, _ = cross_entropy_loss_and_log_normalizers(logits, Label, targets)
    return _reduce("cross_entropy_loss", loss, reduction, where, reduction_axis, weight)


def binary_cross_entropy_loss(
    logits: NamedArray,
    targets: NamedArray,
    reduction: Reduction | None = mean,
    where: NamedArray | None = None,
    reduction_axis: AxisSelection | None = None,
    *,
    weight: NamedArray | None = None,
) -> NamedArray:
    """Sigmoid cross-entropy between `logits` and `targets` in [0, 1], aligned by name.

    Computed stably as `softplus(logits) - logits * targets`.

    Args:
        logits: Unnormalised log-odds.
        targets: Probabilities (or 0/1 labels) with the axes of `logits` (broadcast by name).
        reduction: As in `cross_entropy_loss`.
        where: As in `cross_entropy_loss`.
        reduction_axis: As in `cross_entropy_loss`.
        weight: As in `cross_entropy_loss`.

    Returns:
        The reduced loss.

    Examples:
        >>> logits = named(jnp.array([0.0, 100.0]), "batch")
        >>> targets = named(jnp.array([1.0, 1.0]), "batch")
        >>> nx.nn.binary_cross_entropy_loss(logits, targets, reduction=None).array
        Array([0.6931472, 0.       ], dtype=float32)
    """
    op = "binary_cross_entropy_loss"
    if not isinstance(logits, NamedArray):
        raise TypeError(f"{op}: logits must be a NamedArray, got {describe(logits)}.")
    loss = apply_aligned(op, ("logits", "targets"), _binary_cross_entropy, (logits, targets))
    return _reduce(op, loss, reduction, where, reduction_axis, weight)


def maybe_reduce_loss(
    arr: NamedArray,
    reduction: Reduction | None,
    reduction_axis: AxisSelection | None,
    where: NamedArray | None,
    weight: NamedArray | None = None,
) -> NamedArray:
    """Haliax's loss reduction: `reduction(arr, axis=, where=)`; None or `axis=()` only masks.

    Note the argument order, Haliax's: `reduction_axis` comes before `where` (the losses
    take `where` first).

    Examples:
        >>> loss = named(jnp.array([1.0, 3.0]), "batch")
        >>> mask = named(jnp.array([1.0, 0.0]), "batch")
        >>> nx.nn.maybe_reduce_loss(loss, nx.mean, None, mask).array
        Array(1., dtype=float32)
        >>> nx.nn.maybe_reduce_loss(loss, nx.mean, (), mask).array
        Array([1., 0.], dtype=float32)
        >>> weight = named(jnp.array([1.0, 3.0]), "batch")
        >>> nx.nn.maybe_reduce_loss(loss, nx.mean, None, None, weight).array  # (1 + 9) / 4
        Array(2.5, dtype=float32)
    """
    if reduction_axis == ():
        reduction = None
    return _reduce("maybe_reduce_loss", arr, reduction, where, reduction_axis, weight)


def reduce_loss(
    arr: NamedArray,
    reduction: Reduction | None = mean,
    reduction_axis: AxisSelection | None = None,
    where: NamedArray | None = None,
    weight: NamedArray | None = None,
) -> NamedArray:
    """`maybe_reduce_loss` with Haliax's defaults: the mean over every axis.

    Examples:
        >>> nx.nn.reduce_loss(named(jnp.array([1.0, 3.0]), "batch")).array
        Array(2., dtype=float32)
        >>> zero = named(jnp.zeros(2), "batch")
        >>> nx.nn.reduce_loss(named(jnp.array([1.0, 3.0]), "batch"), weight=zero).array
        Array(0., dtype=float32)
    """
    return maybe_reduce_loss(arr, reduction, reduction_axis, where, weight)


def _reduce(
    op: str,
    loss: NamedArray,
    reduction: Reduction | None,
    where: NamedArray | None,
    reduction_axis: AxisSelection | None,
    weight: NamedArray | None = None,
) -> NamedArray:
    if weight is not None:
        return _reduce_weighted(op, loss, reduction, where, reduction_axis, weight)
    if reduction is None:
        if where is None:
            return loss
        return apply_aligned(op, ("where", "loss"), _zero_where_false, (where, loss))
    if not callable(reduction):
        raise TypeError(
            f"{op}: reduction must be a reduction such as namedax.mean, or None, got "
            f"{describe(reduction)}."
        )
    if where is None:
        return reduction(loss, axis=reduction_axis)
    return reduction(loss, axis=reduction_axis, where=where)


def _binary_cross_entropy(logits: jax.Array, targets: Any) -> jax.Array:
    return jax.nn.softplus(logits) - logits * jnp.asarray(targets, logits.dtype)


def _zero_where_false(mask: jax.Array, values: jax.Array) -> jax.Array:
    return jnp.where(mask, values, jnp.zeros((), values.dtype))


def _reduce_weighted(
    op: str,
    loss: NamedArray,
    reduction: Reduction | None,
    where: NamedArray | None,
    reduction_axis: AxisSelection | None,
    weight: NamedArray,
) -> NamedArray:
    """The weighted reduction: `where` folds into `weight`; the mean is `sum(w l) / sum(w)`."""
    if not isinstance(weight, NamedArray):
        raise TypeError(
            f"{op}: weight must be a NamedArray (per-element weights, aligned by name), got "
            f"{describe(weight)}."
        )
    if reduction is not None and not callable(reduction):
        raise TypeError(
            f"{op}: reduction must be a reduction such as namedax.mean, or None, got "
            f"{describe(reduction)}."
        )
    extra = [a for a in weight.axes if a.name not in loss.axis_names]
    if extra:
        raise ValueError(
            f"{op}: weight {format_axes(weight.axes)} has axes {format_axes(tuple(extra))} that "
            f"the per-element loss {format_axes(loss.axes)} lacks; give one weight per loss "
            "element (sum or slice the extra axes away first)."
        )
    w = broadcast_to(weight.astype(loss.dtype), loss.axes)
    if where is not None:
        w = apply_aligned(op, ("where", "weight"), _zero_where_false, (where, w))
    weighted = loss * w
    if reduction is None:
        return weighted
    if reduction is not mean and reduction is not jnp.mean:
        return reduction(weighted, axis=reduction_axis)
    total = sum_(weighted, axis=reduction_axis)
    count = sum_(w, axis=reduction_axis)
    return apply_aligned(op, ("total", "count"), _guarded_ratio, (total, count))


def _guarded_ratio(total: jax.Array, count: jax.Array) -> jax.Array:
    """`total / count`, 0 where `count` is 0 (with a zero, not NaN, gradient there)."""
    nonzero = count != 0
    return jnp.where(nonzero, total / jnp.where(nonzero, count, 1), jnp.zeros((), total.dtype))
