"""Choosing elements by a condition or by bounds: `where`, `nonzero` and `clip`.

The three-argument `where` and `clip` are elementwise: their operands (including
the bounds of `clip`) are aligned by axis name like any binary operation: their
axis sets must be nested, and the result has the largest operand's axes.

The one-argument `where` and `nonzero` return *positions*. How many elements are
true depends on the data, but an array's shape must be static, so the caller
names and sizes the axis of the result (`size=Axis("hit", 8)`, or Haliax's
`new_axis=`): the first `size` positions are returned and the rest are padded
with `fill_value`.
"""

from __future__ import annotations

from typing import Any, overload

import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis
from namedax.core._broadcast import apply_aligned
from namedax.core._errors import describe

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py

_WHERE_NAMES = ("condition", "x", "y")
_CLIP_NAMES = ("a", "a_min", "a_max")


@overload
def where(
    condition: NamedArray,
    x: None = None,
    y: None = None,
    *,
    size: Axis | None = None,
    new_axis: Axis | None = None,
    fill_value: Any = None,
) -> tuple[NamedArray, ...]: ...
@overload
def where(condition: Any, x: Any, y: Any) -> NamedArray: ...
def where(
    condition: Any,
    x: Any = None,
    y: Any = None,
    *,
    size: Axis | None = None,
    new_axis: Axis | None = None,
    fill_value: Any = None,
) -> NamedArray | jax.Array | tuple[NamedArray, ...]:
    """Named version of `jax.numpy.where`: picks from `x` where `condition` holds, else `y`.

    With three arguments the operands are aligned by axis name; their axis sets must
    be nested (see `namedax.core._broadcast`) and the result has the largest one's
    axes. With only `condition`, returns the positions of its true elements, like
    `nonzero`.

    Args:
        condition: A boolean NamedArray (or a scalar, in the three-argument form).
        x: The values where `condition` is true: a NamedArray or a scalar.
        y: The values where `condition` is false: a NamedArray or a scalar.
        size: One-argument form only: the `Axis` of the result; its size is how many
            positions are returned.
        new_axis: Haliax's name for `size`.
        fill_value: One-argument form only: the index used to pad the result when
            fewer than `size` elements are true (default 0).

    Returns:
        A NamedArray; in the one-argument form, one index NamedArray along `size` per
        axis of `condition`, in the order of `condition.axes`.

    Raises:
        TypeError: If only one of `x` and `y` is given, an operand is a plain array
            with dimensions, or the one-argument form lacks a sized axis.
        ValueError: If an axis has different sizes in two operands.

    Examples:
        >>> x = named(jnp.array([1.0, -2.0, 3.0]), "a")
        >>> nx.where(x > 0, x, 0.0).array
        Array([1., 0., 3.], dtype=float32)
        >>> (i,) = nx.where(x > 0, size=Axis("hit", 2))
        >>> i.axes, i.array
        ((Axis(name='hit', size=2),), Array([0, 2], dtype=int32))
    """
    if x is None and y is None:
        return _positions("where", condition, size, new_axis, fill_value)
    if x is None or y is None:
        raise TypeError(
            f"where: got {'x' if y is None else 'y'} without {'y' if y is None else 'x'}. Pass "
            "both (the three-argument form) or neither (the positions of the true elements)."
        )
    if size is not None or new_axis is not None or fill_value is not None:
        raise TypeError(
            "where: size, new_axis and fill_value belong to the one-argument form "
            "where(condition, size=Axis(...)); drop them when passing x and y."
        )
    return apply_aligned("where", _WHERE_NAMES, jnp.where, (condition, x, y))


def nonzero(
    a: NamedArray,
    *,
    size: Axis | None = None,
    new_axis: Axis | None = None,
    fill_value: Any = None,
) -> tuple[NamedArray, ...]:
    """Named version of `jax.numpy.nonzero`: the positions of the non-zero elements.

    Args:
        a: A NamedArray with at least one axis.
        size: The `Axis` of the result; its size is how many positions are returned
            (the first ones, in row-major order of `a`'s layout).
        new_axis: Haliax's name for `size`.
        fill_value: The index used to pad the result when fewer than `size` elements
            are non-zero: a scalar, or one per axis of `a` (default 0).

    Returns:
        One int NamedArray along `size` per axis of `a`, in the order of `a.axes`:
        `dict(zip(a.axis_names, result))` maps each axis name to its indices.

    Raises:
        TypeError: If `a` is not a NamedArray or no sized axis is given.
        ValueError: If `a` has no axes.

    Examples:
        >>> m = named(jnp.array([[0, 1], [1, 0]]), ("row", "col"))
        >>> rows, cols = nx.nonzero(m, size=Axis("hit", 3), fill_value=-1)
        >>> rows.array, cols.array
        (Array([ 0,  1, -1], dtype=int32), Array([ 1,  0, -1], dtype=int32))
    """
    return _positions("nonzero", a, size, new_axis, fill_value)


def _positions(
    op: str, a: Any, size: Axis | None, new_axis: Axis | None, fill_value: Any
) -> tuple[NamedArray, ...]:
    out_axis = _result_axis(op, size, new_axis)
    if not isinstance(a, NamedArray):
        raise TypeError(
            f"{op}: expected a NamedArray condition, got {describe(a)}. Wrap it with "
            "namedax.named(array, axes) so the positions can be attributed to axes."
        )
    if not a.axes:
        raise ValueError(
            f"{op}: the condition has no axes, so there are no positions to return. Use "
            "the three-argument where(condition, x, y) for a scalar condition."
        )
    indices = jnp.nonzero(a.array, size=out_axis.size, fill_value=fill_value)
    axes = (out_axis,)
    return tuple(_wrap(i, axes) for i in indices)


def _result_axis(op: str, size: Axis | None, new_axis: Axis | None) -> Axis:
    if size is not None and new_axis is not None:
        raise TypeError(f"{op}: pass the result axis as size= or as new_axis=, not both.")
    axis = size if size is not None else new_axis
    if not isinstance(axis, Axis):
        got = "nothing" if axis is None else describe(axis)
        raise TypeError(
            f"{op}: the number of positions depends on the data, so the result needs a "
            f"sized axis: pass size=Axis(name, n) (got {got})."
        )
    return axis


@overload
def clip(a: NamedArray, a_min: Any = None, a_max: Any = None) -> NamedArray: ...
@overload
def clip(a: Any, a_min: Any = None, a_max: Any = None) -> Any: ...
def clip(a: Any, a_min: Any = None, a_max: Any = None) -> NamedArray | jax.Array:
    """Named version of `jax.numpy.clip`: limits `a` to `[a_min, a_max]`.

    The bounds may be NamedArrays; all three operands are aligned by axis name (their
    axis sets nested), and the result has the largest one's axes. A bound of `None` is not applied.

    Args:
        a: A NamedArray (or a scalar).
        a_min: The lower bound: a NamedArray, a scalar or `None`.
        a_max: The upper bound: a NamedArray, a scalar or `None`.

    Returns:
        The clipped NamedArray (a plain array if no operand is named).

    Raises:
        TypeError: If an operand is a plain array with dimensions.
        ValueError: If an axis has different sizes in two operands.

    Examples:
        >>> x = named(jnp.array([-2.0, 0.5, 3.0]), "a")
        >>> x.clip(-1.0, 1.0).array
        Array([-1. ,  0.5,  1. ], dtype=float32)
        >>> hi = named(jnp.array([[0.0, 10.0]] * 3), ("a", "b"))
        >>> nx.clip(x, None, hi).shape
        {'a': 3, 'b': 2}
    """
    return apply_aligned("clip", _CLIP_NAMES, jnp.clip, (a, a_min, a_max))
