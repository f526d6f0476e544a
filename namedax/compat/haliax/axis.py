"""`haliax.axis`: `Axis`, the `AxisSpec` family and the functions that combine them.

Examples:
    >>> from namedax.compat.haliax.axis import Axis, concat_axes, eliminate_axes
    >>> Batch, Embed = Axis("batch", 2), Axis("embed", 3)
    >>> eliminate_axes(concat_axes(Batch, Embed), "batch")
    (Axis(name='embed', size=3),)
"""

from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import Any, TypeAlias

from namedax.core._axes import (
    Axis as Axis,
    AxisSelection as AxisSelection,
    AxisSelector as AxisSelector,
    AxisSelector as _AxisSelector,
    AxisSpec as AxisSpec,
    axis_name as axis_name,
    axis_size as axis_size,
    axis_spec_to_shape_dict as axis_spec_to_shape_dict,
    axis_spec_to_tuple as axis_spec_to_tuple,
    concat_axes as concat_axes,
    eliminate_axes as eliminate_axes,
    intersect_axes as intersect_axes,
    make_axes as make_axes,
    rearrange_for_partial_order as rearrange_for_partial_order,
    replace_axis as replace_axis,
    resolve_axis as resolve_axis,
    selects_axis as selects_axis,
    union_axes as union_axes,
    without_axes as without_axes,
)
from namedax.ops._indexing import dblock as dblock, ds as ds, dslice as dslice

ShapeDict: TypeAlias = Mapping[str, int]
"""Axes as `{name: size}`."""

PartialShapeDict: TypeAlias = Mapping[str, int | None]
"""Axes as `{name: size or None}` (a size of None matches any size)."""

PartialAxisSpec: TypeAlias = Sequence[EllipsisType | _AxisSelector]
"""Axes (names or `Axis`) and `...` standing for any number of other axes."""


def is_axis_compatible(ax1: _AxisSelector, ax2: _AxisSelector) -> bool:
    """Whether two axis selectors name the same axis (sizes are not compared).

    Examples:
        >>> is_axis_compatible("a", Axis("a", 3)), is_axis_compatible(Axis("a", 2), "b")
        (True, False)
    """
    return axis_name(ax1) == axis_name(ax2)


def unsize_axes(axis_spec: Any, to_unsize: Any = None) -> Any:
    """`axis_spec` with the sizes of `to_unsize` (default: of every axis) removed.

    A mapping stays a mapping (`{name: None}` for unsized axes); otherwise the result is
    a name (for one axis) or a tuple of names and `Axis` objects.

    Raises:
        ValueError: If an axis of `to_unsize` is not in `axis_spec`.

    Examples:
        >>> unsize_axes((Axis("a", 2), Axis("b", 3)), "a")
        ('a', Axis(name='b', size=3))
        >>> unsize_axes({"a": 2, "b": 3})
        {'a': None, 'b': None}
    """
    if to_unsize is None:
        if isinstance(axis_spec, Mapping):
            return {name: None for name in axis_spec}
        if isinstance(axis_spec, (str, Axis)):
            return axis_name(axis_spec)
        return tuple(axis_name(ax) for ax in axis_spec)
    sizes: dict[str, int | None] = (
        dict(axis_spec)
        if isinstance(axis_spec, Mapping)
        else {axis_name(ax): getattr(ax, "size", None) for ax in axis_spec_to_tuple(axis_spec)}
    )
    for ax in axis_spec_to_tuple(to_unsize) if not isinstance(to_unsize, Mapping) else to_unsize:
        name = axis_name(ax)
        if name not in sizes:
            raise ValueError(
                f"unsize_axes: axis {name!r} is not in the axis spec {axis_spec!r} "
                f"(axes {tuple(sizes)})."
            )
        sizes[name] = None
    if isinstance(axis_spec, Mapping):
        return sizes
    return tuple(name if size is None else Axis(name, size) for name, size in sizes.items())
