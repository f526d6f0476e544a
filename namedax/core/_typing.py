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

Each annotation is also, for `typing`'s introspection, the alias
`typing.Annotated[NamedArray, spec]`: `typing.get_args` gives `NamedArray` and
the parsed `AxesSpec` (with `before`, `after`, `ordered`, `subset` and `dtype`),
and `typing.get_type_hints(f, include_extras=True)` keeps it, also under
`from __future__ import annotations`. Type checkers that read `Annotated`
metadata instead of calling `isinstance` (typeguard) therefore check only that
the value is a NamedArray; beartype, which jaxtyping recommends, checks the axes.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

import jax.numpy as jnp
import jaxtyping

from namedax.core._array import NamedArray
from namedax.core._axes import Axis
from namedax.core._errors import describe, format_axes

__all__ = ["AxesSpec", "DTypeCategory", "Named", "matches_axes"]

_ELLIPSIS = "..."


@dataclass(frozen=True)
class DTypeCategory:
    """A kind of element type, such as "float": the `dtype` of a `Float[...]` annotation.

    Attributes:
        name: The category's lower-case name (`"float"`, `"int"`, `"uint"`, ...).
        dtypes: The names of the dtypes it admits (jaxtyping's list).

    Examples:
        >>> from namedax.typing import Float
        >>> category = nx.typing.AxesSpec.of(Float[NamedArray, "batch"]).dtype
        >>> str(category), "float32" in category.dtypes, "int32" in category.dtypes
        ('float', True, False)
    """

    name: str
    dtypes: tuple[str, ...]

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__


@dataclass(frozen=True)
class AxesSpec:
    """A parsed axes annotation: what `typing.get_args(NamedArray["..."])[1]` is.

    The checks of `isinstance`, `matches_axes` and jaxtyped functions all read this
    one object. `tokens` are `(name, size or None)` pairs and `"..."`; `unordered`
    is true for a `{...}` spec; `element` is the jaxtyping dtype form checking the
    element type (`jaxtyping.Shaped` for any).

    Examples:
        >>> spec = nx.typing.AxesSpec.of(nx.typing.Float32[NamedArray, "batch ... embed"])
        >>> spec.before, spec.after, spec.ordered, spec.subset, spec.dtype
        (('batch',), ('embed',), True, True, dtype('float32'))
        >>> spec
        AxesSpec('batch ... embed', dtype=float32)
    """

    tokens: tuple[tuple[str, int | None] | str, ...]
    unordered: bool
    element: Any = jaxtyping.Shaped

    @staticmethod
    def of(axes: Any) -> AxesSpec:
        """The spec of an annotation, or the parse of a spec.

        Args:
            axes: An annotation (`NamedArray["b"]`, `Float[NamedArray, "b"]`,
                `typing.Annotated[NamedArray, spec]`), an `AxesSpec`, or a spec
                accepted by `NamedArray[...]` (`"batch ... embed"`, a tuple, set or dict).

        Returns:
            The `AxesSpec`.

        Raises:
            ValueError: If a spec string or its names are malformed.
            TypeError: If `axes` is no kind of spec.

        Examples:
            >>> nx.typing.AxesSpec.of({"embed", "batch", ...})
            AxesSpec('{batch embed ...}')
        """
        return _parse(axes)

    @property
    def named(self) -> tuple[tuple[str, int | None], ...]:
        """The `(name, size or None)` tokens, without `...`."""
        return tuple(t for t in self.tokens if not isinstance(t, str))

    @property
    def is_open(self) -> bool:
        """Whether the spec has `...`."""
        return _ELLIPSIS in self.tokens

    @property
    def ordered(self) -> bool:
        """Whether the axes must come in the spec's order (false for `{...}`)."""
        return not self.unordered

    @property
    def subset(self) -> bool:
        """Whether other axes may appear too (the spec has `...`)."""
        return self.is_open

    @property
    def before(self) -> tuple[str, ...]:
        """Names before the first `...` (every name if there is none, or if unordered)."""
        if self.unordered or not self.is_open:
            return tuple(name for name, _ in self.named)
        return tuple(t[0] for t in self.tokens[: self.tokens.index(_ELLIPSIS)])

    @property
    def after(self) -> tuple[str, ...]:
        """Names after the last `...` (none without `...`, or if unordered)."""
        if self.unordered or not self.is_open:
            return ()
        last = len(self.tokens) - 1 - self.tokens[::-1].index(_ELLIPSIS)
        return tuple(t[0] for t in self.tokens[last + 1 :])

    @property
    def dtype(self) -> Any:
        """The element type: `None` (any), a dtype, or a `DTypeCategory` such as "float"."""
        return _dtype_of(self.element)

    def __str__(self) -> str:
        words = [t if isinstance(t, str) else _token_text(*t) for t in self.tokens]
        text = " ".join(words)
        return "{" + text + "}" if self.unordered else text

    def __repr__(self) -> str:
        dtype = self.dtype
        return f"AxesSpec({str(self)!r}" + ("" if dtype is None else f", dtype={dtype}") + ")"


@functools.cache
def _dtype_of(element: Any) -> Any:
    """`AxesSpec.dtype` of a jaxtyping dtype form: None, one dtype, or a category."""
    if element is jaxtyping.Shaped:
        return None
    names = tuple(element.dtypes)
    try:
        exact = {jnp.dtype(n) for n in names}
    except TypeError:  # a name numpy does not know, such as 'prng_key'
        exact = set()
    if len(exact) == 1:
        return exact.pop()
    return DTypeCategory(element.__name__.lower(), names)


def _token_text(name: str, size: int | None) -> str:
    return name if size is None else f"{name}:{size}"


# --- parsing --------------------------------------------------------------------------------


def _parse(spec: Any) -> AxesSpec:
    """Parses any accepted spec (string, tuple, set, dict, Axis, annotation) into an `AxesSpec`."""
    if isinstance(spec, AxesSpec):
        return spec
    if get_origin(spec) is typing.Annotated:  # ours, or typing.Annotated[NamedArray, AxesSpec]
        found = [m for m in get_args(spec)[1:] if isinstance(m, AxesSpec)]
        if found:
            return found[0]
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
    return AxesSpec(tokens, unordered)


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


def _structure_problem(pattern: AxesSpec, names: tuple[str, ...]) -> str:
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


_AnnotatedAlias: Any = type(typing.Annotated[int, 0])  # typing's class of `Annotated[...]`


class _NamedAnnotationMeta(type, _AnnotatedAlias, _root=True):  # pyright: ignore[reportGeneralTypeIssues, reportCallIssue]
    """Metaclass of the annotation classes: `isinstance` runs the axes check.

    Its instances are classes, so beartype and jaxtyping check them with `isinstance`;
    deriving from `typing`'s `Annotated` alias as well makes `typing.get_args`,
    `get_origin` and `get_type_hints(include_extras=True)` see
    `Annotated[NamedArray, spec]`.
    """

    _spec: AxesSpec

    # identity, not the alias's equality by (origin, metadata): caches keyed on hints (as
    # beartype's are) must not take a plain `Annotated[NamedArray, spec]`, which checks
    # only NamedArray-ness, for this annotation
    def __eq__(cls, other: object) -> bool:
        return cls is other

    def __hash__(cls) -> int:
        return id(cls)

    def __instancecheck__(cls, obj: Any) -> bool:
        return cls.__instancecheck_str__(obj) == ""

    def __instancecheck_str__(cls, obj: Any) -> str:
        """Why `obj` does not match the annotation, or "" if it does (jaxtyping's protocol)."""
        if not isinstance(obj, NamedArray):
            return f"this value is {describe(obj)}, not a NamedArray"
        axes, spec = obj.axes, cls._spec
        names = tuple(a.name for a in axes)
        problem = _structure_problem(spec, names)
        if not problem:
            sizes = {a.name: a.size for a in axes}
            for name, size in spec.named:
                if size is not None and sizes[name] != size:
                    problem = f"axis {name!r} has size {sizes[name]}, not {size}"
                    break
            else:
                wanted = tuple(name for name, _ in spec.named)
                checker = _size_checker(spec.element, wanted)
                shape = tuple(sizes[n] for n in wanted)
                problem = checker.__instancecheck_str__(_Dims(shape, obj.dtype))
                for name in wanted:
                    problem = problem.replace(_memo_name(name), name)
        if problem:
            return f"expected axes '{spec}' but got {format_axes(axes)}: {problem}"
        return ""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{cls!r} is a type annotation; it cannot be instantiated. Build arrays with "
            "namedax.named(array, axes)."
        )

    def __getitem__(cls, item: Any) -> Any:
        raise TypeError(f"{cls!r} is already an annotation; it takes no [{item!r}].")

    def __getattr__(cls, name: str) -> Any:  # not the alias's forwarding to NamedArray
        raise AttributeError(f"{cls!r} has no attribute {name!r}")

    def __repr__(cls) -> str:
        return cls.__name__


@functools.cache
def _annotation(form: str, spec: AxesSpec) -> type:
    namespace = {
        "_spec": spec,
        # module "builtins" makes `repr(annotation | None)` show the bare name, as jaxtyping
        # does; beartype requires that repr to match the annotation's own
        "__module__": "builtins",
        # what typing reads of an `Annotated[NamedArray, spec]` alias
        "__origin__": NamedArray,
        "__metadata__": (spec,),
        "__args__": (NamedArray,),
        "__parameters__": (),
    }
    return _NamedAnnotationMeta(f"{form}[NamedArray, '{spec}']", (), namespace)


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
            parsed = _parse(spec)
            if cls._dtype is not jaxtyping.Shaped:
                parsed = dataclasses.replace(parsed, element=cls._dtype)
            return _annotation(cls.__name__, parsed)
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
    parsed = _parse(spec)
    form = "Named" if parsed.element is jaxtyping.Shaped else parsed.element.__name__
    return _annotation(form, parsed)


def _class_getitem(cls: type, axes: Any) -> type:
    """`NamedArray["batch ... embed"]`: an annotation checking axes (see `namedax.Named`)."""
    return named_annotation(axes)


# Bound here rather than defined in the class body, so that `namedax.core._array` does
# not import this module back (it is declared there for type checkers).
NamedArray.__class_getitem__ = classmethod(_class_getitem)  # type: ignore[assignment]


def matches_axes(x: NamedArray, axes: Any) -> bool:
    """Whether a NamedArray has the axes (and element type) an annotation or spec describes.

    Args:
        x: The NamedArray.
        axes: An annotation (`NamedArray["batch ..."]`, `Float[NamedArray, "batch"]`,
            `haxtyping.f32["batch"]`, or `typing.Annotated[NamedArray, spec]` with
            an `AxesSpec`), an `AxesSpec`, or a spec accepted by `NamedArray[...]`
            (`"batch ... embed"`, `("batch", "embed")`, `{"batch", ...}`).

    Returns:
        `True` if `x` matches. Inside a `jaxtyping.jaxtyped` function a match also
        binds the axis sizes, like any other annotation check.

    Examples:
        >>> x = nx.zeros(make_axes(batch=2, seq=3, embed=4))
        >>> x.matches_axes("batch ... embed"), x.matches_axes("{embed batch}")
        (True, False)
        >>> nx.matches_axes(x, NamedArray["{embed batch ...}"])
        True
        >>> x.matches_axes(nx.typing.Int[NamedArray, "batch seq embed"])
        False
    """
    annotation = axes if isinstance(axes, _NamedAnnotationMeta) else named_annotation(axes)
    return isinstance(x, annotation)
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
