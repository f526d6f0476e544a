"""Shape operations: renaming axes, merging and splitting them, and cutting arrays apart.

Each function computes the result axes (and the positional reshape/transpose plan)
from the input axes alone, caches that per `(axes, arguments)`, and applies it with
one or two `jax.lax` calls. Merged axes are laid out row-major: the first axis
listed varies slowest, as in `jnp.reshape`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

from namedax.core._array import NamedArray, _wrap, check_named
from namedax.core._axes import (
    Axis,
    AxisSelection,
    AxisSelector,
    AxisSpec,
    axis_spec_to_tuple,
    check_unique_names,
    resolve_axis,
    sized_axes,
    sized_new_axis,
)
from namedax.core._errors import describe, format_axes
from namedax.ops._out_sharding import JaxShardingTypeError, explain_sharding_error, out_sharding

__all__ = [
    "flatten",
    "flatten_axes",
    "ndim",
    "ravel",
    "rename",
    "split",
    "unbind",
    "unflatten_axis",
]

_RENAME_CACHE: dict[Any, tuple[Axis, ...]] = {}
_FLATTEN_CACHE: dict[Any, tuple[tuple[int, ...] | None, tuple[int, ...], tuple[Axis, ...]]] = {}
_UNFLATTEN_CACHE: dict[Any, tuple[Axis, ...]] = {}


def ndim(a: Any) -> int:
    """The number of axes of a NamedArray, or the number of dimensions of any array.

    Args:
        a: A NamedArray, or any array-like: a JAX or NumPy array (also a tracer), a
            scalar (0-d) or nested lists.

    Returns:
        `len(a.axes)` for a NamedArray, else the number of dimensions of `a` as
        `numpy.ndim` counts them; a Python int, also under `jit`.

    Examples:
        >>> nx.ndim(named(jnp.ones((2, 3)), ("a", "b")))
        2
        >>> nx.ndim(3.0)
        0
    """
    # numpy.ndim reads `.ndim` when there is one (tracers too) and also takes nested lists,
    # which jax.numpy.ndim is deprecating.
    return a.ndim if isinstance(a, NamedArray) else int(np.ndim(a))


def rename(a: NamedArray, renames: Mapping[AxisSelector, AxisSelector]) -> NamedArray:
    """Renames axes, keeping the data and the axis order.

    Args:
        a: The array.
        renames: Maps each old axis (an `Axis`, whose size is checked, or a name) to its new
            axis (an `Axis` of the same size, or a name). Names may be swapped.

    Returns:
        The same array with the axes renamed.

    Raises:
        ValueError: If an old axis is missing, a new `Axis` has another size, or the new
            name clashes with an axis that keeps its name.
        TypeError: If `renames` is not a mapping.

    Examples:
        >>> x = named(jnp.zeros((2, 3)), ("batch", "embed"))
        >>> nx.rename(x, {"embed": "hidden"}).axes
        (Axis(name='batch', size=2), Axis(name='hidden', size=3))
        >>> x.rename({"batch": "embed", "embed": "batch"}).shape
        {'embed': 2, 'batch': 3}
    """
    check_named("rename", a)
    try:
        key = (a.axes, tuple(renames.items()))
        axes = _RENAME_CACHE.get(key)
    except (AttributeError, TypeError):
        raise TypeError(
            f"rename: expected a {{old: new}} mapping of axes or names, got {describe(renames)}."
        ) from None
    if axes is None:
        axes = _RENAME_CACHE[key] = _renamed_axes(a.axes, renames)
    return _wrap(a.array, axes)


def _renamed_axes(axes: tuple[Axis, ...], renames: Mapping[Any, Any]) -> tuple[Axis, ...]:
    new_by_name: dict[str, Axis] = {}
    for old, new in renames.items():
        axis = resolve_axis(axes, old, "rename")
        if axis.name in new_by_name:
            raise ValueError(f"rename: axis {axis.name!r} is renamed twice in {dict(renames)!r}.")
        new_by_name[axis.name] = sized_new_axis(
            "rename", new, axis.size, f"the size of axis {axis}"
        )
    result = tuple(new_by_name.get(ax.name, ax) for ax in axes)
    names = [ax.name for ax in result]
    if len(set(names)) != len(names):
        clash = next(n for n in names if names.count(n) > 1)
        sources = [old for old, new in new_by_name.items() if new.name == clash]
        raise ValueError(
            f"rename: renaming {' and '.join(map(repr, sources))} to {clash!r} in "
            f"{format_axes(axes)} would give two axes named {clash!r}. Choose another name, or "
            "rename the axis that holds it as well."
        )
    return result


def flatten_axes(a: NamedArray, old_axes: AxisSelection, new_axis: AxisSelector) -> NamedArray:
    """Merges several axes into one.

    The merged axis is laid out row-major over `old_axes` *in the order given* (the
    first varies slowest); the old axes need not be adjacent or in storage order. The
    new axis takes the place of the first of them in the array.

    Args:
        a: The array.
        old_axes: The axes to merge (at least one).
        new_axis: The merged axis: a name, or an `Axis` whose size must be the product.

    Returns:
        The array with `old_axes` replaced by `new_axis`.

    Raises:
        ValueError: If an axis is missing or repeated, the size is wrong, or the new name
            clashes with another axis.

    Examples:
        >>> x = named(jnp.arange(24).reshape(2, 3, 4), ("a", "b", "c"))
        >>> y = nx.flatten_axes(x, ("c", "a"), "ca")
        >>> y.axes
        (Axis(name='ca', size=8), Axis(name='b', size=3))
        >>> y.array[:, 0]
        Array([ 0, 12,  1, 13,  2, 14,  3, 15], dtype=int32)
    """
    check_named("flatten_axes", a)
    key = (a.axes, _hashable_spec(old_axes), new_axis)
    plan = _FLATTEN_CACHE.get(key)
    if plan is None:
        plan = _FLATTEN_CACHE[key] = _flatten_plan(a.axes, old_axes, new_axis)
    perm, shape, axes = plan
    array = a.array if perm is None else lax.transpose(a.array, perm)
    return _wrap(_reshape("flatten_axes", array, shape, axes, a.axes), axes)


def _reshape(
    op: str, array: Any, shape: tuple[int, ...], axes: tuple[Axis, ...], src: tuple[Axis, ...]
) -> Any:
    """`lax.reshape(array, shape)`, with the result's `out_sharding` on an explicit mesh."""
    try:
        return lax.reshape(array, shape, out_sharding=out_sharding(axes, op))
    except JaxShardingTypeError as e:
        raise explain_sharding_error(op, e, (src,)) from e


def _flatten_plan(
    axes: tuple[Axis, ...], old_axes: AxisSelection, new_axis: AxisSelector
) -> tuple[tuple[int, ...] | None, tuple[int, ...], tuple[Axis, ...]]:
    old = tuple(resolve_axis(axes, sel, "flatten_axes") for sel in axis_spec_to_tuple(old_axes))
    if not old:
        raise ValueError(
            f"flatten_axes: no axes to merge were given (array axes {format_axes(axes)})."
        )
    check_unique_names(old, "flatten_axes")
    size = 1
    for ax in old:
        size *= ax.size
    merged = sized_new_axis(
        "flatten_axes", new_axis, size, f"the size of the merged axes {format_axes(old)}"
    )
    order: list[Axis] = []
    out: list[Axis] = []
    for ax in axes:
        if ax not in old:
            order.append(ax)
            out.append(ax)
        elif len(order) == len(out):  # the first old axis: the merged axis goes here
            order.extend(old)
            out.append(merged)
    _check_result(tuple(out), axes, "flatten_axes", f"the new axis {merged}")
    perm = tuple(axes.index(ax) for ax in order)
    return (
        None if perm == tuple(range(len(perm))) else perm,
        tuple(ax.size for ax in out),
        tuple(out),
    )


def _check_result(out: tuple[Axis, ...], axes: tuple[Axis, ...], op: str, what: str) -> None:
    if len({ax.name for ax in out}) != len(out):
        raise ValueError(
            f"{op}: {what} clashes with an axis of the same name that stays in "
            f"{format_axes(axes)}. Choose another name."
        )


def unflatten_axis(a: NamedArray, axis: AxisSelector, new_axes: AxisSpec) -> NamedArray:
    """Splits one axis into several, row-major (the first new axis varies slowest).

    Args:
        a: The array.
        axis: The axis to split.
        new_axes: The axes that replace it, in place; their sizes must multiply to its size.

    Returns:
        The array with `axis` replaced by `new_axes`.

    Raises:
        ValueError: If the axis is missing, the sizes do not multiply to its size, or a new
            name clashes with another axis.

    Examples:
        >>> x = named(jnp.arange(6), "hw")
        >>> y = nx.unflatten_axis(x, "hw", {"h": 2, "w": 3})
        >>> y.shape
        {'h': 2, 'w': 3}
        >>> y.array
        Array([[0, 1, 2],
               [3, 4, 5]], dtype=int32)
    """
    check_named("unflatten_axis", a)
    key = (a.axes, axis, _hashable_spec(new_axes))
    axes = _UNFLATTEN_CACHE.get(key)
    if axes is None:
        axes = _UNFLATTEN_CACHE[key] = _unflattened_axes(a.axes, axis, new_axes)
    shape = tuple(ax.size for ax in axes)
    return _wrap(_reshape("unflatten_axis", a.array, shape, axes, a.axes), axes)


def _hashable_spec(spec: Any) -> Any:
    if isinstance(spec, Mapping):
        return ("dict", *spec.items())
    return tuple(spec) if isinstance(spec, Sequence) and not isinstance(spec, str) else spec


def _unflattened_axes(
    axes: tuple[Axis, ...], axis: AxisSelector, new_axes: AxisSpec
) -> tuple[Axis, ...]:
    old = resolve_axis(axes, axis, "unflatten_axis")
    new = sized_axes(new_axes, "unflatten_axis")
    size = 1
    for ax in new:
        size *= ax.size
    if size != old.size:
        raise ValueError(
            f"unflatten_axis: the new axes {format_axes(new)} hold {size} elements but axis "
            f"{old} of {format_axes(axes)} holds {old.size}. Their sizes must multiply to "
            f"{old.size}."
        )
    i = axes.index(old)
    out = axes[:i] + new + axes[i + 1 :]
    check_unique_names(out, "unflatten_axis")
    return out


def ravel(a: NamedArray, new_axis: AxisSelector) -> NamedArray:
    """Merges every axis into one, in storage order (a 0-d array becomes one element).

    Args:
        a: The array.
        new_axis: The merged axis: a name, or an `Axis` of size `a.size`.

    Returns:
        A one-axis array.

    Raises:
        ValueError: If `new_axis` is an `Axis` of another size.

    Examples:
        >>> x = named(jnp.arange(6).reshape(2, 3), ("a", "b"))
        >>> nx.ravel(x, "flat").axes
        (Axis(name='flat', size=6),)
    """
    check_named("ravel", a)
    axis = sized_new_axis("ravel", new_axis, a.size, f"the size of the array {format_axes(a.axes)}")
    return _wrap(_reshape("ravel", a.array, (axis.size,), (axis,), a.axes), (axis,))


flatten = ravel
"""Same as `ravel`: merges every axis into one."""


def split(a: NamedArray, axis: AxisSelector, new_axes: Sequence[Axis]) -> list[NamedArray]:
    """Cuts an array into consecutive pieces along one axis.

    Args:
        a: The array.
        axis: The axis to cut.
        new_axes: One `Axis` per piece, in order; each replaces `axis` in its piece (the
            name may be the same). Their sizes must sum to the size of `axis`.

    Returns:
        The pieces, as a list.

    Raises:
        ValueError: If the axis is missing, the sizes do not sum up, or a new name clashes
            with another axis.
        TypeError: If a new axis is not an `Axis`.

    Examples:
        >>> x = named(jnp.arange(5), "seq")
        >>> head, tail = nx.split(x, "seq", [Axis("head", 2), Axis("tail", 3)])
        >>> head.axes, tail.array
        ((Axis(name='head', size=2),), Array([2, 3, 4], dtype=int32))
    """
    check_named("split", a)
    old = resolve_axis(a.axes, axis, "split")
    if isinstance(new_axes, Axis) or not isinstance(new_axes, Sequence):
        raise TypeError(
            f"split: new_axes must be a sequence of Axis objects, one per piece, got "
            f"{describe(new_axes)}."
        )
    pieces = sized_axes(tuple(new_axes), "split")
    if sum(ax.size for ax in pieces) != old.size:
        raise ValueError(
            f"split: the sizes of {format_axes(pieces)} sum to {sum(ax.size for ax in pieces)} "
            f"but axis {old} of {format_axes(a.axes)} has size {old.size}. They must sum to "
            f"{old.size}."
        )
    i = a.axes.index(old)
    results = []
    start = 0
    for new in pieces:
        axes = (*a.axes[:i], new, *a.axes[i + 1 :])
        check_unique_names(axes, "split")
        part = lax.slice_in_dim(a.array, start, start + new.size, axis=i)
        results.append(_wrap(part, axes))
        start += new.size
    return results


def unbind(a: NamedArray, axis: AxisSelector) -> list[NamedArray]:
    """Cuts an array into the slices along one axis, each without that axis.

    Args:
        a: The array.
        axis: The axis to unbind.

    Returns:
        A list of `axis.size` arrays.

    Raises:
        ValueError: If the axis is missing.

    Examples:
        >>> x = named(jnp.arange(6).reshape(2, 3), ("a", "b"))
        >>> [row.array.tolist() for row in nx.unbind(x, "a")]
        [[0, 1, 2], [3, 4, 5]]
    """
    check_named("unbind", a)
    old = resolve_axis(a.axes, axis, "unbind")
    i = a.axes.index(old)
    axes = a.axes[:i] + a.axes[i + 1 :]
    if old.size == 0:
        return []
    return [_wrap(x, axes) for x in jnp.unstack(a.array, axis=i)]
