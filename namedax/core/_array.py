"""`NamedArray`: a JAX array whose dimensions are named `Axis` objects.

Data model
----------
A `NamedArray` pairs one positional array (`.array`) with a tuple of `Axis`
(`.axes`), one per dimension, in the array's own order. The order is an
implementation detail: every operation addresses axes by name and aligns operands
by name, so two arrays holding the same axes in different orders mean the same
thing.

A `NamedArray` is a JAX pytree with a single child (`array`) and the axes as
static auxiliary data, so it passes through `jit`, `grad`, `scan` (as a carry) and
Equinox's filtered transforms. The constructor checks that the array's shape
matches the axes. Rebuilding from a pytree checks it too, for leaves that have a
shape (arrays, tracers, `ShapeDtypeStruct`s): a plain `jax.vmap`, `lax.scan` over
`xs`, `lax.map` or `jax.tree.map` that changes positional dimensions would otherwise
leave the names on the wrong dimensions. Such a NamedArray raises as soon as it is
used, not when it is rebuilt, because libraries keep per-leaf values of other shapes
in parameter-shaped trees (Optax's tree norms and factored moments) and only hand
the leaves back to JAX. Other leaves (`None`, sentinels) are placeholders.

Operators and methods (`+`, `.sum`, `.dot`, ...) are the very functions of the
top-level namespace, bound onto the class by `namedax.ops._methods`; the annotations
at the end of the class body declare them for type checkers.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike, DTypeLike

from namedax.core import _display
from namedax.core._axes import (
    Axis,
    AxisSelection,
    AxisSelector,
    AxisSpec,
    axis_spec_to_tuple,
    check_unique_names,
    resolve_axis as _resolve_in,
)
from namedax.core._errors import describe, foreign_named_array, format_axes
from namedax.core._shape_checks import shape_checks_enabled

__all__ = ["NamedArray", "named", "is_named_array"]

_short_dtype = _display.short_dtype  # the name other modules import


class NamedArray:
    """An array whose dimensions are named axes.

    Prefer `named` (which infers sizes from bare names) for construction.

    Args:
        array: The positional array; its shape must equal the axis sizes in order.
        axes: One `Axis` per dimension of `array`, with unique names.

    Raises:
        ValueError: If the shape does not match the axes or a name repeats.

    Examples:
        >>> import jax.numpy as jnp
        >>> x = NamedArray(jnp.ones((2, 3)), (Axis("batch", 2), Axis("embed", 3)))
        >>> x.shape
        {'batch': 2, 'embed': 3}
        >>> x.axis_names
        ('batch', 'embed')
        >>> x
        NamedArray(f32{batch:2, embed:3},
        [[1. 1. 1.]
         [1. 1. 1.]])
    """

    # `_rebuilt` is set only on a NamedArray that JAX rebuilt from a leaf whose shape
    # disagrees with its axes (see `_unflatten`); `array` and `axes` are then unset.
    __slots__ = ("_rebuilt", "array", "axes")
    __array_ufunc__ = None  # make NumPy defer to our reflected operators
    __hash__ = None  # type: ignore[assignment]  # __eq__ is elementwise

    array: jax.Array
    axes: tuple[Axis, ...]
    _rebuilt: tuple[Any, tuple[Axis, ...]]

    def __init__(self, array: Any, axes: Sequence[Axis]):
        if not isinstance(array, jax.Array):
            array = jnp.asarray(array)
        axes = tuple(axes)
        for a in axes:
            if not isinstance(a, Axis):
                raise TypeError(
                    f"NamedArray: axes must be Axis objects, got {describe(a)}. Use "
                    "named(array, names) to infer sizes from bare names."
                )
        shape = tuple(a.size for a in axes)
        if array.shape != shape and shape_checks_enabled():
            raise ValueError(
                f"NamedArray: array of shape {array.shape} does not match axes "
                f"{format_axes(axes)} (shape {shape}). Give one Axis per dimension, in order."
            )
        if len(axes) > 1:
            check_unique_names(axes, "NamedArray")
        self.array = array
        self.axes = axes

    if not TYPE_CHECKING:  # hidden from type checkers, which would then accept any name

        def __getattr__(self, name: str) -> Any:
            # Reached only when normal lookup fails, so a whole NamedArray never pays for it.
            if name == "array" or name == "axes":
                leaf, axes = self._rebuilt  # unset too: an uninitialised object
                raise RebuildMismatchError(_mismatch_message(axes, leaf.shape))
            raise AttributeError(f"'NamedArray' object has no attribute {name!r}")

    # --- shape information -------------------------------------------------------------

    @property
    def shape(self) -> dict[str, int]:
        """The named shape as a `{name: size}` dict, in axis order."""
        return {a.name: a.size for a in self.axes}

    @property
    def axis_names(self) -> tuple[str, ...]:
        """The axis names, in order."""
        return tuple(a.name for a in self.axes)

    @property
    def dtype(self) -> Any:
        """The element type of the array."""
        return self.array.dtype

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return len(self.axes)

    @property
    def size(self) -> int:
        """The total number of elements."""
        return int(np.prod([a.size for a in self.axes], dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """The number of bytes the elements occupy."""
        return self.size * np.dtype(self.dtype).itemsize

    def axis_size(self, axis: AxisSelection) -> int:
        """The size of one axis, or the product of the sizes of several.

        Examples:
            >>> x = named(jnp.zeros((2, 3)), ("a", "b"))
            >>> x.axis_size("b"), x.axis_size(("a", "b"))
            (3, 6)
        """
        size = 1
        for sel in axis_spec_to_tuple(axis):
            size *= self.resolve_axis(sel).size
        return size

    @overload
    def resolve_axis(self, axis: AxisSelector) -> Axis: ...
    @overload
    def resolve_axis(self, axis: Mapping[str, int | None]) -> dict[str, int]: ...
    @overload
    def resolve_axis(self, axis: Sequence[AxisSelector]) -> tuple[Axis, ...]: ...
    def resolve_axis(self, axis: Any) -> Any:
        """The `Axis` of this array that `axis` names; raises `ValueError` if absent.

        A tuple (or list) of selectors gives a tuple of `Axis`; a partial shape dict
        `{name: size or None}` gives the `{name: size}` dict, checking the sizes given.

        Examples:
            >>> x = named(jnp.zeros((2, 3)), ("a", "b"))
            >>> x.resolve_axis("b")
            Axis(name='b', size=3)
            >>> x.resolve_axis(("b", "a")), x.resolve_axis({"a": None, "b": 3})
            ((Axis(name='b', size=3), Axis(name='a', size=2)), {'a': 2, 'b': 3})
        """
        op = "NamedArray.resolve_axis"
        if isinstance(axis, Mapping):
            return {
                name: _resolve_in(self.axes, name if size is None else Axis(name, size), op).size
                for name, size in axis.items()
            }
        if isinstance(axis, (tuple, list)):
            return tuple(_resolve_in(self.axes, a, op) for a in axis)
        return _resolve_in(self.axes, axis, op)

    def has_axis(self, axis: AxisSelection) -> bool:
        """Whether every named axis is present (with the given size, for `Axis` selectors).

        Examples:
            >>> x = named(jnp.zeros((2, 3)), ("a", "b"))
            >>> x.has_axis("a"), x.has_axis(Axis("a", 5)), x.has_axis(("a", "c"))
            (True, False, False)
        """
        for sel in axis_spec_to_tuple(axis):
            if isinstance(sel, Axis):
                if sel not in self.axes:
                    return False
            elif sel not in self.axis_names:
                return False
        return True

    def axis_indices(self, axis: AxisSelection) -> int | tuple[int | None, ...] | None:
        """The position of an axis (or a tuple of positions), `None` where absent.

        Examples:
            >>> x = named(jnp.zeros((2, 3)), ("a", "b"))
            >>> x.axis_indices("b"), x.axis_indices(("b", "z"))
            (1, (1, None))
        """
        names = self.axis_names

        def index(sel: AxisSelector) -> int | None:
            name = sel.name if isinstance(sel, Axis) else sel
            return names.index(name) if name in names else None

        if isinstance(axis, (Axis, str)):
            return index(axis)
        return tuple(index(sel) for sel in axis_spec_to_tuple(axis))

    # --- conversion ----------------------------------------------------------------------

    def item(self) -> Any:
        """The single element as a Python scalar (the array must have one element)."""
        return self.array.item()

    def scalar(self) -> jax.Array:
        """The 0-d positional array of a NamedArray with no axes.

        Raises:
            ValueError: If the array still has axes.

        Examples:
            >>> named(jnp.ones((2,)), "a").sum().scalar()
            Array(2., dtype=float32)
        """
        if self.axes:
            raise ValueError(
                f"scalar: the array still has axes {format_axes(self.axes)}. Reduce or index "
                "them away first (e.g. `x.sum()`)."
            )
        return self.array

    def astype(self, dtype: Any) -> NamedArray:
        """Casts the elements to `dtype`, keeping the axes."""
        return _wrap(self.array.astype(dtype), self.axes)

    def to_xarray(self) -> Any:
        """This array as an `xarray.DataArray` on the host, its dims the axis names.

        Needs `xarray` (the `interop` extra); `namedax.from_xarray` converts back.

        Examples:
            >>> da = nx.named(jnp.arange(6).reshape(2, 3), ("batch", "embed")).to_xarray()
            >>> da.dims, da.shape
            (('batch', 'embed'), (2, 3))
        """
        import xarray  # an optional dependency: imported only here

        return xarray.DataArray(np.asarray(self.array), dims=self.axis_names)

    def __iter__(self):
        raise TypeError(
            f"A NamedArray{format_axes(self.axes)} cannot be iterated over positionally. "
            "Use namedax.unbind(x, axis) to split it along a named axis."
        )

    def __matmul__(self, other: Any):
        raise TypeError(_MATMUL_MESSAGE)

    __rmatmul__ = __matmul__

    # --- the number protocol: a NamedArray with no axes behaves like a number ------------------

    def __bool__(self) -> bool:
        return bool(_number(self, "bool", ValueError, "`x.any()` or `x.all()`"))

    def __float__(self) -> float:
        return float(_number(self, "float"))

    def __int__(self) -> int:
        return int(_number(self, "int"))

    def __complex__(self) -> complex:
        return complex(_number(self, "complex"))

    def __index__(self) -> int:
        return operator.index(_number(self, "operator.index"))

    def __format__(self, format_spec: str) -> str:
        if not format_spec:
            return str(self)
        return format(_number(self, f"format with {format_spec!r}"), format_spec)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """`np.asarray(loss)`: the number of a NamedArray with no axes.

        With axes, a `TypeError` naming `.array`: a NumPy array has no names, and the
        storage order of a NamedArray means nothing (`jax.Array.__array__` has no such
        choice to make). Like `jax.Array`, a traced value cannot be converted.
        """
        if self.axes:
            raise TypeError(
                f"A NamedArray with axes {format_axes(self.axes)} cannot become a NumPy or JAX "
                "array by itself: positions carry no meaning for it. Take its positional array "
                "with `x.array` (laid out as `x.axes`; `x.rearrange((...)).array` gives a chosen "
                "order), or reduce the axes first for a number."
            )
        if copy is None:
            return np.asarray(self.array, dtype=dtype)
        return np.array(self.array, dtype=dtype, copy=copy)

    @property
    def __jax_array__(self) -> Callable[[], jax.Array]:
        """`jnp.sin(loss)` and other `jax.numpy` calls take a NamedArray with no axes.

        With axes, the attribute is absent: `jax.numpy` then rejects the NamedArray rather
        than reading its storage order, and a `jax.Array` operator defers to ours.
        """
        if self.axes:
            raise AttributeError("__jax_array__: only a NamedArray with no axes is a number")
        return self.scalar

    # --- display (namedax.core._display) ----------------------------------------------------

    def __repr__(self) -> str:
        try:
            return _display.text_repr(self)
        except RebuildMismatchError:
            return _mismatch_repr(self)

    __str__ = __repr__

    def __pdoc__(self, **kwargs: Any) -> Any:
        """The short form inside Equinox module reprs: `f32{layers:12, embed:32}`."""
        try:
            return _display.pdoc(self, **kwargs)
        except RebuildMismatchError:
            return None  # the printer falls back to `repr`

    # An instance-only method: treescope, which renders a NamedArray by
    # `__treescope_repr__`, would otherwise embed this HTML under every array of a tree.
    _repr_html_ = _display.InstanceMethod(_display.html)

    def __treescope_repr__(self, path: str | None, subtree_renderer: Any) -> Any:
        """treescope's rendering, with axis names (needs treescope installed)."""
        from namedax.core._treescope import render  # treescope is optional

        return render(self, path, subtree_renderer)

    def __treescope_ndarray_adapter__(self) -> Any:
        """treescope's array adapter, which names each dimension in array figures."""
        from namedax.core._treescope import NamedArrayAdapter  # treescope is optional

        return NamedArrayAdapter()

    # --- declarations of what namedax.ops._methods binds ----------------------------------------
    # Each method and operator of a NamedArray *is* a top-level function (`x.sum` is a bound
    # `namedax.sum`), attached by `namedax.ops._methods`, which imports this module: this one
    # imports nothing from `namedax.ops`. Type checkers read the signatures below instead, as
    # JAX's `basearray.pyi` declares `jax.Array`'s methods. `tests/test_method_declarations.py`
    # checks that each one has the parameters (names, kinds, defaults) of the function bound
    # at run time; `...` stands for a default that is a named marker (`axis=REQUIRED`).
    if TYPE_CHECKING:
        # operators (namedax.ops._elementwise), aligned by axis name
        def __add__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __sub__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __mul__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __truediv__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __floordiv__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __mod__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __divmod__(self, x2: NamedArray | ArrayLike, /) -> tuple[NamedArray, NamedArray]: ...
        def __pow__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __and__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __or__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __xor__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __lshift__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __rshift__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __lt__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __le__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __gt__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __ge__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
        def __eq__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...  # type: ignore[override]
        def __ne__(self, x2: NamedArray | ArrayLike, /) -> NamedArray: ...  # type: ignore[override]
        def __radd__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __rsub__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __rmul__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __rtruediv__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __rfloordiv__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __rmod__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __rdivmod__(self, other: NamedArray | ArrayLike) -> tuple[NamedArray, NamedArray]: ...
        def __rpow__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __rand__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __ror__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __rxor__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __rlshift__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __rrshift__(self, other: NamedArray | ArrayLike) -> NamedArray: ...
        def __neg__(self, /, *, out: None = None, where: None = None) -> NamedArray: ...
        def __pos__(self, /) -> NamedArray: ...
        def __abs__(self, /) -> NamedArray: ...
        def __invert__(self, /) -> NamedArray: ...

        # indexing and contraction (namedax.ops._indexing, namedax.ops._dot)
        def __getitem__(self, key: Any) -> NamedArray: ...
        def __setitem__(self, key: Any, value: Any) -> NoReturn: ...
        @property
        def at(self) -> _At: ...
        def dot(
            self,
            *arrays: NamedArray,
            axis: AxisSelection | None = ...,
            precision: Any = None,
            preferred_element_type: Any = None,
            out_axes: Sequence[Any] | None = None,
        ) -> NamedArray: ...
        def slice(
            self,
            axis: AxisSelector | Mapping[AxisSelector, Any] | None = None,
            new_axis: AxisSelector | Mapping[AxisSelector, int | Axis] | None = None,
            start: Any = 0,
            length: int | Mapping[AxisSelector, int | Axis] | None = None,
        ) -> NamedArray: ...
        def take(
            self,
            axis: AxisSelector,
            index: Any,
            *,
            mode: str | None = None,
            fill_value: Any = None,
        ) -> NamedArray: ...
        def updated_slice(
            self, start: Mapping[AxisSelector, Any], update: NamedArray
        ) -> NamedArray: ...

        # reductions and axis-wise functions (namedax.ops._reductions)
        def all(
            self, axis: AxisSelection | None = None, *, where: NamedArray | bool | None = None
        ) -> NamedArray: ...
        def any(
            self, axis: AxisSelection | None = None, *, where: NamedArray | bool | None = None
        ) -> NamedArray: ...
        def argmax(self, axis: AxisSelector | None = None) -> NamedArray: ...
        def argmin(self, axis: AxisSelector | None = None) -> NamedArray: ...
        def argsort(
            self, axis: AxisSelector | None, *, stable: bool = True, descending: bool = False
        ) -> NamedArray: ...
        def sort(
            self, axis: AxisSelector | None, *, stable: bool = True, descending: bool = False
        ) -> NamedArray: ...
        def cumprod(self, axis: AxisSelector, *, dtype: DTypeLike | None = None) -> NamedArray: ...
        def cumsum(self, axis: AxisSelector, *, dtype: DTypeLike | None = None) -> NamedArray: ...
        def max(
            self,
            axis: AxisSelection | None = None,
            *,
            where: NamedArray | bool | None = None,
            initial: ArrayLike | None = None,
        ) -> NamedArray: ...
        def min(
            self,
            axis: AxisSelection | None = None,
            *,
            where: NamedArray | bool | None = None,
            initial: ArrayLike | None = None,
        ) -> NamedArray: ...
        def mean(
            self,
            axis: AxisSelection | None = None,
            *,
            where: NamedArray | bool | None = None,
            dtype: DTypeLike | None = None,
        ) -> NamedArray: ...
        def prod(
            self,
            axis: AxisSelection | None = None,
            *,
            where: NamedArray | bool | None = None,
            dtype: DTypeLike | None = None,
            initial: ArrayLike | None = None,
        ) -> NamedArray: ...
        def product(
            self,
            axis: AxisSelection | None = None,
            *,
            where: NamedArray | bool | None = None,
            dtype: DTypeLike | None = None,
            initial: ArrayLike | None = None,
        ) -> NamedArray: ...
        def sum(
            self,
            axis: AxisSelection | None = None,
            *,
            where: NamedArray | bool | None = None,
            dtype: DTypeLike | None = None,
            initial: ArrayLike | None = None,
        ) -> NamedArray: ...
        def ptp(self, axis: AxisSelection | None = None) -> NamedArray: ...
        def std(
            self,
            axis: AxisSelection | None = None,
            *,
            where: NamedArray | bool | None = None,
            dtype: DTypeLike | None = None,
            ddof: int = 0,
        ) -> NamedArray: ...
        def var(
            self,
            axis: AxisSelection | None = None,
            *,
            where: NamedArray | bool | None = None,
            dtype: DTypeLike | None = None,
            ddof: int = 0,
        ) -> NamedArray: ...

        # broadcasting (namedax.core._broadcast) and shape (namedax.ops._shape, _rearrange)
        def broadcast_axis(self, axis: AxisSpec) -> NamedArray: ...
        def broadcast_to(
            self, axes: AxisSpec, ensure_order: bool = True, enforce_no_extra_axes: bool = True
        ) -> NamedArray: ...
        def flatten(self, new_axis: AxisSelector) -> NamedArray: ...
        def flatten_axes(self, old_axes: AxisSelection, new_axis: AxisSelector) -> NamedArray: ...
        def ravel(self, new_axis: AxisSelector) -> NamedArray: ...
        def rearrange(
            self,
            axes_or_pattern: str | Sequence[AxisSelector | EllipsisType],
            /,
            **bindings: int | str | Axis,
        ) -> NamedArray: ...
        def rename(self, renames: Mapping[AxisSelector, AxisSelector]) -> NamedArray: ...
        def split(self, axis: AxisSelector, new_axes: Sequence[Axis]) -> list[NamedArray]: ...
        def unbind(self, axis: AxisSelector) -> list[NamedArray]: ...
        def unflatten_axis(self, axis: AxisSelector, new_axes: AxisSpec) -> NamedArray: ...

        # elementwise methods (namedax.ops._elementwise) and other array operations
        def conj(self, /) -> NamedArray: ...
        def conjugate(self, /) -> NamedArray: ...
        def copy(self, /, order: str | None = None) -> NamedArray: ...
        def round(self, /, decimals: int = 0, out: None = None) -> NamedArray: ...
        def clip(self, a_min: Any = None, a_max: Any = None) -> NamedArray: ...
        def trace(
            self, axis1: AxisSelector, axis2: AxisSelector, offset: int = 0, dtype: Any = None
        ) -> NamedArray: ...
        @property
        def real(self, /) -> NamedArray: ...
        @property
        def imag(self, /) -> NamedArray: ...

        # annotations (namedax.core._typing, which also binds `NamedArray[...]`)
        def matches_axes(self, axes: Any) -> bool: ...
        def __class_getitem__(cls, axes: Any) -> Any: ...


class _At(Protocol):
    """What `x.at` is (`namedax.ops._indexing._At`): index it by name for an `_AtRef`."""

    def __getitem__(self, key: Any) -> _AtRef: ...


class _AtRef(Protocol):
    """The updater `x.at[index]` gives (`namedax.ops._indexing._AtRef`), like `jax.Array.at`."""

    def get(self, **kwargs: Any) -> NamedArray: ...
    def apply(self, func: Callable[[Any], Any], **kwargs: Any) -> NamedArray: ...
    def set(self, values: Any, **kwargs: Any) -> NamedArray: ...
    def add(self, values: Any, **kwargs: Any) -> NamedArray: ...
    def subtract(self, values: Any, **kwargs: Any) -> NamedArray: ...
    def multiply(self, values: Any, **kwargs: Any) -> NamedArray: ...
    def mul(self, values: Any, **kwargs: Any) -> NamedArray: ...
    def divide(self, values: Any, **kwargs: Any) -> NamedArray: ...
    def power(self, values: Any, **kwargs: Any) -> NamedArray: ...
    def min(self, values: Any, **kwargs: Any) -> NamedArray: ...
    def max(self, values: Any, **kwargs: Any) -> NamedArray: ...


def _number(
    x: NamedArray,
    conversion: str,
    error: type[Exception] = TypeError,
    reduction: str = "`x.sum()`, `x.mean()`",
) -> jax.Array:
    """The 0-d array of `x` for a Python number conversion; raises `error` if `x` has axes."""
    if x.axes:
        raise error(
            f"{conversion}: the NamedArray has axes {format_axes(x.axes)}; only a NamedArray "
            f"with no axes converts to a number. Reduce the axes first ({reduction}) or index "
            "them away (`x[name, i]`); `.scalar()` then gives the 0-d array."
        )
    return x.array


_MATMUL_MESSAGE = (
    "The @ operator is not supported on NamedArrays: positions carry no meaning. Use "
    "namedax.dot(a, b, axis=Contracted) to contract a named axis, or namedax.einsum."
)

_new = object.__new__


def _wrap(array: Any, axes: tuple[Axis, ...]) -> NamedArray:
    """Builds a NamedArray without checks; for results whose axes are known to be right."""
    out = _new(NamedArray)
    out.array = array
    out.axes = axes
    return out


def is_named_array(x: Any) -> bool:
    """Whether `x` is a NamedArray (useful as an `is_leaf` for tree functions)."""
    return isinstance(x, NamedArray)


def check_named(op: str, x: Any, arg: str | None = None) -> None:
    """Raises the TypeError for a non-NamedArray `x` given to `op` (as argument `arg`)."""
    if not isinstance(x, NamedArray):
        what = "expected a NamedArray" if arg is None else f"{arg} must be a NamedArray"
        fix = "" if foreign_named_array(x) else " Wrap it with namedax.named(array, axes) first."
        raise TypeError(f"{op}: {what}, got {describe(x)}.{fix}")


def named(array: Any, axis: AxisSelection) -> NamedArray:
    """Wraps a positional array as a NamedArray, inferring sizes for bare names.

    Args:
        array: Any array-like; its rank must equal the number of axes.
        axis: The axes in the array's order: names, `Axis` objects (sizes checked),
            a mix, or a `{name: size}` dict.

    Returns:
        The NamedArray.

    Raises:
        ValueError: If the rank or a given size does not match.

    Examples:
        >>> x = named(jnp.arange(6).reshape(2, 3), ("batch", "embed"))
        >>> x.axes
        (Axis(name='batch', size=2), Axis(name='embed', size=3))
        >>> named(jnp.zeros(3), Axis("embed", 4))
        Traceback (most recent call last):
        ...
        ValueError: named: axis 'embed' was given size 4 but the array has size 3 there \
(array shape (3,), axes ['embed(4)']).
    """
    if not isinstance(array, jax.Array):
        if isinstance(array, NamedArray):
            raise TypeError(
                f"named: array is already a NamedArray{format_axes(array.axes)}. Rename its axes "
                "with namedax.rename(x, {old: new}), or pass x.array to name its dimensions "
                "in storage order."
            )
        if foreign_named_array(array):
            raise TypeError(f"named: array is {describe(array)}; it already has axis names.")
        array = jnp.asarray(array)
    selectors = axis if type(axis) is tuple else axis_spec_to_tuple(axis)
    shape = array.shape
    if len(selectors) != len(shape):
        raise ValueError(
            f"named: array of shape {shape} has {len(shape)} dimensions but "
            f"{len(selectors)} axes were given ({', '.join(map(str, selectors))}). Give one "
            "axis per dimension, in order."
        )
    axes = tuple(_axis_for(sel, size, selectors, shape) for sel, size in zip(selectors, shape))
    if len(axes) > 1 and len({a.name for a in axes}) != len(axes):
        check_unique_names(axes, "named")
    return _wrap(array, axes)


def _axis_for(sel: AxisSelector, size: int, selectors: tuple, shape: tuple) -> Axis:
    if type(sel) is Axis:
        if sel.size != size:
            raise ValueError(
                f"named: axis {sel.name!r} was given size {sel.size} but the array has size "
                f"{size} there (array shape {shape}, axes {[str(s) for s in selectors]})."
            )
        return sel
    key = (sel, size)
    axis = _AXIS_CACHE.get(key)  # type: ignore[arg-type]
    if axis is None:
        axis = Axis(sel, size)  # type: ignore[arg-type]  # checks that sel is a name
        if len(_AXIS_CACHE) < 4096:
            _AXIS_CACHE[key] = axis  # type: ignore[index]
    return axis


_AXIS_CACHE: dict[tuple[str, int], Axis] = {}


def _flatten_with_keys(x: NamedArray):
    (array,), axes = _flatten(x)
    return ((jax.tree_util.GetAttrKey("array"), array),), axes


def _flatten(x: NamedArray):
    try:
        return (x.array,), x.axes
    except RebuildMismatchError:  # a rebuilt intermediate gives its leaf back unchanged
        leaf, axes = x._rebuilt
        return (leaf,), axes


# Leaves whose shape must agree with the axes when JAX rebuilds a NamedArray; others
# (None, sentinels, dtypes, restore arguments) are placeholders JAX and libraries put there.
_SHAPED = (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)
_SIZE = operator.attrgetter("size")
try:  # the concrete array type: an exact type test is cheaper than isinstance(jax.Array)
    from jax._src.array import ArrayImpl as _ArrayImpl
except ImportError:  # pragma: no cover - a JAX that moved it takes the isinstance path
    _ArrayImpl = None


class RebuildMismatchError(ValueError):
    """A NamedArray rebuilt from a leaf whose shape disagrees with its axes was used."""


def _unflatten(axes: tuple[Axis, ...], children: Any) -> NamedArray:
    """Rebuilds a NamedArray from its leaf, checking a shaped leaf against the axes.

    A leaf whose shape disagrees gives a NamedArray that still flattens to that leaf,
    but raises `RebuildMismatchError` as soon as its `array` or `axes` is read, which is
    every namedax operation, method, conversion and display. It cannot be an eager
    error: libraries keep per-leaf values of other shapes in trees shaped like the
    parameters (Optax's `jax.tree.map(jnp.sum, grads)` in `clip_by_global_norm`,
    Adafactor's factored moments, L-BFGS's history, Equinox's checkpointed loop
    buffers) and only ever hand the leaves back to JAX.

    This runs on every jitted call's outputs and every `jax.tree.map`, so it is kept
    short: a concrete array is told apart by its exact type before `isinstance`.
    """
    array = children[0]
    out = _new(NamedArray)
    if type(array) is _ArrayImpl:
        if array.aval.shape != tuple(map(_SIZE, axes)):
            out._rebuilt = (array, axes)
            return out
    elif isinstance(array, _SHAPED) and tuple(array.shape) != tuple(map(_SIZE, axes)):
        out._rebuilt = (array, axes)
        return out
    out.array = children[0]  # _wrap, inlined on this hot path
    out.axes = axes
    return out


def rebuilt_parts(x: NamedArray) -> tuple[Any, tuple[Axis, ...]]:
    """The leaf and axes of `x`, also when JAX rebuilt it from a leaf of another shape.

    For the transforms that rebuild NamedArrays with other sizes on purpose and then
    correct the axes (`shard_map` gives each device its local block).
    """
    try:
        return x.array, x.axes
    except RebuildMismatchError:
        return x._rebuilt


def _mismatch_message(axes: tuple[Axis, ...], shape: tuple[int, ...]) -> str:
    return (
        f"This NamedArray has axes {format_axes(axes)} but holds an array of shape "
        f"{tuple(shape)}: JAX rebuilt it from a leaf whose shape disagrees with its axes. A "
        "plain jax.vmap, jax.lax.scan, jax.lax.map or jax.tree.map probably changed its "
        "positional dimensions, so the names would sit on the wrong dimensions. Map over a "
        "named axis with nx.vmap, nx.scan or nx.map instead, or apply the plain function to "
        "x.array and name the result with nx.named(result, axes)."
    )


def _mismatch_repr(x: NamedArray) -> str:
    leaf, axes = x._rebuilt
    return (
        f"NamedArray(<mismatched: axes {format_axes(axes)} on an array of shape "
        f"{tuple(leaf.shape)}>)"
    )


jax.tree_util.register_pytree_with_keys(
    NamedArray, _flatten_with_keys, _unflatten, flatten_func=_flatten
)


def _not_a_jax_value(x: NamedArray) -> Any:
    """JAX's type hook for a NamedArray given where JAX needs one plain array.

    That is chiefly the output of a function given to `jax.grad`, which JAX checks
    without flattening it as a pytree. JAX then reports this error as the cause of its own.
    """
    if x.axes:
        got = f"a NamedArray with axes {format_axes(x.axes)}"
        fix = "reduce the axes (`loss.sum()`, `loss.mean()`) and return `.scalar()` of that"
    else:
        got, fix = "a NamedArray with no axes", "return `loss.scalar()`, its 0-d array"
    raise TypeError(
        f"JAX needs a plain array here but got {got}: a function given to jax.grad must "
        f"return a plain scalar, so {fix}. Elsewhere, pass `.array`."
    )


def _register_jax_type_hook() -> None:
    """Registers `_not_a_jax_value`, as JAX does for NumPy masked arrays (no public hook)."""
    try:
        from jax._src import core as jax_core
    except ImportError:  # a JAX without it keeps its own message
        return
    mappings = getattr(jax_core, "pytype_aval_mappings", None)
    if isinstance(mappings, dict):
        mappings[NamedArray] = _not_a_jax_value


_register_jax_type_hook()
