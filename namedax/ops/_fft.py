"""Named discrete Fourier transforms: the `jax.numpy.fft` family, addressed by axis name.

One function per transform (`fft`, `ifft`, `rfft`, `irfft`, `hfft`, `ihfft`); its `axis`
argument chooses the transformed axes and their lengths, so there are no separate `2`/`n`
variants:

* `None`: the last axis, at its own length;
* a name: that axis, at its own length;
* an `Axis`: the axis of that name, transformed at that axis's size (padded or cut, as
  `n=` in `jax.numpy.fft`); the output axis is that `Axis`;
* a sequence of names: those axes (the `n`-dimensional transform), in that order;
* a mapping `{name or Axis: None | int | Axis}`: those axes, each at its own length
  (`None`), at a given length (an int), or renamed and sized as the given `Axis`.

The real transforms change lengths as in `jax.numpy.fft`: `rfft`/`ihfft` give `n // 2 + 1`
entries along the last transformed axis; `irfft`/`hfft` default to `2 * (m - 1)` there.
`hfft` and `ihfft` take one axis only. This module is also `haliax.fft` under
`install_as_haliax()`.

Examples:
    >>> X, Y = Axis("x", 4), Axis("y", 6)
    >>> a = nx.arange((X, Y), dtype=jnp.float32)
    >>> nx.fft(a, axis="y").shape
    {'x': 4, 'y': 6}
    >>> nx.rfft(a, axis={"x": None, "y": 10}).shape
    {'x': 4, 'y': 6}
    >>> nx.irfft(nx.rfft(a), axis=Y).shape
    {'x': 4, 'y': 6}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeAlias

import jax.numpy.fft as jfft

from namedax.core._array import NamedArray, _wrap, check_named
from namedax.core._axes import Axis, AxisSelection, AxisSelector, axis_positions, resolve_axis
from namedax.core._errors import format_axes

AxisSizeLike: TypeAlias = int | Axis | None
"""The length of one transformed axis: its own (`None`), a new length, or a new `Axis`."""

FFTAxisSpec: TypeAlias = AxisSelector | Sequence[AxisSelector] | Mapping[Any, AxisSizeLike] | None
"""What the `axis` argument of the transforms accepts (see the module docs)."""

_Length = Callable[[int, bool], int]  # (length, is_last_transformed_axis) -> length


def _same(n: int, last: bool) -> int:
    return n


def _half_spectrum(n: int, last: bool) -> int:
    return n // 2 + 1 if last else n


def _full_from_half(n: int, last: bool) -> int:
    return 2 * (n - 1) if last else n


def _position(op: str, a: NamedArray, selector: Any) -> int:
    """The position of the axis `selector` names; an `Axis` selects by name only."""
    if not isinstance(selector, (str, Axis)):
        raise TypeError(
            f"{op}: each transformed axis must be a name or an Axis, got "
            f"{type(selector).__name__}: {selector!r}."
        )
    name = selector.name if isinstance(selector, Axis) else selector
    return a.axes.index(resolve_axis(a.axes, name, op))


def _requested(op: str, a: NamedArray, axis: FFTAxisSpec) -> list[tuple[int, AxisSizeLike]]:
    """`(position, requested length)` per transformed axis, in transform order."""
    if axis is None:
        if not a.axes:
            raise ValueError(f"{op}: the array has no axes to transform ({format_axes(a.axes)}).")
        return [(a.ndim - 1, None)]
    if isinstance(axis, Axis):
        return [(_position(op, a, axis), axis)]
    if isinstance(axis, str):
        return [(_position(op, a, axis), None)]
    pairs: list[tuple[int, AxisSizeLike]]
    if isinstance(axis, Mapping):
        pairs = [(_position(op, a, key), size) for key, size in axis.items()]
    elif isinstance(axis, Sequence):
        pairs = [(_position(op, a, key), None) for key in axis]
    else:
        raise TypeError(
            f"{op}: axis must be None, a name, an Axis, a sequence of names or a "
            f"{{name: None | int | Axis}} mapping, got {type(axis).__name__}: {axis!r}."
        )
    positions = [p for p, _ in pairs]
    if len(set(positions)) != len(positions):
        raise ValueError(f"{op}: axis {axis!r} names an axis of {format_axes(a.axes)} twice.")
    if not pairs:
        raise ValueError(f"{op}: axis {axis!r} names no axis; name at least one.")
    return pairs


def _plan(
    op: str, a: NamedArray, axis: FFTAxisSpec, n_default: _Length, out_length: _Length
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[Axis, ...]]:
    """Positions, transform lengths and output axes for one call."""
    pairs = _requested(op, a, axis)
    out_axes, lengths = list(a.axes), []
    for i, (pos, size) in enumerate(pairs):
        last, old = i == len(pairs) - 1, a.axes[pos]
        if isinstance(size, Axis):
            n, name = size.size, size.name
        elif size is None:
            n, name = n_default(old.size, last), old.name
        elif isinstance(size, int) and not isinstance(size, bool) and size > 0:
            n, name = size, old.name
        else:
            raise TypeError(
                f"{op}: the length of axis {old.name!r} must be None, a positive int or an "
                f"Axis, got {type(size).__name__}: {size!r}."
            )
        lengths.append(n)
        out_axes[pos] = Axis(name, out_length(n, last))
    return tuple(p for p, _ in pairs), tuple(lengths), tuple(out_axes)


class _Transform(Protocol):  # the static type of every `_transform`-built function
    def __call__(
        self, a: NamedArray, axis: FFTAxisSpec = None, norm: str | None = None
    ) -> NamedArray: ...


class _Shift(Protocol):  # the static type of `fftshift` and `ifftshift`
    def __call__(self, x: NamedArray, axes: AxisSelection | None = None) -> NamedArray: ...


def _transform(
    name: str, one: Callable, many: Callable | None, n_default: _Length, out_length: _Length
) -> _Transform:
    """A named transform over `jax.numpy.fft.<name>` (one axis) and its `n`-d form `many`."""

    def transform(a: NamedArray, axis: FFTAxisSpec = None, norm: str | None = None) -> NamedArray:
        check_named(name, a, "a")
        positions, lengths, out_axes = _plan(name, a, axis, n_default, out_length)
        if len(positions) == 1:
            out = one(a.array, n=lengths[0], axis=positions[0], norm=norm)
        elif many is None:
            raise ValueError(
                f"{name}: transforms one axis only, got {len(positions)} axes "
                f"({', '.join(repr(a.axes[p].name) for p in positions)}) of "
                f"{format_axes(a.axes)}. Call it once per axis."
            )
        else:
            out = many(a.array, s=lengths, axes=positions, norm=norm)
        return _wrap(out, out_axes)

    transform.__name__ = transform.__qualname__ = name
    transform.__doc__ = (
        f"Named `jax.numpy.fft.{name}` along the axes `axis` selects (see `namedax.ops._fft`)."
        "\n\n    Args:\n        a: The NamedArray to transform.\n        axis: `None` (the last"
        " axis), a name, an `Axis` (transform length and output axis), a sequence of names,\n"
        "            or a `{name: None | int | Axis}` mapping.\n        norm: As in"
        " `jax.numpy.fft`.\n\n    Raises:\n        ValueError: An axis is missing or named twice"
        ".\n        TypeError: `a` is not a NamedArray, or `axis` has the wrong kind.\n"
    )
    return transform


fft = _transform("fft", jfft.fft, jfft.fftn, _same, _same)
ifft = _transform("ifft", jfft.ifft, jfft.ifftn, _same, _same)
rfft = _transform("rfft", jfft.rfft, jfft.rfftn, _same, _half_spectrum)
irfft = _transform("irfft", jfft.irfft, jfft.irfftn, _full_from_half, _same)
hfft = _transform("hfft", jfft.hfft, None, _full_from_half, _same)
ihfft = _transform("ihfft", jfft.ihfft, None, _same, _half_spectrum)


def _shift(name: str, fn: Callable) -> _Shift:
    def shift(x: NamedArray, axes: AxisSelection | None = None) -> NamedArray:
        check_named(name, x, "x")
        positions = None if axes is None else axis_positions(x.axes, axes, name)
        return _wrap(fn(x.array, axes=positions), x.axes)

    shift.__name__ = shift.__qualname__ = name
    shift.__doc__ = (
        f"Named `jax.numpy.fft.{name}` over the axes `axes` selects (all axes if `None`)."
    )
    return shift


fftshift = _shift("fftshift", jfft.fftshift)
ifftshift = _shift("ifftshift", jfft.ifftshift)


def fftfreq(axis: Axis, d: float = 1.0) -> NamedArray:
    """The sample frequencies of an `fft` along `axis` (`jax.numpy.fft.fftfreq`).

    Examples:
        >>> nx.fftfreq(Axis("n", 4)).array.tolist()
        [0.0, 0.25, -0.5, -0.25]
    """
    if not isinstance(axis, Axis):
        raise TypeError(f"fftfreq: axis must be an Axis (it gives the length), got {axis!r}.")
    return _wrap(jfft.fftfreq(axis.size, d), (axis,))


def rfftfreq(axis: Axis, d: float = 1.0) -> NamedArray:
    """The sample frequencies of an `rfft` along `axis`: `axis.size // 2 + 1` of them.

    Examples:
        >>> nx.rfftfreq(Axis("n", 4)).shape
        {'n': 3}
    """
    if not isinstance(axis, Axis):
        raise TypeError(f"rfftfreq: axis must be an Axis (it gives the length), got {axis!r}.")
    return _wrap(jfft.rfftfreq(axis.size, d), (axis.resize(axis.size // 2 + 1),))
