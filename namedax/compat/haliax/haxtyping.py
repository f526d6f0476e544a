"""`haliax.haxtyping`: short dtype annotations, `f32["batch"]` for `Float32[NamedArray, "batch"]`.

One name per dtype (`f32`, `bf16`, `i32`, `bool_`, ...) and per dtype category
(`Float`, `Int`, `UInt`, `Complex`). Subscript with an axes spec alone for a NamedArray
(`f32["batch ... embed"]`, the spec forms of `namedax.typing`), or with an array type
and a spec for any array (`f32[jax.Array, "b c"]` is jaxtyping's `Float32[jax.Array, "b c"]`).
namedax's own annotations are `namedax.typing`'s (`Float[NamedArray, "batch embed"]`).

Examples:
    >>> from namedax.compat.haliax.haxtyping import f32, i32, Float
    >>> x = nx.zeros(make_axes(batch=2, embed=3))
    >>> isinstance(x, f32["batch embed"]), isinstance(x, i32["batch embed"])
    (True, False)
    >>> x.matches_axes(Float["batch ..."])
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jaxtyping

from namedax.core._array import NamedArray
from namedax.core._typing import DTypeCategory as DTypeCategory, Named as Named, _AnnotationFormMeta

__all__ = [
    "Complex",
    "DTypeCategory",
    "Float",
    "Int",
    "Named",
    "UInt",
    "bf16",
    "bool_",
    "complex64",
    "complex128",
    "f16",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "u8",
    "u16",
    "u32",
    "u64",
]


class _ShorthandMeta(_AnnotationFormMeta):
    """`short[spec]` means `short[NamedArray, spec]`; `short[ArrayType, spec]` is unchanged."""

    def __getitem__(cls, item: Any) -> Any:
        has_array_type = isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], type)
        return super().__getitem__(item if has_array_type else (NamedArray, item))


def _shorthand(name: str, dtype: Any) -> Any:
    return _ShorthandMeta(
        name, (), {"_dtype": dtype, "__module__": "namedax.compat.haliax.haxtyping"}
    )


if TYPE_CHECKING:  # for static checkers each shorthand is the array type it annotates
    from typing import (
        Annotated as Complex,
        Annotated as Float,
        Annotated as Int,
        Annotated as UInt,
        Annotated as bf16,
        Annotated as bool_,
        Annotated as complex64,
        Annotated as complex128,
        Annotated as f16,
        Annotated as f32,
        Annotated as f64,
        Annotated as i8,
        Annotated as i16,
        Annotated as i32,
        Annotated as i64,
        Annotated as u8,
        Annotated as u16,
        Annotated as u32,
        Annotated as u64,
    )
else:
    f16 = _shorthand("f16", jaxtyping.Float16)
    f32 = _shorthand("f32", jaxtyping.Float32)
    f64 = _shorthand("f64", jaxtyping.Float64)
    bf16 = _shorthand("bf16", jaxtyping.BFloat16)
    i8 = _shorthand("i8", jaxtyping.Int8)
    i16 = _shorthand("i16", jaxtyping.Int16)
    i32 = _shorthand("i32", jaxtyping.Int32)
    i64 = _shorthand("i64", jaxtyping.Int64)
    u8 = _shorthand("u8", jaxtyping.UInt8)
    u16 = _shorthand("u16", jaxtyping.UInt16)
    u32 = _shorthand("u32", jaxtyping.UInt32)
    u64 = _shorthand("u64", jaxtyping.UInt64)
    bool_ = _shorthand("bool_", jaxtyping.Bool)
    complex64 = _shorthand("complex64", jaxtyping.Complex64)
    complex128 = _shorthand("complex128", jaxtyping.Complex128)
    Float = _shorthand("Float", jaxtyping.Float)
    Int = _shorthand("Int", jaxtyping.Int)
    UInt = _shorthand("UInt", jaxtyping.UInt)
    Complex = _shorthand("Complex", jaxtyping.Complex)
