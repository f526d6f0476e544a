"""Indexing by axis name: `x[{"batch": 0}]`, `x.at[...]`, `take`, `slice`, `updated_slice`.

An index names the axes it touches; every other axis is kept whole. Per axis:

* an **int** (a Python int, or a 0-d integer array, which may be traced) selects one
  position and drops the axis. Static ints are range-checked; negative ones count
  from the end.
* a static **slice** keeps the axis, with its new size (NumPy's rules for negative
  bounds and steps).
* **`ds(start, size)`** (`dslice`) keeps `size` positions from `start`.

One rule places every start, whatever the path (`x[...]`, `x.at[...]` get and
updates, `take`, `slice`, `updated_slice`): a negative start counts from the end
(`-1` is the last position). A static start must then fit (a `ValueError`
otherwise); a traced start, whose value is unknown at trace time, is clamped so
that the window fits, as `lax.dynamic_slice` does. A traced int index is a window
of size 1 under the same rule, so a read and a write with the same index always
touch the same elements. (Index *arrays* follow JAX's own rules and `mode=`.)
  An explicit `mode=` (on `x.at[...]` and `take`) replaces this rule by JAX's: the
  index reaches JAX unclamped, so `"drop"` drops an out-of-range write, `"fill"` reads
  `fill_value`, and `"clip"` clips, traced or static. A window `ds(start, size)` is
  then the positions `start, ..., start + size - 1` (a negative start counting from
  the end once), each in or out of range by itself. An index of any integer dtype
  works, however long the axis (narrow ones are widened first).
* a **NamedArray of ints** is an *advanced* index: its axes take the place of the
  indexed axis. A list of ints or a 1-D integer array is shorthand for a NamedArray
  whose one axis has the name of the axis it indexes; a 1-D *array* whose length is
  also the size of another axis that the indexing keeps is refused (a `ValueError`)
  as ambiguous, since axes are never paired by position or size: name its axis.
  Several advanced indices broadcast together by name. An index axis may reuse the
  name of an axis that the indexing removes; an index axis named like an axis the
  array *keeps* selects along it element by element (as `jnp.take_along_axis`
  does), so `logits[{"vocab": labels}]` picks one entry per `batch` when `labels`
  has a `batch` axis.

The result's axis order is Haliax's. The broadcast index axes are those of the
largest index (by element count), preceded by the axes each smaller one adds,
largest first; a kept axis named by an index counts as a 1-D index of itself.
Where advanced indices (with any ints used alongside them) sit on adjacent axes,
these axes are spliced in at that place; otherwise they come first, as in NumPy.
`take` has its own order (see there).

Each call lowers to one positional operation: `lax.slice` for static ints and
slices, `lax.dynamic_slice` when a start is traced, or a single gather (`jax.numpy`
indexing) for advanced indices, followed at most by a reshape that drops the
indexed-away axes (and, for `take`, a transpose into its order).

Examples:
    >>> x = named(jnp.arange(12).reshape(3, 4), ("row", "col"))
    >>> x["row", 1].array
    Array([4, 5, 6, 7], dtype=int32)
    >>> x["row", 2, "col", ::2].array
    Array([ 8, 10], dtype=int32)
    >>> pick = named(jnp.array([3, 0]), "k")
    >>> x["col", pick].shape
    {'row': 3, 'k': 2}
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import Tracer

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSelector, check_unique_names, resolve_axis
from namedax.core._broadcast import align_array, is_scalar_like, pair_result_axes
from namedax.core._errors import describe, format_axes
from namedax.ops._out_sharding import out_sharding, sharding_errors

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py

_builtin_slice = builtins.slice

# What an index does to one axis (the first element of an entry tuple).
_KEEP, _INT, _SLICE, _DS, _ARRAY = "keep", "int", "slice", "ds", "array"

_POSITIONS: dict[tuple[tuple[Axis, ...], AxisSelector], int] = {}

# An explicit `mode=`: JAX's mode and whether negative indices wrap; None for namedax's rule.
_Mode = tuple[lax.GatherScatterMode, bool] | None
_IN_BOUNDS = lax.GatherScatterMode.PROMISE_IN_BOUNDS


class dslice:
    """A window of static `size` starting at `start`, which may be traced.

    Use it where a slice's start is only known at run time (a loop counter inside
    `jit`), which a Python slice cannot express. `ds` is a short alias.

    Args:
        start: The first position: an int or a 0-d integer array (traced is fine). A
            negative start counts from the end; see the module documentation.
        size: The static number of positions, or an `Axis`, whose size is taken.

    Raises:
        TypeError: If `size` is not a static int or `start` is not an integer.
        ValueError: If `size` is negative.

    Examples:
        >>> x = named(jnp.arange(10), "pos")
        >>> jax.jit(lambda x, i: x["pos", nx.ds(i, 3)])(x, 4).array
        Array([4, 5, 6], dtype=int32)
        >>> nx.ds.block(2, 3)
        dslice(6, 3)
        >>> x["pos", nx.ds(-3, Axis("last", 3))].array
        Array([7, 8, 9], dtype=int32)
    """

    __slots__ = ("size", "start")

    def __init__(self, start: Any, size: int | Axis):
        if isinstance(size, Axis):
            size = size.size
        try:
            size = operator.index(size)
        except TypeError:
            raise TypeError(
                f"dslice: size must be a static int (it fixes the result's shape), got "
                f"{describe(size)}. Only the start may be traced."
            ) from None
        if size < 0:
            raise ValueError(f"dslice: size must be >= 0, got {size}.")
        if _static_int(start) is None and not _is_int_scalar_array(start):
            raise TypeError(
                f"dslice: start must be an int or a 0-d integer array, got {describe(start)}."
            )
        self.start = start
        self.size = size

    @classmethod
    def block(cls, index: Any, size: int) -> dslice:
        """The `index`-th block of `size` positions: `dslice(index * size, size)`."""
        return cls(index * size, size)

    def to_slice(self) -> builtins.slice:
        """The equivalent Python slice (the start must be static).

        Raises:
            TypeError: If the start is traced.
        """
        start = _static_int(self.start)
        if start is None:
            raise TypeError(
                f"{self!r}.to_slice(): the start is not static, so no Python slice exists."
            )
        return _builtin_slice(start, start + self.size)

    def __repr__(self) -> str:
        return f"dslice({self.start!r}, {self.size})"


ds = dslice


def dblock(idx: Any, size: int) -> dslice:
    """The `idx`-th block of `size` positions, `dslice(idx * size, size)`; `idx` may be traced.

    Examples:
        >>> x = named(jnp.arange(6), "pos")
        >>> x["pos", nx.dblock(1, 2)].array
        Array([2, 3], dtype=int32)
    """
    return dslice(idx * size, size)


# --- parsing an index ------------------------------------------------------------------------


def _static_int(x: Any) -> int | None:
    """`x` as a Python int if it is a static integer (not a bool), else None."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return int(x)
    if isinstance(x, np.ndarray) and x.shape == () and np.issubdtype(x.dtype, np.integer):
        return int(x)
    if (  # a concrete (not traced) 0-d integer jax.Array, e.g. returned by a jitted function
        isinstance(x, jax.Array)
        and not isinstance(x, Tracer)
        and x.shape == ()
        and jnp.issubdtype(x.dtype, jnp.integer)
    ):
        return int(x)
    return None


def _is_int_scalar_array(x: Any) -> bool:
    return isinstance(x, jax.Array) and x.shape == () and jnp.issubdtype(x.dtype, jnp.integer)


def _widened(index: Any) -> jax.Array:
    """A 0-d integer array as one at least 32 bits wide, which holds every axis position.

    An `int8` or `uint8` index cannot even hold the size of an axis of 300, which
    normalising and clamping compute with.
    """
    index = jnp.asarray(index)
    if index.dtype.itemsize < 4:
        return index.astype(jnp.int32)
    return index


def _gather_mode(mode: Any, op: str) -> lax.GatherScatterMode | None:
    """JAX's mode for an explicit `mode=` (None when not given: namedax's rule applies)."""
    if mode is None:
        return None
    try:
        return lax.GatherScatterMode.from_any(mode)
    except ValueError:
        raise ValueError(
            f"{op}: unknown mode {mode!r}; use 'clip', 'drop', 'fill' or 'promise_in_bounds'."
        ) from None


def normalized_start(start: Any, size: int, n: int) -> Any:
    """Where a window of `size` positions starting at `start` begins on an axis of size `n`.

    The one rule every indexing path uses: a negative start counts from the end. A
    static start comes back as an int, or None when the window does not fit (the
    caller raises its own error). A traced start is clamped so that the window fits
    (as `lax.dynamic_slice` does), since its value cannot be checked at trace time;
    it comes back as `int32` whatever its integer dtype, so that the starts of one
    `lax.dynamic_slice` agree.
    """
    static = _static_int(start)
    if static is not None:
        begin = static + n if static < 0 else static
        return begin if 0 <= begin <= n - size else None
    start = _widened(start)
    if jnp.issubdtype(start.dtype, jnp.unsignedinteger):  # never negative
        begin = jnp.minimum(start, jnp.asarray(n - size, start.dtype))
    else:
        begin = jnp.where(start < 0, start + jnp.asarray(n, start.dtype), start)
        begin = jnp.clip(begin, 0, n - size)
    return begin.astype(jnp.int32)  # one dtype for every start of a dynamic_slice


def _window_positions(
    start: Any, size: int, n: int, mode: lax.GatherScatterMode, wrap: bool
) -> Any:
    """The positions of a window under an explicit mode, each in or out of range by itself.

    A negative start counts from the end once (when `wrap`); a position still negative
    is out of range, so it is moved where JAX will not wrap it again: clipped to 0 for
    `"clip"`, past the end for `"drop"`/`"fill"`.
    """
    static = _static_int(start)
    if static is not None:
        begin = static + n if wrap and static < 0 else static
        positions: Any = np.arange(begin, begin + size, dtype=np.int64)
        if mode is lax.GatherScatterMode.CLIP:
            return np.clip(positions, 0, n - 1).astype(np.int32)
        return np.where(positions < 0, n, positions).astype(np.int32)
    start = _widened(start)
    begin = jnp.where(start < 0, start + jnp.asarray(n, start.dtype), start) if wrap else start
    positions = begin + jnp.arange(size, dtype=begin.dtype)
    if mode is lax.GatherScatterMode.CLIP:
        return jnp.clip(positions, 0, n - 1)
    return jnp.where(positions < 0, jnp.asarray(n, positions.dtype), positions)


def _as_mapping(a: NamedArray, key: Any, op: str) -> Mapping[Any, Any]:
    """The `{axis: index}` mapping that `key` (a dict or `name, index, ...` pairs) means."""
    if isinstance(key, Mapping):
        return key
    if type(key) is tuple and key and isinstance(key[0], (str, Axis)):
        if len(key) % 2 == 0 and builtins.all(isinstance(k, (str, Axis)) for k in key[::2]):
            pairs: dict[Any, Any] = {}
            for k, v in zip(key[::2], key[1::2]):
                if k in pairs:
                    raise ValueError(f"{op}: axis {_name(k)!r} is indexed twice in {key!r}.")
                pairs[k] = v
            return pairs
        raise TypeError(
            f"{op}: the shorthand index {key!r} must alternate axis names and indices, "
            f"e.g. x[{_name(key[0])!r}, 0] or x[{_name(key[0])!r}, 0, 'other', 1:3]."
        )
    if isinstance(key, (str, Axis)):
        raise TypeError(
            f"{op}: axis {_name(key)!r} is named without an index. Write x[{_name(key)!r}, i] "
            f"or x[{{{_name(key)!r}: i}}]."
        )
    example = repr(a.axes[0].name) if a.axes else "'axis'"
    raise TypeError(
        f"{op}: a NamedArray{format_axes(a.axes)} cannot be indexed by position (got "
        f"{key!r}). Index by axis name instead: x[{{{example}: 0}}] or x[{example}, 0]."
    )


def _name(key: Any) -> Any:
    return key.name if isinstance(key, Axis) else key


def _position(axes: tuple[Axis, ...], key: Any, op: str) -> int:
    try:
        return _POSITIONS[(axes, key)]
    except KeyError:
        pass
    except TypeError:  # unhashable key
        raise TypeError(
            f"{op}: index keys must be axis names or Axis objects, got {describe(key)}."
        ) from None
    if not isinstance(key, (str, Axis)):
        raise TypeError(
            f"{op}: index keys must be axis names or Axis objects, got {describe(key)}."
        )
    position = axes.index(resolve_axis(axes, key, op))
    _POSITIONS[(axes, key)] = position
    return position


def _classify(
    a: NamedArray, ax: Axis, value: Any, op: str, mode: _Mode = None
) -> tuple[str, Any, Axis | None]:
    """One entry `(kind, positional value, kept axis)` for indexing axis `ax` with `value`.

    With an explicit `mode` (a `(GatherScatterMode, wrap_negative_indices)` pair), an
    int reaches JAX as it is, so that JAX applies the mode to it.
    """
    n = ax.size
    i = _static_int(value)
    if i is not None:
        if mode is not None and mode[0] is not _IN_BOUNDS:
            return _INT, i, None  # JAX applies the mode, and wraps negatives unless told not to
        begin = normalized_start(i, 1, n)
        if begin is None:
            raise ValueError(
                f"{op}: index {i} is out of range for axis {ax.name!r} of size {n} (array "
                f"{format_axes(a.axes)}). Valid indices are {-n} to {n - 1}."
            )
        return _INT, begin, None
    if isinstance(value, _builtin_slice):
        return _classify_slice(a, ax, value, op)
    if isinstance(value, dslice):
        return _classify_dslice(a, ax, value, op, mode)
    if isinstance(value, NamedArray):
        _check_int_dtype(value.dtype, ax, op)
        return _ARRAY, value, None
    if isinstance(value, (list, tuple, np.ndarray, jax.Array)):
        return _classify_plain_array(a, ax, value, op, mode)
    raise TypeError(
        f"{op}: cannot index axis {ax.name!r} with {describe(value)}. Use an int, a slice, "
        "namedax.ds(start, size), or a NamedArray of ints."
    )


def _classify_slice(a: NamedArray, ax: Axis, s: builtins.slice, op: str) -> tuple[str, Any, Axis]:
    for bound in (s.start, s.stop, s.step):
        if bound is not None and _static_int(bound) is None:
            raise TypeError(
                f"{op}: the slice {s} on axis {ax.name!r} has a non-static bound "
                f"({describe(bound)}). Slice bounds fix the result's shape, so they must be "
                "ints; for a traced start use namedax.ds(start, size)."
            )
    if s.step is not None and int(s.step) == 0:
        raise ValueError(f"{op}: the slice {s} on axis {ax.name!r} has step 0.")
    size = len(range(*s.indices(ax.size)))
    return _SLICE, s, Axis(ax.name, size)


def _classify_dslice(
    a: NamedArray, ax: Axis, d: dslice, op: str, mode: _Mode = None
) -> tuple[str, Any, Axis | None]:
    n = ax.size
    if mode is not None and mode[0] is not _IN_BOUNDS:
        fits = normalized_start(d.start, d.size, n) if mode[1] else None
        if isinstance(fits, int):
            return _SLICE, _builtin_slice(fits, fits + d.size), Axis(ax.name, d.size)
        positions = _window_positions(d.start, d.size, n, mode[0], mode[1])
        return _ARRAY, _wrap(positions, (Axis(ax.name, d.size),)), None
    if d.size > n:
        raise ValueError(
            f"{op}: {d!r} is larger than axis {ax.name!r} of size {n} (array "
            f"{format_axes(a.axes)})."
        )
    start = normalized_start(d.start, d.size, n)
    if start is None:
        raise ValueError(
            f"{op}: {d!r} does not fit in axis {ax.name!r} of size {n} (array "
            f"{format_axes(a.axes)}): {_fitting_starts(n, d.size)}."
        )
    if isinstance(start, int):
        return _SLICE, _builtin_slice(start, start + d.size), Axis(ax.name, d.size)
    return _DS, start, Axis(ax.name, d.size)


def _fitting_starts(n: int, size: int) -> str:
    """The static starts a window of `size` may have on an axis of size `n`, in words."""
    return (
        f"a static start must lie in 0 to {n - size}, or in {-n} to {-size} to count from the end"
    )


def _classify_plain_array(
    a: NamedArray, ax: Axis, value: Any, op: str, mode: _Mode = None
) -> tuple[str, Any, None]:
    array = jnp.asarray(value) if not isinstance(value, jax.Array) else value
    if array.ndim == 1 and array.size == 0 and not isinstance(value, jax.Array):
        array = array.astype(jnp.int32)  # an empty list
    _check_int_dtype(array.dtype, ax, op)
    if array.ndim == 0:
        if mode is not None:  # JAX applies the mode (and wraps negatives itself)
            return _INT, _widened(array), None
        return _INT, normalized_start(array, 1, ax.size), None
    if array.ndim > 1:
        raise TypeError(
            f"{op}: the index for axis {ax.name!r} is a plain {describe(value)}; only 1-D plain "
            "indices are named after the axis they index. Wrap it with "
            "namedax.named(array, axes) to name its axes."
        )
    return _ARRAY, _wrap(array, (Axis(ax.name, array.shape[0]),)), None


def _check_int_dtype(dtype: Any, ax: Axis, op: str) -> None:
    if jnp.issubdtype(dtype, jnp.integer):
        return
    hint = " Boolean masks are not supported; use namedax.where." if dtype == jnp.bool_ else ""
    raise TypeError(
        f"{op}: the index for axis {ax.name!r} has dtype {dtype}; it must be integer.{hint}"
    )


# --- planning: entries per position -> one positional operation --------------------------------


def _entries(
    a: NamedArray, indices: Mapping[Any, Any], op: str, mode: _Mode = None
) -> list[tuple[str, Any, Any]]:
    entries: list[tuple[str, Any, Any]] = [(_KEEP, None, ax) for ax in a.axes]
    seen: set[int] = set()
    for key, value in indices.items():
        p = _position(a.axes, key, op)
        if p in seen:
            raise ValueError(f"{op}: axis {a.axes[p].name!r} is indexed twice.")
        seen.add(p)
        entries[p] = _classify(a, a.axes[p], value, op, mode)
    for key, value in indices.items():
        if isinstance(value, (np.ndarray, jax.Array)) and value.ndim == 1:
            _check_unpaired(a, entries, _position(a.axes, key, op), value, op)
    return entries


def _check_unpaired(
    a: NamedArray, entries: list[tuple[str, Any, Any]], p: int, value: Any, op: str
) -> None:
    """Refuses a plain 1-D index whose length matches an axis that the indexing keeps.

    Haliax pairs such an index with that axis by size; namedax never pairs by position
    or size, so the index must say what it means by its name.
    """
    n = value.shape[0]
    kept = [a.axes[q] for q, e in enumerate(entries) if q != p and e[0] in (_KEEP, _SLICE)]
    matching = [ax for ax in kept if ax.size == n]
    if not matching:
        return
    ax, other = a.axes[p], matching[0]
    raise ValueError(
        f"{op}: the index for axis {ax.name!r} is a plain {describe(value)} without axis "
        f"names, and the array {format_axes(a.axes)} keeps axis {other.name!r} of the same "
        f"size {n}, so its meaning is ambiguous (namedax does not pair axes by position or "
        f"size). Name its axis: namedax.named(index, {other.name!r}) picks one {ax.name!r} "
        f"entry per {other.name!r}; namedax.named(index, {ax.name!r}) keeps {n} entries of "
        f"{ax.name!r} for every {other.name!r}."
    )


def _plan(
    a: NamedArray,
    indices: Mapping[Any, Any],
    op: str,
    allow_dynamic: bool,
    mode: _Mode = None,
) -> tuple[str, Any, tuple[Axis, ...]]:
    """How to index: `(kind, positional index, result axes)`.

    `kind` is "static" (`lax.slice`), "dynamic" (`lax.dynamic_slice`) or "numpy" (a
    `jax.numpy` index tuple: one gather, or whatever jax.numpy lowers basic indices to).
    `mode` is JAX's mode and `wrap_negative_indices` for an explicit `mode=` (see
    `_classify`); the plan is then never "dynamic", which would clamp.
    """
    if mode is not None:
        allow_dynamic = False
    entries = _entries(a, indices, op, mode)
    kinds = [e[0] for e in entries]
    has_ds = _DS in kinds
    strided = builtins.any(k == _SLICE and _step(e[1]) != 1 for k, e in zip(kinds, entries))
    if _ARRAY in kinds or (has_ds and (strided or not allow_dynamic)):
        return _advanced_plan(a, entries, op)
    kept = tuple(e[2] for e in entries if e[0] != _INT)
    traced_int = builtins.any(k == _INT and not isinstance(v, int) for k, v, _ in entries)
    if has_ds or traced_int:
        if strided or not allow_dynamic:
            return "numpy", _numpy_index(entries), kept
        return "dynamic", entries, kept
    if builtins.any(k == _SLICE and _step(e[1]) < 0 for k, e in zip(kinds, entries)):
        return "numpy", _numpy_index(entries), kept
    return "static", entries, kept


def _step(s: builtins.slice) -> int:
    return 1 if s.step is None else int(s.step)


def _numpy_index(entries: list[tuple[str, Any, Any]]) -> tuple[Any, ...]:
    return tuple(_builtin_slice(None) if k == _KEEP else v for k, v, _ in entries)


def _advanced_plan(
    a: NamedArray, entries: list[tuple[str, Any, Any]], op: str
) -> tuple[str, Any, tuple[Axis, ...]]:
    """Plans a gather: traced windows and kept axes named by an index become iota indices."""
    index_names = {ax.name for k, v, _ in entries if k == _ARRAY for ax in v.axes}
    labels = [""] * len(entries)
    for p, (kind, value, ax) in enumerate(entries):
        labels[p] = f"the index for {a.axes[p].name!r}"
        if kind == _DS or (kind in (_KEEP, _SLICE) and ax.name in index_names):
            entries[p] = (_ARRAY, _iota(a.axes[p].size, kind, value, ax), None)
            labels[p] = f"the kept axis {ax.name!r} of the array {format_axes(a.axes)}"
    positions = [p for p, e in enumerate(entries) if e[0] == _ARRAY]
    indices = [entries[p][1] for p in positions]
    index_axes = _index_broadcast_axes(op, [labels[p] for p in positions], indices)
    for p, ix in zip(positions, indices):
        entries[p] = (_ARRAY, align_array(ix.array, ix.axes, index_axes), None)
    advanced = [p for p, e in enumerate(entries) if e[0] in (_ARRAY, _INT)]
    basic = [(p, e[2]) for p, e in enumerate(entries) if e[0] not in (_ARRAY, _INT)]
    if advanced[-1] - advanced[0] + 1 == len(advanced):  # adjacent: spliced in place
        out = (
            tuple(ax for p, ax in basic if p < advanced[0])
            + index_axes
            + tuple(ax for p, ax in basic if p > advanced[0])
        )
    else:
        out = index_axes + tuple(ax for _, ax in basic)
    return "numpy", _numpy_index(entries), out


def _index_broadcast_axes(
    op: str, labels: list[str], indices: list[NamedArray]
) -> tuple[Axis, ...]:
    """The axes that advanced indices broadcast to, laid out as Haliax lays them out.

    The largest index (by element count; the first of equals) keeps its order, and
    each smaller one, from the largest down, puts the axes it adds in front.

    Raises:
        ValueError: If two indices disagree on the size of a same-named axis.
    """
    checked = indices[0].axes
    for k in range(1, len(indices)):  # validates sizes, naming the indices involved
        names = (" and ".join(labels[:k]), labels[k])
        checked = pair_result_axes(op, checked, indices[k].axes, names, union=True)
    ordered = sorted(indices, key=lambda ix: ix.size, reverse=True)  # stable
    out = ordered[0].axes
    for ix in ordered[1:]:
        out = _front_broadcast(out, ix.axes)
    return out


def _front_broadcast(left: tuple[Axis, ...], right: tuple[Axis, ...]) -> tuple[Axis, ...]:
    """The larger of two axis tuples (by element count), preceded by the other's new axes."""
    if math.prod(ax.size for ax in left) < math.prod(ax.size for ax in right):
        left, right = right, left
    names = {ax.name for ax in left}
    return tuple(ax for ax in right if ax.name not in names) + left


def _iota(n: int, kind: str, value: Any, ax: Axis) -> NamedArray:
    """The positions a kept axis (whole, sliced or a traced window) covers, as an index."""
    if kind == _KEEP:
        positions: Any = np.arange(n, dtype=np.int32)
    elif kind == _SLICE:
        positions = np.arange(*value.indices(n), dtype=np.int32)
    else:  # a traced window; its start is already normalised
        positions = value + jnp.arange(ax.size, dtype=value.dtype)
    return _wrap(positions, (ax,))


def _apply(a: NamedArray, mode: str, payload: Any, axes: tuple[Axis, ...] = ()) -> Any:
    array = a.array
    if mode == "numpy":  # a gather: on an explicit mesh JAX needs its out_sharding
        spec = out_sharding(axes, "index") if axes else None
        if spec is None:
            return array[payload]
        with sharding_errors("index", a.axes):
            return array.at[payload].get(out_sharding=spec)
    starts: list[Any] = []
    sizes: list[int] = []
    drop: list[int] = []
    for p, (kind, value, ax) in enumerate(payload):
        n = array.shape[p]
        if kind == _KEEP:
            start, size = 0, n
        elif kind == _INT:  # normalised by _classify
            start, size = value, 1
            drop.append(p)
        elif kind == _SLICE:
            start, size = value.indices(n)[0], ax.size
        else:  # _DS
            start, size = value, ax.size
        starts.append(start)
        sizes.append(size)
    if mode == "dynamic":
        out = lax.dynamic_slice(array, starts, sizes)
    else:
        strides = [_step(v) if k == _SLICE else 1 for k, v, _ in payload]
        limits = [s + (z - 1) * st + 1 if z else s for s, z, st in zip(starts, sizes, strides)]
        unit = builtins.all(st == 1 for st in strides)
        out = lax.slice(array, starts, limits, None if unit else strides)
    return lax.squeeze(out, drop) if drop else out


# --- public functions ---------------------------------------------------------------------------


def index(array: NamedArray, slices: Mapping[AxisSelector, Any]) -> NamedArray:
    """Indexes `array` by axis name; `x[{...}]` and `x["name", i, ...]` call this.

    Args:
        array: The NamedArray to index.
        slices: `{axis: index}` with axes given by name or `Axis` (size checked). An
            index is an int (drops the axis), a static slice or `ds(start, size)`
            (keep it, resized), or a NamedArray of ints (its axes replace the axis);
            see the module documentation for the full rules.

    Returns:
        The indexed NamedArray (0-d when every axis is indexed away).

    Raises:
        ValueError: If an axis is missing or indexed twice, a static index is out of
            range, or advanced indices disagree on the size of an axis.
        TypeError: If an index is of an unsupported kind (a float, a boolean mask, a
            traced slice bound, a plain array with more than one dimension).

    Examples:
        >>> x = named(jnp.arange(6).reshape(2, 3), ("a", "b"))
        >>> nx.index(x, {"a": 1, "b": nx.ds(1, 2)}).array
        Array([4, 5], dtype=int32)
        >>> x["a", -1, "b", 0]
        NamedArray(i32{}, 3)
        >>> x[{"b": 3}]
        Traceback (most recent call last):
        ...
        ValueError: index: index 3 is out of range for axis 'b' of size 3 (array {a:2, b:3}). \
Valid indices are -3 to 2.
    """
    if not isinstance(array, NamedArray):
        raise TypeError(f"index: expected a NamedArray to index, got {describe(array)}.")
    return _index(array, slices, "index")


def _index(a: NamedArray, indices: Mapping[Any, Any], op: str) -> NamedArray:
    if not indices:
        return a
    mode, payload, axes = _plan(a, indices, op, allow_dynamic=True)
    if mode == "static" and axes == a.axes:  # every slice is whole
        return a
    return _wrap(_apply(a, mode, payload, axes), axes)


def _getitem(self: NamedArray, key: Any) -> NamedArray:
    """Indexes by axis name: `x[{"batch": 0, "pos": slice(0, 4)}]` or `x["batch", 0]`.

    See `namedax.index` for the rules. A positional index (`x[0]`, `x[:, 1]`) is a
    `TypeError`: positions carry no meaning for a NamedArray.
    """
    return _index(self, _as_mapping(self, key, "index"), "index")


def _setitem(self: NamedArray, key: Any, value: Any) -> NoReturn:
    """NamedArrays are immutable, like JAX arrays: the error points at `x.at[...].set`."""
    raise TypeError(
        f"NamedArray{format_axes(self.axes)} is immutable, so x[{key!r}] = ... cannot write into "
        f"it. Use the functional update x = x.at[{key!r}].set(value) (also .add, .mul, .min, "
        ".max), which returns a new array."
    )


def take(
    array: NamedArray,
    axis: AxisSelector,
    index: Any,
    *,
    mode: str | None = None,
    fill_value: Any = None,
) -> NamedArray:
    """Selects positions along one axis: `array[{axis: index}]`.

    Args:
        array: The NamedArray.
        axis: The axis to index.
        index: An int (the axis is dropped) or a NamedArray of ints. An index axis
            named like another axis of `array` selects along it element by element
            (like `jnp.take_along_axis`).
        mode: How out-of-range indices read, as in `jnp.take`: `"fill"` gives
            `fill_value` (negative indices count from the end), `"clip"` clips into
            range (a negative index reads position 0, as in NumPy) and `"wrap"` takes
            the index modulo the axis size. Without it, a static int must be in range
            and a traced one is clamped, after negatives count from the end (namedax's
            rule for every indexing path).
        fill_value: The value `mode="fill"` reads out of range (NaN for inexact
            types, as in JAX, by default).

    Returns:
        The selected values. An index sharing no axis with the rest of `array` has
        its axes spliced in place of `axis`; one that shares some puts its other
        axes first, in its order, followed by the remaining axes of `array` in
        theirs (as Haliax's `take` does; this may cost a transpose after the gather).

    Raises:
        ValueError: If `axis` is missing, a static index is out of range, or the index
            disagrees with `array` on the size of a shared axis.

    Examples:
        >>> logits = named(jnp.arange(6.0).reshape(2, 3), ("batch", "vocab"))
        >>> labels = named(jnp.array([2, 0]), "batch")
        >>> nx.take(logits, "vocab", labels).array
        Array([2., 3.], dtype=float32)
        >>> logits.take("vocab", named(jnp.array([1, 1, 0, 2]), "k")).shape
        {'batch': 2, 'k': 4}
        >>> two = named(jnp.array([[2, 0], [1, 1]]), ("batch", "top"))
        >>> logits.take("vocab", two).axis_names
        ('top', 'batch')
        >>> nx.take(logits, "vocab", 7, mode="fill", fill_value=-1.0).array
        Array([-1., -1.], dtype=float32)
    """
    if not isinstance(array, NamedArray):
        raise TypeError(f"take: expected a NamedArray, got {describe(array)}.")
    if isinstance(index, (_builtin_slice, dslice)):
        raise TypeError(
            f"take: the index must be an int or a NamedArray of ints, got {index!r}. Use "
            "namedax.slice for a window."
        )
    if mode is None:
        out = _index(array, {axis: index}, "take")
    else:
        index, kwargs = _take_mode(array, axis, index, mode, fill_value)
        out = _AtRef(array, {axis: index}, "take").get(**kwargs)
    return _take_layout(array, axis, index, out)


def _take_mode(
    array: NamedArray, axis: AxisSelector, index: Any, mode: str, fill_value: Any
) -> tuple[Any, dict[str, Any]]:
    """The index and the `.at[].get` keywords that give `jnp.take`'s `mode`."""
    if mode == "fill":
        return index, {"mode": "fill", "fill_value": fill_value}
    if mode == "clip":
        return index, {"mode": "clip", "wrap_negative_indices": False}
    if mode == "wrap":
        n = array.axes[_position(array.axes, axis, "take")].size
        if isinstance(index, NamedArray):
            index = _wrap(jnp.mod(index.array, n), index.axes)
        elif _static_int(index) is not None:
            index = operator.index(index) % n
        else:
            index = jnp.mod(_widened(index), n)
        return index, {"mode": "promise_in_bounds"}
    raise ValueError(f"take: invalid mode {mode!r}; use 'fill', 'clip' or 'wrap', as jnp.take.")


def _take_layout(array: NamedArray, axis: AxisSelector, index: Any, out: NamedArray) -> NamedArray:
    """`out` in Haliax's `take` order.

    An index that shares no axis with the remaining axes of `array` is spliced in
    place of `axis`, as indexing does. One that shares some puts its other axes, in
    its own order, in front of the remaining axes of `array`, in theirs.
    """
    if not isinstance(index, NamedArray):
        return out
    p = _position(array.axes, axis, "take")
    remaining = array.axes[:p] + array.axes[p + 1 :]
    names = {ax.name for ax in remaining}
    if not builtins.any(ax.name in names for ax in index.axes):
        return out
    layout = tuple(ax for ax in index.axes if ax.name not in names) + remaining
    if layout == out.axes:
        return out
    return _wrap(align_array(out.array, out.axes, layout), layout)


# --- index updates: x.at[...] ---------------------------------------------------------------


class _At:
    """What `x.at` returns: index it by name to get an updater (see `_AtRef`)."""

    __slots__ = ("_array",)

    def __init__(self, array: NamedArray):
        self._array = array

    def __getitem__(self, key: Any) -> _AtRef:
        return _AtRef(self._array, _as_mapping(self._array, key, "at"))


class _AtRef:
    """Functional updates of the region `x.at[index]` selects, mirroring `jax.Array.at`.

    Update values are NamedArrays aligned to the region by name (they may hold a
    subset of its axes and are broadcast over the rest) or scalars. Keyword arguments
    (`mode=`, `indices_are_sorted=`, `unique_indices=`, `fill_value=`,
    `wrap_negative_indices=`) go to JAX. Without `mode=`, ints and window starts
    follow namedax's rule (see the module documentation); with it, JAX's rule for that
    mode applies to the index as given, so `mode="drop"` drops an out-of-range write
    and `mode="fill"` reads `fill_value` there.
    """

    __slots__ = ("_array", "_indices", "_op", "_plans")

    def __init__(self, array: NamedArray, indices: Mapping[Any, Any], op: str = "at"):
        self._array = array
        self._indices = indices
        self._op = op
        self._plans: dict[Any, tuple[Any, tuple[Axis, ...]]] = {}
        for key in indices:  # a missing axis is reported where the index is written
            _position(array.axes, key, op)

    def _plan(self, kwargs: dict[str, Any] | None) -> tuple[Any, tuple[Axis, ...]]:
        """The positional index and the region's axes, for the `mode=` in `kwargs`."""
        mode = _explicit_mode(kwargs, self._op)
        plan = self._plans.get(mode)
        if plan is None:
            array, indices = self._array, self._indices
            if not indices:
                plan = (...), array.axes
            else:
                kind, index, region = _plan(array, indices, self._op, False, mode)
                plan = (index if kind == "numpy" else _numpy_index(index)), region
            self._plans[mode] = plan
        return plan

    def get(self, **kwargs: Any) -> NamedArray:
        """The region's values, like `x[index]`."""
        index, region = self._plan(kwargs)
        return _wrap(self._array.array.at[index].get(**kwargs), region)

    def apply(self, func: Callable[[Any], Any], **kwargs: Any) -> NamedArray:
        """Applies the positional unary `func` to the region's elements."""
        index, _ = self._plan(kwargs)
        return _wrap(self._array.array.at[index].apply(func, **kwargs), self._array.axes)

    def _update(self, method: str, values: Any, kwargs: dict[str, Any]) -> NamedArray:
        index, region = self._plan(kwargs)
        values = _align_update(values, region, f"at[...].{method}")
        updater = getattr(self._array.array.at[index], method)
        return _wrap(updater(values, **kwargs), self._array.axes)

    def set(self, values: Any, **kwargs: Any) -> NamedArray:
        """`x[index] = values`."""
        return self._update("set", values, kwargs)

    def add(self, values: Any, **kwargs: Any) -> NamedArray:
        """`x[index] += values`."""
        return self._update("add", values, kwargs)

    def subtract(self, values: Any, **kwargs: Any) -> NamedArray:
        """`x[index] -= values`."""
        return self._update("subtract", values, kwargs)

    def multiply(self, values: Any, **kwargs: Any) -> NamedArray:
        """`x[index] *= values`."""
        return self._update("multiply", values, kwargs)

    mul = multiply

    def divide(self, values: Any, **kwargs: Any) -> NamedArray:
        """`x[index] /= values`."""
        return self._update("divide", values, kwargs)

    def power(self, values: Any, **kwargs: Any) -> NamedArray:
        """`x[index] **= values`."""
        return self._update("power", values, kwargs)

    def min(self, values: Any, **kwargs: Any) -> NamedArray:
        """`x[index] = minimum(x[index], values)`."""
        return self._update("min", values, kwargs)

    def max(self, values: Any, **kwargs: Any) -> NamedArray:
        """`x[index] = maximum(x[index], values)`."""
        return self._update("max", values, kwargs)


def _explicit_mode(kwargs: Mapping[str, Any] | None, op: str) -> _Mode:
    """The `_Mode` of `mode=`/`wrap_negative_indices=` keyword arguments, or None."""
    if not kwargs or kwargs.get("mode") is None:
        return None
    mode = _gather_mode(kwargs["mode"], op)
    assert mode is not None
    return mode, bool(kwargs.get("wrap_negative_indices", True))


def _align_update(values: Any, region: tuple[Axis, ...], op: str) -> Any:
    """`values` laid out for the region: by name, size 1 where it lacks an axis."""
    if not isinstance(values, NamedArray):
        if is_scalar_like(values):
            return values
        raise TypeError(
            f"{op}: the update is a plain {describe(values)}; it has no axis names to align "
            f"with the region {format_axes(region)}. Wrap it with namedax.named(array, axes)."
        )
    sizes = {ax.name: ax.size for ax in region}
    for ax in values.axes:
        size = sizes.get(ax.name)
        if size != ax.size:
            problem = (
                f"has axis {ax.name!r} that the region lacks"
                if size is None
                else f"has size {ax.size} on axis {ax.name!r} where the region has {size}"
            )
            raise ValueError(
                f"{op}: the update {format_axes(values.axes)} {problem}; the indexed region is "
                f"{format_axes(region)}. The update may hold any subset of the region's axes "
                "(it is broadcast over the others), with the same sizes."
            )
    return align_array(values.array, values.axes, region)


def at(self: NamedArray) -> _At:
    """Functional index updates by name, like `jax.Array.at`.

    `x.at[index]` takes the same indices as `x[index]` and offers `set`, `add`,
    `subtract`, `multiply` (alias `mul`), `divide`, `power`, `min`, `max`, `get` and
    `apply(fn)`. Each returns a new NamedArray with the axes of `x`.

    Examples:
        >>> x = nx.zeros({"a": 2, "b": 3})
        >>> x.at["a", 1].set(named(jnp.array([1.0, 2.0, 3.0]), "b")).array
        Array([[0., 0., 0.],
               [1., 2., 3.]], dtype=float32)
        >>> x.at["b", :2].add(5.0).array
        Array([[5., 5., 0.],
               [5., 5., 0.]], dtype=float32)
    """
    return _At(self)


# --- slices of static size ---------------------------------------------------------------------


def slice(
    array: NamedArray,
    axis: AxisSelector | Mapping[AxisSelector, Any] | None = None,
    new_axis: AxisSelector | Mapping[AxisSelector, int | Axis] | None = None,
    start: Any = 0,
    length: int | Mapping[AxisSelector, int | Axis] | None = None,
) -> NamedArray:
    """Cuts a window of static length out of one axis, or out of several (dict form).

    Two forms, as in Haliax:

    * `slice(array, axis, new_axis=None, start=0, length=None)`: `length` positions of
      `axis` from `start`. `new_axis` renames the result axis (a name) or gives its name
      and size (an `Axis`, whose size is then the length). Without a length, the window
      runs to the end (the start must then be static).
    * `slice(array, start={axis: start, ...}, length={axis: length, ...})` (or
      positionally, `slice(array, starts, lengths)`): a window on every axis named in
      either dict; a missing start is 0, a missing length runs to the end. A length
      may be an `Axis`, which then names the result axis. A dict key may be a name or
      an `Axis`: both spell the same axis.

    Starts follow the rule of every indexing path (see the module documentation):
    negative ones count from the end, a static start must fit, a traced one is
    clamped to fit.

    Returns:
        The window, with the same axes (the sliced ones resized or renamed).

    Raises:
        ValueError: If an axis is missing, a static window does not fit, or the new
            axis name clashes with another axis.
        TypeError: If a length is not a static int, or a traced start has no length.

    Examples:
        >>> x = named(jnp.arange(10), "pos")
        >>> nx.slice(x, "pos", start=2, length=3).array
        Array([2, 3, 4], dtype=int32)
        >>> x.slice("pos", nx.Axis("window", 4), start=6).axes
        (Axis(name='window', size=4),)
        >>> y = named(jnp.arange(12).reshape(3, 4), ("a", "b"))
        >>> nx.slice(y, start={"a": 1, "b": 2}, length={"b": 2}).array
        Array([[ 6,  7],
               [10, 11]], dtype=int32)
    """
    if not isinstance(array, NamedArray):
        raise TypeError(f"slice: expected a NamedArray, got {describe(array)}.")
    if isinstance(axis, Mapping) or (axis is None and isinstance(start, Mapping)):
        starts = axis if isinstance(axis, Mapping) else start
        lengths = length if length is not None else new_axis
        if lengths is not None and not isinstance(lengths, Mapping):
            raise TypeError(
                f"slice: in the dict form the lengths must be a {{axis: length}} dict too, got "
                f"{describe(lengths)}."
            )
        return _window(array, dict(starts), dict(lengths or {}), {}, "slice")
    if axis is None:
        raise TypeError(
            "slice: give the axis to slice, slice(array, axis, start=..., length=...), or "
            "the dict form slice(array, start={axis: start}, length={axis: length})."
        )
    if isinstance(new_axis, Axis):
        if length is not None and length != new_axis.size:
            raise ValueError(
                f"slice: length={length} disagrees with new_axis={new_axis}. Give one of them."
            )
        length = new_axis.size
    rename = {} if new_axis is None else {axis: _name(new_axis)}
    lengths = {} if length is None else {axis: length}
    return _window(array, {axis: start}, lengths, rename, "slice")


def _window(
    a: NamedArray, starts: dict[Any, Any], lengths: dict[Any, Any], rename: dict[Any, str], op: str
) -> NamedArray:
    """One `lax.slice` (static starts) or `lax.dynamic_slice` (a traced start) on `a`."""
    begin: list[Any] = [0] * a.ndim
    sizes = [ax.size for ax in a.axes]
    out = list(a.axes)
    starts_at = _by_position(a, starts, "start", op)
    lengths_at = _by_position(a, lengths, "length", op)
    renames_at = _by_position(a, rename, "new axis", op)
    for p in sorted({*starts_at, *lengths_at}):
        ax = a.axes[p]
        length = lengths_at.get(p)
        if isinstance(length, Axis):  # the dict form's {axis: new Axis}
            renames_at.setdefault(p, length.name)
            length = length.size
        begin[p], sizes[p] = _checked_window(a, ax, starts_at.get(p, 0), length, op)
        out[p] = Axis(renames_at.get(p, ax.name), sizes[p])
    out_axes = tuple(out)
    if renames_at:
        check_unique_names(out_axes, op)
    if builtins.all(isinstance(b, int) for b in begin):
        limits = [b + s for b, s in zip(begin, sizes)]
        return _wrap(lax.slice(a.array, begin, limits), out_axes)
    return _wrap(lax.dynamic_slice(a.array, begin, sizes), out_axes)


def _by_position(a: NamedArray, values: Mapping[Any, Any], what: str, op: str) -> dict[int, Any]:
    """`{axis selector: value}` keyed by the position of the axis each selector names."""
    out: dict[int, Any] = {}
    for key, value in values.items():
        p = _position(a.axes, key, op)
        if p in out:
            raise ValueError(
                f"{op}: the {what} of axis {a.axes[p].name!r} is given twice (as "
                f"{[k for k in values if _name(k) == a.axes[p].name]}). Give it once."
            )
        out[p] = value
    return out


def _checked_window(a: NamedArray, ax: Axis, start: Any, length: Any, op: str) -> tuple[Any, int]:
    n = ax.size
    if length is not None:
        try:
            length = operator.index(length)
        except TypeError:
            raise TypeError(
                f"{op}: the length for axis {ax.name!r} must be a static int (it fixes the "
                f"result's shape), got {describe(length)}."
            ) from None
        if not 0 <= length <= n:
            raise ValueError(
                f"{op}: length {length} does not fit in axis {ax.name!r} of size {n} (array "
                f"{format_axes(a.axes)})."
            )
    static = _static_int(start)
    if static is None:
        if not _is_int_scalar_array(start):
            raise TypeError(
                f"{op}: the start for axis {ax.name!r} must be an int or a 0-d integer array, "
                f"got {describe(start)}."
            )
        if length is None:
            raise TypeError(
                f"{op}: the start for axis {ax.name!r} is traced, so the length cannot be "
                "inferred; pass length= (or an Axis as new_axis)."
            )
        return normalized_start(start, length, n), length
    if length is None:
        length = n - (static + n if static < 0 else static)
    begin = normalized_start(static, length, n)
    if begin is None:
        raise ValueError(
            f"{op}: a window of length {length} at start {static} does not fit in axis "
            f"{ax.name!r} of size {n} (array {format_axes(a.axes)}); "
            f"{_fitting_starts(n, length)}."
        )
    return begin, length


def updated_slice(
    array: NamedArray, start: Mapping[AxisSelector, Any], update: NamedArray
) -> NamedArray:
    """Writes `update` into `array` at `start`, like `lax.dynamic_update_slice`, by name.

    The update's axes must be axes of `array`, with sizes that fit from the start.
    An axis of `array` that the update lacks is either written at the single position
    `start` gives for it, or, if it has no start, covered whole (the update is
    broadcast along it). Starts follow the rule of every indexing path: negative ones
    count from the end, a static start must fit, a traced one is clamped to fit.

    A start may also be a NamedArray of ints (a *ragged* update): its axes, which must
    be axes of `array`, index separate starts, e.g. one write position per sequence of
    a batch in a KV cache.

    Args:
        array: The array to update.
        start: `{axis: start}`; axes not named start at 0.
        update: A NamedArray holding a subset of `array`'s axes.

    Returns:
        A NamedArray with the axes of `array`.

    Raises:
        ValueError: If the update or a ragged start has an axis `array` lacks, or a
            static window does not fit.
        TypeError: If `update` is not a NamedArray.

    Examples:
        >>> cache = nx.zeros({"pos": 4, "embed": 2})
        >>> new = named(jnp.array([1.0, 2.0]), "embed")
        >>> nx.updated_slice(cache, {"pos": 2}, new).array
        Array([[0., 0.],
               [0., 0.],
               [1., 2.],
               [0., 0.]], dtype=float32)
        >>> batch = nx.zeros({"batch": 2, "pos": 3}, dtype=jnp.int32)
        >>> nx.updated_slice(batch, {"pos": named(jnp.array([2, 0]), "batch")},
        ...                  named(jnp.array([7, 8]), "batch")).array
        Array([[0, 0, 7],
               [8, 0, 0]], dtype=int32)
    """
    op = "updated_slice"
    if not isinstance(array, NamedArray):
        raise TypeError(f"{op}: expected a NamedArray to update, got {describe(array)}.")
    if not isinstance(update, NamedArray):
        raise TypeError(
            f"{op}: the update must be a NamedArray (its axes say where it goes), got "
            f"{describe(update)}."
        )
    _check_within_array(array, update.axes, f"the update {format_axes(update.axes)}", op)
    start = {
        k: v.array if isinstance(v, NamedArray) and not v.axes else v for k, v in start.items()
    }
    for value in start.values():
        if isinstance(value, NamedArray):  # ragged: one start per position of its axes
            _check_within_array(
                array, value.axes, f"the ragged start {format_axes(value.axes)}", op
            )
            return _map_over_axis(array, start, update, value.axes[0])
    starts: list[Any] = [0] * array.ndim
    given = _by_position(array, start, "start", op)
    update_sizes = update.shape
    window = []
    for p, ax in enumerate(array.axes):
        size = update_sizes.get(ax.name, 1 if p in given else ax.size)
        starts[p], _ = _checked_window(array, ax, given.get(p, 0), size, op)
        window.append(Axis(ax.name, size))
    values = align_array(update.array, update.axes, tuple(window))
    shape = tuple(ax.size for ax in window)
    if values.shape != shape:
        values = jnp.broadcast_to(values, shape)
    if values.dtype != array.dtype:
        values = values.astype(array.dtype)
    return _wrap(lax.dynamic_update_slice(array.array, values, starts), array.axes)


def _check_within_array(array: NamedArray, axes: tuple[Axis, ...], what: str, op: str) -> None:
    names = {ax.name for ax in array.axes}
    extra = [ax for ax in axes if ax.name not in names]
    if extra:
        raise ValueError(
            f"{op}: {what} has axes {format_axes(extra)} that are not in the original array "
            f"with shape {format_axes(array.axes)}. Every axis of an update or a ragged start "
            "must be an axis of the array."
        )


def _map_over_axis(
    array: NamedArray, start: Mapping[Any, Any], update: NamedArray, axis: Axis
) -> NamedArray:
    """`updated_slice` applied separately at each position of `axis` (for a ragged start)."""
    position = array.axis_names.index(axis.name)
    if array.axes[position].size != axis.size:
        raise ValueError(
            f"updated_slice: a ragged start has {axis}, but the array {format_axes(array.axes)} "
            f"has {array.axes[position]}."
        )
    array_in, array_axes = _axis_first(array, axis)
    update_in, update_axes = _axis_first(update, axis)
    mapped = {k: _axis_first(v, axis) for k, v in start.items() if isinstance(v, NamedArray)}
    mapped = {k: v for k, v in mapped.items() if v[0] is not None}

    def one(values: Any, change: Any, ragged: dict[Any, Any]) -> Any:
        starts = {k: _wrap(ragged[k], mapped[k][1]) if k in ragged else v for k, v in start.items()}
        new = update if change is None else _wrap(change, update_axes)
        return updated_slice(_wrap(values, array_axes), starts, new).array

    in_axes = (0, None if update_in is None else 0, 0)
    out = jax.vmap(one, in_axes=in_axes)(array_in, update_in, {k: v[0] for k, v in mapped.items()})
    return _wrap(jnp.moveaxis(out, 0, position), array.axes)


def _axis_first(x: NamedArray, axis: Axis) -> tuple[Any, tuple[Axis, ...]]:
    """`x`'s values with `axis` moved in front and its other axes, or `(None, axes)` without it."""
    if axis.name not in x.axis_names:
        return None, x.axes
    p = x.axis_names.index(axis.name)
    if x.axes[p].size != axis.size:
        raise ValueError(
            f"updated_slice: {format_axes(x.axes)} has {x.axes[p]}, but the ragged start has "
            f"{axis}."
        )
    return jnp.moveaxis(x.array, p, 0), x.axes[:p] + x.axes[p + 1 :]
