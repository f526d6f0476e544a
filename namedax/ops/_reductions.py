"""Reductions and axis-wise functions: the named versions of `jax.numpy`'s `sum`, `cumsum`, ...

Two factories make every function here, and each records what it made in a table
(`REDUCTIONS`, `AXISWISE`) together with the `jax.numpy` function it wraps; the
test suite checks every entry against `jax.numpy` on inputs whose axes come in
every order.

* A *reduction* removes the axes it reduces over. `axis` is one selector (a name
  or an `Axis`, whose size is checked), a sequence of them, a `{name: size}`
  dict, or `None` for every axis (the result is then a 0-d NamedArray).
  `argmax`/`argmin` take one axis, or `None` for a flat index into the stored order
  (as `jax.numpy` and Haliax give; it depends on how the axes happen to be stored).
* An *axis-wise* function (`cumsum`, `sort`, ...) works along exactly one axis
  and keeps every axis.

A `where=` mask is a NamedArray broadcast to the array by name: it may hold a
subset of the array's axes, in any order, but no axis the array lacks.

Turning a selector into positions is cached per `(axes, selector)`, so an eager
`x.sum("embed")` costs little more than `jnp.sum(a, axis=1)`.

Examples:
    >>> import jax.numpy as jnp
    >>> import namedax as nx
    >>> x = nx.named(jnp.arange(6.0).reshape(2, 3), ("batch", "embed"))
    >>> x.sum("embed").array
    Array([ 3., 12.], dtype=float32)
    >>> nx.mean(x, ("batch", "embed")).array
    Array(2.5, dtype=float32)
    >>> x.argmax("batch").axes
    (Axis(name='embed', size=3),)
    >>> mask = nx.named(jnp.array([True, False, True]), "embed")
    >>> x.sum("embed", where=mask).array
    Array([2., 8.], dtype=float32)
    >>> nx.cumsum(x, "embed").array
    Array([[ 0.,  1.,  3.],
           [ 3.,  7., 12.]], dtype=float32)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec

import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSelection, AxisSelector, axis_spec_to_tuple, resolve_axis
from namedax.core._broadcast import align_array, is_scalar_like, pair_result_axes
from namedax.core._errors import describe, format_axes
from namedax.ops._out_sharding import along_whole_axis

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py

Plan = tuple[Any, tuple[Axis, ...]]  # (positional axis argument, result axes)
P = ParamSpec("P")

_MANY: dict[tuple[tuple[Axis, ...], Any], Plan] = {}  # reductions over any number of axes
_ONE: dict[tuple[tuple[Axis, ...], Any], Plan] = {}  # functions of exactly one axis


@dataclass(frozen=True)
class ReductionEntry:
    """One generated reduction or axis-wise function.

    Attributes:
        named: The namedax function.
        reference: The `jax.numpy` function it wraps.
        keywords: The keyword arguments it accepts besides `axis` (e.g. `where`, `ddof`).
        domain: Which inputs it is meant for, for tests: "real", "bool" or "nan" (real
            values with some NaNs).
        one_axis: Whether it takes exactly one axis (`argmax`, and every axis-wise function).
    """

    named: Callable[..., Any]
    reference: Callable[..., Any]
    keywords: tuple[str, ...]
    domain: str
    one_axis: bool


REDUCTIONS: dict[str, ReductionEntry] = {}
AXISWISE: dict[str, ReductionEntry] = {}


# --- resolving `axis` to positions (cached) -------------------------------------------------


def _cached(cache: dict, compute: Callable[[str, tuple[Axis, ...], Any], Plan]):
    def plan(op: str, axes: tuple[Axis, ...], axis: Any) -> Plan:
        key = (axes, _hashable(axis))
        try:
            found = cache.get(key)
        except TypeError:  # an unhashable selector: let `compute` explain what is wrong
            return compute(op, axes, axis)
        if found is None:
            found = cache[key] = compute(op, axes, axis)
        return found

    return plan


_DICT = object()  # marks a cache key made from a {name: size} selector


def _hashable(axis: Any) -> Any:
    if isinstance(axis, Mapping):
        return (_DICT, tuple(axis.items()))
    if isinstance(axis, list):
        return tuple(axis)
    return axis


def _positions(op: str, axes: tuple[Axis, ...], axis: AxisSelection) -> list[int]:
    try:
        selectors = axis_spec_to_tuple(axis)
    except TypeError:
        example = f" (e.g. axis={axes[0].name!r})" if axes else ""
        raise TypeError(
            f"{op}: axis must select axes by name, got {describe(axis)}; positions carry no "
            f"meaning on a NamedArray (its axes are {format_axes(axes)}). Pass an Axis, a name, "
            f"a sequence of them or a {{name: size}} dict{example}."
        ) from None
    selected = [resolve_axis(axes, sel, op) for sel in selectors]
    names = [a.name for a in selected]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(
                f"{op}: axis {name!r} is selected more than once in {axis!r} (array axes "
                f"{format_axes(axes)}). Name each axis once."
            )
    return [axes.index(a) for a in selected]


def _many_axes_plan(op: str, axes: tuple[Axis, ...], axis: Any) -> Plan:
    if axis is None:
        return None, ()
    positions = _positions(op, axes, axis)
    out_axes = tuple(a for i, a in enumerate(axes) if i not in positions)
    if isinstance(axis, (str, Axis)):
        return positions[0], out_axes
    return tuple(sorted(positions)), out_axes  # sorted: one jnp compilation per axis set


def _one_axis_plan(op: str, axes: tuple[Axis, ...], axis: Any) -> Plan:
    if axis is None:  # a flat index into the array in its stored axis order, as jnp gives
        return (0 if len(axes) == 1 else None), ()
    positions = _positions(op, axes, axis)
    if len(positions) != 1:
        raise ValueError(
            f"{op}: takes exactly one axis, got {len(positions)} ({axis!r}) for an array with "
            f"axes {format_axes(axes)}. Merge the axes into one with namedax.flatten_axes first."
        )
    i = positions[0]
    return i, axes[:i] + axes[i + 1 :]


_plan_many = _cached(_MANY, _many_axes_plan)
_plan_one = _cached(_ONE, _one_axis_plan)


# --- arguments --------------------------------------------------------------------------------


def _positional(
    op: str, fn: Callable[..., Any], array: Any, axis: Any, kwargs: dict[str, Any]
) -> Any:
    """`op` on a plain array: `jax.numpy`'s function with its integer `axis`, as jnp does."""
    if not (is_scalar_like(array) or (hasattr(array, "shape") and hasattr(array, "dtype"))):
        raise _not_named(op, array)
    if axis is not None and not isinstance(axis, (int, tuple)):
        raise TypeError(
            f"{op}: a plain {describe(array)} has no axis names, so axis must be an int or a "
            f"tuple of ints as in jax.numpy, got {axis!r}. Wrap it with "
            "namedax.named(array, axes) to select axes by name."
        )
    return fn(array, axis, **kwargs)


def _not_named(op: str, array: Any) -> TypeError:
    return TypeError(
        f"{op}: expected a NamedArray, got a plain {describe(array)}. Wrap it with "
        "namedax.named(array, axes) to say which axes it has."
    )


def _check_keywords(
    op: str, array: NamedArray, kwargs: dict[str, Any], allowed: frozenset[str]
) -> dict[str, Any]:
    unexpected = kwargs.keys() - allowed
    if unexpected:
        raise TypeError(
            f"{op}: unexpected keyword argument(s) {sorted(unexpected)}; {op} accepts "
            f"{sorted(allowed) or 'no keyword arguments'} besides `axis`."
        )
    where = kwargs.get("where")
    if where is not None:
        kwargs["where"] = _align_where(op, array, where)
    return kwargs


def _align_where(op: str, array: NamedArray, where: Any) -> Any:
    if isinstance(where, NamedArray):
        key = (array.axes, where.axes)
        if key not in _WHERE_CHECKED:
            _check_where_axes(op, array, where)
            _WHERE_CHECKED.add(key)
        mask = align_array(where.array, where.axes, array.axes)
        dtype = where.array.dtype
    elif is_scalar_like(where):
        mask = where
        dtype = jnp.bool_ if type(where) is bool else jnp.result_type(where)
    else:
        raise TypeError(
            f"{op}: where= is a plain {describe(where)}; it has no axis names to align by. "
            "Wrap it with namedax.named(mask, axes)."
        )
    if dtype != jnp.bool_:  # a 0/1 (or any numeric) mask: nonzero entries take part
        if not jnp.issubdtype(dtype, jnp.number):
            raise TypeError(
                f"{op}: where= must be a boolean or numeric mask, got dtype {dtype}. Compare "
                "first (e.g. `where=x > 0`)."
            )
        mask = jnp.asarray(mask) != 0
    return mask


_WHERE_CHECKED: set[tuple[tuple[Axis, ...], tuple[Axis, ...]]] = set()


def _check_where_axes(op: str, array: NamedArray, where: NamedArray) -> None:
    names = array.axis_names
    extra = tuple(a for a in where.axes if a.name not in names)
    if extra:
        raise ValueError(
            f"{op}: the where= mask {format_axes(where.axes)} has axes {format_axes(extra)} "
            f"that the array {format_axes(array.axes)} lacks. A mask is broadcast to the "
            "array by name and may not add axes: reduce or index them away first."
        )
    pair_result_axes(op, array.axes, where.axes, ("the array", "the where= mask"))


# --- signatures: each factory call takes its parameters from one of these templates ----------
# The built function gets the template's static type (for type checkers) and its
# `inspect.signature` (for `help()`); its keyword-only parameters are the keywords it accepts.
# The defaults are `jax.numpy`'s (the tests check them).


def _sum_like(
    array: NamedArray,
    axis: AxisSelection | None = None,
    *,
    where: NamedArray | bool | None = None,
    dtype: DTypeLike | None = None,
    initial: ArrayLike | None = None,
) -> NamedArray: ...


def _mean_like(
    array: NamedArray,
    axis: AxisSelection | None = None,
    *,
    where: NamedArray | bool | None = None,
    dtype: DTypeLike | None = None,
) -> NamedArray: ...


def _max_like(
    array: NamedArray,
    axis: AxisSelection | None = None,
    *,
    where: NamedArray | bool | None = None,
    initial: ArrayLike | None = None,
) -> NamedArray: ...


def _all_like(
    array: NamedArray, axis: AxisSelection | None = None, *, where: NamedArray | bool | None = None
) -> NamedArray: ...


def _std_like(
    array: NamedArray,
    axis: AxisSelection | None = None,
    *,
    where: NamedArray | bool | None = None,
    dtype: DTypeLike | None = None,
    ddof: int = 0,
) -> NamedArray: ...


def _ptp_like(array: NamedArray, axis: AxisSelection | None = None) -> NamedArray: ...


def _argmax_like(array: NamedArray, axis: AxisSelector | None = None) -> NamedArray: ...


def _cumsum_like(
    array: NamedArray, axis: AxisSelector, *, dtype: DTypeLike | None = None
) -> NamedArray: ...


def _sort_like(
    array: NamedArray, axis: AxisSelector | None, *, stable: bool = True, descending: bool = False
) -> NamedArray: ...


def _keywords(like: Callable[..., Any]) -> tuple[str, ...]:
    params = inspect.signature(like).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


# --- factories --------------------------------------------------------------------------------


def _reduction(
    name: str,
    fn: Callable[..., Any],
    like: Callable[P, NamedArray],
    domain: str = "real",
    *,
    one_axis: bool = False,
) -> Callable[P, NamedArray]:
    keywords = _keywords(like)
    allowed = frozenset(keywords)
    cache, plan = (_ONE, _plan_one) if one_axis else (_MANY, _plan_many)

    def op(array: NamedArray, axis: AxisSelection | None = None, **kwargs: Any) -> NamedArray:
        if type(array) is not NamedArray:
            return _positional(name, fn, array, axis, kwargs)
        try:
            positions, out_axes = cache[(array.axes, axis)]
        except (KeyError, TypeError):
            positions, out_axes = plan(name, array.axes, axis)
        if kwargs:
            kwargs = _check_keywords(name, array, kwargs, allowed)
        return _wrap(fn(array.array, positions, **kwargs), out_axes)

    _document(op, name, fn, like, one_axis=one_axis, keeps_axes=False)
    REDUCTIONS[name] = ReductionEntry(op, fn, keywords, domain, one_axis)
    return op  # type: ignore[return-value]  # typed by `like`, whose signature it gets


def _axiswise(
    name: str,
    fn: Callable[..., Any],
    like: Callable[P, NamedArray],
    domain: str = "real",
    *,
    flat_none: bool = False,
) -> Callable[P, NamedArray]:
    keywords = _keywords(like)
    allowed = frozenset(keywords)

    def op(array: NamedArray, axis: AxisSelection, **kwargs: Any) -> NamedArray:
        if type(array) is not NamedArray:
            return _positional(name, fn, array, axis, kwargs)
        if axis is None and flat_none:
            return fn(array.array, None, **_check_keywords(name, array, kwargs, allowed))
        if axis is None:
            raise TypeError(
                f"{name}: pass the axis to work along (the array has axes "
                f"{format_axes(array.axes)}); axis=None would flatten the array in storage order."
            )
        try:
            position = _ONE[(array.axes, axis)][0]
        except (KeyError, TypeError):
            position = _plan_one(name, array.axes, axis)[0]
        if kwargs:
            kwargs = _check_keywords(name, array, kwargs, allowed)
        return _wrap(
            along_whole_axis(fn, array.array, position, array.axes, name, **kwargs), array.axes
        )

    _document(op, name, fn, like, one_axis=True, keeps_axes=True)
    AXISWISE[name] = ReductionEntry(op, fn, keywords, domain, True)
    return op  # type: ignore[return-value]  # typed by `like`, whose signature it gets


_KEYWORD_DOCS = {
    "where": "A boolean (or numeric: nonzero is true) NamedArray broadcast to `array` by "
    "name (a subset of its axes); only elements where it is true take part.",
    "dtype": "The dtype to compute and return in.",
    "initial": "The starting value of the reduction (required with `where=` for max/min).",
    "ddof": "Delta degrees of freedom: the divisor is `N - ddof`.",
    "stable": "Whether equal elements keep their relative order.",
    "descending": "Sort from largest to smallest.",
}


def _document(
    op: Callable[..., Any],
    name: str,
    fn: Callable[..., Any],
    like: Callable[..., Any],
    *,
    one_axis: bool,
    keeps_axes: bool,
) -> None:
    keywords = _keywords(like)
    reference = f"jax.numpy.{fn.__name__}"
    if keeps_axes:
        summary = f"Named version of `{reference}` along one axis; every axis is kept."
        axis_doc = "The axis to work along: a name or an `Axis` (its size is checked)."
        returns = "A NamedArray with the axes of `array`, in the same order."
    elif one_axis:
        summary = f"Named version of `{reference}` over one axis, which is removed."
        axis_doc = (
            "The axis to reduce: a name or an `Axis` (its size is checked). `None` is "
            "a flat index into the array in its stored axis order (as `jax.numpy` gives)."
        )
        returns = "A NamedArray of indices with the remaining axes, in their order."
    else:
        summary = f"Named version of `{reference}` over the selected axes, which are removed."
        axis_doc = (
            "The axes to reduce: a name, an `Axis` (its size is checked), a sequence of "
            "them, or a `{name: size}` dict. `None` (the default) reduces every axis."
        )
        returns = "A NamedArray with the remaining axes, in their order (0-d if none remain)."
    args = [f"    array: The NamedArray to {'reduce' if not keeps_axes else 'transform'}.\n"]
    args.append(f"    axis: {axis_doc}\n")
    args += [f"    {k}: {_KEYWORD_DOCS[k]}\n" for k in keywords]
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"{summary}\n\nArgs:\n{''.join(args)}\nReturns:\n    {returns}\n\n"
        "Raises:\n"
        "    ValueError: If an axis is missing, selected twice or selected with the wrong size"
        f"{', or a where= mask has an axis the array lacks' if 'where' in keywords else ''}.\n"
        "    TypeError: If `array` is not a NamedArray or a keyword is not supported.\n"
    )
    op.__signature__ = inspect.signature(like)  # type: ignore[attr-defined]


# --- reductions -------------------------------------------------------------------------------
sum = _reduction("sum", jnp.sum, _sum_like)
mean = _reduction("mean", jnp.mean, _mean_like)
prod = _reduction("prod", jnp.prod, _sum_like)
product = _reduction("product", jnp.prod, _sum_like)
max = _reduction("max", jnp.max, _max_like)
amax = _reduction("amax", jnp.amax, _max_like)
min = _reduction("min", jnp.min, _max_like)
amin = _reduction("amin", jnp.amin, _max_like)
any = _reduction("any", jnp.any, _all_like, "bool")
all = _reduction("all", jnp.all, _all_like, "bool")
std = _reduction("std", jnp.std, _std_like)
var = _reduction("var", jnp.var, _std_like)
ptp = _reduction("ptp", jnp.ptp, _ptp_like)
nansum = _reduction("nansum", jnp.nansum, _sum_like, "nan")
nanmean = _reduction("nanmean", jnp.nanmean, _mean_like, "nan")
nanprod = _reduction("nanprod", jnp.nanprod, _sum_like, "nan")
nanmax = _reduction("nanmax", jnp.nanmax, _max_like, "nan")
nanmin = _reduction("nanmin", jnp.nanmin, _max_like, "nan")
nanstd = _reduction("nanstd", jnp.nanstd, _std_like, "nan")
nanvar = _reduction("nanvar", jnp.nanvar, _std_like, "nan")
argmax = _reduction("argmax", jnp.argmax, _argmax_like, one_axis=True)
argmin = _reduction("argmin", jnp.argmin, _argmax_like, one_axis=True)
nanargmax = _reduction("nanargmax", jnp.nanargmax, _argmax_like, "nan", one_axis=True)
nanargmin = _reduction("nanargmin", jnp.nanargmin, _argmax_like, "nan", one_axis=True)

# --- axis-wise --------------------------------------------------------------------------------
cumsum = _axiswise("cumsum", jnp.cumsum, _cumsum_like)
cumprod = _axiswise("cumprod", jnp.cumprod, _cumsum_like)
nancumsum = _axiswise("nancumsum", jnp.nancumsum, _cumsum_like, "nan")
nancumprod = _axiswise("nancumprod", jnp.nancumprod, _cumsum_like, "nan")
sort = _axiswise("sort", jnp.sort, _sort_like)
argsort = _axiswise("argsort", jnp.argsort, _sort_like, flat_none=True)
