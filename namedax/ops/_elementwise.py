"""Elementwise functions: the named versions of `jax.numpy`'s unary and binary ufuncs.

Every function here is made by one of two factories and recorded in `UNARY` or
`BINARY` together with the `jax.numpy` function it wraps and the input domain it
is defined on; the test suite checks every entry of those tables against
`jax.numpy`, on inputs whose axes come in every order.

Unary functions keep the axes. Binary functions align their operands by name; one
operand's axes must contain the other's (see `namedax.core._broadcast`).

Examples:
    >>> import jax.numpy as jnp
    >>> import namedax as nx
    >>> x = nx.named(jnp.array([1.0, 4.0]), "a")
    >>> nx.sqrt(x).array
    Array([1., 2.], dtype=float32)
    >>> y = nx.named(jnp.ones((3, 2)), ("b", "a"))
    >>> (x + y).shape
    {'b': 3, 'a': 2}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, cast, overload

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from namedax.core._array import NamedArray, _wrap
from namedax.core._broadcast import align_operands, same_axes
from namedax.core._signatures import (
    Binary,
    BinaryPair,
    Elementwise,
    ElementwisePair,
    signature_like,
)

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py


@dataclass(frozen=True)
class OpEntry:
    """One generated elementwise function: its positional reference and input domain.

    Attributes:
        named: The namedax function.
        reference: The `jax.numpy` (or `jax.lax`) function it wraps.
        domain: Which inputs the function is defined on, for tests: "real", "positive",
            "unit" (in (-1, 1)), "above_one", "int", "nonzero_int", "bool", "complex".
    """

    named: Callable[..., Any]
    reference: Callable[..., Any]
    domain: str


UNARY: dict[str, OpEntry] = {}
BINARY: dict[str, OpEntry] = {}

P = ParamSpec("P")


def _wrap_outputs(out: Any, axes: tuple) -> Any:
    if type(out) is tuple:  # frexp, modf, divmod
        return tuple(_wrap(o, axes) for o in out)
    return _wrap(out, axes)


@overload
def elementwise(
    name: str, fn: Callable[Concatenate[Any, P], tuple[jax.Array, jax.Array]], reference: str
) -> ElementwisePair[P]: ...
@overload
def elementwise(
    name: str, fn: Callable[Concatenate[Any, P], jax.Array], reference: str
) -> Elementwise[P]: ...
def elementwise(name: str, fn: Callable[..., Any], reference: str) -> Any:
    """The named version of the positional elementwise `fn`, documented as `reference`.

    It keeps the axes of its NamedArray argument and passes plain arrays through. Its
    parameters after the first are `fn`'s, for type checkers and for `help()`.
    """

    def op(x: Any, /, *args: Any, **kwargs: Any) -> Any:
        if type(x) is NamedArray:
            return _wrap_outputs(fn(x.array, *args, **kwargs), x.axes)
        return fn(x, *args, **kwargs)

    op.__name__ = op.__qualname__ = name
    op.__signature__ = signature_like(fn)  # type: ignore[attr-defined]
    op.__doc__ = (
        f"Named version of `{reference}`, applied elementwise; the axes are kept.\n\n"
        "Args:\n"
        "    x: A NamedArray (or a plain array, passed straight through).\n"
        f"    *args: Further positional arguments of `{reference}`.\n"
        f"    **kwargs: Further keyword arguments of `{reference}`.\n\n"
        "Returns:\n"
        "    A NamedArray with the axes of `x`.\n"
    )
    return op


@overload
def _unary(
    name: str, fn: Callable[Concatenate[Any, P], tuple[jax.Array, jax.Array]], domain: str = ...
) -> ElementwisePair[P]: ...
@overload
def _unary(
    name: str, fn: Callable[Concatenate[Any, P], jax.Array], domain: str = ...
) -> Elementwise[P]: ...
def _unary(name: str, fn: Callable[..., Any], domain: str = "real") -> Any:
    op = elementwise(name, fn, _qualified(fn))
    UNARY[name] = OpEntry(op, fn, domain)
    return op


@overload
def _binary(
    name: str, fn: Callable[[Any, Any], tuple[jax.Array, jax.Array]], domain: str = ...
) -> BinaryPair: ...
@overload
def _binary(name: str, fn: Callable[[Any, Any], jax.Array], domain: str = ...) -> Binary: ...
def _binary(name: str, fn: Callable[..., Any], domain: str = "real") -> Any:
    def op(x1: NamedArray | ArrayLike, x2: NamedArray | ArrayLike, /) -> NamedArray | jax.Array:
        axes = same_axes(x1, x2)  # the fast path: nothing to align
        if axes is not None:
            a1 = x1.array if type(x1) is NamedArray else x1
            a2 = x2.array if type(x2) is NamedArray else x2
            return _wrap_outputs(fn(a1, a2), axes)
        (a1, a2), axes = align_operands(name, ("x1", "x2"), (x1, x2))
        out = fn(a1, a2)
        return out if axes is None else _wrap_outputs(out, axes)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"Named version of `{_qualified(fn)}`: the operands are aligned by axis name.\n\n"
        "The result holds the union of the operands' axes (see *broadcasting by name*).\n\n"
        "Args:\n"
        "    x1: A NamedArray or a scalar.\n"
        "    x2: A NamedArray or a scalar.\n\n"
        "Returns:\n"
        "    A NamedArray (a plain value if neither operand is named).\n\n"
        "Raises:\n"
        "    ValueError: If an axis has different sizes in the two operands.\n"
        "    TypeError: If an operand is a plain array with dimensions.\n"
    )
    BINARY[name] = OpEntry(op, fn, domain)
    return op


def _qualified(fn: Callable[..., Any]) -> str:
    module = "jax.lax" if fn.__module__.startswith("jax._src.lax") else "jax.numpy"
    return f"{module}.{fn.__name__}"


# --- unary ----------------------------------------------------------------------------------
abs = _unary("abs", jnp.abs)
absolute = _unary("absolute", jnp.absolute)
angle = _unary("angle", jnp.angle, "complex")
arccos = _unary("arccos", jnp.arccos, "unit")
arccosh = _unary("arccosh", jnp.arccosh, "above_one")
arcsin = _unary("arcsin", jnp.arcsin, "unit")
arcsinh = _unary("arcsinh", jnp.arcsinh)
arctan = _unary("arctan", jnp.arctan)
arctanh = _unary("arctanh", jnp.arctanh, "unit")
around = _unary("around", jnp.around)
bitwise_count = _unary("bitwise_count", jnp.bitwise_count, "int")
bitwise_invert = _unary("bitwise_invert", jnp.bitwise_invert, "int")
bitwise_not = _unary("bitwise_not", jnp.bitwise_not, "int")
cbrt = _unary("cbrt", jnp.cbrt)
ceil = _unary("ceil", jnp.ceil)
conj = _unary("conj", jnp.conj, "complex")
conjugate = _unary("conjugate", jnp.conjugate, "complex")
copy = _unary("copy", jnp.copy)
cos = _unary("cos", jnp.cos)
cosh = _unary("cosh", jnp.cosh)
deg2rad = _unary("deg2rad", jnp.deg2rad)
degrees = _unary("degrees", jnp.degrees)
exp = _unary("exp", jnp.exp)
exp2 = _unary("exp2", jnp.exp2)
expm1 = _unary("expm1", jnp.expm1)
fabs = _unary("fabs", jnp.fabs)
floor = _unary("floor", jnp.floor)
frexp = _unary("frexp", jnp.frexp)
i0 = _unary("i0", jnp.i0)
imag = _unary("imag", jnp.imag, "complex")
invert = _unary("invert", jnp.invert, "int")
iscomplex = _unary("iscomplex", jnp.iscomplex, "complex")
isfinite = _unary("isfinite", jnp.isfinite)
isinf = _unary("isinf", jnp.isinf)
isnan = _unary("isnan", jnp.isnan)
isneginf = _unary("isneginf", jnp.isneginf)
isposinf = _unary("isposinf", jnp.isposinf)
isreal = _unary("isreal", jnp.isreal, "complex")
log = _unary("log", jnp.log, "positive")
log10 = _unary("log10", jnp.log10, "positive")
log1p = _unary("log1p", jnp.log1p, "positive")
log2 = _unary("log2", jnp.log2, "positive")
logical_not = _unary("logical_not", jnp.logical_not, "bool")
modf = _unary("modf", cast(Callable[[ArrayLike], tuple[jax.Array, jax.Array]], jnp.modf))
# (cast: jax's stub leaves modf's `out` untyped; it accepts only None anyway)
nan_to_num = _unary("nan_to_num", jnp.nan_to_num)
negative = _unary("negative", jnp.negative)
positive = _unary("positive", jnp.positive)
rad2deg = _unary("rad2deg", jnp.rad2deg)
radians = _unary("radians", jnp.radians)
real = _unary("real", jnp.real, "complex")
reciprocal = _unary("reciprocal", jnp.reciprocal, "positive")
rint = _unary("rint", jnp.rint)
round = _unary("round", jnp.round)
rsqrt = _unary("rsqrt", lax.rsqrt, "positive")
sign = _unary("sign", jnp.sign)
signbit = _unary("signbit", jnp.signbit)
sin = _unary("sin", jnp.sin)
sinc = _unary("sinc", jnp.sinc)
sinh = _unary("sinh", jnp.sinh)
sqrt = _unary("sqrt", jnp.sqrt, "positive")
square = _unary("square", jnp.square)
tan = _unary("tan", jnp.tan)
tanh = _unary("tanh", jnp.tanh)
trunc = _unary("trunc", jnp.trunc)

# --- binary ---------------------------------------------------------------------------------
add = _binary("add", jnp.add)
arctan2 = _binary("arctan2", jnp.arctan2)
bitwise_and = _binary("bitwise_and", jnp.bitwise_and, "int")
bitwise_left_shift = _binary("bitwise_left_shift", jnp.bitwise_left_shift, "int")
bitwise_or = _binary("bitwise_or", jnp.bitwise_or, "int")
bitwise_right_shift = _binary("bitwise_right_shift", jnp.bitwise_right_shift, "int")
bitwise_xor = _binary("bitwise_xor", jnp.bitwise_xor, "int")
copysign = _binary("copysign", jnp.copysign)
divide = _binary("divide", jnp.divide, "positive")
divmod = _binary("divmod", jnp.divmod, "positive")
equal = _binary("equal", jnp.equal)
float_power = _binary("float_power", jnp.float_power, "positive")
floor_divide = _binary("floor_divide", jnp.floor_divide, "positive")
fmax = _binary("fmax", jnp.fmax)
fmin = _binary("fmin", jnp.fmin)
fmod = _binary("fmod", jnp.fmod, "positive")
gcd = _binary("gcd", jnp.gcd, "int")
greater = _binary("greater", jnp.greater)
greater_equal = _binary("greater_equal", jnp.greater_equal)
heaviside = _binary("heaviside", jnp.heaviside)
hypot = _binary("hypot", jnp.hypot)
lcm = _binary("lcm", jnp.lcm, "int")
ldexp = _binary("ldexp", jnp.ldexp, "int")
left_shift = _binary("left_shift", jnp.left_shift, "int")
less = _binary("less", jnp.less)
less_equal = _binary("less_equal", jnp.less_equal)
logaddexp = _binary("logaddexp", jnp.logaddexp)
logaddexp2 = _binary("logaddexp2", jnp.logaddexp2)
logical_and = _binary("logical_and", jnp.logical_and, "bool")
logical_or = _binary("logical_or", jnp.logical_or, "bool")
logical_xor = _binary("logical_xor", jnp.logical_xor, "bool")
maximum = _binary("maximum", jnp.maximum)
minimum = _binary("minimum", jnp.minimum)
mod = _binary("mod", jnp.mod, "positive")
multiply = _binary("multiply", jnp.multiply)
nextafter = _binary("nextafter", jnp.nextafter)
not_equal = _binary("not_equal", jnp.not_equal)
power = _binary("power", jnp.power, "positive")
remainder = _binary("remainder", jnp.remainder, "positive")
right_shift = _binary("right_shift", jnp.right_shift, "int")
subtract = _binary("subtract", jnp.subtract)
true_divide = _binary("true_divide", jnp.true_divide, "positive")
