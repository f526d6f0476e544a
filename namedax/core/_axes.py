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
from typing import TypeAlias, TypeVar, cast, overload

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
    "rearrange_for_partial_order",
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


@overload
def axis_name(ax: AxisSelector) -> str: ...
@overload
def axis_name(ax: Sequence[AxisSelector] | Mapping[str, int]) -> tuple[str, ...]: ...
@overload
def axis_name(ax: AxisSelection) -> str | tuple[str, ...]: ...
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


def _spec_entries(spec: AxisSelection, op: str) -> list[tuple[str, int | None]]:
    """`(name, size or None)` per axis of a selection; a bare name has no size."""
    return [
        (a.name, a.size) if isinstance(a, Axis) else (a, None)  # type: ignore[misc]
        for a in axis_spec_to_tuple(spec)
    ]


def _rebuilt(entries: list[tuple[str, int | None]], like: AxisSelection) -> AxisSelection:
    """`entries` in the kind of `like`: a `{name: size}` dict, or a tuple of selectors."""
    if isinstance(like, Mapping):
        # A bare name from replace_axis's `new` gives a None size (a partial shape dict).
        return cast(AxisSelection, {name: size for name, size in entries})
    return tuple(name if size is None else Axis(name, size) for name, size in entries)


def _removed_names(
    op: str, spec: AxisSelection, to_remove: AxisSelection, *, require_present: bool
) -> set[str]:
    """The names of `to_remove` present in `spec`; sizes known on both sides must agree."""
    sizes = dict(_spec_entries(spec, op))
    removed = set()
    for name, size in _spec_entries(to_remove, op):
        if name not in sizes:
            if require_present:
                raise ValueError(
                    f"{op}: no axis {name!r} in {format_axes(axis_spec_to_tuple(spec))} to "
                    "remove. Use without_axes to ignore missing axes."
                )
            continue
        if size is not None and sizes[name] is not None and size != sizes[name]:
            raise ValueError(
                f"{op}: axis {name!r} has size {sizes[name]} in "
                f"{format_axes(axis_spec_to_tuple(spec))} but size {size} in "
                f"{format_axes(axis_spec_to_tuple(to_remove))}. Select it by name or with "
                "its own size."
            )
        removed.add(name)
    return removed


@overload
def eliminate_axes(axes: Mapping[str, int], to_remove: AxisSelection) -> dict[str, int]: ...
@overload
def eliminate_axes(axes: Axis | Sequence[Axis], to_remove: AxisSelection) -> tuple[Axis, ...]: ...
@overload
def eliminate_axes(axes: AxisSelection, to_remove: AxisSelection) -> AxisSelection: ...
def eliminate_axes(axes: AxisSelection, to_remove: AxisSelection) -> AxisSelection:
    """Removes axes by name, requiring each to be present.

    Both arguments may be axes, bare names, sequences of them or `{name: size}` dicts;
    the result is of the kind of `axes` (a dict for a dict, else a tuple).

    Raises:
        ValueError: If an axis to remove is missing, or its size disagrees.

    Examples:
        >>> eliminate_axes(make_axes(a=2, b=3), "a")
        (Axis(name='b', size=3),)
        >>> eliminate_axes(("a", Axis("b", 3)), ("a",))
        (Axis(name='b', size=3),)
        >>> eliminate_axes({"a": 2, "b": 3}, {"b": 3})
        {'a': 2}
    """
    removed = _removed_names("eliminate_axes", axes, to_remove, require_present=True)
    kept = [e for e in _spec_entries(axes, "eliminate_axes") if e[0] not in removed]
    return _rebuilt(kept, axes)


@overload
def without_axes(axes: Mapping[str, int], to_remove: AxisSelection) -> dict[str, int]: ...
@overload
def without_axes(axes: Axis | Sequence[Axis], to_remove: AxisSelection) -> tuple[Axis, ...]: ...
@overload
def without_axes(axes: AxisSelection, to_remove: AxisSelection) -> AxisSelection: ...
def without_axes(axes: AxisSelection, to_remove: AxisSelection) -> AxisSelection:
    """Removes axes by name, ignoring those that are absent.

    Takes the same kinds of arguments as `eliminate_axes`.

    Raises:
        ValueError: If an axis present in both has two different sizes.

    Examples:
        >>> without_axes(make_axes(a=2, b=3), ("a", "z"))
        (Axis(name='b', size=3),)
        >>> without_axes({"a": 2}, {"a": 2, "z": 1})
        {}
    """
    removed = _removed_names("without_axes", axes, to_remove, require_present=False)
    kept = [e for e in _spec_entries(axes, "without_axes") if e[0] not in removed]
    return _rebuilt(kept, axes)


def intersect_axes(a1: AxisSpec, a2: AxisSelection) -> tuple[Axis, ...]:
    """Axes of `a1` whose names also occur in `a2`, in the order of `a1`.

    Examples:
        >>> intersect_axes(make_axes(a=2, b=3, c=4), ("c", "a"))
        (Axis(name='a', size=2), Axis(name='c', size=4))
    """
    names = axis_name(axis_spec_to_tuple(a2))
    return tuple(a for a in sized_axes(a1, "intersect_axes") if a.name in names)


@overload
def replace_axis(
    axes: Mapping[str, int], old: AxisSelector, new: AxisSelection
) -> dict[str, int]: ...
@overload
def replace_axis(
    axes: Axis | Sequence[Axis], old: AxisSelector, new: Axis | Sequence[Axis]
) -> tuple[Axis, ...]: ...
@overload
def replace_axis(axes: AxisSelection, old: AxisSelector, new: AxisSelection) -> AxisSelection: ...
def replace_axis(axes: AxisSelection, old: AxisSelector, new: AxisSelection) -> AxisSelection:
    """Replaces the axis `old` with one or more new axes at the same position.

    `axes` and `new` may hold bare names; the result is a dict if `axes` is one,
    else a tuple.

    Raises:
        ValueError: If `old` is missing (or its size disagrees), or the result repeats
            a name.

    Examples:
        >>> replace_axis(make_axes(a=2, b=3), "a", make_axes(x=1, y=2))
        (Axis(name='x', size=1), Axis(name='y', size=2), Axis(name='b', size=3))
        >>> replace_axis(("a", "b"), "b", ("c",))
        ('a', 'c')
    """
    (gone,) = _removed_names("replace_axis", axes, (old,), require_present=True)
    entries = _spec_entries(axes, "replace_axis")
    i = [name for name, _ in entries].index(gone)
    result = entries[:i] + _spec_entries(new, "replace_axis") + entries[i + 1 :]
    names = [name for name, _ in result]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(
            f"replace_axis: replacing {old!r} in {format_axes(axis_spec_to_tuple(axes))} "
            f"with {format_axes(axis_spec_to_tuple(new))} repeats the names {dup}. Rename "
            "the new axes."
        )
    return _rebuilt(result, axes)


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


def _is_ellipsis(sel: object) -> bool:
    return sel is Ellipsis or (isinstance(sel, str) and sel == "...")


def place_in_partial_order(
    order_names: Sequence[str | None], names: Sequence[str], op: str
) -> list[str]:
    """`names` placed in the partial order `order_names` (`None` is an ellipsis).

    Each named entry is a fixed slot, each ellipsis a bucket. The names are visited in
    their given order: an unnamed one goes into the current bucket; a named one moves
    the current bucket to the first still-empty bucket after its slot (and never
    backwards), so that free axes stay near the ordered axes they followed.
    """
    fixed = [n for n in order_names if n is not None]
    if len(set(fixed)) != len(fixed):
        dup = sorted({n for n in fixed if fixed.count(n) > 1})
        raise ValueError(f"{op}: the order {_shown(order_names)} names {dup} more than once.")
    slots: list[list[str]] = [[] if n is None else [n] for n in order_names]
    buckets = [i for i, n in enumerate(order_names) if n is None]
    current, unseen = buckets[0], set(fixed)
    for name in names:
        if name not in fixed:
            slots[current].append(name)
            continue
        if name not in unseen:
            raise ValueError(f"{op}: axis {name!r} occurs more than once in {tuple(names)!r}.")
        unseen.remove(name)
        start = max(order_names.index(name) + 1, current)
        current = next((i for i in buckets if i >= start and not slots[i]), current)
    if unseen:
        raise ValueError(
            f"{op}: the order {_shown(order_names)} names {sorted(unseen)}, which are not "
            f"among the axes {tuple(names)!r}."
        )
    return [name for slot in slots for name in slot]


def _shown(order_names: Sequence[str | None]) -> str:
    return "(" + ", ".join("..." if n is None else repr(n) for n in order_names) + ")"


_Sel = TypeVar("_Sel", Axis, str, AxisSelector)


def rearrange_for_partial_order(
    partial_order: Sequence[object], axes: Sequence[_Sel]
) -> tuple[_Sel, ...]:
    """Reorders `axes` to fit a partial order that may hold several `...`.

    Without `...` the order must name every axis. With ellipses, the named axes come
    in the order given and every other axis fills an ellipsis: the first one after the
    last named axis it followed in `axes`, so the axes keep roughly their input order.
    This is the placement Haliax uses; when the exact result matters, give a full order.

    Args:
        partial_order: Axis names or `Axis` objects and `...` (or `"..."`).
        axes: The axes (or names) to order.

    Returns:
        The entries of `axes`, reordered.

    Raises:
        ValueError: If the order names an axis twice or one that `axes` lacks, if
            `axes` repeats a name the order fixes, or (without `...`) leaves one out.

    Examples:
        >>> rearrange_for_partial_order(("a", ..., "b", ...), ("b", "a", "c"))
        ('a', 'b', 'c')
        >>> rearrange_for_partial_order((..., "a"), make_axes(a=1, b=2))
        (Axis(name='b', size=2), Axis(name='a', size=1))
    """
    op = "rearrange_for_partial_order"
    order_names = [None if _is_ellipsis(sel) else axis_name(sel) for sel in partial_order]  # type: ignore[arg-type]
    by_name = {axis_name(a): a for a in axes}
    names = [axis_name(a) for a in axes]
    if None not in order_names:
        if sorted(order_names) != sorted(names):  # type: ignore[type-var]
            raise ValueError(
                f"{op}: the order {_shown(order_names)} must name each of the axes "
                f"{tuple(names)!r} exactly once, or hold '...' for the others."
            )
        return tuple(by_name[n] for n in order_names)  # type: ignore[index]
    return tuple(by_name[n] for n in place_in_partial_order(order_names, names, op))  # type: ignore[misc]


def arrange_axes(axes: Sequence[Axis], order: Sequence[object], op: str) -> tuple[Axis, ...]:
    """Reorders `axes` by a partial order of selectors and any number of `...` (or `"..."`).

    Without an ellipsis, `order` must name every axis; with one, the axes it does not
    name keep their relative order at the ellipsis; with several, they are placed as
    `rearrange_for_partial_order` places them.

    Raises:
        ValueError: If `order` names an axis twice or one that `axes` lacks, or
            (without an ellipsis) leaves an axis out.

    Examples:
        >>> axes = make_axes(a=2, b=3, c=4)
        >>> [ax.name for ax in arrange_axes(axes, ("c", ...), "op")]
        ['c', 'a', 'b']
        >>> [ax.name for ax in arrange_axes(axes, ("...", "a"), "op")]
        ['b', 'c', 'a']
        >>> [ax.name for ax in arrange_axes(axes, (..., "c", ..., "a", ...), "op")]
        ['c', 'a', 'b']
    """
    order = (order,) if isinstance(order, (Axis, str)) and order != "..." else tuple(order)
    picked = [resolve_axis(axes, sel, op) for sel in order if not _is_ellipsis(sel)]  # type: ignore[arg-type]
    check_unique_names(picked, op)
    if len(picked) == len(order):
        rest = tuple(ax for ax in axes if ax not in picked)
        if rest:
            raise ValueError(
                f"{op}: the order {order!r} leaves out {format_axes(rest)} of "
                f"{format_axes(axes)}. Name every axis, or add '...' for the others."
            )
        return tuple(picked)
    order_names = [None if _is_ellipsis(sel) else axis_name(sel) for sel in order]  # type: ignore[arg-type]
    by_name = {a.name: a for a in axes}
    return tuple(
        by_name[n] for n in place_in_partial_order(order_names, [a.name for a in axes], op)
    )


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
