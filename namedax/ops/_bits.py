"""Named bit packing: `packbits` and `unpackbits` along one named axis.

`packbits` packs eight entries of the axis into one `uint8` (the axis shrinks to
`ceil(n / 8)`); `unpackbits` spreads each `uint8` into eight bits (the axis grows to
`8 * n`, or to `count`). The axis keeps its name and position.

Examples:
    >>> bits = named(jnp.array([1, 0, 1, 1, 0, 0, 0, 1, 1], dtype=jnp.uint8), "b")
    >>> packed = nx.packbits(bits, "b")
    >>> packed.axes, packed.array
    ((Axis(name='b', size=2),), Array([177, 128], dtype=uint8))
    >>> nx.unpackbits(packed, "b", count=9).array.tolist()
    [1, 0, 1, 1, 0, 0, 0, 1, 1]
"""

from __future__ import annotations

import operator
from typing import Any, Literal

import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap, check_named
from namedax.core._axes import Axis, AxisSelector, axis_positions
from namedax.core._errors import describe

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py

BitOrder = Literal["big", "little"]


def _resized(a: NamedArray, position: int, size: int) -> tuple[Axis, ...]:
    axes = list(a.axes)
    axes[position] = axes[position].resize(size)
    return tuple(axes)


def _one_axis(op: str, a: NamedArray, axis: AxisSelector, bitorder: Any) -> int:
    """Checks the arguments every bit op shares; the position of `axis` in `a`."""
    check_named(op, a, "a")
    if not isinstance(axis, (str, Axis)):
        raise TypeError(
            f"{op}: axis must be one axis name or Axis, got {describe(axis)}. To work on "
            "several axes, nx.flatten_axes them into one first."
        )
    if bitorder not in ("big", "little"):
        raise ValueError(f"{op}: bitorder must be 'big' or 'little', got {bitorder!r}.")
    (position,) = axis_positions(a.axes, axis, op)
    return position


def packbits(a: NamedArray, axis: AxisSelector, *, bitorder: BitOrder = "big") -> NamedArray:
    """Named version of `jax.numpy.packbits`: packs eight entries of `axis` into a byte.

    Args:
        a: A NamedArray of integers or booleans (nonzero is a 1 bit).
        axis: The axis to pack along.
        bitorder: `"big"` puts the first entry in the highest bit, `"little"` in the lowest.

    Returns:
        A `uint8` NamedArray with the axes of `a`; `axis` shrinks to `ceil(n / 8)`
        (the last byte is padded with zero bits).

    Raises:
        ValueError: If `axis` is not an axis of `a`, or `bitorder` is neither
            `"big"` nor `"little"`.
        TypeError: If `a` is not a NamedArray of integers or booleans, or `axis` is not
            a single axis.

    Examples:
        >>> x = named(jnp.array([[1, 1], [0, 1]], dtype=jnp.uint8), ("b", "c"))
        >>> nx.packbits(x, "b", bitorder="little").array.tolist()
        [[1, 3]]
    """
    position = _one_axis("packbits", a, axis, bitorder)
    if not (jnp.issubdtype(a.dtype, jnp.integer) or jnp.issubdtype(a.dtype, jnp.bool_)):
        raise TypeError(
            f"packbits: a must hold integers or booleans, got dtype {a.dtype} for "
            f"{describe(a)}. Turn values into bits first, e.g. `a > 0`."
        )
    packed = jnp.packbits(a.array, axis=position, bitorder=bitorder)
    return _wrap(packed, _resized(a, position, packed.shape[position]))


def unpackbits(
    a: NamedArray,
    axis: AxisSelector,
    *,
    count: int | None = None,
    bitorder: BitOrder = "big",
) -> NamedArray:
    """Named version of `jax.numpy.unpackbits`: spreads each byte of `axis` into 8 bits.

    Args:
        a: A `uint8` NamedArray.
        axis: The axis to unpack along.
        count: Keep only the first `count` bits along `axis` (negative: drop that many
            from the end; more than `8 * n`: pad with zeros), as in `jax.numpy`.
        bitorder: `"big"` reads the highest bit first, `"little"` the lowest.

    Returns:
        A `uint8` NamedArray of 0/1 with the axes of `a`; `axis` grows to `8 * n`
        (or to the length `count` gives).

    Raises:
        ValueError: If `axis` is not an axis of `a`, or `bitorder` is neither
            `"big"` nor `"little"`.
        TypeError: If `a` is not a `uint8` NamedArray, `axis` is not a single axis, or
            `count` is not an int.

    Examples:
        >>> x = named(jnp.array([5], dtype=jnp.uint8), "b")
        >>> nx.unpackbits(x, "b").array.tolist()
        [0, 0, 0, 0, 0, 1, 0, 1]
    """
    position = _one_axis("unpackbits", a, axis, bitorder)
    if a.dtype != jnp.uint8:
        raise TypeError(
            f"unpackbits: a must hold bytes (uint8), got dtype {a.dtype} for {describe(a)}. "
            "Cast with a.astype(jnp.uint8) if the values are bytes."
        )
    if count is not None:
        if isinstance(count, bool):
            raise TypeError(f"unpackbits: count must be an int or None, got {count!r}.")
        try:
            count = operator.index(count)
        except TypeError:
            raise TypeError(
                f"unpackbits: count must be an int or None (a static Python int), got "
                f"{describe(count)}."
            ) from None
    unpacked = jnp.unpackbits(a.array, axis=position, count=count, bitorder=bitorder)
    return _wrap(unpacked, _resized(a, position, unpacked.shape[position]))
