"""Axes: the `Axis(name, size)` value type, selectors and helpers over tuples of axes.

An axis is identified by its *name*; its *size* is checked wherever both are known.
Functions here never look at arrays: they operate on axis tuples, names and
`{name: size}` dicts, and they are what every other module uses to resolve what a
caller meant by "this axis".
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np

from namedax.core._errors import describe, format_axes

__all__ = [
    "Axis",
    "AxisSelection",
    "AxisSelector",
    "AxisSpec",
    "axis_name",
    "axis_size",
    "axis_spec_to_shape_dict",
    "axis_spec_to_tuple",
    "concat_axes",
    "eliminate_axes",
    "intersect_axes",
    "make_axes",
    "replace_axis",
    "resolve_axis",
    "selects_axis",
    "to_jax_shape",
    "union_axes",
    "without_axes",
]


@dataclass(frozen=True, slots=True)
class Axis:
    """A named dimension of an array: a name and a size.

    Axes are frozen, hashable values. Two axes are equal when both name and size
    are equal.

    Args:
        name: The axis name, unique within any one array.
        size: The number of elements along the axis.

    Examples:
        >>> Batch = Axis("batch", 4)
        >>> str(Batch)
        'batch(4)'
        >>> Batch.resize(8)
        Axis(name='batch', size=8)
        >>> Batch.alias("example")
        Axis(name='example', size=4)
    """

    name: str
    size: int
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if type(self.name) is str and self.name and type(self.size) is int and self.size >= 0:
            # the common case, kept cheap; the hash is cached because axis tuples key
            # the caches on every hot path
            object.__setattr__(self, "_hash", hash((self.name, self.size)))
            return
        if not isinstance(self.name, str):
            raise TypeError(
                f"Axis name must be a str, got {type(self.name).__name__}: {self.name!r}."
            )
        if not self.name:
            raise ValueError("Axis name must be a non-empty str, got ''. Give the axis a name.")
        if isinstance(self.size, (bool, np.bool_)):
            raise TypeError(
                f"Axis {self.name!r}: size must be an int, got the bool {self.size!r}. A bool is "
                "not a size; pass the number of positions."
            )
        try:
            size = operator.index(self.size)  # ints, NumPy integers, concrete integer arrays
        except TypeError:
            raise TypeError(
                f"Axis {self.name!r}: size must be an int, got "
                f"{type(self.size).__name__}: {self.size!r}."
            ) from None
        if size < 0:
            raise ValueError(f"Axis {self.name!r}: size must be >= 0, got {size}.")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "_hash", hash((self.name, size)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):
        # rebuild through the constructor: a pickled string hash is only valid in its process
        return (Axis, (self.name, self.size))

    def __str__(self) -> str:
        return f"{self.name}({self.size})"

    def alias(self, new_name: str) -> Axis:
        """Returns an axis of the same size called `new_name`."""
        return Axis(new_name, self.size)

    def resize(self, new_size: int) -> Axis:
        """Returns an axis of the same name with size `new_size`."""
        return Axis(self.name, new_size)


AxisSelector: TypeAlias = Axis | str
"""One axis: an `Axis` (its size is checked) or a bare name."""

AxisSelection: TypeAlias = AxisSelector | Sequence[AxisSelector] | Mapping[str, int]
"""One or more axes: a selector, a sequence of selectors, or a `{name: size}` dict."""

AxisSpec: TypeAlias = Axis | Sequence[Axis] | Mapping[str, int]
"""Fully sized axes, i.e. a named shape: an `Axis`, a sequence of them, or `{name: size}`."""


def make_axes(**sizes: int) -> tuple[Axis, ...]:
    """Builds a tuple of axes from keyword sizes, in keyword order.

    Examples:
        >>> make_axes(batch=4, embed=8)
        (Axis(name='batch', size=4), Axis(name='embed', size=8))
    """
    return tuple(Axis(name, size) for name, size in sizes.items())


def axis_name(ax: AxisSelection) -> str | tuple[str, ...]:
    """Returns the name of one axis, or a tuple of names for several.

    Examples:
        >>> axis_name(Axis("batch", 4))
        'batch'
        >>> axis_name(("batch", Axis("embed", 8)))
        ('batch', 'embed')
    """
    if isinstance(ax, Axis):
        return ax.name
    if isinstance(ax, str):
        return ax
    if isinstance(ax, Mapping):
        return tuple(ax)
    return tuple(a.name if isinstance(a, Axis) else _check_name(a) for a in ax)


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(
            f"Expected an axis (an Axis or a name), got {type(name).__name__}: {name!r}."
        )
    return name


def axis_size(ax: AxisSpec) -> int:
    """Returns the number of elements spanned by one axis or several (their product).

    Examples:
        >>> axis_size(Axis("batch", 4))
        4
        >>> axis_size({"batch": 4, "embed": 8})
        32
    """
    size = 1
    for a in sized_axes(ax, "axis_size"):
        size *= a.size
    return size


def axis_spec_to_tuple(spec: AxisSelection) -> tuple[AxisSelector, ...]:
    """Normalises a selection to a tuple of selectors (`Axis` or name).

    A `{name: size}` dict becomes a tuple of `Axis`; a single selector becomes a
    1-tuple.

    Examples:
        >>> axis_spec_to_tuple({"a": 2})
        (Axis(name='a', size=2),)
        >>> axis_spec_to_tuple("a")
        ('a',)
    """
    if isinstance(spec, (Axis, str)):
        return (spec,)
    if isinstance(spec, Mapping):
        return tuple(Axis(name, size) for name, size in spec.items())
    if isinstance(spec, Sequence):
        for a in spec:
            if not isinstance(a, (Axis, str)):
                _check_name(a)
        return tuple(spec)
    raise TypeError(
        "Expected an axis selection (an Axis, a name, a sequence of them, or a "
        f"{{name: size}} dict), got {type(spec).__name__}: {spec!r}."
    )


def axis_spec_to_shape_dict(spec: AxisSpec) -> dict[str, int]:
    """Converts fully sized axes to a `{name: size}` dict.

    Raises:
        TypeError: If the spec contains a bare name (its size is unknown).

    Examples:
        >>> axis_spec_to_shape_dict((Axis("a", 2), Axis("b", 3)))
        {'a': 2, 'b': 3}
    """
    return {a.name: a.size for a in sized_axes(spec, "axis_spec_to_shape_dict")}


def sized_axes(spec: AxisSpec, op: str) -> tuple[Axis, ...]:
    axes = axis_spec_to_tuple(spec)
    for a in axes:
        if not isinstance(a, Axis):
            raise TypeError(
                f"{op}: axis {a!r} has no size. Pass an Axis(name, size) or a "
                f"{{name: size}} dict instead of a bare name."
            )
    return axes  # type: ignore[return-value]


def to_jax_shape(spec: AxisSpec) -> tuple[int, ...]:
    """Returns the positional shape of fully sized axes.

    Examples:
        >>> to_jax_shape({"a": 2, "b": 3})
        (2, 3)
    """
    return tuple(a.size for a in sized_axes(spec, "to_jax_shape"))


def selects_axis(selector: AxisSelection, selected: AxisSelector) -> bool:
    """Whether `selector` includes the axis `selected` (by name, and by size if both are sized).

    Examples:
        >>> selects_axis(("a", "b"), Axis("a", 3))
        True
        >>> selects_axis(Axis("a", 2), Axis("a", 3))
        False
    """
    name = axis_name(selected)
    for a in axis_spec_to_tuple(selector):
        if axis_name(a) == name:
            return not (isinstance(a, Axis) and isinstance(selected, Axis) and a != selected)
    return False


def resolve_axis(axes: Sequence[Axis], selector: AxisSelector, op: str = "resolve_axis") -> Axis:
    """Finds the axis of `axes` that `selector` names, checking its size if given.

    Raises:
        ValueError: If no such axis exists or the sizes disagree.

    Examples:
        >>> resolve_axis(make_axes(a=2, b=3), "b")
        Axis(name='b', size=3)
    """
    name = selector.name if isinstance(selector, Axis) else _check_name(selector)
    for a in axes:
        if a.name == name:
            if isinstance(selector, Axis) and selector.size != a.size:
                raise ValueError(
                    f"{op}: axis {name!r} has size {a.size} in {format_axes(axes)} "
                    f"but was selected as {selector}. Select it by name, or with an Axis of "
                    f"size {a.size}."
                )
            return a
    raise ValueError(
        f"{op}: no axis {name!r} in {format_axes(axes)}. Available axes: "
        f"{', '.join(repr(a.name) for a in axes) or 'none'}."
    )


def concat_axes(a1: AxisSpec, a2: AxisSpec) -> tuple[Axis, ...]:
    """Concatenates two axis specs, refusing duplicate names.

    Raises:
        ValueError: If a name occurs in both.

    Examples:
        >>> concat_axes(Axis("a", 2), {"b": 3})
        (Axis(name='a', size=2), Axis(name='b', size=3))
    """
    t1, t2 = sized_axes(a1, "concat_axes"), sized_axes(a2, "concat_axes")
    names1 = {a.name for a in t1}
    dup = [a.name for a in t2 if a.name in names1]
    if dup:
        raise ValueError(
            f"concat_axes: axis names {dup} occur in both {format_axes(t1)} and "
            f"{format_axes(t2)}. Rename one side first."
        )
    return t1 + t2


def union_axes(a1: AxisSpec, a2: AxisSpec) -> tuple[Axis, ...]:
    """Axes of `a1` followed by the axes of `a2` not already present (sizes must agree).

    Raises:
        ValueError: If an axis name occurs in both with different sizes.

    Examples:
        >>> union_axes(make_axes(a=2, b=3), make_axes(b=3, c=4))
        (Axis(name='a', size=2), Axis(name='b', size=3), Axis(name='c', size=4))
    """
    t1, t2 = sized_axes(a1, "union_axes"), sized_axes(a2, "union_axes")
    sizes = {a.name: a.size for a in t1}
    extra = []
    for a in t2:
        if a.name not in sizes:
            extra.append(a)
        elif sizes[a.name] != a.size:
            raise ValueError(
                f"union_axes: axis {a.name!r} has size {sizes[a.name]} in {format_axes(t1)} "
                f"but size {a.size} in {format_axes(t2)}."
            )
    return t1 + tuple(extra)


def eliminate_axes(axes: AxisSpec, to_remove: AxisSelection) -> tuple[Axis, ...]:
    """Removes axes by name, requiring each to be present.

    Raises:
        ValueError: If an axis to remove is missing.

    Examples:
        >>> eliminate_axes(make_axes(a=2, b=3), "a")
        (Axis(name='b', size=3),)
    """
    t = sized_axes(axes, "eliminate_axes")
    removed = {resolve_axis(t, sel, "eliminate_axes").name for sel in axis_spec_to_tuple(to_remove)}
    return tuple(a for a in t if a.name not in removed)


def without_axes(axes: AxisSpec, to_remove: AxisSelection) -> tuple[Axis, ...]:
    """Removes axes by name, ignoring those that are absent.

    Examples:
        >>> without_axes(make_axes(a=2, b=3), ("a", "z"))
        (Axis(name='b', size=3),)
    """
    names = axis_name(axis_spec_to_tuple(to_remove))
    return tuple(a for a in sized_axes(axes, "without_axes") if a.name not in names)


def intersect_axes(a1: AxisSpec, a2: AxisSelection) -> tuple[Axis, ...]:
    """Axes of `a1` whose names also occur in `a2`, in the order of `a1`.

    Examples:
        >>> intersect_axes(make_axes(a=2, b=3, c=4), ("c", "a"))
        (Axis(name='a', size=2), Axis(name='c', size=4))
    """
    names = axis_name(axis_spec_to_tuple(a2))
    return tuple(a for a in sized_axes(a1, "intersect_axes") if a.name in names)


def replace_axis(axes: AxisSpec, old: AxisSelector, new: AxisSpec) -> tuple[Axis, ...]:
    """Replaces the axis `old` with one or more new axes at the same position.

    Raises:
        ValueError: If `old` is missing or the result repeats a name.

    Examples:
        >>> replace_axis(make_axes(a=2, b=3), "a", make_axes(x=1, y=2))
        (Axis(name='x', size=1), Axis(name='y', size=2), Axis(name='b', size=3))
    """
    t = sized_axes(axes, "replace_axis")
    target = resolve_axis(t, old, "replace_axis")
    i = t.index(target)
    result = t[:i] + sized_axes(new, "replace_axis") + t[i + 1 :]
    check_unique_names(result, "replace_axis")
    return result


def check_unique_names(axes: Sequence[Axis], op: str) -> None:
    """Raises a ValueError naming `op` if two axes of `axes` share a name."""
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(
            f"{op}: duplicate axis names {dup} in {format_axes(axes)}. Axis names must be "
            "unique within an array; rename one of them."
        )


_POSITIONS_CACHE: dict[tuple[str, tuple[Axis, ...], object], tuple[int, ...]] = {}


def axis_positions(axes: tuple[Axis, ...], selection: AxisSelection, op: str) -> tuple[int, ...]:
    """The positions in `axes` of the axes `selection` names (sizes checked), cached.

    Raises:
        ValueError: If an axis is missing, a size disagrees, or an axis is named twice.

    Examples:
        >>> axis_positions(make_axes(a=2, b=3, c=4), ("c", "a"), "op")
        (2, 0)
    """
    key_sel = (
        selection if isinstance(selection, (Axis, str, tuple)) else axis_spec_to_tuple(selection)
    )
    key = (op, axes, key_sel)
    try:
        return _POSITIONS_CACHE[key]
    except (KeyError, TypeError):  # TypeError: an unhashable selection
        pass
    selected = [resolve_axis(axes, sel, op) for sel in axis_spec_to_tuple(selection)]
    check_unique_names(selected, op)
    positions = tuple(axes.index(a) for a in selected)
    _POSITIONS_CACHE[key] = positions
    return positions


def arrange_axes(axes: Sequence[Axis], order: Sequence[object], op: str) -> tuple[Axis, ...]:
    """Reorders `axes` by a partial order: selectors with at most one `...` (or `"..."`).

    Without an ellipsis, `order` must name every axis; with one, the axes it does not
    name keep their relative order at the ellipsis.

    Raises:
        ValueError: If `order` names an axis twice or one that `axes` lacks, has two
            ellipses, or (without an ellipsis) leaves an axis out.

    Examples:
        >>> axes = make_axes(a=2, b=3, c=4)
        >>> [ax.name for ax in arrange_axes(axes, ("c", ...), "op")]
        ['c', 'a', 'b']
        >>> [ax.name for ax in arrange_axes(axes, ("...", "a"), "op")]
        ['b', 'c', 'a']
    """
    order = (order,) if isinstance(order, (Axis, str)) and order != "..." else tuple(order)
    dots = [i for i, sel in enumerate(order) if sel is Ellipsis or sel == "..."]
    if len(dots) > 1:
        raise ValueError(f"{op}: the order {order!r} has more than one '...'.")
    named = [sel for sel in order if not (sel is Ellipsis or sel == "...")]
    picked = [resolve_axis(axes, sel, op) for sel in named]  # type: ignore[arg-type]
    check_unique_names(picked, op)
    rest = tuple(ax for ax in axes if ax not in picked)
    if not dots:
        if rest:
            raise ValueError(
                f"{op}: the order {order!r} leaves out {format_axes(rest)} of "
                f"{format_axes(axes)}. Name every axis, or add '...' for the others."
            )
        return tuple(picked)
    i = dots[0]
    return (*picked[:i], *rest, *picked[i:])


def sized_new_axis(op: str, new: AxisSelector, size: int, what: str) -> Axis:
    """The new axis called `new`, of size `size`: a bare name gets the size, an Axis must have it.

    Args:
        op: The operation's name, for error messages.
        new: The new axis, by name or as an `Axis`.
        size: The size the new axis must have.
        what: What the size is, for error messages (e.g. "the number of arrays").

    Raises:
        ValueError: If `new` is an `Axis` of another size.
        TypeError: If `new` is neither an `Axis` nor a name.

    Examples:
        >>> sized_new_axis("stack", "layer", 3, "the number of arrays")
        Axis(name='layer', size=3)
    """
    if isinstance(new, Axis):
        if new.size != size:
            raise ValueError(
                f"{op}: the new axis {new} does not match {what}, which is {size}. Pass the "
                f"name {new.name!r} alone to take that size, or Axis({new.name!r}, {size})."
            )
        return new
    if not isinstance(new, str):
        raise TypeError(f"{op}: the new axis must be an Axis or a name, got {describe(new)}.")
    return Axis(new, size)
