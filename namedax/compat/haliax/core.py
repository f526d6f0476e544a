"""`haliax.core`: the NamedArray type and its array manipulations."""

import dataclasses as _dataclasses
from collections.abc import Callable, Sequence
from types import EllipsisType
from typing import Any, TypeAlias

from namedax.core import _shape_checks
from namedax.core._array import NamedArray as NamedArray, named as named
from namedax.core._axes import (
    Axis,
    AxisSelection,
    axis_spec_to_tuple,
    rearrange_for_partial_order,
)
from namedax.core._broadcast import (
    broadcast_arrays as broadcast_arrays,
    broadcast_axis as broadcast_axis,
    broadcast_to as broadcast_to,
    pair_result_axes,
)
from namedax.core._errors import format_axes
from namedax.ops._indexing import (
    index as index,
    slice as slice,
    take as take,
    updated_slice as updated_slice,
)
from namedax.ops._shape import (
    flatten as flatten,
    flatten_axes as flatten_axes,
    ravel as ravel,
    split as split,
    unbind as unbind,
    unflatten_axis as unflatten_axis,
)
from namedax.ops._structural import roll as roll


@_dataclasses.dataclass(frozen=True)
class NamedArrayAxes:
    """Haliax's parsed form of a `NamedArray[...]` annotation's axes.

    Attributes:
        before: Names before the `...` (all of them without one).
        after: Names after the `...`.
        ordered: Whether the axes must come in this order.
        subset: Whether other axes may appear where the `...` is.
        dtype: The dtype the annotation requires, if any.
    """

    before: tuple[str, ...]
    after: tuple[str, ...] = ()
    ordered: bool = True
    subset: bool = False
    dtype: Any | None = None

    def __repr__(self) -> str:
        dtype = "" if self.dtype is None else f"{getattr(self.dtype, 'name', self.dtype)} "
        if self.ordered:
            parts = [*self.before, *(["..."] if self.subset else []), *self.after]
            return f"NamedArray[{dtype}{' '.join(parts)}]"
        parts = [*self.before, *(["..."] if self.subset else [])]
        return f"NamedArray[{dtype}{{{', '.join(parts)}}}]"


NamedArrayAxesSpec: TypeAlias = (
    NamedArrayAxes | str | Sequence[str | EllipsisType] | set[str | EllipsisType]
)
"""What a `NamedArray[...]` annotation accepts: a spec string, names with `...`, a set."""


def check_shape(jnp_shape: Sequence[int], hax_axes: AxisSelection) -> tuple[Axis, ...]:
    """The axes `hax_axes` (names sized from `jnp_shape`) after checking them against the shape.

    Raises:
        ValueError: If the number of dimensions or a given size disagrees with `jnp_shape`.

    Examples:
        >>> from namedax.compat.haliax.core import check_shape
        >>> check_shape((2, 3), ("a", Axis("b", 3)))
        (Axis(name='a', size=2), Axis(name='b', size=3))
    """
    axes = axis_spec_to_tuple(hax_axes)
    shape = tuple(jnp_shape)
    if len(shape) != len(axes):
        raise ValueError(
            f"check_shape: Shape mismatch: the array has shape {shape} ({len(shape)} dims) but "
            f"{len(axes)} axes were given ({hax_axes!r}); give one axis per dimension."
        )
    out: list[Axis] = []
    for ax, size in zip(axes, shape):
        if isinstance(ax, Axis):
            if ax.size != size:
                raise ValueError(
                    f"check_shape: Shape mismatch: axis {ax.name!r} has size {ax.size} but the "
                    f"array's dimension has size {size} (shape {shape})."
                )
            out.append(ax)
        elif isinstance(ax, str):
            out.append(Axis(ax, size))
        else:
            raise ValueError(f"check_shape: Invalid axis spec {ax!r}: use an Axis or a name.")
    return tuple(out)


def flatten_all_axes_but(
    a: NamedArray, axis_name: str, axis: AxisSelection, reorder_to_front: bool = False
) -> tuple[NamedArray, Callable[[NamedArray], NamedArray]]:
    """Merges the axes `axis` of `a` into one axis `axis_name`, with the function that undoes it.

    (Haliax's name notwithstanding, `axis` names the axes that are merged.) With
    `reorder_to_front`, the merged axis comes first. The returned function splits
    `axis_name` of an array (that may have gained or lost other axes) back into `axis`
    and puts the axes as close to `a`'s order as the array allows.

    Examples:
        >>> from namedax.compat.haliax.core import flatten_all_axes_but
        >>> x = nx.zeros({"b": 2, "s": 3, "e": 4})
        >>> flat, restore = flatten_all_axes_but(x, "bs", ("b", "s"), reorder_to_front=True)
        >>> flat.shape, restore(flat).shape
        ({'bs': 6, 'e': 4}, {'b': 2, 's': 3, 'e': 4})
    """
    result = flatten_axes(a, axis, axis_name)
    if reorder_to_front:
        result = result.rearrange((axis_name, ...))
    old_names = a.axis_names
    merged = tuple(a.resolve_axis(ax) for ax in axis_spec_to_tuple(axis))

    def restore(b: NamedArray) -> NamedArray:
        out = unflatten_axis(b, axis_name, merged)
        if out.axis_names == old_names:
            return out
        present = set(out.axis_names)
        order: list[Any] = []
        for name in old_names:
            if name in present:
                order.append(name)
            elif not order or order[-1] is not Ellipsis:
                order.append(Ellipsis)
        if Ellipsis not in order:
            order.append(Ellipsis)
        return out.rearrange(rearrange_for_partial_order(order, out.axes))

    return result, restore


def _broadcast_order(a: NamedArray, b: NamedArray, require_subset: bool = True) -> tuple[Axis, ...]:
    """The axes `a` and `b` broadcast to (one's axes must contain the other's unless told not to).

    Raises:
        ValueError: If the axis sets are not nested (with `require_subset`) or sizes differ.
    """
    try:
        return pair_result_axes("broadcast", a.axes, b.axes, ("a", "b"), union=not require_subset)
    except ValueError as error:
        raise ValueError(
            f"Cannot broadcast {format_axes(a.axes)} and {format_axes(b.axes)}: {error}"
        ) from None


enable_shape_checks = _shape_checks.shape_checks
"""Haliax's switch: `with enable_shape_checks(False):` skips the constructor's shape check."""

are_shape_checks_enabled = _shape_checks.shape_checks_enabled
"""Whether the NamedArray constructor currently checks shapes."""
