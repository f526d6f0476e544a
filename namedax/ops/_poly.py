"""Named polynomials: the `jax.numpy` polynomial family on a coefficient axis.

A polynomial is a 1-d array of coefficients, highest power first, as in `jax.numpy`.
Its one axis is the *coefficient axis*. A result keeps the name of the coefficient
axis of the first NamedArray argument, resized to the result's length; when no
argument is a NamedArray the coefficient axis is named `degree`
(`DEFAULT_POLY_AXIS_NAME`). `polyval` evaluates at points and keeps the points' axes.
This module is also `haliax.poly` under `install_as_haliax()`.

Examples:
    >>> C = Axis("c", 3)
    >>> p = named(jnp.array([1.0, 0.0, -4.0]), C)  # x**2 - 4
    >>> nx.polyder(p).axes
    (Axis(name='c', size=2),)
    >>> nx.poly(jnp.array([2.0, -2.0])).axes
    (Axis(name='degree', size=3),)
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeAlias, cast, overload

import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSelector
from namedax.core._errors import describe, format_axes

# Listed (unlike most private modules) because this module is also `haliax.poly`.
__all__ = [
    "DEFAULT_POLY_AXIS_NAME",
    "poly",
    "polyadd",
    "polysub",
    "polymul",
    "polydiv",
    "polyint",
    "polyder",
    "polyval",
    "polyfit",
    "roots",
    "trim_zeros",
    "vander",
]

DEFAULT_POLY_AXIS_NAME = "degree"
"""The coefficient axis name of a result computed from plain (unnamed) arrays only."""

PolyLike: TypeAlias = NamedArray | jax.Array | Any
"""A polynomial: a 1-d NamedArray or anything `jax.numpy.asarray` accepts."""


def _coefficients(op: str, p: Any, arg: str, *, scalar: bool = True) -> jax.Array:
    """The positional 1-d values of `p`.

    A NamedArray must have exactly one axis; a positional array must be 1-d, or 0-d when
    `scalar` (a constant polynomial, one coefficient).
    """
    if isinstance(p, NamedArray):
        if p.ndim != 1:
            raise ValueError(
                f"{op}: {arg} must have one coefficient axis, got {format_axes(p.axes)}. "
                "Apply it per polynomial with nx.vmap over the other axes."
            )
        return p.array
    if isinstance(p, (str, Axis)) or p is None:
        raise TypeError(f"{op}: {arg} must be an array of coefficients, got {describe(p)}.")
    try:
        values = jnp.asarray(p)
    except TypeError as error:
        raise TypeError(
            f"{op}: {arg} must be an array of coefficients, got {describe(p)}."
        ) from error
    if values.ndim == 0 and scalar:
        return values.reshape(1)
    if values.ndim != 1:
        allowed = "1-d (or a scalar)" if scalar else "1-d"
        raise ValueError(
            f"{op}: {arg} must be {allowed}, got an array of shape {values.shape}. "
            "Apply it per polynomial with nx.vmap (name the other axes first)."
        )
    return values


def _order(op: str, m: Any, arg: str = "m") -> int:
    """`m` as a non-negative Python int (a count of derivatives or integrals, a degree)."""
    if isinstance(m, bool):
        raise TypeError(f"{op}: {arg} must be a non-negative int, got {m!r}.")
    try:
        order = operator.index(m)
    except TypeError:
        raise TypeError(
            f"{op}: {arg} must be a non-negative int (a static Python int, not a traced "
            f"value), got {describe(m)}."
        ) from None
    if order < 0:
        raise ValueError(f"{op}: {arg} must be a non-negative int, got {order}.")
    return order


def _coefficient_axis(sources: tuple[Any, ...], size: int) -> Axis:
    """The first NamedArray source's axis resized to `size`, else `degree` of `size`."""
    for source in sources:
        if isinstance(source, NamedArray):
            return source.axes[0].resize(size)
    return Axis(DEFAULT_POLY_AXIS_NAME, size)


def _as_poly(values: jax.Array, *sources: Any) -> NamedArray:
    return _wrap(values, (_coefficient_axis(sources, values.shape[0]),))


def poly(seq_of_zeros: PolyLike) -> NamedArray:
    """Named version of `jax.numpy.poly`: the monic polynomial with the given roots.

    Args:
        seq_of_zeros: The roots, a 1-d NamedArray or array (or one scalar root).

    Returns:
        The coefficients, one more than the roots, on the roots' axis (or `degree`).

    Raises:
        ValueError: If `seq_of_zeros` has more than one axis (or dimension).

    Examples:
        >>> nx.poly(named(jnp.array([1.0, 2.0]), "r")).array
        Array([ 1., -3.,  2.], dtype=float32)
    """
    return _as_poly(jnp.poly(_coefficients("poly", seq_of_zeros, "seq_of_zeros")), seq_of_zeros)


class _PolyCombination(Protocol):
    def __call__(self, p1: PolyLike, p2: PolyLike) -> NamedArray: ...


def _combination(
    name: str, fn: Callable[[jax.Array, jax.Array], jax.Array], result: str, shown: str
) -> _PolyCombination:
    """`polyadd`/`polysub`/`polymul`: `fn` of the two coefficient arrays."""

    def combine(p1: PolyLike, p2: PolyLike) -> NamedArray:
        values = fn(_coefficients(name, p1, "p1"), _coefficients(name, p2, "p2"))
        return _as_poly(values, p1, p2)

    combine.__name__ = combine.__qualname__ = name
    combine.__doc__ = f"""Named version of `jax.numpy.{name}`: the {result} of two polynomials.

    Args:
        p1: The first polynomial, a 1-d NamedArray or array (or a scalar).
        p2: The second polynomial, a 1-d NamedArray or array (or a scalar).

    Returns:
        The coefficients on the coefficient axis of `p1` (if named, else of `p2`, else
        `degree`), resized to the result's length.

    Raises:
        ValueError: If an argument has more than one axis (or dimension).
        TypeError: If an argument is not an array.

    Examples:
        >>> p = named(jnp.array([2.0, 1.0]), "c")
        >>> q = nx.{name}(p, jnp.array([1.0, 1.0]))
        >>> q.axes[0].name, q.array.tolist()
        ('c', {shown})
    """
    return combine


polyadd = _combination("polyadd", jnp.polyadd, "sum", "[3.0, 2.0]")
polysub = _combination("polysub", jnp.polysub, "difference", "[1.0, 0.0]")
polymul = _combination("polymul", jnp.polymul, "product", "[2.0, 3.0, 1.0]")


def polydiv(p1: PolyLike, p2: PolyLike) -> tuple[NamedArray, NamedArray]:
    """Named version of `jax.numpy.polydiv`: quotient and remainder of `p1 / p2`.

    Args:
        p1: The dividend, a 1-d NamedArray or array (or a scalar).
        p2: The divisor, a 1-d NamedArray or array (or a scalar); its leading
            coefficient must be nonzero.

    Returns:
        `(quotient, remainder)`, each on the coefficient axis of `p1` (if named, else of
        `p2`, else `degree`), resized to its own length. As in `jax.numpy`, the
        remainder is as long as `p1` (its leading entries are zero).

    Raises:
        ValueError: If an argument has more than one axis (or dimension).

    Examples:
        >>> q, r = nx.polydiv(named(jnp.array([1.0, 0.0, -1.0]), "c"), jnp.array([1.0, 1.0]))
        >>> q.array, r.axes
        (Array([ 1., -1.], dtype=float32), (Axis(name='c', size=3),))
    """
    quotient, remainder = jnp.polydiv(
        _coefficients("polydiv", p1, "p1"), _coefficients("polydiv", p2, "p2")
    )
    return _as_poly(quotient, p1, p2), _as_poly(remainder, p1, p2)


def polyint(p: PolyLike, m: int = 1, k: Any = None) -> NamedArray:
    """Named version of `jax.numpy.polyint`: the `m`-th antiderivative.

    Args:
        p: The polynomial, a 1-d NamedArray or array (or a scalar).
        m: How many times to integrate, a non-negative int.
        k: The integration constants: `None` (zeros), one constant for every
            integration (a scalar or a length-1 array), or `m` of them (an array or
            1-d NamedArray), the first for the first integration.

    Returns:
        The coefficients on `p`'s coefficient axis (or `degree`), `m` longer.

    Raises:
        ValueError: If `p` or `k` has the wrong number of axes, `k` does not hold `m`
            constants, or `m` is negative.
        TypeError: If `m` is not an int.

    Examples:
        >>> nx.polyint(named(jnp.array([2.0, 1.0]), "c"), k=3.0).array
        Array([1., 1., 3.], dtype=float32)
    """
    order = _order("polyint", m)
    coefficients = _coefficients("polyint", p, "p")
    constants = None
    if k is not None:
        constants = _coefficients("polyint", k, "k")
        if constants.shape[0] == 1:
            constants = jnp.broadcast_to(constants, (order,))
        elif constants.shape[0] != order:
            raise ValueError(
                f"polyint: k must hold one constant per integration (m={order}), got "
                f"{describe(k)}. Pass one scalar or {order} constants."
            )
    return _as_poly(jnp.polyint(coefficients, m=order, k=constants), p)


def polyder(p: PolyLike, m: int = 1) -> NamedArray:
    """Named version of `jax.numpy.polyder`: the `m`-th derivative.

    Args:
        p: The polynomial, a 1-d NamedArray or array (or a scalar).
        m: How many times to differentiate, a non-negative int.

    Returns:
        The coefficients on `p`'s coefficient axis (or `degree`), `m` shorter
        (empty when `m` exceeds the degree, as in `jax.numpy`).

    Raises:
        ValueError: If `p` has other than one axis or `m` is negative.
        TypeError: If `m` is not an int.

    Examples:
        >>> nx.polyder(named(jnp.array([1.0, 2.0, 3.0]), "c")).array
        Array([2., 2.], dtype=float32)
    """
    return _as_poly(jnp.polyder(_coefficients("polyder", p, "p"), m=_order("polyder", m)), p)


@overload
def polyval(p: PolyLike, x: NamedArray) -> NamedArray: ...
@overload
def polyval(p: PolyLike, x: Any) -> jax.Array: ...
def polyval(p: PolyLike, x: Any) -> NamedArray | jax.Array:
    """Named version of `jax.numpy.polyval`: the polynomial evaluated at `x`.

    Args:
        p: The polynomial, a 1-d NamedArray or array (or a scalar).
        x: The points: a NamedArray of any axes, or a scalar or positional array.

    Returns:
        A NamedArray with `x`'s axes when `x` is named, else a `jax.Array` shaped like `x`.

    Raises:
        ValueError: If `p` has more than one axis (or dimension).

    Examples:
        >>> p = named(jnp.array([1.0, 0.0, -4.0]), "c")
        >>> nx.polyval(p, named(jnp.array([1.0, 2.0]), "x")).array
        Array([-3.,  0.], dtype=float32)
    """
    coefficients = _coefficients("polyval", p, "p")
    if isinstance(x, NamedArray):
        return _wrap(jnp.polyval(coefficients, x.array), x.axes)
    return jnp.polyval(coefficients, x)


@overload
def polyfit(
    x: PolyLike,
    y: PolyLike,
    deg: int,
    rcond: float | NamedArray | None = ...,
    full: Literal[False] = ...,
    w: PolyLike | None = ...,
    cov: Literal[False] = ...,
) -> NamedArray: ...
@overload
def polyfit(
    x: PolyLike,
    y: PolyLike,
    deg: int,
    rcond: float | NamedArray | None = ...,
    *,
    full: Literal[True],
    w: PolyLike | None = ...,
    cov: bool = ...,
) -> tuple[NamedArray, jax.Array, jax.Array, jax.Array, jax.Array]: ...
@overload
def polyfit(
    x: PolyLike,
    y: PolyLike,
    deg: int,
    rcond: float | NamedArray | None = ...,
    full: Literal[False] = ...,
    w: PolyLike | None = ...,
    *,
    cov: Literal[True],
) -> tuple[NamedArray, NamedArray]: ...
def polyfit(
    x: PolyLike,
    y: PolyLike,
    deg: int,
    rcond: float | NamedArray | None = None,
    full: bool = False,
    w: PolyLike | None = None,
    cov: bool = False,
) -> NamedArray | tuple[Any, ...]:
    """Named version of `jax.numpy.polyfit`: the least-squares polynomial of degree `deg`.

    Args:
        x: The sample points, a 1-d NamedArray or array.
        y: The sample values, a 1-d NamedArray or array, as long as `x`.
        deg: The degree of the fitted polynomial, a non-negative int.
        rcond: The relative condition number of the fit: a concrete number or 0-d
            NamedArray, not a traced value (see `jax.numpy.polyfit`).
        full: Also return the residuals, rank, singular values and `rcond`.
        w: Weights per sample point, a 1-d NamedArray or array as long as `x`.
        cov: Also return the coefficients' covariance matrix (ignored with `full`).

    Returns:
        The `deg + 1` coefficients on the axis of `x` (if named, else of `y`, else
        `degree`), resized. With `full`: `(coefficients, residuals, rank,
        singular_values, rcond)`, the last four plain arrays. With `cov`:
        `(coefficients, covariance)`, the covariance on the coefficient axis and a copy
        of it named `<name>_cov`.

    Raises:
        ValueError: If `x`, `y` or `w` is not 1-d, their lengths differ, or `deg` is
            negative.
        TypeError: If `deg` is not an int or `rcond` is not a concrete number.

    Examples:
        >>> x = named(jnp.array([0.0, 1.0, 2.0, 3.0]), "s")
        >>> c = nx.polyfit(x, 2.0 * x.array + 1.0, 1)
        >>> c.axes, jnp.round(c.array, 4)
        ((Axis(name='s', size=2),), Array([2., 1.], dtype=float32))
    """
    degree = _order("polyfit", deg, "deg")
    points = _coefficients("polyfit", x, "x", scalar=False)
    values = _coefficients("polyfit", y, "y", scalar=False)
    weights = None if w is None else _coefficients("polyfit", w, "w", scalar=False)
    for arg, given, array in (("y", y, values), ("w", w, weights)):
        if array is not None and array.shape[0] != points.shape[0]:
            raise ValueError(
                f"polyfit: {arg} must be as long as x: x is {describe(x)}, {arg} is "
                f"{describe(given)}. Give one {arg} entry per sample point."
            )
    if isinstance(rcond, NamedArray) and rcond.ndim != 0:
        raise ValueError(
            f"polyfit: rcond must be a scalar, got {describe(rcond)}. Pass one number."
        )
    condition = None
    if rcond is not None:
        try:
            condition = float(rcond.array if isinstance(rcond, NamedArray) else rcond)
        except TypeError:
            raise TypeError(
                f"polyfit: rcond must be a concrete number (jax.numpy.polyfit treats it as "
                f"static), got {describe(rcond)}. Pass a Python float, not a traced value."
            ) from None
    fitted = jnp.polyfit(points, values, degree, rcond=condition, full=full, w=weights, cov=cov)
    if full:
        return (_as_poly(fitted[0], x, y), *fitted[1:])
    if not cov:  # an Array (jnp.polyfit's overloads need literal `full`/`cov` to say so)
        return _as_poly(cast(jax.Array, fitted), x, y)
    coefficients = _as_poly(fitted[0], x, y)
    row = coefficients.axes[0]
    return coefficients, _wrap(fitted[1], (row, row.alias(f"{row.name}_cov")))


def roots(p: PolyLike, *, strip_zeros: bool = True) -> NamedArray:
    """Named version of `jax.numpy.roots`: the (complex) roots of a polynomial.

    Args:
        p: The polynomial, a 1-d NamedArray or array.
        strip_zeros: Drop leading zero coefficients first, as `jax.numpy` does. The
            number of roots then depends on the values, so under `jit` pass `False`
            (each leading zero then gives a `nan` root).

    Returns:
        The roots on `p`'s coefficient axis (or `degree`), resized to their number.

    Raises:
        ValueError: If `p` is not 1-d.

    Examples:
        >>> r = nx.roots(named(jnp.array([1.0, -3.0, 2.0]), "c"))
        >>> r.axes, sorted(r.array.real.round(4).tolist())
        ((Axis(name='c', size=2),), [1.0, 2.0])
    """
    coefficients = _coefficients("roots", p, "p", scalar=False)
    return _as_poly(jnp.roots(coefficients, strip_zeros=strip_zeros), p)


def trim_zeros(f: PolyLike, trim: str = "fb") -> NamedArray:
    """Named version of `jax.numpy.trim_zeros`: drops leading and/or trailing zeros.

    The result's length depends on the values, so it cannot run under `jit`.

    Args:
        f: A 1-d NamedArray or array.
        trim: Which ends to trim: a string holding `"f"` (front) and/or `"b"` (back),
            in either case; `"fb"` trims both.

    Returns:
        The kept entries on `f`'s axis (or `degree`), resized.

    Raises:
        ValueError: If `f` is not 1-d, or `trim` holds neither `"f"` nor `"b"`.
        TypeError: If `trim` is not a string.

    Examples:
        >>> nx.trim_zeros(named(jnp.array([0.0, 1.0, 2.0, 0.0]), "c")).array
        Array([1., 2.], dtype=float32)
    """
    values = _coefficients("trim_zeros", f, "f", scalar=False)
    if not isinstance(trim, str):
        raise TypeError(f"trim_zeros: trim must be a string such as 'fb', got {describe(trim)}.")
    if not set(trim.lower()) <= {"f", "b"} or not trim:
        raise ValueError(
            f"trim_zeros: trim must be made of 'f' (front) and 'b' (back), got {trim!r}."
        )
    return _as_poly(jnp.trim_zeros(values, trim=trim), f)


def vander(x: NamedArray, degree: AxisSelector) -> NamedArray:
    """Named version of `jax.numpy.vander`: the powers of `x`, highest first.

    Args:
        x: A 1-d NamedArray of points.
        degree: The new columns axis: an `Axis` gives the number of columns, a name
            makes as many columns as `x` has points.

    Returns:
        A NamedArray with axes `(x's axis, degree)`.

    Raises:
        ValueError: If `x` has other than one axis, or `degree` is `x`'s own axis name.
        TypeError: If `x` is not a NamedArray or `degree` is not an axis.

    Examples:
        >>> x = named(jnp.array([1.0, 2.0, 3.0]), "x")
        >>> nx.vander(x, Axis("d", 2)).array.tolist()
        [[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]
    """
    if not isinstance(x, NamedArray):
        raise TypeError(f"vander: x must be a 1-d NamedArray, got {describe(x)}.")
    points = _coefficients("vander", x, "x")
    if not isinstance(degree, (str, Axis)):
        raise TypeError(
            f"vander: degree must be an axis name or an Axis, got {describe(degree)}. "
            "Write Axis('degree', n) for n columns."
        )
    columns = degree if isinstance(degree, Axis) else Axis(degree, x.axes[0].size)
    if columns.name == x.axes[0].name:
        raise ValueError(
            f"vander: degree {columns} has the name of x's axis {format_axes(x.axes)}. "
            "Give the columns axis another name."
        )
    return _wrap(jnp.vander(points, N=columns.size), (x.axes[0], columns))
