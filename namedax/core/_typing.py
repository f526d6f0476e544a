"""Type annotations for the axes of NamedArrays, checked at run time through jaxtyping.

`Named[NamedArray, "batch ... embed"]` (or `NamedArray["batch ... embed"]`) is a
class whose `isinstance` check asks whether a NamedArray has those axes. A spec is
one of:

* ordered names, `"batch embed"`: exactly these axes, in this order;
* names with `...`, `"batch ... embed"`: `...` stands for any number of other
  axes, so this means "`batch` first, `embed` last";
* unordered names, `"{batch embed}"`: exactly these axes, in any order, and
  `"{batch embed ...}"`: at least these axes;
* `name:4` fixes a size; a tuple (`NamedArray["batch", "embed"]`, `Axis` objects
  allowed), a set (unordered) or a `{name: size}` dict say the same without a string.

Axis sizes are bound by name in jaxtyping's memo, so inside a function decorated
with `jaxtyping.jaxtyped(typechecker=...)` every argument and the return value
must agree on the size of `batch`, also with positional annotations such as
`Float[jax.Array, "batch"]`. The dtype forms (`namedax.typing.Float[NamedArray,
"batch"]`) check the element type with jaxtyping's dtype categories; given any
other array type they are jaxtyping's own annotation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

import jaxtyping

from namedax.core._array import NamedArray
from namedax.core._axes import Axis
from namedax.core._errors import describe, format_axes

__all__ = ["Named", "matches_axes"]

_ELLIPSIS = "..."


@dataclass(frozen=True)
class _Pattern:
    """A parsed axes spec: tokens are `(name, size or None)` pairs and `...`."""

    tokens: tuple[tuple[str, int | None] | str, ...]
    unordered: bool

    @property
    def named(self) -> tuple[tuple[str, int | None], ...]:
        return tuple(t for t in self.tokens if not isinstance(t, str))

    @property
    def is_open(self) -> bool:
        return _ELLIPSIS in self.tokens

    def __str__(self) -> str:
        words = [t if isinstance(t, str) else _token_text(*t) for t in self.tokens]
        text = " ".join(words)
        return "{" + text + "}" if self.unordered else text


def _token_text(name: str, size: int | None) -> str:
    return name if size is None else f"{name}:{size}"


# --- parsing --------------------------------------------------------------------------------


def _parse(spec: Any) -> _Pattern:
    """Parses any accepted spec (string, tuple, set, dict, Axis) into a `_Pattern`."""
    if isinstance(spec, _Pattern):
        return spec
    if isinstance(spec, str):
        text = spec.strip()
        unordered = text.startswith("{")
        if unordered:
            if not text.endswith("}"):
                raise ValueError(
                    f"NamedArray annotation {spec!r}: an unordered spec must be enclosed in "
                    "braces, like '{batch embed}' or '{batch embed ...}'."
                )
            text = text[1:-1]
        items: list[Any] = text.split()
    elif isinstance(spec, Axis):
        items, unordered = [spec], False
    elif isinstance(spec, dict):
        items, unordered = [Axis(n, s) for n, s in spec.items()], False
    elif isinstance(spec, (set, frozenset)):
        items, unordered = sorted(spec, key=_sort_key), True
    elif isinstance(spec, (tuple, list)):
        items, unordered = list(spec), False
    else:
        raise TypeError(
            "NamedArray annotation: the axes must be a string like 'batch ... embed', a tuple "
            f"of names/Axis objects/..., a set of names or a {{name: size}} dict; got "
            f"{describe(spec)}."
        )
    tokens = tuple(_token(item, spec) for item in items)
    tokens = tuple(t for i, t in enumerate(tokens) if t != _ELLIPSIS or tokens[i - 1 : i] != (t,))
    names = [t[0] for t in tokens if t != _ELLIPSIS]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(
            f"NamedArray annotation {spec!r}: axis names must be unique, but "
            f"{', '.join(map(repr, repeated))} repeats."
        )
    if unordered:  # canonical form: names sorted, then `...` if present
        named = sorted((t for t in tokens if t != _ELLIPSIS), key=_sort_key)
        tokens = (*named, _ELLIPSIS) if _ELLIPSIS in tokens else tuple(named)
    return _Pattern(tokens, unordered)


def _sort_key(item: Any) -> tuple[int, str]:
    if item is Ellipsis or item == _ELLIPSIS:
        return (1, "")
    if isinstance(item, tuple):  # a parsed token
        return (0, item[0])
    return (0, item.name if isinstance(item, Axis) else str(item))


def _token(item: Any, spec: Any) -> tuple[str, int | None] | str:
    if item is Ellipsis or item == _ELLIPSIS:
        return _ELLIPSIS
    if isinstance(item, Axis):
        return (item.name, item.size)
    if not isinstance(item, str):
        raise TypeError(
            f"NamedArray annotation {spec!r}: each axis must be a name, an Axis or ..., got "
            f"{describe(item)}."
        )
    name, colon, size = item.partition(":")
    if not name or any(c in name for c in "{}() ") or (colon and not size.isdigit()):
        raise ValueError(
            f"NamedArray annotation {spec!r}: {item!r} is not an axis. Write a name, "
            "'name:size' (e.g. 'embed:64'), or '...'."
        )
    return (name, int(size) if colon else None)


# --- checking -------------------------------------------------------------------------------


def _structure_problem(pattern: _Pattern, names: tuple[str, ...]) -> str:
    """Why axis `names` do not fit the pattern's names and order ("" if they do)."""
    wanted = [name for name, _ in pattern.named]
    missing = [n for n in wanted if n not in names]
    if missing:
        return f"axis {', '.join(map(repr, missing))} is missing"
    extra = [n for n in names if n not in wanted]
    if extra and not pattern.is_open:
        return f"it has extra axes {', '.join(map(repr, extra))}"
    if pattern.unordered:
        return ""
    prev, gap = -1, False
    for token in pattern.tokens:
        if token == _ELLIPSIS:
            gap = True
            continue
        i = names.index(token[0])
        if i <= prev or (not gap and i != prev + 1):
            return "its axes are not in the annotated order (use '{...}' for any order)"
        prev, gap = i, False
    if not gap and prev != len(names) - 1:
        return "its axes are not in the annotated order (use '{...}' for any order)"
    return ""


class _Dims:
    """What jaxtyping's size and dtype check sees of a NamedArray: matched sizes and dtype."""

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: Any):
        self.shape = shape
        self.dtype = dtype


def _memo_name(name: str) -> str:
    """The name an axis is bound under in jaxtyping's memo (identifiers pass unchanged)."""
    if name.isidentifier() and not name.startswith("_"):
        return name
    return "nx" + name.encode().hex()


@functools.cache
def _size_checker(dtype: Any, names: tuple[str, ...]) -> Any:
    """jaxtyping's annotation that binds `names` to sizes and checks the dtype category."""
    return dtype[Any, " ".join(_memo_name(n) for n in names)]


class _NamedAnnotationMeta(type):
    """Metaclass of the annotation classes: `isinstance` runs the axes check."""

    _pattern: _Pattern
    _dtype: Any

    def __instancecheck__(cls, obj: Any) -> bool:
        return cls.__instancecheck_str__(obj) == ""

    def __instancecheck_str__(cls, obj: Any) -> str:
        """Why `obj` does not match the annotation, or "" if it does (jaxtyping's protocol)."""
        if not isinstance(obj, NamedArray):
            return f"this value is {describe(obj)}, not a NamedArray"
        axes, pattern = obj.axes, cls._pattern
        names = tuple(a.name for a in axes)
        problem = _structure_problem(pattern, names)
        if not problem:
            sizes = {a.name: a.size for a in axes}
            for name, size in pattern.named:
                if size is not None and sizes[name] != size:
                    problem = f"axis {name!r} has size {sizes[name]}, not {size}"
                    break
            else:
                wanted = tuple(name for name, _ in pattern.named)
                checker = _size_checker(cls._dtype, wanted)
                shape = tuple(sizes[n] for n in wanted)
                problem = checker.__instancecheck_str__(_Dims(shape, obj.dtype))
                for name in wanted:
                    problem = problem.replace(_memo_name(name), name)
        if problem:
            return f"expected axes '{pattern}' but got {format_axes(axes)}: {problem}"
        return ""

    def __repr__(cls) -> str:
        return cls.__name__


class _NamedAnnotation(metaclass=_NamedAnnotationMeta):
    """Base of the classes made by `Named[NamedArray, spec]`; they are never instantiated."""

    def __new__(cls, *args: Any, **kwargs: Any):
        raise TypeError(
            f"{cls!r} is a type annotation; it cannot be instantiated. Build arrays with "
            "namedax.named(array, axes)."
        )


@functools.cache
def _annotation(category: str, dtype: Any, pattern: _Pattern) -> type:
    name = f"{category}[NamedArray, '{pattern}']"
    # module "builtins" makes `repr(annotation | None)` show the bare name, as jaxtyping
    # does; beartype requires that repr to match the annotation's own
    namespace = {"_pattern": pattern, "_dtype": dtype, "__module__": "builtins"}
    return _NamedAnnotationMeta(name, (_NamedAnnotation,), namespace)


class _AnnotationFormMeta(type):
    """`Form[ArrayType, spec]`: an axes annotation for NamedArrays, jaxtyping's otherwise."""

    _dtype: Any

    def __getitem__(cls, item: Any) -> Any:
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError(
                f"{cls.__name__}[...] takes an array type and an axes spec, like "
                f"{cls.__name__}[NamedArray, 'batch ... embed']; got {item!r}."
            )
        array_type, spec = item
        if get_origin(array_type) in (Union, type(int | str)):
            return Union[tuple(cls[t, spec] for t in get_args(array_type))]  # noqa: UP007
        if isinstance(array_type, type) and issubclass(array_type, NamedArray):
            return _annotation(cls.__name__, cls._dtype, _parse(spec))
        return cls._dtype[array_type, spec]

    def __instancecheck__(cls, obj: Any) -> bool:
        raise TypeError(
            f"isinstance(x, {cls.__name__}) is not a check: give the array type and axes, "
            f"like isinstance(x, {cls.__name__}[NamedArray, 'batch ...'])."
        )

    def __repr__(cls) -> str:
        return f"namedax.typing.{cls.__name__}"


def _form(name: str, dtype: Any) -> Any:
    """A dtype-qualified annotation form such as `Float` (`Float[NamedArray, "batch"]`)."""
    return _AnnotationFormMeta(name, (), {"_dtype": dtype, "__module__": "namedax.typing"})


def named_annotation(spec: Any) -> type:
    """`NamedArray[spec]`: the annotation `Named[NamedArray, spec]` (any dtype)."""
    return _annotation("Named", jaxtyping.Shaped, _parse(spec))


def matches_axes(x: NamedArray, axes: Any) -> bool:
    """Whether a NamedArray has the axes an annotation or spec describes.

    Args:
        x: The NamedArray.
        axes: An annotation (`NamedArray["batch ..."]`, `Float[NamedArray, "batch"]`)
            or a spec accepted by `NamedArray[...]` (`"batch ... embed"`,
            `("batch", "embed")`, `{"batch", ...}`).

    Returns:
        `True` if `x` matches. Inside a `jaxtyping.jaxtyped` function a match also
        binds the axis sizes, like any other annotation check.

    Examples:
        >>> x = nx.zeros(make_axes(batch=2, seq=3, embed=4))
        >>> x.matches_axes("batch ... embed"), x.matches_axes("{embed batch}")
        (True, False)
        >>> nx.matches_axes(x, NamedArray["{embed batch ...}"])
        True
    """
    annotation = axes if isinstance(axes, _NamedAnnotationMeta) else named_annotation(axes)
    return isinstance(x, annotation)


if TYPE_CHECKING:  # for static checkers every form is the NamedArray (or array) it annotates
    from typing import Annotated as Named
else:

    class Named(metaclass=_AnnotationFormMeta):
        """`Named[NamedArray, "batch ... embed"]`: a NamedArray with these axes, any dtype.

        The same as `NamedArray["batch ... embed"]`. Specs: `"batch embed"` (exactly
        these, in order), `"batch ... embed"` (`...` is any number of axes),
        `"{batch embed}"` (exactly these, any order), `"{batch embed ...}"` (at least
        these), `"embed:64"` (a fixed size); or a tuple of names/`Axis`/`...`, a set, or
        a `{name: size}` dict. Check at run time with `jaxtyping.jaxtyped(typechecker=...)`,
        which also requires sizes of equal names to agree across arguments. With any other
        array type, `Named[jax.Array, "b c"]` is jaxtyping's `Shaped[jax.Array, "b c"]`.

        Examples:
            >>> from jaxtyping import jaxtyped
            >>> from beartype import beartype
            >>> @jaxtyped(typechecker=beartype)
            ... def pool(x: nx.Named[NamedArray, "batch ... embed"]) -> NamedArray["batch embed"]:
            ...     return x.mean(axis=[a for a in x.axis_names if a not in ("batch", "embed")])
            >>> pool(nx.ones(make_axes(batch=2, seq=3, embed=4))).shape
            {'batch': 2, 'embed': 4}
            >>> isinstance(nx.ones(make_axes(embed=4, batch=2)), NamedArray["batch ... embed"])
            False
        """

        _dtype = jaxtyping.Shaped


# --- dtype-qualified forms: one line each (re-exported by `namedax.typing`) -----------------
Shaped = _form("Shaped", jaxtyping.Shaped)
Bool = _form("Bool", jaxtyping.Bool)
Num = _form("Num", jaxtyping.Num)
Real = _form("Real", jaxtyping.Real)
Inexact = _form("Inexact", jaxtyping.Inexact)
Float = _form("Float", jaxtyping.Float)
Complex = _form("Complex", jaxtyping.Complex)
Integer = _form("Integer", jaxtyping.Integer)
Int = _form("Int", jaxtyping.Int)
UInt = _form("UInt", jaxtyping.UInt)
BFloat16 = _form("BFloat16", jaxtyping.BFloat16)
Float16 = _form("Float16", jaxtyping.Float16)
Float32 = _form("Float32", jaxtyping.Float32)
Float64 = _form("Float64", jaxtyping.Float64)
Int8 = _form("Int8", jaxtyping.Int8)
Int16 = _form("Int16", jaxtyping.Int16)
Int32 = _form("Int32", jaxtyping.Int32)
Int64 = _form("Int64", jaxtyping.Int64)
UInt8 = _form("UInt8", jaxtyping.UInt8)
UInt32 = _form("UInt32", jaxtyping.UInt32)
Key = _form("Key", jaxtyping.Key)

DTYPE_ANNOTATIONS: dict[str, Any] = {
    f.__name__: f
    for f in (
        Shaped, Bool, Num, Real, Inexact, Float, Complex, Integer, Int, UInt, BFloat16,
        Float16, Float32, Float64, Int8, Int16, Int32, Int64, UInt8, UInt32, Key,
    )
}  # fmt: skip
"""Every dtype-qualified annotation factory by name (the tests parametrise over it)."""
