"""Comparing whole arrays by name: `isclose`, `allclose`, `array_equal`, `array_equiv`.

Operands are aligned by axis name, never by position, so two arrays that hold the
same axes in different orders compare equal when their values agree. The
whole-array predicates return a 0-d boolean `jax.Array`, like `jax.numpy`: it works
in `if` and `assert` eagerly and stays traceable under `jit`.
"""

from __future__ import annotations

from typing import Any, overload

import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray
from namedax.core._axes import Axis
from namedax.core._broadcast import align_array, align_operands, apply_aligned, is_scalar_like
from namedax.core._errors import describe

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py

_ISCLOSE_NAMES = ("a", "b", "rtol", "atol")


@overload
def isclose(
    a: NamedArray, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False
) -> NamedArray: ...
@overload
def isclose(
    a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False
) -> Any: ...
def isclose(
    a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False
) -> NamedArray | jax.Array:
    """Named version of `jax.numpy.isclose`: elementwise `|a - b| <= atol + rtol * |b|`.

    `a`, `b` and the tolerances (which may be NamedArrays too) are aligned by axis
    name; the result holds the union of their axes.

    Args:
        a: A NamedArray or a scalar.
        b: A NamedArray or a scalar.
        rtol: The relative tolerance.
        atol: The absolute tolerance.
        equal_nan: Whether two NaNs count as close.

    Returns:
        A boolean NamedArray (a plain array if no operand is named).

    Raises:
        TypeError: If an operand is a plain array with dimensions.
        ValueError: If an axis has different sizes in two operands.

    Examples:
        >>> x = named(jnp.array([1.0, 2.0]), "a")
        >>> nx.isclose(x, x + 1e-7).array
        Array([ True,  True], dtype=bool)
    """
    operands = (a, b, rtol, atol)
    return apply_aligned("isclose", _ISCLOSE_NAMES, jnp.isclose, operands, equal_nan=equal_nan)


def allclose(
    a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False
) -> jax.Array:
    """Named version of `jax.numpy.allclose`: whether `isclose` holds everywhere.

    Args:
        a: A NamedArray or a scalar.
        b: A NamedArray or a scalar.
        rtol: The relative tolerance (a scalar or a NamedArray).
        atol: The absolute tolerance (a scalar or a NamedArray).
        equal_nan: Whether two NaNs count as close.

    Returns:
        A 0-d boolean `jax.Array`.

    Raises:
        TypeError: If an operand is a plain array with dimensions.
        ValueError: If an axis has different sizes in two operands.

    Examples:
        >>> x = named(jnp.arange(6.0).reshape(2, 3), ("a", "b"))
        >>> x_t = named(x.array.T + 1e-9, ("b", "a"))  # same values, other layout
        >>> bool(nx.allclose(x, x_t))
        True
    """
    (x, y, r, t), _ = align_operands("allclose", _ISCLOSE_NAMES, (a, b, rtol, atol))
    return jnp.allclose(x, y, rtol=r, atol=t, equal_nan=equal_nan)


def array_equal(a: Any, b: Any, equal_nan: bool = False) -> jax.Array:
    """Named version of `jax.numpy.array_equal`: same axes (in any order) and same values.

    Args:
        a: A NamedArray or a scalar (a scalar has no axes).
        b: A NamedArray or a scalar.
        equal_nan: Whether two NaNs count as equal.

    Returns:
        A 0-d boolean `jax.Array`; false when the axis sets (names and sizes) differ.

    Raises:
        TypeError: If an operand is a plain array with dimensions.

    Examples:
        >>> x = named(jnp.arange(6).reshape(2, 3), ("a", "b"))
        >>> bool(nx.array_equal(x, named(x.array.T, ("b", "a"))))
        True
        >>> bool(nx.array_equal(x, named(jnp.arange(3), "b")))
        False
    """
    x, x_axes = _operand("array_equal", "a", a)
    y, y_axes = _operand("array_equal", "b", b)
    if set(x_axes) != set(y_axes):
        return jnp.asarray(False)
    return jnp.array_equal(x, align_array(y, y_axes, x_axes), equal_nan=equal_nan)


def array_equiv(a: Any, b: Any) -> jax.Array:
    """Named version of `jax.numpy.array_equiv`: equal after broadcasting by name.

    Args:
        a: A NamedArray or a scalar.
        b: A NamedArray or a scalar.

    Returns:
        A 0-d boolean `jax.Array`; false when a shared axis has different sizes or
        when neither operand's axis names contain the other's (Haliax's rule).

    Raises:
        TypeError: If an operand is a plain array with dimensions.

    Examples:
        >>> x = nx.broadcast_axis(named(jnp.array([1, 2]), "b"), Axis("a", 3))
        >>> bool(nx.array_equiv(x, named(jnp.array([1, 2]), "b")))
        True
        >>> bool(nx.array_equiv(x, named(jnp.array([1, 2, 3]), "b")))
        False
        >>> bool(nx.array_equiv(x, named(jnp.array([1, 2]), "c")))
        False
    """
    x, x_axes = _operand("array_equiv", "a", a)
    y, y_axes = _operand("array_equiv", "b", b)
    sizes = {ax.name: ax.size for ax in x_axes}
    if any(sizes.get(ax.name, ax.size) != ax.size for ax in y_axes):
        return jnp.asarray(False)
    x_names, y_names = set(sizes), {ax.name for ax in y_axes}
    if not (x_names <= y_names or y_names <= x_names):
        return jnp.asarray(False)
    out_axes = x_axes + tuple(ax for ax in y_axes if ax.name not in sizes)
    return jnp.array_equiv(align_array(x, x_axes, out_axes), align_array(y, y_axes, out_axes))


def _operand(op: str, name: str, x: Any) -> tuple[Any, tuple[Axis, ...]]:
    if isinstance(x, NamedArray):
        return x.array, x.axes
    if is_scalar_like(x):
        return jnp.asarray(x), ()
    raise TypeError(
        f"{op}: {name} is a plain {describe(x)}; it has no axis names to compare by. Wrap "
        "it with namedax.named(array, axes) to say which axes it has."
    )
