"""Unique values, counting, searching and top-k along named axes.

How many unique values an array holds depends on its data, but the shape of a
JAX array must be static. So `unique*` and `bincount` take the `Axis` of their
result from the caller: `unique(x, Axis("value", 8))` returns (at most) 8 values
along a new axis `value`, padded with `fill_value`. This is what `jax.numpy` does
with its `size=` argument, with the added benefit that the result axis has a name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Protocol, TypeVar, overload

import jax.numpy as jnp
from jax import lax

from namedax.core._array import NamedArray, _wrap, check_named
from namedax.core._axes import (
    Axis,
    AxisSelector,
    axis_positions,
    check_unique_names,
    replace_axis,
    sized_new_axis,
)
from namedax.core._broadcast import align_array, along_axis, is_scalar_like
from namedax.core._errors import describe, format_axes

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py


class UniqueAllResult(NamedTuple):
    """The four results of `unique_all`, with the field names of `jax.numpy.unique_all`."""

    values: NamedArray
    indices: NamedArray
    inverse_indices: NamedArray
    counts: NamedArray


class UniqueCountsResult(NamedTuple):
    """The results of `unique_counts`, with the field names of `jax.numpy.unique_counts`."""

    values: NamedArray
    counts: NamedArray


class UniqueInverseResult(NamedTuple):
    """The results of `unique_inverse`, with the field names of `jax.numpy.unique_inverse`."""

    values: NamedArray
    inverse_indices: NamedArray


@overload
def unique(
    array: NamedArray,
    size: Axis,
    *,
    return_index: Literal[False] = False,
    return_inverse: Literal[False] = False,
    return_counts: Literal[False] = False,
    axis: AxisSelector | None = None,
    fill_value: Any = None,
    equal_nan: bool = True,
) -> NamedArray: ...
@overload
def unique(
    array: NamedArray,
    size: Axis,
    *,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    axis: AxisSelector | None = None,
    fill_value: Any = None,
    equal_nan: bool = True,
) -> tuple[NamedArray, ...]: ...
def unique(
    array: NamedArray,
    size: Axis,
    *,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    axis: AxisSelector | None = None,
    fill_value: Any = None,
    equal_nan: bool = True,
) -> NamedArray | tuple[NamedArray, ...]:
    """Named version of `jax.numpy.unique` with a static result size: the sorted unique values.

    Args:
        array: A NamedArray.
        size: The `Axis` that holds the unique values (Haliax calls it `Unique`); its
            size is how many are returned. Extra slots are filled with `fill_value`,
            extra unique values are dropped.
        return_index: Also return where each unique value first occurs.
        return_inverse: Also return, for each element, the index of its unique value.
        return_counts: Also return how often each unique value occurs.
        axis: If given, the unique *slices* along this axis are found, and `size`
            replaces it in the values; otherwise all elements are considered.
        fill_value: The padding value (default: the smallest unique value).
        equal_nan: Whether NaNs count as one value.

    Returns:
        The values, along `size` (with the other axes of `array` when `axis` is
        given); with any `return_*` flag, a tuple `(values, [index], [inverse],
        [counts])` in that order. `index` and `counts` lie along `size`. Without
        `axis`, `index` holds flat positions in `array`'s own layout (as
        `jnp.unravel_index(i, array.array.shape)` reads them) and `inverse` has
        `array`'s axes; with `axis`, both refer to positions along `axis`.

    Raises:
        TypeError: If `size` is not an `Axis`.
        ValueError: If `axis` is missing, or `size` clashes with another axis name.

    Examples:
        >>> x = named(jnp.array([[3, 1], [1, 3]]), ("a", "b"))
        >>> values, counts = nx.unique(x, Axis("value", 3), return_counts=True, fill_value=0)
        >>> values.array, counts.array
        (Array([1, 3, 0], dtype=int32), Array([2, 2, 0], dtype=int32))
    """
    check_named("unique", array, "array")
    size = _sized("unique", size, "size")
    flags = (return_index, return_inverse, return_counts)
    if axis is None:
        position, values_axes = None, (size,)
    else:
        (position,) = axis_positions(array.axes, axis, "unique")
        values_axes = replace_axis(array.axes, array.axes[position], size)
    out = jnp.unique(
        array.array,
        *flags,
        axis=position,
        equal_nan=equal_nan,
        size=size.size,
        fill_value=fill_value,
    )
    if not any(flags):
        return _wrap(out, values_axes)
    along_input = array.axes if position is None else (array.axes[position],)
    result_axes = [values_axes]
    result_axes += [(size,)] * return_index + [along_input] * return_inverse
    result_axes += [(size,)] * return_counts
    return tuple(_wrap(o, ax) for o, ax in zip(out, result_axes, strict=True))


_R = TypeVar("_R", covariant=True)


class _UniqueVariant(Protocol[_R]):
    def __call__(
        self,
        array: NamedArray,
        size: Axis,
        *,
        axis: AxisSelector | None = None,
        fill_value: Any = None,
    ) -> _R: ...


def _unique_variant(
    name: str, result: Callable[..., _R], summary: str, field: str, shown: str, **flags: bool
) -> _UniqueVariant[_R]:
    """A `jax.numpy.unique_*` function: `unique` with fixed flags, its outputs as `result`."""

    def variant(
        array: NamedArray, size: Axis, *, axis: AxisSelector | None = None, fill_value: Any = None
    ) -> _R:
        out: Any = unique(array, size, axis=axis, fill_value=fill_value, **flags)
        return result(*out) if flags else result(out)

    variant.__name__ = variant.__qualname__ = name
    variant.__doc__ = f"""{summary} (see `unique`).

    Examples:
        >>> x = named(jnp.array([5, 2, 5]), "a")
        >>> nx.{name}(x, Axis("value", 2)){field}
        {shown}
    """
    return variant


def _identity(x: NamedArray) -> NamedArray:
    return x


unique_values = _unique_variant(
    "unique_values",
    _identity,
    "The sorted unique values of `array` along `size`",
    ".array",
    "Array([2, 5], dtype=int32)",
)
unique_counts = _unique_variant(
    "unique_counts",
    UniqueCountsResult,
    "The unique values of `array` and how often each occurs, both along `size`",
    ".counts.array",
    "Array([1, 2], dtype=int32)",
    return_counts=True,
)
unique_inverse = _unique_variant(
    "unique_inverse",
    UniqueInverseResult,
    "The unique values of `array` and, per element, the index of its value",
    ".inverse_indices.array",
    "Array([1, 0, 1], dtype=int32)",
    return_inverse=True,
)
unique_all = _unique_variant(
    "unique_all",
    UniqueAllResult,
    "The unique values with their first indices, the inverse and the counts",
    ".indices.array",
    "Array([1, 0], dtype=int32)",
    return_index=True,
    return_inverse=True,
    return_counts=True,
)


def searchsorted(
    a: NamedArray,
    v: Any,
    side: str = "left",
    sorter: Any = None,
    *,
    method: str = "scan",
) -> NamedArray:
    """Named version of `jax.numpy.searchsorted`: where `v` would be inserted into sorted `a`.

    Args:
        a: A NamedArray with exactly one axis, sorted along it (or sorted by `sorter`).
        v: The values to look up: a NamedArray of any axes, or a scalar.
        side: "left" or "right": which index to return for values equal to an
            element of `a`.
        sorter: Optional indices that sort `a`: a NamedArray along `a`'s axis or a
            1-d array of its size.
        method: The search algorithm of `jax.numpy.searchsorted`.

    Returns:
        An int NamedArray with the axes of `v` (0-d for a scalar `v`).

    Raises:
        ValueError: If `a` does not have exactly one axis or `sorter` does not match it.
        TypeError: If `v` is a plain array with dimensions.

    Examples:
        >>> edges = named(jnp.array([0.0, 1.0, 2.0]), "edge")
        >>> nx.searchsorted(edges, named(jnp.array([0.5, 1.5, 9.0]), "x")).array
        Array([1, 2, 3], dtype=int32)
    """
    check_named("searchsorted", a, "a")
    if a.ndim != 1:
        raise ValueError(
            f"searchsorted: a must have exactly one axis (the sorted one), got "
            f"{format_axes(a.axes)}. Select or flatten the other axes first."
        )
    if isinstance(v, NamedArray):
        values, out_axes = v.array, v.axes
    elif is_scalar_like(v):
        values, out_axes = v, ()
    else:
        raise TypeError(
            f"searchsorted: v is a plain {describe(v)}; it has no axis names. Wrap it with "
            "namedax.named(array, axes)."
        )
    if sorter is not None:
        sorter = along_axis("searchsorted", "sorter", sorter, a.axes[0])
    out = jnp.searchsorted(a.array, values, side=side, sorter=sorter, method=method)
    return _wrap(out, out_axes)


def bincount(x: NamedArray, length: Axis, weights: Any = None, minlength: int = 0) -> NamedArray:
    """Named version of `jax.numpy.bincount`: how often each value `0 .. length-1` occurs.

    Every element of `x` is counted, whatever its axes. Values outside
    `[0, length)` are not counted (the result size is static).

    Args:
        x: A NamedArray of non-negative ints.
        length: The `Axis` of the result (Haliax calls it `Counts`); its size is the
            number of bins.
        weights: Optional weights: a NamedArray whose axes are among those of `x`
            (broadcast by name), or a scalar. Each bin then sums the weights of its
            elements.
        minlength: Accepted for compatibility with `jax.numpy`; `length` decides.

    Returns:
        A NamedArray along `length`.

    Raises:
        TypeError: If `length` is not an `Axis` or `weights` is a plain array.
        ValueError: If `weights` has an axis that `x` lacks or of another size.

    Examples:
        >>> x = named(jnp.array([[0, 1], [1, 3]]), ("a", "b"))
        >>> nx.bincount(x, Axis("bin", 4)).array
        Array([1, 2, 0, 1], dtype=int32)
    """
    check_named("bincount", x, "x")
    length = _sized("bincount", length, "length")
    if weights is not None:
        weights = _weights(x, weights).ravel()
    out = jnp.bincount(x.array.ravel(), weights, minlength, length=length.size)
    return _wrap(out, (length,))


def _weights(x: NamedArray, weights: Any) -> Any:
    if not isinstance(weights, NamedArray):
        if not is_scalar_like(weights):
            raise TypeError(
                f"bincount: weights is a plain {describe(weights)}; wrap it with "
                "namedax.named(array, axes) so it can be aligned with x by name."
            )
        return jnp.broadcast_to(weights, x.array.shape)
    sizes = x.shape
    for ax in weights.axes:
        if sizes.get(ax.name) != ax.size:
            raise ValueError(
                f"bincount: weights {format_axes(weights.axes)} has axis {ax} but x has "
                f"{format_axes(x.axes)}. weights must hold only axes of x, with the same sizes."
            )
    return jnp.broadcast_to(align_array(weights.array, weights.axes, x.axes), x.array.shape)


def top_k(
    array: NamedArray, axis: AxisSelector, k: int, new_axis: AxisSelector | None = None
) -> tuple[NamedArray, NamedArray]:
    """The `k` largest elements along an axis, and their indices along it.

    Args:
        array: A NamedArray.
        axis: The axis to select along.
        k: How many elements to keep (at most the size of `axis`).
        new_axis: The axis that replaces `axis` in the results: a name or an `Axis`
            of size `k`. By default `axis`'s name, resized to `k`.

    Returns:
        `(values, indices)`, both with `axis` replaced by `new_axis` at the same
        position; values are sorted in descending order, indices point into `axis`.

    Raises:
        ValueError: If `axis` is missing, `k` exceeds its size, or `new_axis` clashes
            with another axis or has a size other than `k`.

    Examples:
        >>> x = named(jnp.array([[1.0, 5.0, 3.0], [4.0, 0.0, 2.0]]), ("row", "col"))
        >>> values, indices = nx.top_k(x, "col", 2)
        >>> values.axes
        (Axis(name='row', size=2), Axis(name='col', size=2))
        >>> indices.array
        Array([[1, 2],
               [0, 2]], dtype=int32)
    """
    check_named("top_k", array, "array")
    (position,) = axis_positions(array.axes, axis, "top_k")
    old = array.axes[position]
    if not 0 <= k <= old.size:
        raise ValueError(
            f"top_k: k={k} but axis {old} of {format_axes(array.axes)} has only {old.size} "
            "elements. Choose 0 <= k <= its size."
        )
    out_axis = _top_k_axis(old, k, new_axis)
    axes = (*array.axes[:position], out_axis, *array.axes[position + 1 :])
    check_unique_names(axes, "top_k")
    last = array.ndim - 1
    moved = array.array if position == last else jnp.moveaxis(array.array, position, last)
    values, indices = lax.top_k(moved, k)
    if position != last:
        values = jnp.moveaxis(values, last, position)
        indices = jnp.moveaxis(indices, last, position)
    return _wrap(values, axes), _wrap(indices, axes)


def _top_k_axis(old: Axis, k: int, new_axis: AxisSelector | None) -> Axis:
    return sized_new_axis("top_k", old.name if new_axis is None else new_axis, k, "k")


def _sized(op: str, axis: Any, name: str) -> Axis:
    if not isinstance(axis, Axis):
        raise TypeError(
            f"{op}: {name} must be an Axis(name, size): the result size must be static, and "
            f"the data cannot tell it; got {describe(axis)}."
        )
    return axis
