"""`rearrange`: transpose by name, and einops-like splitting and merging of named axes.

Two forms share one function:

* a sequence of axes (or names) with at most one `...` is a transpose; `...` stands for
  every axis the sequence does not mention, in storage order;
* a pattern string `lhs -> rhs` (parsed by `namedax.ops._patterns`) may also split axes
  (`(h w)` on the left) and merge them (`(E: h w)` on the right).

On an *ordered* left side the items are bound to the array's axes by position, in
storage order, so an identifier there is a variable that need not be the axis name
(but naming an axis that sits elsewhere in the array is an error, since it is
almost always a mistake). On an *unordered* left side, `{H W}`, each name selects an
axis by name, and axes not mentioned are covered implicitly by `...`. Keyword
bindings give sizes to split parts (`h=2`), or alias an identifier to an `Axis` or an
axis name. The resulting plan (reshape, transpose, reshape) is cached per pattern,
input axes and bindings.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import EllipsisType
from typing import Any, TypeAlias

from jax import lax

from namedax.core._array import NamedArray, _wrap, check_named
from namedax.core._axes import (
    Axis,
    AxisSelector,
    arrange_axes,
    place_in_partial_order,
    resolve_axis,
)
from namedax.core._errors import describe, format_axes
from namedax.ops._patterns import (
    Dots,
    Group,
    Name,
    Pattern,
    Span,
    Term,
    parse_pattern,
    pattern_error,
)

__all__ = ["rearrange"]

_Plan: TypeAlias = tuple[
    tuple[int, ...] | None, tuple[int, ...] | None, tuple[int, ...] | None, tuple[Axis, ...]
]
_PLANS: dict[Any, _Plan] = {}


def rearrange(
    a: NamedArray,
    axes_or_pattern: str | Sequence[AxisSelector | EllipsisType],
    /,
    **bindings: int | str | Axis,
) -> NamedArray:
    """Reorders axes by name, or splits and merges them with an einops-like pattern.

    Args:
        a: The array.
        axes_or_pattern: Either a sequence of axes or names, with any number of `...`
            standing for the axes it does not mention (a transpose), or a pattern
            string such as `"b (h w) c -> b h w c"`:

            * the left side lists the array's axes in storage order (`...` once for the
              rest), or, in braces, `{H W ...}`, selects axes by name in any order;
            * `(h w)` on the left splits an axis (inside braces it must name the axis it
              splits: `(N: h w)`); on the right, `(E: h w)` merges axes into one named
              `E`. Splits and merges are row-major;
            * every identifier on the right must be bound on the left, and every axis
              must reach the right side (`...` there stands for the axes covered by
              `...` on the left).
        **bindings: For a pattern: `name=int` sizes a split part (one part per split may
            be left for inference); `name=Axis(...)` or `name="axis_name"` aliases an
            identifier to an axis (its name and, for an `Axis`, its size are checked).
            A size never applies to a group's name, so `{(H: p H)} -> p H` with `H=4`
            splits the axis `H` and sizes the new part `H`.

    Returns:
        The rearranged array.

    Raises:
        ValueError: On an unknown axis, an axis used twice, more than one `...`, split
            sizes that do not divide or cannot be inferred, a malformed pattern, or an
            axis that would be dropped. Pattern errors mark the offending spot.
        TypeError: If `a` is not a NamedArray, or a binding is neither an int, an `Axis`
            nor a name.

    Examples:
        >>> x = named(jnp.zeros((2, 3, 4)), ("batch", "pos", "embed"))
        >>> nx.rearrange(x, ("embed", ...)).axis_names
        ('embed', 'batch', 'pos')
        >>> nx.rearrange(x, "{embed pos} -> ... pos embed").axis_names
        ('batch', 'pos', 'embed')
        >>> y = x.rearrange("b p (h d) -> b h p d", h=2)
        >>> y.shape
        {'batch': 2, 'h': 2, 'pos': 3, 'd': 2}
        >>> y.rearrange("b h p d -> b p (embed: h d)").shape
        {'batch': 2, 'pos': 3, 'embed': 4}
    """
    check_named("rearrange", a)
    if isinstance(axes_or_pattern, str):
        key: Any = (axes_or_pattern, a.axes, *bindings.items())
        try:
            plan = _PLANS.get(key)
        except TypeError:  # an unhashable binding
            plan = None
            _checked_bindings(bindings)
        if plan is None:
            plan = _PLANS[key] = _pattern_plan(axes_or_pattern, a.axes, bindings)
    else:
        if bindings:
            raise TypeError(
                f"rearrange: keyword bindings {sorted(bindings)} only apply to a pattern string; "
                "a sequence of axes needs none."
            )
        spec = (axes_or_pattern,) if isinstance(axes_or_pattern, Axis) else axes_or_pattern
        key = (a.axes, *_as_tuple(spec))
        try:
            plan = _PLANS.get(key)
        except TypeError:  # an unhashable entry; _sequence_plan names it
            plan = None
        if plan is None:
            plan = _PLANS[key] = _sequence_plan(a.axes, key[1:])
    split_shape, perm, out_shape, out_axes = plan
    x = a.array
    if split_shape is not None:
        x = lax.reshape(x, split_shape)
    if perm is not None:
        x = lax.transpose(x, perm)
    if out_shape is not None:
        x = lax.reshape(x, out_shape)
    return _wrap(x, out_axes)


def _as_tuple(spec: Any) -> tuple[Any, ...]:
    if not isinstance(spec, Sequence):
        raise TypeError(
            "rearrange: expected a pattern string or a sequence of axes (with at most one "
            f"...), got {describe(spec)}."
        )
    return tuple(spec)


def _perm_or_none(order: Sequence[int]) -> tuple[int, ...] | None:
    return None if list(order) == list(range(len(order))) else tuple(order)


# --- the sequence form ----------------------------------------------------------------


def _sequence_plan(axes: tuple[Axis, ...], spec: tuple[Any, ...]) -> _Plan:
    shown = "(" + ", ".join("..." if s is Ellipsis else repr(s) for s in spec) + ")"
    chosen: list[Axis] = []
    for sel in spec:
        if sel is Ellipsis:
            continue
        if not isinstance(sel, (Axis, str)):
            raise TypeError(
                f"rearrange: {shown} contains {describe(sel)}; expected axes, names or '...'."
            )
        ax = resolve_axis(axes, sel, "rearrange")
        if ax in chosen:
            raise ValueError(
                f"rearrange: axis {ax.name!r} is used twice in {shown} (array axes "
                f"{format_axes(axes)}). Mention each axis once."
            )
        chosen.append(ax)
    rest = [ax for ax in axes if ax not in chosen]
    if Ellipsis not in spec and rest:
        raise ValueError(
            f"rearrange: {shown} does not mention the axes {format_axes(rest)} of "
            f"{format_axes(axes)}. List every axis, or add ... for the rest."
        )
    order = arrange_axes(axes, spec, "rearrange")
    return None, _perm_or_none([axes.index(ax) for ax in order]), None, order


# --- the pattern form -----------------------------------------------------------------


def _checked_bindings(bindings: dict[str, Any]) -> dict[str, int | str | Axis]:
    checked: dict[str, int | str | Axis] = {}
    for name, value in bindings.items():
        if isinstance(value, (Axis, str)):
            checked[name] = value
        elif hasattr(value, "__index__") and not isinstance(value, bool):
            checked[name] = int(value)
        else:
            raise TypeError(
                f"rearrange: binding {name}={value!r} must be a size (int), an Axis or an axis "
                "name (str)."
            )
    return checked


def _bound_name(bound: Any, default: str) -> str:
    """The axis name an identifier stands for: its Axis or name binding, else itself."""
    return bound.name if isinstance(bound, Axis) else bound if isinstance(bound, str) else default


def _int_or_none(bound: Any) -> int | None:
    return bound if isinstance(bound, int) else None


class _Resolver:
    """Resolves a parsed pattern against the input axes and bindings into a plan."""

    def __init__(self, pattern: Pattern, axes: tuple[Axis, ...], bindings: dict[str, Any]):
        self.pattern = pattern
        self.axes = axes
        self.bindings = bindings
        self.elementary: list[Axis] = []  # the axes after splitting, in storage order
        self.owner: list[str | None] = []  # the variable of each, None if covered by ...
        self.variables: dict[str, tuple[int, Span]] = {}
        self.anonymous_splits: dict[tuple[str, ...], Axis] = {}

    def error(self, span: Span | None, message: str) -> ValueError:
        return pattern_error(
            "rearrange",
            self.pattern.text,
            span,
            f"{message} (array axes {format_axes(self.axes)})",
        )

    # left side

    def match_ordered(self, term: Term) -> list[Any]:
        items, dots, n = term.items, term.dots, len(self.axes)
        if dots is None:
            if len(items) != n:
                haliax = "Too many axes in lhs" if len(items) > n else "Not all axes are bound"
                raise self.error(
                    term.span,
                    f"the left side lists {len(items)} axes but the array has {n} ({haliax}); "
                    "list every axis in storage order, end with ... for the rest, or match by "
                    "name with {...}",
                )
            return list(items)
        if len(items) - 1 > n:
            raise self.error(
                term.span,
                f"the left side lists {len(items) - 1} axes but the array has only {n} (Too many "
                "axes in lhs)",
            )
        k = items.index(dots)
        return [*items[:k], *([None] * (n - len(items) + 1)), *items[k + 1 :]]

    def check_repeats(self, term: Term) -> None:
        """Refuses a name listed twice on the left (as a whole axis or a split part)."""
        seen: set[str] = set()
        for item in term.items:
            for node in (item,) if isinstance(item, Name) else getattr(item, "parts", ()):
                if node.ident in seen:
                    raise self.error(
                        node.span,
                        f"{node.ident!r} is used twice on the left (Capture {node.ident} is "
                        f"assigned more than once: a name is bound more than once)",
                    )
                seen.add(node.ident)

    def check_position(self, node: Name, position: int, sizing: bool) -> None:
        ax = self.axes[position]
        bound = self.bindings.get(node.ident)
        if isinstance(bound, int) and not sizing:
            bound = None  # a group name: the size binding is for a split part of that name
        if bound is None:
            names = [a.name for a in self.axes]
            if node.ident != ax.name and node.ident in names:
                raise self.error(
                    node.span,
                    f"{node.ident!r} is axis {names.index(node.ident)} of the array but the "
                    f"pattern puts it at position {position}; an ordered left side lists the "
                    "axes in storage order, so reorder it, or match by name with {...}",
                )
        elif (isinstance(bound, Axis) and bound != ax) or (
            isinstance(bound, str) and bound != ax.name
        ):
            raise self.error(
                node.span,
                f"{node.ident!r} is bound to {bound!r} but the array's axis at that position is "
                f"{ax}",
            )
        elif isinstance(bound, int) and bound != ax.size:
            raise self.error(
                node.span, f"{node.ident!r} is bound to size {bound} but the axis there is {ax}"
            )

    def match_unordered(self, term: Term) -> list[Any]:
        by_name: dict[str, Any] = {}
        for item in term.items:
            if isinstance(item, Dots):
                continue
            node = item if isinstance(item, Name) else item.name
            if node is None:
                raise self.error(
                    item.span,
                    "a split inside {...} must name the axis it splits, e.g. (N: a b) (it "
                    "must be bound by name)",
                )
            ax = self.lookup_axis(node, sizing=isinstance(item, Name))
            if ax.name in by_name:
                raise self.error(node.span, f"axis {ax.name!r} is used twice on the left")
            by_name[ax.name] = item
        return [by_name.get(ax.name) for ax in self.axes]

    def lookup_axis(self, node: Name, sizing: bool) -> Axis:
        bound = self.bindings.get(node.ident)
        if isinstance(bound, int) and not sizing:
            bound = None  # a group name: the size binding is for a split part of that name
        name = _bound_name(bound, node.ident)
        for ax in self.axes:
            if ax.name == name:
                if isinstance(bound, Axis) and bound.size != ax.size:
                    raise self.error(
                        node.span, f"{node.ident!r} is bound to {bound} but the array has {ax}"
                    )
                if isinstance(bound, int) and bound != ax.size:
                    raise self.error(
                        node.span, f"{node.ident!r} is bound to size {bound} but the array has {ax}"
                    )
                return ax
        alias = f" ({node.ident}={bound!r})" if isinstance(bound, (Axis, str)) else ""
        raise self.error(node.span, f"unknown axis {name!r}{alias} (Could not resolve {name})")

    def declare(self, node: Name, ax: Axis) -> None:
        if node.ident in self.variables:
            raise self.error(node.span, f"{node.ident!r} is used twice on the left")
        self.variables[node.ident] = (len(self.elementary), node.span)
        self.elementary.append(ax)
        self.owner.append(node.ident)

    def split(self, group: Group, ax: Axis) -> None:
        names: list[str] = []
        sizes: list[int | None] = []
        for part in group.parts:
            bound = self.bindings.get(part.ident)
            names.append(_bound_name(bound, part.ident))
            sizes.append(bound.size if isinstance(bound, Axis) else _int_or_none(bound))
        known = 1
        for s in sizes:
            known *= s if s is not None else 1
        unknown = [p.ident for p, s in zip(group.parts, sizes) if s is None]
        if len(unknown) > 1:
            raise self.error(
                group.span,
                f"cannot infer the sizes of {', '.join(map(repr, unknown))} when splitting {ax} "
                f"(they are ambiguous); bind all but one of them, e.g. {unknown[0]}=...",
            )
        if unknown:
            if known == 0 or ax.size % known:
                raise self.error(
                    group.span,
                    f"cannot split {ax} into parts of known size {known}: {ax.size} is not "
                    f"divisible by {known} ({known} does not divide {ax.size})",
                )
            sizes = [s if s is not None else ax.size // known for s in sizes]
        elif known != ax.size:
            raise self.error(
                group.span,
                f"the split sizes {sizes} multiply to {known}, not to the size of {ax} (the "
                f"product does not divide it exactly)",
            )
        for part, name, size in zip(group.parts, names, sizes):
            self.declare(part, Axis(name, size))  # type: ignore[arg-type]
        if group.name is None:
            self.anonymous_splits[tuple(p.ident for p in group.parts)] = ax

    def resolve_left(self) -> None:
        term = self.pattern.lhs[0]
        self.check_repeats(term)
        matched = self.match_unordered(term) if term.unordered else self.match_ordered(term)
        for position, (ax, item) in enumerate(zip(self.axes, matched)):
            if item is None:
                self.elementary.append(ax)
                self.owner.append(None)
                continue
            node = item if isinstance(item, Name) else item.name
            if isinstance(item, Name):
                self.declare(item, ax)
            if node is not None and not term.unordered:
                self.check_position(node, position, sizing=isinstance(item, Name))
            if isinstance(item, Group):
                self.split(item, ax)

    # right side

    def variable(self, node: Name, used: set[int]) -> int:
        found = self.variables.get(node.ident)
        if found is None:
            covered = any(
                ax.name == node.ident for ax, o in zip(self.elementary, self.owner) if o is None
            )
            hint = (
                f"; axis {node.ident!r} is covered by '...' on the left, name it there to move it"
                if covered
                else "; the right side may only use names bound on the left"
            )
            raise self.error(
                node.span,
                f"unknown axis {node.ident!r}{hint} (Axis {node.ident} is not bound on the lhs)",
            )
        index = found[0]
        if index in used:
            raise self.error(
                node.span, f"{node.ident!r} is used twice on the right (it is used more than once)"
            )
        used.add(index)
        return index

    def merged_name(self, group: Group, size: int) -> str:
        if group.name is None:
            source = self.anonymous_splits.get(tuple(p.ident for p in group.parts))
            if source is None:
                raise self.error(
                    group.span,
                    "a merged axis needs a name: write (name: a b ...) (it must have a name)",
                )
            return source.name
        bound = self.bindings.get(group.name.ident)
        if isinstance(bound, int) and group.name.ident in self.variables:
            bound = None  # the size binding is for the variable of that name
        if (isinstance(bound, Axis) and bound.size != size) or (
            isinstance(bound, int) and bound != size
        ):
            raise self.error(
                group.name.span,
                f"{group.name.ident!r} is bound to {bound!r} but the merged axis has size {size}",
            )
        return _bound_name(bound, group.name.ident)

    def right_items(self, used: set[int]) -> list[tuple[list[int], Axis] | None]:
        """Per right-side item: its elementary indices and output axis, or None for `...`."""
        placed: list[tuple[list[int], Axis] | None] = []
        for item in self.pattern.rhs.items:
            if isinstance(item, Dots):
                placed.append(None)
            elif isinstance(item, Name):
                index = self.variable(item, used)
                placed.append(([index], self.elementary[index]))
            else:
                indices = [self.variable(p, used) for p in item.parts]
                size = 1
                for i in indices:
                    size *= self.elementary[i].size
                placed.append((indices, Axis(self.merged_name(item, size), size)))
        return placed

    def spread_over_dots(
        self, placed: list[tuple[list[int], Axis] | None], used: set[int]
    ) -> tuple[list[int], list[Axis]]:
        """The order and axes when several `...` share the uncovered axes (Haliax's placement)."""
        order_names: list[str | None] = []
        heads: dict[str, Axis] = {}
        for entry in placed:
            if entry is None:
                order_names.append(None)
                continue
            indices, axis = entry
            if not indices:
                raise self.error(
                    self.pattern.rhs.span,
                    f"the merge {axis.name!r} of no axes cannot be placed among several '...'",
                )
            order_names.extend(str(i) for i in indices)
            heads[str(indices[0])] = axis
        candidates = [str(i) for i in range(len(self.elementary))]
        order = [int(k) for k in place_in_partial_order(order_names, candidates, "rearrange")]
        out = [
            heads.get(str(i), self.elementary[i]) for i in order if str(i) in heads or i not in used
        ]
        return order, out

    def resolve_right(self) -> tuple[list[int], list[Axis]]:
        used: set[int] = set()
        rhs = self.pattern.rhs
        placed = self.right_items(used)
        if placed.count(None) > 1:
            order, out = self.spread_over_dots(placed, used)
        else:
            order, out = [], []
            rest = [i for i in range(len(self.elementary)) if i not in used]
            for entry in placed:
                order.extend(rest if entry is None else entry[0])
                out.extend((self.elementary[i] for i in rest) if entry is None else [entry[1]])
        if rhs.dots is None:
            dropped = [ax for ax, o in zip(self.elementary, self.owner) if o is None]
            if dropped:
                raise self.error(
                    rhs.span,
                    f"the axes {format_axes(dropped)} do not appear on the right; rearrange "
                    "cannot drop axes, so add '...' or name them",
                )
        for ident, (index, span) in self.variables.items():
            if index not in used and rhs.dots is None:
                raise self.error(
                    span,
                    f"{ident!r} appears on the left but not on the right (Not all intermediate "
                    "axes are used); rearrange cannot drop axes (name it on the right, add '...' "
                    "there, or reduce it away first)",
                )
        names = [ax.name for ax in out]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise self.error(
                rhs.span,
                f"the result would have several axes named {dup}: {format_axes(out)}; name "
                "them apart (e.g. with a binding or a (name: ...) merge)",
            )
        return order, out


def _pattern_plan(text: str, axes: tuple[Axis, ...], bindings: dict[str, Any]) -> _Plan:
    bindings = _checked_bindings(bindings)
    pattern = parse_pattern(text, "rearrange", several_inputs=False)
    resolver = _Resolver(pattern, axes, bindings)
    unused = sorted(set(bindings) - pattern.idents())
    if unused:
        raise resolver.error(None, f"the bindings {unused} are not used in the pattern")
    resolver.resolve_left()
    order, out = resolver.resolve_right()
    split_sizes = tuple(ax.size for ax in resolver.elementary)
    permuted_sizes = tuple(split_sizes[i] for i in order)
    out_sizes = tuple(ax.size for ax in out)
    return (
        None if split_sizes == tuple(ax.size for ax in axes) else split_sizes,
        _perm_or_none(order),
        None if out_sizes == permuted_sizes else out_sizes,
        tuple(out),
    )
