"""`dot`: tensor contraction by axis name.

`dot(x, y, axis=Embed)` multiplies its operands elementwise (aligned by name) and
sums over the contracted axes. Every other axis survives: an axis that several
operands share is a batch axis, an axis only one operand has is kept as is.

The contraction is planned once per `(operand axes, axis, out_axes, precision,
preferred_element_type)` and lowered to a single `jnp.einsum` (one letter per axis
name), so two operands compile to one `dot_general`. The plan holds the einsum
wrapped in an inlined `jax.jit`: under a transformation it traces straight into the
caller's program, and eagerly it runs from JAX's compiled-call cache instead of
re-planning the contraction every call. On a mesh with Explicit axes the result's
`out_sharding` comes from its axis names and the current axis mapping
(`namedax.ops._out_sharding`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSelection, arrange_axes, axis_spec_to_tuple
from namedax.core._errors import describe, format_axes
from namedax.core._signature_defaults import Sentinel
from namedax.ops._out_sharding import JaxShardingTypeError, explain_sharding_error, out_sharding

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_REQUIRED: Any = Sentinel("REQUIRED")  # prints as axis=REQUIRED in help()

Plan = tuple[Callable[..., Any], tuple[Axis, ...]]
_PLANS: dict[Any, Plan] = {}


def dot(
    *arrays: NamedArray,
    axis: AxisSelection | None = _REQUIRED,
    precision: Any = None,
    preferred_element_type: Any = None,
    out_axes: Sequence[Any] | None = None,
) -> NamedArray:
    """Contracts NamedArrays over the axes `axis`, aligning them by name.

    Axes named in `axis` are summed over; axes that several arrays share and that are
    not contracted are batch axes; every other axis is kept.

    Args:
        *arrays: The NamedArrays to contract (one or more).
        axis: Required keyword. The axes to contract: a name or `Axis` (size checked),
            a sequence of them, `()` for none (an elementwise product), or `None` for
            every axis (the result is 0-d).
        precision: Passed to `jnp.einsum` (a `jax.lax.Precision` or a pair of them).
        preferred_element_type: Passed to `jnp.einsum`: the accumulation/result dtype.
        out_axes: The result order: every result axis, or a partial order with one
            `...` standing for the axes it does not name (`(..., "head")` puts `head`
            last). By default, axes come in order of first appearance across `arrays`.

    Returns:
        The contracted NamedArray.

    Raises:
        TypeError: If `axis` is not given or an operand is not a NamedArray.
        ValueError: If an axis has different sizes in two arrays, a contracted axis is
            in no array, or `out_axes` does not fit the result axes.

    Examples:
        >>> Batch, Embed, Out = nx.Axis("batch", 2), nx.Axis("embed", 3), nx.Axis("out", 4)
        >>> x = nx.ones((Batch, Embed))
        >>> w = nx.ones((Embed, Out))
        >>> nx.dot(x, w, axis=Embed).shape
        {'batch': 2, 'out': 4}
        >>> x.dot(w, axis=Embed, out_axes=("out", ...)).shape
        {'out': 4, 'batch': 2}
        >>> nx.dot(x, w, axis=None).array
        Array(24., dtype=float32)
    """
    try:  # the fast path: a contraction planned before
        fn, result_axes = _PLANS[
            (*[x.axes for x in arrays], axis, out_axes, precision, preferred_element_type)
        ]
    except (KeyError, TypeError, AttributeError):
        fn, result_axes = _planned(arrays, axis, precision, preferred_element_type, out_axes)
    spec = out_sharding(result_axes, "dot")
    try:
        if spec is None:
            return _wrap(fn(*[x.array for x in arrays]), result_axes)
        return _wrap(fn(*[x.array for x in arrays], out_sharding=spec), result_axes)
    except JaxShardingTypeError as e:
        raise explain_sharding_error("dot", e, tuple(x.axes for x in arrays)) from e


def _planned(
    arrays: Sequence[Any],
    axis: Any,
    precision: Any,
    preferred_element_type: Any,
    out_axes: Any,
) -> Plan:
    """Checks the arguments, then finds or makes (and caches) the plan."""
    if axis is _REQUIRED:
        raise TypeError(
            "dot: the axes to contract must be given by keyword: dot(x, y, axis=Embed), or "
            "axis=None to contract every axis, or axis=() for none."
        )
    for i, x in enumerate(arrays):
        if not isinstance(x, NamedArray):
            hint = (
                " (the contracted axes go in axis=..., not in front of the arrays)"
                if isinstance(x, (str, Axis))
                else ""
            )
            raise TypeError(f"dot: arrays[{i}] is {describe(x)}, not a NamedArray{hint}.")
    if not arrays:
        raise TypeError("dot: give at least one NamedArray to contract.")
    axis, out_axes, precision = _hashable(axis), _hashable(out_axes), _hashable(precision)
    key = (*[x.axes for x in arrays], axis, out_axes, precision, preferred_element_type)
    try:
        plan = _PLANS.get(key)
    except TypeError:  # still unhashable: plan without caching
        key, plan = None, None
    if plan is None:
        plan = _plan(arrays, axis, out_axes, precision, preferred_element_type)
        if key is not None:
            _PLANS[key] = plan
    return plan


def _hashable(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(x)
    if isinstance(x, Mapping):
        return tuple(Axis(name, size) for name, size in x.items())
    return x


def _plan(
    arrays: Sequence[NamedArray],
    axis: AxisSelection | None,
    out_axes: Sequence[Any] | None,
    precision: Any,
    preferred_element_type: Any,
) -> Plan:
    sizes: dict[str, tuple[int, int]] = {}  # name -> (size, index of the first array with it)
    every: list[Axis] = []
    for i, x in enumerate(arrays):
        for ax in x.axes:
            seen = sizes.get(ax.name)
            if seen is None:
                sizes[ax.name] = (ax.size, i)
                every.append(ax)
            elif seen[0] != ax.size:
                j = seen[1]
                raise ValueError(
                    f"dot: axis {ax.name!r} has size {seen[0]} in arrays[{j}] "
                    f"{format_axes(arrays[j].axes)} but size {ax.size} in arrays[{i}] "
                    f"{format_axes(x.axes)}. Arrays are aligned by name, so same-named axes "
                    "must have the same size; rename or slice one of them."
                )
    contracted = {ax.name for ax in every} if axis is None else _contracted(arrays, axis, sizes)
    result = tuple(ax for ax in every if ax.name not in contracted)
    if out_axes is not None:
        result = _arrange(result, out_axes, contracted)
    if len(every) > len(_LETTERS):
        raise ValueError(
            f"dot: the arrays have {len(every)} distinct axes; at most {len(_LETTERS)} are "
            "supported."
        )
    letter = {ax.name: _LETTERS[i] for i, ax in enumerate(every)}
    terms = ["".join(letter[ax.name] for ax in x.axes) for x in arrays]
    equation = ",".join(terms) + "->" + "".join(letter[ax.name] for ax in result)
    fn = partial(
        jnp.einsum,
        equation,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    return jax.jit(fn, inline=True, static_argnames=("out_sharding",)), result


def _contracted(
    arrays: Sequence[NamedArray], axis: AxisSelection, sizes: dict[str, tuple[int, int]]
) -> set[str]:
    names = set()
    for sel in axis_spec_to_tuple(axis):
        name = sel.name if isinstance(sel, Axis) else sel
        seen = sizes.get(name)
        if seen is None:
            shapes = ", ".join(f"arrays[{i}] {format_axes(x.axes)}" for i, x in enumerate(arrays))
            raise ValueError(
                f"dot: cannot contract axis {name!r}: no array has it ({shapes}). Check the "
                "name, or leave it out of axis=."
            )
        if isinstance(sel, Axis) and sel.size != seen[0]:
            j = seen[1]
            raise ValueError(
                f"dot: axis {name!r} was selected as {sel} but has size {seen[0]} in "
                f"arrays[{j}] {format_axes(arrays[j].axes)}. Select it by name or with an "
                f"Axis of size {seen[0]}."
            )
        names.add(name)
    return names


def _arrange(result: tuple[Axis, ...], out_axes: Any, contracted: set[str]) -> tuple[Axis, ...]:
    order: Any = (
        (out_axes,) if isinstance(out_axes, (str, Axis)) and out_axes != "..." else out_axes
    )
    for sel in order:
        name = sel.name if isinstance(sel, Axis) else sel
        if isinstance(name, str) and name in contracted:
            raise ValueError(
                f"dot: out_axes names {name!r}, which is contracted away; the result has "
                f"{format_axes(result)}."
            )
    return arrange_axes(result, order, "dot (out_axes)")
