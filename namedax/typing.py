"""Annotations for NamedArrays: axes with `Named`, axes and element type with `Float` etc.

`Float[NamedArray, "batch ... embed"]` is a NamedArray of floats with those axes;
`Named` (also `namedax.Named`, and `NamedArray["..."]`) accepts any dtype. The axes
spec is the one described in `namedax.Named`. Given any other array type, each of
these is jaxtyping's annotation of the same name (`Float[jax.Array, "b c"]`), so one
import serves both kinds of arrays. Check them at run time with
`jaxtyping.jaxtyped(typechecker=beartype.beartype)` (or typeguard). For static type
checkers every annotation here is the array type it annotates.

Examples:
    >>> from namedax.typing import Float, Int
    >>> x = nx.ones(make_axes(batch=2, embed=3))
    >>> isinstance(x, Float[NamedArray, "batch embed"]), isinstance(x, Int[NamedArray, "..."])
    (True, False)
"""

import typing as _typing

if _typing.TYPE_CHECKING:
    from typing import (
        Annotated as BFloat16,
        Annotated as Bool,
        Annotated as Complex,
        Annotated as Float,
        Annotated as Float16,
        Annotated as Float32,
        Annotated as Float64,
        Annotated as Inexact,
        Annotated as Int,
        Annotated as Int8,
        Annotated as Int16,
        Annotated as Int32,
        Annotated as Int64,
        Annotated as Integer,
        Annotated as Key,
        Annotated as Named,
        Annotated as Num,
        Annotated as Real,
        Annotated as Shaped,
        Annotated as UInt,
        Annotated as UInt8,
        Annotated as UInt32,
    )
else:
    from namedax.core._typing import (
        BFloat16 as BFloat16,
        Bool as Bool,
        Complex as Complex,
        Float as Float,
        Float16 as Float16,
        Float32 as Float32,
        Float64 as Float64,
        Inexact as Inexact,
        Int as Int,
        Int8 as Int8,
        Int16 as Int16,
        Int32 as Int32,
        Int64 as Int64,
        Integer as Integer,
        Key as Key,
        Named as Named,
        Num as Num,
        Real as Real,
        Shaped as Shaped,
        UInt as UInt,
        UInt8 as UInt8,
        UInt32 as UInt32,
    )
from namedax.core._typing import (
    AxesSpec as AxesSpec,
    DTypeCategory as DTypeCategory,
    matches_axes as matches_axes,
)
