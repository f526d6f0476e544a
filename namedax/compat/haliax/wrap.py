"""`haliax.wrap`: turn positional JAX functions into named ones, call by call.

namedax defines its named operations once (`namedax.ops`); these helpers serve code
that wraps its own positional functions the way Haliax does: `wrap_elemwise_unary(f, x)`
keeps `x`'s axes, `wrap_reduction_call(fn, x, axis)` reduces the named `axis`,
`wrap_axiswise_call(fn, x, axis, single_axis_only=...)` works along it and keeps the
axes, and `wrap_elemwise_binary(op)` returns `op` aligned by axis name.

Examples:
    >>> from namedax.compat.haliax.wrap import wrap_elemwise_binary, wrap_reduction_call
    >>> x = named(jnp.arange(6.0).reshape(2, 3), ("a", "b"))
    >>> wrap_reduction_call(jnp.sum, x, "b").array
    Array([ 3., 12.], dtype=float32)
    >>> wrap_elemwise_binary(jnp.subtract)(x, x["a", 0]).shape
    {'a': 2, 'b': 3}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from namedax.compat.haliax.types import (
    ReductionFunction as ReductionFunction,
    SimpleReductionFunction as SimpleReductionFunction,
)
from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import AxisSelection
from namedax.core._broadcast import align_operands
from namedax.ops._reductions import _align_where, _plan_many, _plan_one

__all__ = [
    "ReductionFunction",
    "SimpleReductionFunction",
    "unwrap_namedarrays",
    "wrap_axiswise_call",
    "wrap_elemwise_binary",
    "wrap_elemwise_unary",
    "wrap_reduction_call",
]


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def wrap_elemwise_unary(f: Callable[..., Any], a: Any, *args: Any, **kwargs: Any) -> Any:
    """`f(a, ...)`, keeping `a`'s axes when it is a NamedArray."""
    if isinstance(a, NamedArray):
        return _wrap(f(a.array, *args, **kwargs), a.axes)
    return f(a, *args, **kwargs)


def wrap_reduction_call(
    fn: Callable[..., Any],
    a: Any,
    axis: AxisSelection | None,
    where: NamedArray | None = None,
    single_axis_only: bool = False,
    supports_where: bool = True,
    **kwargs: Any,
) -> Any:
    """`fn` (a `jnp` reduction taking `axis=`) applied over the named `axis` of each leaf of `a`.

    `axis=None` reduces every axis. `where=` is aligned to each array by name.

    Raises:
        ValueError: If `where=` is given to a reduction without it, `out=`/`keepdims=` is
            given, an axis is missing, or several axes go to a one-axis reduction.
    """
    op = _name(fn)
    if where is not None and not supports_where:
        raise ValueError(f"{op}: where= is not supported by this reduction")
    if kwargs.get("out") is not None or kwargs.get("keepdims", False):
        raise ValueError(f"{op}: out= and keepdims=True have no named equivalent")

    def reduce(leaf: Any) -> Any:
        extra = dict(kwargs)
        if not isinstance(leaf, NamedArray):
            if where is not None:
                extra["where"] = where
            return fn(leaf, axis=axis, **extra)
        if where is not None:
            extra["where"] = _align_where(op, leaf, where)
        if axis is None:
            return _wrap(fn(leaf.array, axis=None, **extra), ())
        plan = _plan_one if single_axis_only else _plan_many
        positions, out_axes = plan(op, leaf.axes, axis)
        return _wrap(fn(leaf.array, axis=positions, **extra), out_axes)

    return jax.tree_util.tree_map(reduce, a, is_leaf=lambda x: isinstance(x, NamedArray))


def wrap_axiswise_call(
    fn: Callable[..., Any],
    a: Any,
    axis: AxisSelection | None,
    *,
    single_axis_only: bool,
    **kwargs: Any,
) -> Any:
    """`fn` (a `jnp` function taking `axis=` that keeps the shape) along the named `axis`.

    With `axis=None`, `fn` sees the positional array (as JAX flattens it).

    Raises:
        ValueError: If an axis is missing, or several are given with `single_axis_only`.
    """
    if not isinstance(a, NamedArray):
        return fn(a, axis=axis, **kwargs)
    if axis is None:
        return fn(a.array, axis=None, **kwargs)
    op = _name(fn)
    if single_axis_only:
        positions, _ = _plan_one(op, a.axes, axis)
    else:
        positions, _ = _plan_many(op, a.axes, axis)
        positions = positions[0] if len(positions) == 1 else positions
    return _wrap(fn(a.array, axis=positions, **kwargs), a.axes)


def wrap_elemwise_binary(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """`op` with its two operands aligned by axis name (NamedArrays or scalars)."""
    name = _name(op)

    def binop(a: Any, b: Any) -> Any:
        (x, y), axes = align_operands(name, ("a", "b"), (a, b))
        out = op(x, y)
        return out if axes is None else _wrap(out, axes)

    binop.__name__ = binop.__qualname__ = name
    return binop


def unwrap_namedarrays(*a: Any) -> tuple[Any, ...]:
    """Each argument's positional array (other arguments unchanged)."""
    return tuple(x.array if isinstance(x, NamedArray) else x for x in a)
