"""Pooling over named window axes: `max_pool`, `min_pool`, `mean_pool` and the general `pool`.

The window is given as sized axes: `Axis("h", 2)` pools windows of two along the input's
`h` axis. Every other input axis is left alone (a window of one), so batch and channel
axes may sit anywhere. The result keeps the input's axes and order; each window axis
takes the pooled size. Computed with `jax.lax.reduce_window`, so max, min and sum
pooling have gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import AxisSpec, sized_axes
from namedax.core._errors import describe, format_axes

from ._conv import _int_tuple

__all__ = ["Padding", "max_pool", "mean_pool", "min_pool", "pool"]

Padding: TypeAlias = Literal["SAME", "VALID"] | str | int | Sequence[Any]
"""A pooling padding: `"SAME"`, `"VALID"`, one int for both sides of every window axis,
or one int or `(low, high)` pair per window axis."""

DEFAULT_PADDING: Literal["VALID"] = "VALID"


def _identity(reduce_fn: Callable[..., Any], dtype: Any) -> Any:
    """The identity of max/min/add for `dtype`, or None for another reduction."""
    dtype = np.dtype(dtype)
    if reduce_fn is jax.lax.add:
        return np.zeros((), dtype)
    if reduce_fn in (jax.lax.max, jax.lax.min):
        big = reduce_fn is jax.lax.min
        if dtype == np.bool_:
            return np.asarray(big)
        if jnp.issubdtype(dtype, jnp.integer):
            info = jnp.iinfo(dtype)
            return np.asarray(info.max if big else info.min, dtype)
        return np.asarray(np.inf if big else -np.inf, dtype)
    return None


def _lax_reducer(reduce_fn: Callable[..., Any]) -> Callable[..., Any]:
    """namedax's (and jnp's) max/min/sum/prod reductions as the binary lax ops."""
    from namedax.ops import _reductions as r

    table = {
        jax.lax.max: jax.lax.max,
        jax.lax.min: jax.lax.min,
        jax.lax.add: jax.lax.add,
        jax.lax.mul: jax.lax.mul,
        jnp.max: jax.lax.max,
        jnp.maximum: jax.lax.max,
        jnp.min: jax.lax.min,
        jnp.minimum: jax.lax.min,
        jnp.sum: jax.lax.add,
        jnp.add: jax.lax.add,
        jnp.prod: jax.lax.mul,
        jnp.multiply: jax.lax.mul,
    }
    for name, op in (("max", jax.lax.max), ("min", jax.lax.min), ("sum", jax.lax.add)):
        fn = getattr(r, name, None)
        if fn is not None:
            table[fn] = op
    if getattr(r, "prod", None) is not None:
        table[r.prod] = jax.lax.mul
    try:
        return table.get(reduce_fn, reduce_fn)
    except TypeError:  # unhashable callable
        return reduce_fn


def _resolve(
    op: str,
    Window: AxisSpec,
    inputs: Any,
    stride: int | Sequence[int] | None,
    padding: Padding,
    use_ceil: bool,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...], list[int]]:
    """Per input dimension: window sizes, strides and explicit padding; the window dims."""
    if not isinstance(inputs, NamedArray):
        raise TypeError(f"{op}: inputs must be a NamedArray, got {describe(inputs)}.")
    window = sized_axes(Window, op)
    if not window:
        raise ValueError(f"{op}: Window must hold at least one sized axis, got {Window!r}.")
    names = [a.name for a in window]
    if len(set(names)) != len(names):
        raise ValueError(f"{op}: Window {format_axes(window)} repeats an axis name.")
    positions = []
    for a in window:
        if a.name not in inputs.axis_names:
            raise ValueError(
                f"{op}: the input {format_axes(inputs.axes)} has no axis {a.name!r} to pool "
                f"over (Window {format_axes(window)})."
            )
        if a.size < 1:
            raise ValueError(f"{op}: the window size of {a.name!r} must be >= 1, got {a.size}.")
        positions.append(inputs.axis_names.index(a.name))
    n = len(window)
    strides = (1,) * n if stride is None else _int_tuple(op, "stride", stride, n, 1)
    sizes = [inputs.shape[a.name] for a in window]
    kernel = [a.size for a in window]

    if isinstance(padding, str):
        mode = padding.upper()
        if mode not in ("SAME", "VALID"):
            raise ValueError(
                f"{op}: padding={padding!r} must be 'SAME', 'VALID', an int, or one int or "
                "(low, high) pair per window axis."
            )
        pads = [
            (int(lo), int(hi)) for lo, hi in jax.lax.padtype_to_pads(sizes, kernel, strides, mode)
        ]
        ceil_applies = mode == "VALID"
    else:
        from ._conv import _padding

        pairs = _padding(op, padding, n)
        assert not isinstance(pairs, str)
        pads = list(pairs)
        ceil_applies = True
    if use_ceil and ceil_applies:
        # Ceil mode keeps a last, partial window: extend the high side to reach it.
        for i, (size, k, s) in enumerate(zip(sizes, kernel, strides, strict=True)):
            lo, hi = pads[i]
            if (size + lo + hi - k) % s:
                pads[i] = (lo, hi + s - (size + lo + hi - k) % s)
    for a, size, (lo, hi), s in zip(window, sizes, pads, strides, strict=True):
        if (size + lo + hi - a.size) // s + 1 < 1:
            raise ValueError(
                f"{op}: the window {a} does not fit the input's axis {a.name!r} of size {size} "
                f"with padding ({lo}, {hi}). Use a smaller window or more padding."
            )
    dims, steps, full = [1] * inputs.ndim, [1] * inputs.ndim, [(0, 0)] * inputs.ndim
    for p, k, s, pad in zip(positions, kernel, strides, pads, strict=True):
        dims[p], steps[p], full[p] = k, s, pad
    return tuple(dims), tuple(steps), tuple(full), positions


def _reduce(
    x: jax.Array, init: Any, reducer: Callable[..., Any], dims: Any, steps: Any, pads: Any
) -> jax.Array:
    return jax.lax.reduce_window(x, init, reducer, dims, steps, pads)


def _named_result(inputs: NamedArray, out: jax.Array, positions: list[int]) -> NamedArray:
    axes = tuple(a.resize(out.shape[i]) if i in positions else a for i, a in enumerate(inputs.axes))
    return _wrap(out, axes)


def pool(
    Window: AxisSpec,
    inputs: NamedArray,
    init: Any,
    reduce_fn: Callable[..., Any],
    stride: int | Sequence[int] | None = None,
    padding: Padding = DEFAULT_PADDING,
    use_ceil: bool = False,
) -> NamedArray:
    """Reduces every window of `inputs` with a binary `reduce_fn`, starting from `init`.

    Args:
        Window: The window as sized axes (each names an input axis and gives the
            window's extent along it), or a `{name: size}` dict.
        inputs: The input; axes outside `Window` are pooled with a window of one.
        init: The reduction's starting value, also the value of padded positions.
        reduce_fn: A binary function `(a, b) -> c` such as `jax.lax.max`; namedax's and
            jnp's `max`, `min`, `sum` and `prod` are taken as the matching lax ops.
        stride: The step between windows: one int, one per window axis, or None for 1.
        padding: `"VALID"` (no padding), `"SAME"` (output size `ceil(size / stride)`),
            an int for both sides of every window axis, or one int or `(low, high)` pair
            per window axis.
        use_ceil: Keep a last, partial window where the windows do not tile the padded
            axis (its size rounds up instead of down). No effect with `"SAME"`.

    Returns:
        The input's axes, in order, each window axis of the pooled size.

    Raises:
        TypeError: If `inputs` is not a NamedArray or `Window` has a bare name.
        ValueError: If a window axis is not in `inputs`, an argument has the wrong
            number of entries, or a window does not fit its padded axis.

    Examples:
        >>> from namedax.nn._pool import pool  # `haliax.nn.pool.pool`
        >>> X = Axis("x", 6)
        >>> x = nx.named(jnp.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0]), X)
        >>> pool(X.resize(3), x, 0.0, jax.lax.add, stride=3).array
        Array([ 8., 15.], dtype=float32)
    """
    op = "pool"
    dims, steps, pads, positions = _resolve(op, Window, inputs, stride, padding, use_ceil)
    reducer = _lax_reducer(reduce_fn)
    init = jnp.asarray(init, inputs.dtype)
    out = _reduce(inputs.array, init, reducer, dims, steps, pads)
    return _named_result(inputs, out, positions)


def _monoid_pool(
    op: str,
    reducer: Callable[..., Any],
    Window: AxisSpec,
    inputs: NamedArray,
    stride: int | Sequence[int] | None,
    padding: Padding,
    use_ceil: bool,
) -> NamedArray:
    dims, steps, pads, positions = _resolve(op, Window, inputs, stride, padding, use_ceil)
    out = _reduce(inputs.array, _identity(reducer, inputs.dtype), reducer, dims, steps, pads)
    return _named_result(inputs, out, positions)


def max_pool(
    Window: AxisSpec,
    inputs: NamedArray,
    stride: int | Sequence[int] | None = None,
    padding: Padding = DEFAULT_PADDING,
    use_ceil: bool = False,
) -> NamedArray:
    """The maximum of every window (padding never wins: it counts as the dtype's lowest value).

    Args:
        Window: The window as sized axes, or a `{name: size}` dict.
        inputs: The input; other axes pass through.
        stride: The step between windows: one int, one per window axis, or None for 1.
        padding: `"VALID"`, `"SAME"`, an int, or one int or `(low, high)` pair per
            window axis.
        use_ceil: Keep a last, partial window (output sizes round up).

    Returns:
        The input's axes, each window axis of the pooled size.

    Raises:
        TypeError: If `inputs` is not a NamedArray.
        ValueError: As for `pool`.

    Examples:
        >>> H, W = Axis("h", 4), Axis("w", 4)
        >>> x = nx.named(jnp.arange(16.0).reshape(4, 4), (H, W))
        >>> nx.nn.max_pool((H.resize(2), W.resize(2)), x, stride=2).array
        Array([[ 5.,  7.],
               [13., 15.]], dtype=float32)
    """
    return _monoid_pool("max_pool", jax.lax.max, Window, inputs, stride, padding, use_ceil)


def min_pool(
    Window: AxisSpec,
    inputs: NamedArray,
    stride: int | Sequence[int] | None = None,
    padding: Padding = DEFAULT_PADDING,
    use_ceil: bool = False,
) -> NamedArray:
    """The minimum of every window (padding counts as the dtype's highest value).

    Args:
        Window: The window as sized axes, or a `{name: size}` dict.
        inputs: The input; other axes pass through.
        stride: The step between windows: one int, one per window axis, or None for 1.
        padding: `"VALID"`, `"SAME"`, an int, or one int or `(low, high)` pair per
            window axis.
        use_ceil: Keep a last, partial window (output sizes round up).

    Returns:
        The input's axes, each window axis of the pooled size.

    Raises:
        TypeError: If `inputs` is not a NamedArray.
        ValueError: As for `pool`.

    Examples:
        >>> T = Axis("time", 5)
        >>> x = nx.named(jnp.array([4, 2, 7, 1, 3]), T)
        >>> nx.nn.min_pool(T.resize(2), x).array
        Array([2, 2, 1, 1], dtype=int32)
    """
    return _monoid_pool("min_pool", jax.lax.min, Window, inputs, stride, padding, use_ceil)


def mean_pool(
    Window: AxisSpec,
    inputs: NamedArray,
    stride: int | Sequence[int] | None = None,
    padding: Padding = DEFAULT_PADDING,
    *,
    use_ceil: bool = False,
    count_include_pad: bool = False,
) -> NamedArray:
    """The mean of every window (a floating-point result, also for integer inputs).

    Args:
        Window: The window as sized axes, or a `{name: size}` dict.
        inputs: The input; other axes pass through.
        stride: The step between windows: one int, one per window axis, or None for 1.
        padding: `"VALID"`, `"SAME"`, an int, or one int or `(low, high)` pair per
            window axis.
        use_ceil: Keep a last, partial window (output sizes round up).
        count_include_pad: Divide every window's sum by the full window size (padded
            positions count as zeros) instead of by the number of input positions in it.

    Returns:
        The input's axes, each window axis of the pooled size.

    Raises:
        TypeError: If `inputs` is not a NamedArray.
        ValueError: As for `pool`.

    Examples:
        >>> T = Axis("time", 5)
        >>> x = nx.named(jnp.array([1.0, 2.0, 3.0, 4.0, 5.0]), T)
        >>> nx.nn.mean_pool(T.resize(2), x, stride=2, padding="SAME").array
        Array([1.5, 3.5, 5. ], dtype=float32)
        >>> nx.nn.mean_pool(T.resize(2), x, stride=2, padding="SAME",
        ...                 count_include_pad=True).array
        Array([1.5, 3.5, 2.5], dtype=float32)
    """
    op = "mean_pool"
    dims, steps, pads, positions = _resolve(op, Window, inputs, stride, padding, use_ceil)
    x = inputs.array
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    sums = _reduce(x, _identity(jax.lax.add, x.dtype), jax.lax.add, dims, steps, pads)
    if count_include_pad:
        # An array divisor, not a scalar: XLA turns division by a scalar into a
        # multiplication by its reciprocal, which is not correctly rounded.
        size = int(np.prod([dims[p] for p in positions]))
        out = sums / jnp.full(sums.shape, size, sums.dtype)
    else:
        # The number of real (unpadded) positions in each window: pool ones over the
        # window dimensions only, then broadcast over the others.
        shape = [x.shape[i] if i in positions else 1 for i in range(x.ndim)]
        ones = jnp.ones(shape, x.dtype)
        counts = _reduce(ones, _identity(jax.lax.add, x.dtype), jax.lax.add, dims, steps, pads)
        out = sums / counts
    return _named_result(inputs, out, positions)
