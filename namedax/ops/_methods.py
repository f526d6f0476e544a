"""Binds operators and methods onto `NamedArray`.

Each method *is* the top-level function of the same name (`x.sum is a bound
namedax.sum`), so the free function and the method share one implementation.
Reflected operators swap their operands. The declarations that type checkers see
are at the end of the `NamedArray` class body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from namedax.core._array import NamedArray
from namedax.core._broadcast import broadcast_axis, broadcast_to
from namedax.core._typing import matches_axes
from namedax.ops import _elementwise as ew, _reductions as red
from namedax.ops._dot import dot
from namedax.ops._indexing import _getitem, _setitem, at, slice as slice_, take, updated_slice
from namedax.ops._rearrange import rearrange
from namedax.ops._shape import flatten, flatten_axes, ravel, rename, split, unbind, unflatten_axis
from namedax.ops._structural import trace
from namedax.ops._where import clip


def _reflected(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def reflected(self: Any, other: Any) -> Any:
        return fn(other, self)

    reflected.__name__ = f"r{fn.__name__}"
    reflected.__doc__ = f"`other {fn.__name__} self`, aligned by name."
    return reflected


OPERATORS: dict[str, Callable[..., Any]] = {
    "__add__": ew.add,
    "__sub__": ew.subtract,
    "__mul__": ew.multiply,
    "__truediv__": ew.true_divide,
    "__floordiv__": ew.floor_divide,
    "__mod__": ew.mod,
    "__divmod__": ew.divmod,
    "__pow__": ew.power,
    "__and__": ew.bitwise_and,
    "__or__": ew.bitwise_or,
    "__xor__": ew.bitwise_xor,
    "__lshift__": ew.left_shift,
    "__rshift__": ew.right_shift,
    "__lt__": ew.less,
    "__le__": ew.less_equal,
    "__gt__": ew.greater,
    "__ge__": ew.greater_equal,
    "__eq__": ew.equal,
    "__ne__": ew.not_equal,
    "__neg__": ew.negative,
    "__pos__": ew.positive,
    "__abs__": ew.abs,
    "__invert__": ew.invert,
}
REFLECTED = (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "divmod", "pow",
    "and", "or", "xor", "lshift", "rshift",
)  # fmt: skip

METHODS: dict[str, Callable[..., Any]] = {
    # indexing and contraction (namedax.ops._indexing, namedax.ops._dot)
    "__getitem__": _getitem,
    "__setitem__": _setitem,
    "at": property(at),  # type: ignore[dict-item]
    "dot": dot,
    "slice": slice_,
    "take": take,
    "updated_slice": updated_slice,
    # reductions and axis-wise functions (namedax.ops._reductions)
    "all": red.all,
    "any": red.any,
    "argmax": red.argmax,
    "argmin": red.argmin,
    "argsort": red.argsort,
    "cumprod": red.cumprod,
    "cumsum": red.cumsum,
    "max": red.max,
    "mean": red.mean,
    "min": red.min,
    "prod": red.prod,
    "product": red.product,
    "ptp": red.ptp,
    "sort": red.sort,
    "std": red.std,
    "sum": red.sum,
    "var": red.var,
    "broadcast_axis": broadcast_axis,
    "broadcast_to": broadcast_to,
    # shape operations (namedax.ops._shape, namedax.ops._rearrange)
    "flatten": flatten,
    "flatten_axes": flatten_axes,
    "ravel": ravel,
    "rearrange": rearrange,
    "rename": rename,
    "split": split,
    "unbind": unbind,
    "unflatten_axis": unflatten_axis,
    "conj": ew.conj,
    "conjugate": ew.conjugate,
    "copy": ew.copy,
    "round": ew.round,
    # other array operations (namedax.ops._where, namedax.ops._structural)
    "clip": clip,
    "trace": trace,
    # annotations (namedax.core._typing)
    "matches_axes": matches_axes,
}


PROPERTIES: dict[str, Callable[..., Any]] = {
    # attributes of jax.Array (and of Haliax's NamedArray), not methods
    "imag": ew.imag,
    "real": ew.real,
}


def bind_methods() -> None:
    """Attaches every operator and method to `NamedArray` (idempotent)."""
    for name, fn in OPERATORS.items():
        setattr(NamedArray, name, fn)
    for name in REFLECTED:
        setattr(NamedArray, f"__r{name}__", _reflected(OPERATORS[f"__{name}__"]))
    for name, fn in METHODS.items():
        setattr(NamedArray, name, fn)
    for name, fn in PROPERTIES.items():
        setattr(NamedArray, name, property(fn, doc=fn.__doc__))


bind_methods()
