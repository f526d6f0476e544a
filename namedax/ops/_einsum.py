"""`einsum`: tensor contractions written as an equation over axis names.

The equation is parsed by `namedax.ops._patterns` and takes one of three forms, told
apart by its left side:

* **ordered**, `"h w d, d w h -> h w"`: one term per input, listing its axes in
  storage order (`...` once per term for the rest). Labels are variables bound by
  position; a label used in several terms must stand for the same axis name. A
  label may be aliased by keyword to an `Axis` or a name, which the bound axis must
  match. Labels left out of the output are contracted; `...` on the right stands
  for the axes covered by `...` on the left (those are contracted if it is absent);
* **unordered**, `"{H W D} -> H W"`: one braced term for all inputs, naming the axes
  involved; those missing from the output are contracted and axes not named stay,
  batched, in front of the output (or where the output's `...` is). With `...` in
  the braces every axis not in the output is contracted;
* **output only**, `"-> H W"`: every axis not in the output is contracted (`...` on
  the right keeps the rest).

Same-named axes of different inputs are the same axis, so they must have the same
size. The equation is lowered to one `jnp.einsum` call with one letter per axis
name; the lowering is cached per equation, input axes and aliases.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, place_in_partial_order
from namedax.core._errors import describe, format_axes
from namedax.core._signature_defaults import readable_defaults
from namedax.ops._out_sharding import JaxShardingTypeError, explain_sharding_error, out_sharding
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

__all__ = ["einsum"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PLANS: dict[Any, tuple[str, tuple[Axis, ...]]] = {}
_COMPILED: dict[Any, Callable[..., Any]] = {}


@readable_defaults
def einsum(
    equation: str,
    /,
    *arrays: NamedArray,
    precision: Any = None,
    preferred_element_type: Any = None,
    _dot: Callable[..., Any] = lax.dot_general,
    _dot_general: Callable[..., Any] | None = None,
    **aliases: Axis | str,
) -> NamedArray:
    """Contracts arrays according to an einsum equation over axis names.

    Args:
        equation: `"lhs -> out"` in one of three forms (see the examples):

            * ordered, `"b q d, b k d -> b q k"`: one comma-separated term per array
              listing its axes in storage order (`...` for the rest); labels are bound
              by position and need not be the axis names;
            * unordered, `"{Q D} -> Q"`: the braces name the axes to consider, matched
              by name in every array; those not in the output are contracted, axes not
              named are kept in front (`{... D}` contracts everything not in the output);
            * output only, `"-> Q K"`: contracts every axis not in the output.

            In every form the output lists the result axes in order; `...` there stands
            for the remaining kept axes.
        *arrays: The NamedArrays to contract.
        precision: Passed to `jnp.einsum`.
        preferred_element_type: Passed to `jnp.einsum`.
        _dot: The `dot_general` implementation `jnp.einsum` uses (e.g. for quantised
            matmuls).
        _dot_general: Another spelling of `_dot`, as in Haliax.
        **aliases: Binds a label of the equation to an `Axis` (name and size checked) or
            an axis name, e.g. `q=QPos`. Every alias must be used.

    Returns:
        The contraction, with the output axes in the order written.

    Raises:
        ValueError: On a malformed equation, a term that does not fit its array, an
            unknown label or axis, a label used twice, an alias that does not match, or
            same-named axes with different sizes. Equation errors mark the spot.
        TypeError: If an input is not a NamedArray or an alias is neither an `Axis` nor
            a name.

    Examples:
        >>> H, W, D = Axis("h", 2), Axis("w", 3), Axis("d", 4)
        >>> x = nx.named(jnp.ones((2, 3, 4)), (H, W, D))
        >>> y = nx.named(jnp.ones((4, 3, 2)), (D, W, H))
        >>> nx.einsum("h w d, d w h -> h w", x, y).shape
        {'h': 2, 'w': 3}
        >>> nx.einsum("{d} -> w h", x, y).shape
        {'w': 3, 'h': 2}
        >>> nx.einsum("-> w", x, y).array
        Array([8., 8., 8.], dtype=float32)
        >>> nx.einsum("a b c -> c a", x, c="d").shape
        {'d': 4, 'h': 2}
    """
    for i, a in enumerate(arrays):
        if not isinstance(a, NamedArray):
            raise TypeError(
                f"einsum: arrays[{i}] is a {describe(a)}; every input must be a NamedArray. "
                "Wrap it with namedax.named(array, axes) first."
            )
    key: Any = (equation, *(a.axes for a in arrays), *aliases.items())
    try:
        plan = _PLANS.get(key)
    except TypeError:  # an unhashable alias
        plan = None
        _check_aliases(aliases)
    if plan is None:
        plan = _PLANS[key] = _plan(equation, tuple(a.axes for a in arrays), aliases)
    spec, out_axes = plan
    dot = _dot if _dot_general is None else _dot_general
    sharding = out_sharding(out_axes, "einsum")
    try:
        out = _contract(
            spec, [a.array for a in arrays], precision, preferred_element_type, dot, sharding
        )
    except JaxShardingTypeError as e:
        raise explain_sharding_error("einsum", e, tuple(a.axes for a in arrays)) from e
    return _wrap(out, out_axes)


def _contract(
    spec: str, arrays: list[Any], precision: Any, preferred: Any, dot: Any, sharding: Any
) -> Any:
    """`jnp.einsum(spec, *arrays)`, through a cached `jit` when the options allow.

    `jnp.einsum` searches for a contraction order on every call, which dominates its
    eager cost; a jitted wrapper per spec does that once. Under an outer `jit` the
    wrapper is inlined, so the compiled code is the same. `sharding` is the
    `out_sharding` of an explicit mesh, or None.
    """
    if dot is lax.dot_general:
        key = (spec, precision, preferred, sharding)
        try:
            fn = _COMPILED.get(key)
        except TypeError:  # an unhashable option: call jnp.einsum directly
            pass
        else:
            if fn is None:
                fn = _COMPILED[key] = jax.jit(
                    functools.partial(
                        jnp.einsum,
                        spec,
                        precision=precision,
                        preferred_element_type=preferred,
                        out_sharding=sharding,
                    )
                )
            return fn(*arrays)
    return jnp.einsum(
        spec,
        *arrays,
        precision=precision,
        preferred_element_type=preferred,
        _dot_general=dot,
        out_sharding=sharding,
    )


def _check_aliases(aliases: dict[str, Any]) -> None:
    for label, value in aliases.items():
        if not isinstance(value, (Axis, str)):
            raise TypeError(
                f"einsum: alias {label}={value!r} must be an Axis or an axis name (str)."
            )


class _Planner:
    """Resolves a parsed equation against the inputs' axes into a `jnp.einsum` spec."""

    def __init__(self, pattern: Pattern, inputs: tuple[tuple[Axis, ...], ...], aliases: dict):
        self.pattern = pattern
        self.inputs = inputs
        self.aliases = aliases
        self.sizes: dict[str, int] = {}  # every input axis name, in order of first appearance
        self.where: dict[str, int] = {}  # the first input holding each name
        for i, axes in enumerate(inputs):
            for ax in axes:
                size = self.sizes.setdefault(ax.name, ax.size)
                j = self.where.setdefault(ax.name, i)
                if size != ax.size:
                    raise ValueError(
                        f"einsum: axis {ax.name!r} has size {size} in arrays[{j}] "
                        f"{format_axes(inputs[j])} but size {ax.size} in arrays[{i}] "
                        f"{format_axes(axes)}. Same-named axes are the same axis, so their "
                        "sizes must agree; rename or slice one of them."
                    )

    def error(self, span: Span | None, message: str) -> ValueError:
        shapes = ", ".join(f"arrays[{i}] {format_axes(axes)}" for i, axes in enumerate(self.inputs))
        return pattern_error("einsum", self.pattern.text, span, f"{message} (inputs: {shapes})")

    def no_groups(self, term: Term) -> None:
        for item in term.items:
            if isinstance(item, Group):
                raise self.error(
                    item.span,
                    "parentheses are not supported in einsum; split or merge axes with "
                    "rearrange first",
                )

    def check_aliases_used(self) -> None:
        unused = sorted(set(self.aliases) - self.pattern.idents())
        if unused:
            error = self.error(
                None,
                f"the aliases {unused} are not used in the equation (Axis alias "
                f"{', '.join(unused)} not used); drop them or use them in the equation",
            )
            # Haliax's wording, last (code written against Haliax matches it at the end)
            raise ValueError(f"{error}\nUnused aliases from kwargs: {', '.join(unused)}")

    # the unordered and output-only forms: identifiers are axis names (or aliases of them)

    def axis_name(self, node: Name) -> str:
        alias = self.aliases.get(node.ident)
        name = alias.name if isinstance(alias, Axis) else alias if alias is not None else node.ident
        size = self.sizes.get(name)
        if size is None:
            shown = f" ({node.ident}={alias!r})" if alias is not None else ""
            raise self.error(
                node.span,
                f"unknown axis {name!r}{shown}: no input has it (Axis {node.ident} not "
                f"present: not found in any of the input arrays)",
            )
        if isinstance(alias, Axis) and alias.size != size:
            raise self.error(
                node.span,
                f"Size mismatch: {node.ident!r} is aliased to {alias} but axis {name!r} has "
                f"size {size} in arrays[{self.where[name]}]",
            )
        return name

    def names(self, term: Term, side: str) -> list[str]:
        self.no_groups(term)
        found: list[str] = []
        for item in term.items:
            if isinstance(item, Name):
                name = self.axis_name(item)
                if name in found:
                    raise self.error(
                        item.span,
                        f"axis {name!r} is named twice on the {side} (an axis may not appear "
                        "multiple times)",
                    )
                found.append(name)
        return found

    def output(self, rhs: Term, named: list[str], rest: list[str]) -> list[str]:
        """The output names: `named` (in the order written) with `...` expanded to `rest`.

        With several `...`, the axes of `rest` are spread over them as
        `rearrange_for_partial_order` places them, from the order of the inputs' axes.
        """
        it = iter(named)
        order: list[str | None] = [None if isinstance(i, Dots) else next(it) for i in rhs.items]
        if order.count(None) > 1:
            kept = set(named) | set(rest)
            candidates = [n for n in self.sizes if n in kept]
            return place_in_partial_order(order, candidates, "einsum")
        out: list[str] = []
        for name in order:
            out.extend(rest if name is None else [name])
        return out

    def unordered(self, term: Term) -> list[str]:
        rhs = self.pattern.rhs
        considered = self.names(term, "left")
        named = self.names(rhs, "right")
        if term.dots is not None and rhs.dots is None:
            return named
        contracted = set(considered) - set(named)
        rest = [n for n in self.sizes if n not in contracted and n not in named]
        if rhs.dots is None:
            return rest + named
        return self.output(rhs, named, rest)

    def output_only(self) -> list[str]:
        rhs = self.pattern.rhs
        named = self.names(rhs, "right")
        if rhs.dots is None:
            return named
        return self.output(rhs, named, [n for n in self.sizes if n not in named])

    # the ordered form: labels are variables bound by position

    def ordered(self) -> list[str]:
        terms, rhs = self.pattern.lhs, self.pattern.rhs
        if len(terms) != len(self.inputs):
            raise self.error(
                None,
                f"the equation has {len(terms)} input terms but {len(self.inputs)} arrays were "
                "given (the number of terms does not match number of arrays); write one "
                "comma-separated term per array",
            )
        bound: dict[str, str] = {}  # label -> axis name
        covered: list[str] = []  # axis names covered by '...'
        for i, (term, axes) in enumerate(zip(terms, self.inputs)):
            if term.unordered:
                raise self.error(
                    term.span,
                    "braces {...} are only allowed as the whole left side, e.g. '{H W D} -> H W'",
                )
            self.no_groups(term)
            self.bind_term(i, term, axes, bound, covered)
        for name in covered:
            if name in bound.values():
                label = next(k for k, v in bound.items() if v == name)
                raise self.error(
                    None,
                    f"axis {name!r} is covered by '...' in one term but labelled {label!r} in "
                    "another; label it in every term that holds it, or in none",
                )
        labels_of: dict[str, str] = {}
        for label, name in bound.items():
            if name in labels_of:
                raise self.error(
                    None,
                    f"the labels {labels_of[name]!r} and {label!r} both stand for axis {name!r}; "
                    "use one label per axis",
                )
            labels_of[name] = label
        self.no_groups(rhs)
        named: list[str] = []
        for item in rhs.items:
            if isinstance(item, Name):
                name = bound.get(item.ident)
                if name is None:
                    raise self.error(
                        item.span,
                        f"unknown label {item.ident!r}: every output label must appear on the left",
                    )
                if name in named:
                    raise self.error(item.span, f"{item.ident!r} appears twice in the output")
                named.append(name)
        if rhs.dots is None:
            return named
        return self.output(rhs, named, covered)

    def bind_term(
        self, i: int, term: Term, axes: tuple[Axis, ...], bound: dict[str, str], covered: list[str]
    ) -> None:
        items, dots, n = term.items, term.dots, len(axes)
        explicit = len(items) - (dots is not None)
        if explicit > n or (dots is None and explicit != n):
            raise self.error(
                term.span,
                f"Mismatched number of axes: the term for arrays[{i}] lists {explicit} axes but "
                f"the array has {n} {format_axes(axes)}; list its axes in storage order (or use "
                "... for the rest)",
            )
        if dots is None:
            positions = list(range(n))
        else:
            k = items.index(dots)
            after = len(items) - k - 1
            positions = [*range(k), *range(n - after, n)]
            covered.extend(ax.name for ax in axes[k : n - after] if ax.name not in covered)
        labels = [item for item in items if isinstance(item, Name)]
        seen: set[str] = set()
        for node, position in zip(labels, positions):
            ax = axes[position]
            if node.ident in seen:
                raise self.error(
                    node.span,
                    f"{node.ident!r} appears twice in the term for arrays[{i}]; axis names are "
                    "unique within an array (einsum takes no diagonals)",
                )
            seen.add(node.ident)
            alias = self.aliases.get(node.ident)
            names = [a.name for a in axes]
            if (isinstance(alias, Axis) and alias != ax) or (
                isinstance(alias, str) and alias != ax.name
            ):
                raise self.error(
                    node.span,
                    f"{node.ident!r} is aliased to {alias!r} but arrays[{i}] has {ax} at that "
                    "position",
                )
            if alias is None and node.ident != ax.name and node.ident in names:
                raise self.error(
                    node.span,
                    f"{node.ident!r} is axis {names.index(node.ident)} of arrays[{i}] but the "
                    f"term puts it at position {position}; list the axes in storage order, or "
                    "match by name with '{...}'",
                )
            previous = bound.setdefault(node.ident, ax.name)
            if previous != ax.name:
                raise self.error(
                    node.span,
                    f"{node.ident!r} stands for axis {previous!r} in an earlier term but for "
                    f"{ax.name!r} in arrays[{i}]",
                )

    def plan(self) -> tuple[str, tuple[Axis, ...]]:
        lhs = self.pattern.lhs
        if not lhs:
            out = self.output_only()
        elif len(lhs) == 1 and lhs[0].unordered:
            out = self.unordered(lhs[0])
        else:
            out = self.ordered()
        self.check_aliases_used()
        if len(self.sizes) > len(_LETTERS):
            raise self.error(
                None, f"{len(self.sizes)} distinct axes; einsum supports at most {len(_LETTERS)}"
            )
        letter = dict(zip(self.sizes, _LETTERS))
        spec = ",".join("".join(letter[ax.name] for ax in axes) for axes in self.inputs)
        spec += "->" + "".join(letter[name] for name in out)
        return spec, tuple(Axis(name, self.sizes[name]) for name in out)


def _plan(
    equation: str, inputs: tuple[tuple[Axis, ...], ...], aliases: dict[str, Any]
) -> tuple[str, tuple[Axis, ...]]:
    _check_aliases(aliases)
    if not inputs:
        raise ValueError(f"einsum: no arrays were given for the equation {equation!r}.")
    pattern = parse_pattern(equation, "einsum", several_inputs=True)
    return _Planner(pattern, inputs, aliases).plan()
