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

from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeAlias, overload

import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSelector
from namedax.core._errors import describe, format_axes

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py

DEFAULT_POLY_AXIS_NAME = "degree"
"""The coefficient axis name of a result computed from plain (unnamed) arrays only."""

PolyLike: TypeAlias = NamedArray | jax.Array | Any
"""A polynomial: a 1-d NamedArray or anything `jax.numpy.asarray` accepts."""


def _coefficients(op: str, p: Any, arg: str) -> jax.Array:
    """The positional coefficients of `p`; a NamedArray must have exactly one axis."""
    if isinstance(p, NamedArray):
        if p.ndim != 1:
            raise ValueError(
                f"{op}: {arg} must have one coefficient axis, got {format_axes(p.axes)}. "
                "Apply it per polynomial with nx.vmap over the other axes."
            )
        return p.array
    if isinstance(p, (str, Axis)) or p is None:
        raise TypeError(f"{op}: {arg} must be an array of coefficients, got {describe(p)}.")
    return jnp.asarray(p)


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
        seq_of_zeros: The roots, a 1-d NamedArray or array.

    Returns:
        The coefficients, one more than the roots, on the roots' axis (or `degree`).

    Raises:
        ValueError: If `seq_of_zeros` is a NamedArray with other than one axis.

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
        p1: The first polynomial, a 1-d NamedArray or array.
        p2: The second polynomial, a 1-d NamedArray or array.

    Returns:
        The coefficients on the coefficient axis of `p1` (if named, else of `p2`, else
        `degree`), resized to the result's length.

    Raises:
        ValueError: If a NamedArray argument has other than one axis.

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


def polydiv(u: PolyLike, v: PolyLike) -> tuple[NamedArray, NamedArray]:
    """Named version of `jax.numpy.polydiv`: quotient and remainder of `u / v`.

    Args:
        u: The dividend, a 1-d NamedArray or array.
        v: The divisor, a 1-d NamedArray or array.

    Returns:
        `(quotient, remainder)`, each on the coefficient axis of `u` (if named, else of
        `v`, else `degree`), resized to its own length.

    Raises:
        ValueError: If a NamedArray argument has other than one axis.

    Examples:
        >>> q, r = nx.polydiv(named(jnp.array([1.0, 0.0, -1.0]), "c"), jnp.array([1.0, 1.0]))
        >>> q.array, r.axes
        (Array([ 1., -1.], dtype=float32), (Axis(name='c', size=3),))
    """
    quotient, remainder = jnp.polydiv(
        _coefficients("polydiv", u, "u"), _coefficients("polydiv", v, "v")
    )
    return _as_poly(quotient, u, v), _as_poly(remainder, u, v)


def polyint(p: PolyLike, m: int = 1, k: Any = None) -> NamedArray:
    """Named version of `jax.numpy.polyint`: the `m`-th antiderivative.

    Args:
        p: The polynomial, a 1-d NamedArray or array.
        m: How many times to integrate.
        k: The integration constants: a scalar, or `m` of them (array or 1-d NamedArray).

    Returns:
        The coefficients on `p`'s coefficient axis (or `degree`), `m` longer.

    Raises:
        ValueError: If `p` or `k` is a NamedArray with other than one axis.

    Examples:
        >>> nx.polyint(named(jnp.array([2.0, 1.0]), "c"), k=3.0).array
        Array([1., 1., 3.], dtype=float32)
    """
    constants = None
    if k is not None:
        constants = _coefficients("polyint", k, "k") if isinstance(k, NamedArray) else k
    return _as_poly(jnp.polyint(_coefficients("polyint", p, "p"), m=m, k=constants), p)


def polyder(p: PolyLike, m: int = 1) -> NamedArray:
    """Named version of `jax.numpy.polyder`: the `m`-th derivative.

    Args:
        p: The polynomial, a 1-d NamedArray or array.
        m: How many times to differentiate.

    Returns:
        The coefficients on `p`'s coefficient axis (or `degree`), `m` shorter.

    Raises:
        ValueError: If `p` is a NamedArray with other than one axis.

    Examples:
        >>> nx.polyder(named(jnp.array([1.0, 2.0, 3.0]), "c")).array
        Array([2., 2.], dtype=float32)
    """
    return _as_poly(jnp.polyder(_coefficients("polyder", p, "p"), m=m), p)


@overload
def polyval(p: PolyLike, x: NamedArray) -> NamedArray: ...
@overload
def polyval(p: PolyLike, x: Any) -> jax.Array: ...
def polyval(p: PolyLike, x: Any) -> NamedArray | jax.Array:
    """Named version of `jax.numpy.polyval`: the polynomial evaluated at `x`.

    Args:
        p: The polynomial, a 1-d NamedArray or array.
        x: The points: a NamedArray of any axes, or a scalar or positional array.

    Returns:
        A NamedArray with `x`'s axes when `x` is named, else a `jax.Array` shaped like `x`.

    Raises:
        ValueError: If `p` is a NamedArray with other than one axis.

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
    rcond: float | None = ...,
    full: Literal[False] = ...,
    w: PolyLike | None = ...,
    cov: Literal[False] = ...,
) -> NamedArray: ...
@overload
def polyfit(
    x: PolyLike,
    y: PolyLike,
    deg: int,
    rcond: float | None = ...,
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
    rcond: float | None = ...,
    full: Literal[False] = ...,
    w: PolyLike | None = ...,
    *,
    cov: Literal[True],
) -> tuple[NamedArray, NamedArray]: ...
def polyfit(
    x: PolyLike,
    y: PolyLike,
    deg: int,
    rcond: float | None = None,
    full: bool = False,
    w: PolyLike | None = None,
    cov: bool = False,
) -> NamedArray | tuple[Any, ...]:
    """Named version of `jax.numpy.polyfit`: the least-squares polynomial of degree `deg`.

    Args:
        x: The sample points, a 1-d NamedArray or array.
        y: The sample values, a 1-d NamedArray or array, as long as `x`.
        deg: The degree of the fitted polynomial.
        rcond: The relative condition number of the fit (see `jax.numpy.polyfit`).
        full: Also return the residuals, rank, singular values and `rcond`.
        w: Weights per sample point, a 1-d NamedArray or array.
        cov: Also return the coefficients' covariance matrix (ignored with `full`).

    Returns:
        The `deg + 1` coefficients on the axis of `x` (if named, else of `y`, else
        `degree`), resized. With `full`: `(coefficients, residuals, rank,
        singular_values, rcond)`, the last four plain arrays. With `cov`:
        `(coefficients, covariance)`, the covariance on the coefficient axis and a copy
        of it named `<name>_cov`.

    Raises:
        ValueError: If a NamedArray argument has other than one axis.

    Examples:
        >>> x = named(jnp.array([0.0, 1.0, 2.0, 3.0]), "s")
        >>> c = nx.polyfit(x, 2.0 * x.array + 1.0, 1)
        >>> c.axes, jnp.round(c.array, 4)
        ((Axis(name='s', size=2),), Array([2., 1.], dtype=float32))
    """
    weights = None if w is None else _coefficients("polyfit", w, "w")
    fitted = jnp.polyfit(
        _coefficients("polyfit", x, "x"),
        _coefficients("polyfit", y, "y"),
        deg,
        rcond=rcond,
        full=full,
        w=weights,
        cov=cov,
    )
    if full:
        return (_as_poly(fitted[0], x, y), *fitted[1:])
    if not cov:
        return _as_poly(fitted, x, y)
    coefficients = _as_poly(fitted[0], x, y)
    row = coefficients.axes[0]
    return coefficients, _wrap(fitted[1], (row, row.alias(f"{row.name}_cov")))


def roots(p: PolyLike) -> NamedArray:
    """Named version of `jax.numpy.roots`: the (complex) roots of a polynomial.

    Args:
        p: The polynomial, a 1-d NamedArray or array.

    Returns:
        The roots on `p`'s coefficient axis (or `degree`), resized to their number.

    Raises:
        ValueError: If `p` is a NamedArray with other than one axis.

    Examples:
        >>> r = nx.roots(named(jnp.array([1.0, -3.0, 2.0]), "c"))
        >>> r.axes, sorted(r.array.real.round(4).tolist())
        ((Axis(name='c', size=2),), [1.0, 2.0])
    """
    return _as_poly(jnp.roots(_coefficients("roots", p, "p")), p)


def trim_zeros(filt: PolyLike, trim: str = "fb") -> NamedArray:
    """Named version of `jax.numpy.trim_zeros`: drops leading and/or trailing zeros.

    The result's length depends on the values, so it cannot run under `jit`.

    Args:
        filt: A 1-d NamedArray or array.
        trim: `"f"` trims the front, `"b"` the back, `"fb"` both.

    Returns:
        The kept entries on `filt`'s axis (or `degree`), resized.

    Raises:
        ValueError: If `filt` is a NamedArray with other than one axis.

    Examples:
        >>> nx.trim_zeros(named(jnp.array([0.0, 1.0, 2.0, 0.0]), "c")).array
        Array([1., 2.], dtype=float32)
    """
    return _as_poly(jnp.trim_zeros(_coefficients("trim_zeros", filt, "filt"), trim=trim), filt)


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
        TypeError: If `x` is not a NamedArray.

    Examples:
        >>> x = named(jnp.array([1.0, 2.0, 3.0]), "x")
        >>> nx.vander(x, Axis("d", 2)).array.tolist()
        [[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]
    """
    if not isinstance(x, NamedArray):
        raise TypeError(f"vander: x must be a 1-d NamedArray, got {describe(x)}.")
    points = _coefficients("vander", x, "x")
    columns = degree if isinstance(degree, Axis) else Axis(degree, x.axes[0].size)
    if columns.name == x.axes[0].name:
        raise ValueError(
            f"vander: degree {columns} has the name of x's axis {format_axes(x.axes)}. "
            "Give the columns axis another name."
        )
    return _wrap(jnp.vander(points, N=columns.size), (x.axes[0], columns))
