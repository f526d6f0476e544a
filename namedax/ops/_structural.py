"""Operations on the structure of named axes: `tril`, `triu`, `trace`, `pad`, `pad_left`, `roll`.

Each names the axes it acts on; the position of those axes in the array never
matters. The result keeps the input's axis order (`trace` drops its two axes,
`pad` resizes the padded ones), except that `tril`/`triu` move their two axes last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from numbers import Integral
from typing import Any, Protocol

import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap, check_named
from namedax.core._axes import Axis, AxisSelection, AxisSelector, axis_positions
from namedax.core._broadcast import is_scalar_like
from namedax.core._errors import describe, format_axes

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py


class _Triangle(Protocol):
    def __call__(
        self, array: NamedArray, axis1: AxisSelector, axis2: AxisSelector, k: int = 0
    ) -> NamedArray: ...


def _triangle(name: str, jnp_fn: Callable[..., Any], side: str, shown: str) -> _Triangle:
    """`tril`/`triu` over two named axes, which move to the end as in Haliax."""

    def triangle(
        array: NamedArray, axis1: AxisSelector, axis2: AxisSelector, k: int = 0
    ) -> NamedArray:
        check_named(name, array)
        i1, i2 = _two_axes(name, array, axis1, axis2)
        order = [i for i in range(array.ndim) if i not in (i1, i2)] + [i1, i2]
        moved = jnp.transpose(array.array, order)
        return _wrap(jnp_fn(moved, k=k), tuple(array.axes[i] for i in order))

    triangle.__name__ = triangle.__qualname__ = name
    triangle.__doc__ = f"""Named version of `jax.numpy.{name}`: zeroes all {side} diagonal `k`.

    `axis1` plays the role of the rows and `axis2` of the columns, wherever they sit;
    every other axis is a batch axis.

    Args:
        array: A NamedArray.
        axis1: The row axis.
        axis2: The column axis.
        k: The diagonal: 0 is the main one, positive values are above it.

    Returns:
        A NamedArray with the other axes of `array` in their order, then `axis1` and
        `axis2` (Haliax's layout; `jax.numpy.{name}` acts on the last two dimensions).

    Raises:
        ValueError: If an axis is missing or both name the same axis.

    Examples:
        >>> m = named(jnp.ones((2, 3)), ("row", "col"))
        >>> nx.{name}(m, "row", "col", k=1).array.tolist()
        {shown}
        >>> nx.{name}(m, "col", "row").axis_names
        ('col', 'row')
    """
    return triangle


tril = _triangle("tril", jnp.tril, "above", "[[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]")
triu = _triangle("triu", jnp.triu, "below", "[[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]")


def trace(
    array: NamedArray,
    axis1: AxisSelector,
    axis2: AxisSelector,
    offset: int = 0,
    dtype: Any = None,
) -> NamedArray:
    """Named version of `jax.numpy.trace`: sums the `offset`-th diagonal of two axes.

    Args:
        array: A NamedArray.
        axis1: The row axis.
        axis2: The column axis.
        offset: The diagonal: 0 is the main one, positive values are above it.
        dtype: The accumulation and result dtype (default: that of `jax.numpy.trace`).

    Returns:
        A NamedArray without `axis1` and `axis2`; the other axes keep their order.

    Raises:
        ValueError: If an axis is missing or both name the same axis.

    Examples:
        >>> m = named(jnp.arange(8.0).reshape(2, 2, 2), ("batch", "row", "col"))
        >>> m.trace("row", "col").array
        Array([ 3., 11.], dtype=float32)
    """
    check_named("trace", array)
    i1, i2 = _two_axes("trace", array, axis1, axis2)
    out = jnp.trace(array.array, offset=offset, axis1=i1, axis2=i2, dtype=dtype)
    return _wrap(out, tuple(a for i, a in enumerate(array.axes) if i not in (i1, i2)))


def _two_axes(op: str, array: NamedArray, axis1: Any, axis2: Any) -> tuple[int, int]:
    i1 = axis_positions(array.axes, axis1, op)
    i2 = axis_positions(array.axes, axis2, op)
    if len(i1) != 1 or len(i2) != 1:
        raise TypeError(
            f"{op}: axis1 and axis2 must each name one axis (an Axis or a name), got "
            f"{axis1!r} and {axis2!r}."
        )
    if i1 == i2:
        raise ValueError(
            f"{op}: axis1 and axis2 both name {array.axes[i1[0]]} of {format_axes(array.axes)}. "
            "Pass two different axes."
        )
    return i1[0], i2[0]


def pad(
    array: NamedArray,
    pad_width: Mapping[AxisSelector, int | tuple[int, int]] | int | tuple[int, int],
    mode: Any = "constant",
    **kwargs: Any,
) -> NamedArray:
    """Named version of `jax.numpy.pad`: adds elements before and after named axes.

    Args:
        array: A NamedArray.
        pad_width: `{axis: (before, after)}` (or `{axis: n}` for `(n, n)`) for the axes
            to pad; the other axes are left alone. A single `n` or `(before, after)`
            pads every axis.
        mode: The padding mode of `jax.numpy.pad` ("constant", "edge", "reflect",
            "wrap", ...).
        **kwargs: Further options of `jax.numpy.pad` (`constant_values`,
            `end_values`, `stat_length`, `reflect_type`), each a scalar or one
            `(before, after)` pair that applies to every padded axis.

    Returns:
        A NamedArray with the axes of `array`, in order, each padded axis resized.

    Raises:
        ValueError: If `pad_width` names a missing axis or holds a negative width.
        TypeError: If a width is not an int, or an option is positional per axis.

    Examples:
        >>> x = named(jnp.ones((2, 3)), ("a", "b"))
        >>> y = nx.pad(x, {"b": (1, 2)}, constant_values=9.0)
        >>> y.axes
        (Axis(name='a', size=2), Axis(name='b', size=6))
        >>> y.array[0]
        Array([9., 1., 1., 1., 9., 9.], dtype=float32)
    """
    check_named("pad", array)
    widths = _pad_widths(array, pad_width)
    for name, value in kwargs.items():
        if isinstance(value, NamedArray) or not (is_scalar_like(value) or _is_pair(value)):
            raise TypeError(
                f"pad: {name} must be a scalar or one (before, after) pair for every padded "
                f"axis, got {describe(value)}; per-axis positional values are not supported."
            )
    out = jnp.pad(array.array, widths, mode=mode, **kwargs)
    axes = tuple(
        a if w == (0, 0) else Axis(a.name, a.size + w[0] + w[1])
        for a, w in zip(array.axes, widths, strict=True)
    )
    return _wrap(out, axes)


def pad_left(array: NamedArray, axis: AxisSelector, new_axis: Axis, value: Any = 0) -> NamedArray:
    """Pads `axis` at its start up to the size of `new_axis`, which replaces it.

    Left padding is the layout of right-aligned token sequences: the real entries end
    at the last position.

    Args:
        array: A NamedArray.
        axis: The axis to pad (a name or an `Axis`).
        new_axis: The resulting axis: its size is the padded length, its name the new
            name of the padded axis (it may keep the old name).
        value: The fill value of the added entries: a scalar (possibly traced) or a 0-d
            NamedArray; it is cast to the dtype of `array`, as in `jax.numpy.pad`.

    Returns:
        A NamedArray with the axes of `array`, in order, `axis` replaced by `new_axis`.

    Raises:
        ValueError: If `axis` is missing, `new_axis` is shorter than `axis`, or its
            name is taken by another axis of `array`.
        TypeError: If `array` is not a NamedArray, `axis` is not a single axis,
            `new_axis` is not an `Axis`, or `value` is not a scalar.

    Examples:
        >>> x = named(jnp.array([1, 2]), "pos")
        >>> y = nx.pad_left(x, "pos", Axis("pos", 4), value=-1)
        >>> y.axes, y.array.tolist()
        ((Axis(name='pos', size=4),), [-1, -1, 1, 2])
    """
    check_named("pad_left", array)
    if not isinstance(new_axis, Axis):
        raise TypeError(
            f"pad_left: new_axis must be an Axis (its size is the padded length), got "
            f"{describe(new_axis)}."
        )
    if not isinstance(axis, (str, Axis)):
        raise TypeError(
            f"pad_left: axis must be one axis name or Axis, got {describe(axis)}; pad one "
            "axis per call (or use nx.pad for several)."
        )
    if isinstance(value, NamedArray):
        if value.ndim != 0:
            raise TypeError(
                f"pad_left: value must be a scalar, got {describe(value)}. Pass one fill value."
            )
        value = value.array
    elif not is_scalar_like(value):
        raise TypeError(
            f"pad_left: value must be a scalar, got {describe(value)}. Pass one fill value."
        )
    (i,) = axis_positions(array.axes, axis, "pad_left")
    old = array.axes[i]
    if new_axis.size < old.size:
        raise ValueError(
            f"pad_left: new_axis {new_axis} is shorter than {old} of "
            f"{format_axes(array.axes)}; padding only grows an axis (use nx.slice to cut)."
        )
    others = array.axes[:i] + array.axes[i + 1 :]
    if any(a.name == new_axis.name for a in others):
        raise ValueError(
            f"pad_left: new_axis {new_axis} has the name of another axis of "
            f"{format_axes(array.axes)}. Choose a free name."
        )
    widths = [(0, 0)] * array.ndim
    widths[i] = (new_axis.size - old.size, 0)
    padded = jnp.pad(array.array, widths, constant_values=value)
    return _wrap(padded, (*array.axes[:i], new_axis, *array.axes[i + 1 :]))


def _pad_widths(array: NamedArray, pad_width: Any) -> list[tuple[int, int]]:
    if not isinstance(pad_width, Mapping):
        return [_width(pad_width, "pad_width")] * array.ndim
    widths = [(0, 0)] * array.ndim
    for axis, width in pad_width.items():
        (i,) = axis_positions(array.axes, axis, "pad")
        widths[i] = _width(width, f"pad_width[{axis!r}]")
    return widths


def _width(width: Any, where: str) -> tuple[int, int]:
    pair = (width, width) if isinstance(width, Integral) else width
    if not _is_pair(pair) or not all(isinstance(w, Integral) for w in pair):
        raise TypeError(
            f"pad: {where} must be an int or a (before, after) pair of ints, got {width!r}. "
            "Give widths per axis name: pad(x, {'axis': (before, after)})."
        )
    if pair[0] < 0 or pair[1] < 0:
        raise ValueError(f"pad: {where} = {width!r} is negative; widths must be >= 0.")
    return int(pair[0]), int(pair[1])


def _is_pair(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(is_scalar_like(v) for v in value)
    )


def roll(array: NamedArray, shift: Any, axis: AxisSelection) -> NamedArray:
    """Named version of `jax.numpy.roll`: rotates elements along named axes.

    Args:
        array: A NamedArray.
        shift: How far to roll: an int (or 0-d array), or a sequence of them, one per
            axis of `axis`.
        axis: The axis to roll along, or a sequence of axes.

    Returns:
        A NamedArray with the axes of `array`, in the same order.

    Raises:
        ValueError: If an axis is missing, or `shift` and `axis` differ in length.

    Examples:
        >>> x = named(jnp.arange(4), "a")
        >>> nx.roll(x, 1, "a").array
        Array([3, 0, 1, 2], dtype=int32)
    """
    check_named("roll", array)
    positions = axis_positions(array.axes, axis, "roll")
    if isinstance(shift, NamedArray):
        if shift.axes:
            raise TypeError(
                f"roll: shift must be an int or a sequence of ints, got {describe(shift)}."
            )
        shift = shift.array
    if isinstance(shift, Sequence) and len(shift) != len(positions):
        raise ValueError(
            f"roll: {len(shift)} shifts {tuple(shift)!r} for {len(positions)} axes "
            f"{format_axes(array.axes[i] for i in positions)}. Give one shift per axis."
        )
    return _wrap(jnp.roll(array.array, shift, positions), array.axes)
