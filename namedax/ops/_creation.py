"""Creating NamedArrays: filled arrays, ranges, and joining or repeating arrays by name.

Functions that make an array from nothing take a *named shape* (an `AxisSpec`: an
`Axis`, a sequence of them, or a `{name: size}` dict); a bare name has no size and
is refused. Functions that join arrays (`stack`, `concatenate`) align their
inputs by axis name, so the inputs may store their axes in different orders.

Examples:
    >>> import namedax as nx
    >>> Batch, Embed = nx.Axis("batch", 2), nx.Axis("embed", 3)
    >>> nx.zeros((Batch, Embed)).shape
    {'batch': 2, 'embed': 3}
    >>> nx.arange(Embed, start=1).array
    Array([1, 2, 3], dtype=int32)
    >>> x = nx.ones({"embed": 3, "batch": 2})
    >>> nx.stack("layer", [nx.zeros((Batch, Embed)), x]).shape
    {'layer': 2, 'batch': 2, 'embed': 3}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import (
    Axis,
    AxisSelector,
    AxisSpec,
    check_unique_names,
    resolve_axis,
    sized_axes,
    sized_new_axis,
)
from namedax.core._broadcast import align_array, broadcast_to, is_scalar_like
from namedax.core._errors import describe, format_axes

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py


# --- helpers ------------------------------------------------------------------------------------


def _shape(spec: AxisSpec, op: str) -> tuple[Axis, ...]:
    axes = sized_axes(spec, op)
    check_unique_names(axes, op)
    return axes


def _one_sized_axis(axis: AxisSpec, op: str) -> Axis:
    axes = sized_axes(axis, op)
    if len(axes) != 1:
        raise ValueError(
            f"{op}: needs exactly one axis, got {format_axes(axes)}. Create the array along "
            "one axis and broadcast it (namedax.broadcast_axis) to add more."
        )
    return axes[0]


def _expect_named(op: str, x: Any, where: str) -> NamedArray:
    if not isinstance(x, NamedArray):
        raise TypeError(
            f"{op}: {where} must be a NamedArray, got a plain {describe(x)}. Wrap it with "
            "namedax.named(array, axes)."
        )
    return x


def _fill(op: str, axes: tuple[Axis, ...], fill_value: Any, dtype: Any) -> NamedArray:
    if isinstance(fill_value, NamedArray):
        out = broadcast_to(fill_value, axes)  # checks sizes and refuses extra axes
        return out if dtype is None else out.astype(dtype)
    if not is_scalar_like(fill_value):
        raise TypeError(
            f"{op}: fill_value is a plain {describe(fill_value)}; it has no axis names to "
            "broadcast by. Pass a scalar, or wrap it with namedax.named(array, axes)."
        )
    return _wrap(jnp.full(tuple(a.size for a in axes), fill_value, dtype), axes)


# --- filled arrays ------------------------------------------------------------------------------


class _Filled(Protocol):
    def __call__(self, shape: AxisSpec, dtype: Any = None) -> NamedArray: ...


class _FilledLike(Protocol):
    def __call__(self, a: NamedArray, dtype: Any = None) -> NamedArray: ...


def _filled(name: str, fill: Callable[..., Any], what: str, shown: str) -> _Filled:
    """`zeros`-like creation: `fill(shape, dtype)` given a named shape."""

    def create(shape: AxisSpec, dtype: Any = None) -> NamedArray:
        axes = _shape(shape, name)
        return _wrap(fill(tuple(a.size for a in axes), dtype), axes)

    create.__name__ = create.__qualname__ = name
    create.__doc__ = f"""An array of {what} with the named shape `shape`.

    Args:
        shape: The axes: an `Axis`, a sequence of them, or a `{{name: size}}` dict.
        dtype: The element type (default: the default float type).

    Returns:
        A NamedArray with axes `shape`.

    Raises:
        TypeError: If `shape` holds a bare name (no size).
        ValueError: If an axis name repeats.

    Examples:
        >>> nx.{name}({{"a": 2}}, dtype=jnp.int32).array
        Array([{shown}, {shown}], dtype=int32)
    """
    return create


def _filled_like(name: str, fill: Callable[..., Any], what: str, shown: str) -> _FilledLike:
    """`zeros_like`-like creation: `fill(a.array, dtype)` with the axes of `a`."""

    def create(a: NamedArray, dtype: Any = None) -> NamedArray:
        a = _expect_named(name, a, "a")
        return _wrap(fill(a.array, dtype), a.axes)

    create.__name__ = create.__qualname__ = name
    create.__doc__ = f"""An array of {what} with the axes (and by default the dtype) of `a`.

    Args:
        a: The NamedArray whose axes to copy.
        dtype: The element type (default: `a.dtype`).

    Returns:
        A NamedArray with `a`'s axes, in the same order.

    Raises:
        TypeError: If `a` is not a NamedArray.

    Examples:
        >>> nx.{name}(nx.named(jnp.arange(3), "a"), dtype=jnp.float32).array
        Array([{shown}., {shown}., {shown}.], dtype=float32)
    """
    return create


zeros = _filled("zeros", jnp.zeros, "zeros", "0")
ones = _filled("ones", jnp.ones, "ones", "1")
zeros_like = _filled_like("zeros_like", jnp.zeros_like, "zeros", "0")
ones_like = _filled_like("ones_like", jnp.ones_like, "ones", "1")


def full(shape: AxisSpec, fill_value: Any, dtype: Any = None) -> NamedArray:
    """An array with the named shape `shape` filled with `fill_value`.

    Args:
        shape: The axes: an `Axis`, a sequence of them, or a `{name: size}` dict.
        fill_value: A scalar, or a NamedArray holding a subset of `shape`'s axes,
            broadcast by name.
        dtype: The element type (default: that of `fill_value`).

    Returns:
        A NamedArray with axes `shape`.

    Raises:
        TypeError: If `shape` holds a bare name, or `fill_value` is a plain array with
            dimensions.
        ValueError: If an axis name repeats, or `fill_value` has an axis `shape` lacks or
            of another size.

    Examples:
        >>> nx.full({"a": 2, "b": 2}, 7).array
        Array([[7, 7],
               [7, 7]], dtype=int32, weak_type=True)
        >>> row = nx.named(jnp.array([1.0, 2.0]), "b")
        >>> nx.full({"a": 2, "b": 2}, row).array
        Array([[1., 2.],
               [1., 2.]], dtype=float32)
    """
    return _fill("full", _shape(shape, "full"), fill_value, dtype)


def full_like(a: NamedArray, fill_value: Any, dtype: Any = None) -> NamedArray:
    """An array with the axes (and by default the dtype) of `a`, filled with `fill_value`.

    Args:
        a: The NamedArray whose axes to copy.
        fill_value: A scalar, or a NamedArray holding a subset of `a`'s axes, broadcast
            by name.
        dtype: The element type (default: `a.dtype`).

    Returns:
        A NamedArray with `a`'s axes, in the same order.

    Raises:
        TypeError: If `a` is not a NamedArray or `fill_value` is a plain array with
            dimensions.
        ValueError: If `fill_value` has an axis `a` lacks or of another size.

    Examples:
        >>> nx.full_like(nx.named(jnp.zeros(2), "a"), 3).array
        Array([3., 3.], dtype=float32)
    """
    a = _expect_named("full_like", a, "a")
    return _fill("full_like", a.axes, fill_value, a.dtype if dtype is None else dtype)


# --- ranges -------------------------------------------------------------------------------------


def arange(axis: AxisSpec, *, start: Any = 0, step: Any = 1, dtype: Any = None) -> NamedArray:
    """The values `start, start + step, ...`, one per position of `axis`.

    The axis size gives the length, so there is no `stop`. Unlike `jax.numpy.arange`,
    `start` and `step` may be traced values. Several axes count through all their
    positions in the given order (row-major), like `jnp.arange(n).reshape(sizes)`.

    Args:
        axis: The axes: an `Axis`, a sequence of them, or a `{name: size}` dict.
        start: The first value.
        step: The difference between neighbours.
        dtype: The element type (default: inferred from `start` and `step`).

    Returns:
        A NamedArray with the axes `axis`, in that order.

    Raises:
        TypeError: If an axis is a bare name (no size).

    Examples:
        >>> nx.arange(Axis("a", 4), start=1, step=2).array
        Array([1, 3, 5, 7], dtype=int32)
        >>> nx.arange({"a": 3}, step=0.5).array
        Array([0. , 0.5, 1. ], dtype=float32)
        >>> nx.arange(make_axes(a=2, b=3)).array
        Array([[0, 1, 2],
               [3, 4, 5]], dtype=int32)
    """
    axes = sized_axes(axis, "arange")
    if dtype is None:
        dtype = jnp.result_type(start, step)
    shape = tuple(a.size for a in axes)
    index = jnp.arange(math.prod(shape), dtype=dtype).reshape(shape)
    values = index * jnp.asarray(step, dtype) + jnp.asarray(start, dtype)
    return _wrap(values, axes)


class _Spaced(Protocol):
    def __call__(
        self, axis: AxisSpec, *, start: Any, stop: Any, endpoint: bool = True, dtype: Any = None
    ) -> NamedArray: ...


def _spaced(name: str, space: Callable[..., Any], summary: str, start: str, shown: str) -> _Spaced:
    """`linspace`-like ranges: `space(start, stop, size, endpoint=, dtype=)` along one axis."""

    def create(
        axis: AxisSpec, *, start: Any, stop: Any, endpoint: bool = True, dtype: Any = None
    ) -> NamedArray:
        ax = _one_sized_axis(axis, name)
        return _wrap(space(start, stop, ax.size, endpoint=endpoint, dtype=dtype), (ax,))

    create.__name__ = create.__qualname__ = name
    create.__doc__ = f"""{summary}, one value per position of `axis`.

    Args:
        axis: The axis: an `Axis` or a one-entry `{{name: size}}` dict.
        start: {start}
        stop: The last value (or the bound just past it if `endpoint` is false).
        endpoint: Whether `stop` is included.
        dtype: The element type.

    Returns:
        A NamedArray with the single axis `axis`.

    Raises:
        TypeError: If `axis` is a bare name (no size).

    Examples:
        >>> nx.{name}(Axis("a", 3), start=1.0, stop=9.0).array.round()
        Array([{shown}], dtype=float32)
    """
    return create


linspace = _spaced(
    "linspace",
    jnp.linspace,
    "Evenly spaced values from `start` to `stop`",
    "The first value.",
    "1., 5., 9.",
)
geomspace = _spaced(
    "geomspace",
    jnp.geomspace,
    "A geometric progression from `start` to `stop`",
    "The first value (non-zero).",
    "1., 3., 9.",
)


def logspace(
    axis: AxisSpec,
    *,
    start: Any,
    stop: Any,
    endpoint: bool = True,
    base: Any = 10.0,
    dtype: Any = None,
) -> NamedArray:
    """Values evenly spaced in log scale, `base**start` to `base**stop`, one per position.

    Args:
        axis: The axis: an `Axis` or a one-entry `{name: size}` dict.
        start: The first exponent.
        stop: The last exponent (or the bound just past it if `endpoint` is false).
        endpoint: Whether `base**stop` is included.
        base: The base of the exponents.
        dtype: The element type.

    Returns:
        A NamedArray with the single axis `axis`.

    Raises:
        TypeError: If `axis` is a bare name (no size).

    Examples:
        >>> nx.logspace(Axis("a", 3), start=0.0, stop=2.0).array
        Array([  1.,  10., 100.], dtype=float32)
    """
    ax = _one_sized_axis(axis, "logspace")
    values = jnp.logspace(start, stop, ax.size, endpoint=endpoint, base=base, dtype=dtype)
    return _wrap(values, (ax,))


# --- joining ------------------------------------------------------------------------------------


def _named_inputs(op: str, arrays: Sequence[NamedArray]) -> list[NamedArray]:
    if isinstance(arrays, NamedArray) or not isinstance(arrays, Sequence):
        raise TypeError(
            f"{op}: arrays must be a list or tuple of NamedArrays, got {describe(arrays)}."
        )
    if not arrays:
        raise ValueError(f"{op}: needs at least one array, got an empty sequence.")
    return [_expect_named(op, x, f"arrays[{i}]") for i, x in enumerate(arrays)]


def _mismatch(op: str, i: int, x: NamedArray, first: NamedArray, what: str) -> ValueError:
    return ValueError(
        f"{op}: arrays[{i}] has axes {format_axes(x.axes)} but arrays[0] has "
        f"{format_axes(first.axes)}; {what}. Rename, slice or broadcast the inputs so they agree."
    )


def stack(axis: AxisSelector, arrays: Sequence[NamedArray]) -> NamedArray:
    """Stacks arrays with the same axes along a new axis, placed first.

    The inputs are aligned by name: each must hold the same axes (names and sizes) as
    `arrays[0]`, in any order, and the result stores them in `arrays[0]`'s order.

    Args:
        axis: The new axis: a name, or an `Axis` whose size must equal `len(arrays)`.
        arrays: A non-empty sequence of NamedArrays.

    Returns:
        A NamedArray with axes `(axis, *arrays[0].axes)`.

    Raises:
        ValueError: If the inputs' axes differ, `axis` already exists, or an `Axis`
            size disagrees with the number of arrays.
        TypeError: If an input is not a NamedArray.

    Examples:
        >>> a = nx.named(jnp.zeros((2, 3)), ("x", "y"))
        >>> b = nx.named(jnp.ones((3, 2)), ("y", "x"))
        >>> nx.stack("pair", [a, b]).axes
        (Axis(name='pair', size=2), Axis(name='x', size=2), Axis(name='y', size=3))
    """
    xs = _named_inputs("stack", arrays)
    new = sized_new_axis("stack", axis, len(xs), "the number of arrays")
    first = xs[0]
    if new.name in first.axis_names:
        raise ValueError(
            f"stack: the new axis {new.name!r} already exists in arrays[0] "
            f"{format_axes(first.axes)}. Choose a new name."
        )
    axis_set = set(first.axes)
    parts = []
    for i, x in enumerate(xs):
        if x.axes != first.axes and set(x.axes) != axis_set:
            raise _mismatch("stack", i, x, first, "stacking needs the same axes and sizes")
        parts.append(align_array(x.array, x.axes, first.axes))
    return _wrap(jnp.stack(parts), (new, *first.axes))


def concatenate(axis: AxisSelector, arrays: Sequence[NamedArray]) -> NamedArray:
    """Joins arrays end to end along an axis they all have.

    Each input has an axis of that name (the sizes may differ); all other axes must
    match by name and size and may be stored in any order. The result stores its
    axes in `arrays[0]`'s order, with the joined axis as long as the inputs together.

    Args:
        axis: The axis to join along: a name, or an `Axis` whose size must equal the
            sum of the inputs' sizes.
        arrays: A non-empty sequence of NamedArrays.

    Returns:
        A NamedArray with `arrays[0]`'s axes, the joined one resized.

    Raises:
        ValueError: If an input lacks the axis, the other axes differ, or an `Axis`
            size disagrees with the total.
        TypeError: If an input is not a NamedArray.

    Examples:
        >>> a = nx.named(jnp.zeros((2, 3)), ("x", "y"))
        >>> b = nx.named(jnp.ones((1, 2)), ("y", "x"))
        >>> nx.concatenate("y", [a, b]).shape
        {'x': 2, 'y': 4}
    """
    xs = _named_inputs("concatenate", arrays)
    name = axis.name if isinstance(axis, Axis) else axis
    if not isinstance(name, str):
        raise TypeError(f"concatenate: axis must be an Axis or a name, got {describe(axis)}.")
    first = xs[0]
    index = _position("concatenate", first, name, 0)
    others = first.axes[:index] + first.axes[index + 1 :]
    parts, total = [], 0
    for i, x in enumerate(xs):
        j = _position("concatenate", x, name, i)
        joined = x.axes[j]
        if set(x.axes[:j] + x.axes[j + 1 :]) != set(others):
            raise _mismatch("concatenate", i, x, first, f"all axes other than {name!r} must agree")
        target = (*first.axes[:index], joined, *first.axes[index + 1 :])
        parts.append(align_array(x.array, x.axes, target))
        total += joined.size
    new = sized_new_axis("concatenate", axis, total, "the sum of the inputs' sizes")
    return _wrap(jnp.concatenate(parts, axis=index), (*others[:index], new, *others[index:]))


def _position(op: str, x: NamedArray, name: str, i: int) -> int:
    for j, a in enumerate(x.axes):
        if a.name == name:
            return j
    raise ValueError(
        f"{op}: arrays[{i}] {format_axes(x.axes)} has no axis {name!r}. Every input needs "
        "the axis to join along; add it with namedax.broadcast_axis or rename one."
    )


# --- repeating ----------------------------------------------------------------------------------


def repeat(
    a: NamedArray, repeats: Any, axis: AxisSelector, total_repeat_length: int | None = None
) -> NamedArray:
    """Repeats each element of `a` along `axis`; the axis grows, keeping its name.

    Args:
        a: The NamedArray.
        repeats: How often to repeat each element: an int, or one count per element of
            `axis` (a NamedArray with just that axis, or a 1-d array).
        axis: The axis to repeat along: a name or an `Axis` (its size is checked).
        total_repeat_length: The resulting size, required when `repeats` is an array
            and the call is traced (e.g. under `jit`).

    Returns:
        A NamedArray with the axes of `a`, `axis` resized.

    Raises:
        ValueError: If `axis` is missing or `repeats` has other axes.
        TypeError: If `a` is not a NamedArray.

    Examples:
        >>> x = nx.named(jnp.array([1, 2]), "a")
        >>> nx.repeat(x, 2, "a").array
        Array([1, 1, 2, 2], dtype=int32)
        >>> nx.repeat(x, nx.named(jnp.array([0, 3]), "a"), "a").array
        Array([2, 2, 2], dtype=int32)
    """
    a = _expect_named("repeat", a, "a")
    ax = resolve_axis(a.axes, axis, "repeat")
    index = a.axes.index(ax)
    if isinstance(repeats, NamedArray):
        if repeats.axes and repeats.axes != (ax,):
            raise ValueError(
                f"repeat: repeats {format_axes(repeats.axes)} must be a scalar or hold only "
                f"the axis {ax} of the array {format_axes(a.axes)}."
            )
        repeats = repeats.array
    out = jnp.repeat(a.array, repeats, axis=index, total_repeat_length=total_repeat_length)
    axes = (*a.axes[:index], ax.resize(out.shape[index]), *a.axes[index + 1 :])
    return _wrap(out, axes)


def tile(a: NamedArray, reps: Mapping[AxisSelector, int]) -> NamedArray:
    """Tiles `a` along named axes, as `jnp.tile` does along positions.

    An axis of `a` named in `reps` is repeated whole `reps[axis]` times. A name that
    `a` lacks adds a new axis of size `reps[name]` (the size of an `Axis` key is then
    ignored, as in Haliax); new axes come first, in the order of `reps`, followed by
    the axes of `a` in their order.

    Args:
        a: The NamedArray.
        reps: `{axis: count}`, keys being names or `Axis` objects (sizes checked for
            axes of `a`); axes not mentioned are kept as they are.

    Returns:
        The new axes, then the axes of `a`, each tiled axis `count` times longer.

    Raises:
        ValueError: If a count is negative, an `Axis` key disagrees with the size of
            the axis of `a` it names, or two keys name the same new axis.
        TypeError: If `reps` is not a dict, a key is not a name or an `Axis`, or a
            count is not an int.

    Examples:
        >>> x = nx.named(jnp.array([[1, 2]]), ("a", "b"))
        >>> nx.tile(x, {"b": 2}).array
        Array([[1, 2, 1, 2]], dtype=int32)
        >>> nx.tile(x, {"b": 2, "new": 3}).shape
        {'new': 3, 'a': 1, 'b': 4}
    """
    a = _expect_named("tile", a, "a")
    if not isinstance(reps, Mapping):
        raise TypeError(
            f"tile: reps must be a dict {{axis: count}}, got {describe(reps)}. Positional "
            "repetition counts would depend on the storage order of the axes."
        )
    counts = [1] * a.ndim
    new_axes: list[Axis] = []
    for sel, count in reps.items():
        name = _tile_key_name(sel)
        if not isinstance(count, int) or isinstance(count, bool):
            raise TypeError(f"tile: the count for axis {name!r} must be an int, got {count!r}.")
        if count < 0:
            raise ValueError(f"tile: the count for axis {name!r} must be >= 0, got {count}.")
        if name in a.axis_names:
            counts[a.axes.index(resolve_axis(a.axes, sel, "tile"))] = count
        else:
            new_axes.append(Axis(name, count))
    axes = (*new_axes, *(ax.resize(ax.size * n) for ax, n in zip(a.axes, counts)))
    check_unique_names(axes, "tile")
    return _wrap(jnp.tile(a.array, [ax.size for ax in new_axes] + counts), axes)


def _tile_key_name(sel: Any) -> str:
    if isinstance(sel, Axis):
        return sel.name
    if isinstance(sel, str):
        return sel
    raise TypeError(f"tile: reps keys must be axis names or Axis objects, got {describe(sel)}.")
