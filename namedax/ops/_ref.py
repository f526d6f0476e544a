"""Mutable references to named arrays: `new_ref(x)` and `NamedRef`.

A `NamedRef` wraps one of JAX's mutable array references (`jax.new_ref`) together with
the axes of the array it holds. It is read and written by axis name, with the same
indices as a NamedArray (`ref["x", 1:3]`, `ref[{"x": i}] = v`, `ref[...]`), and works
inside `jit`, `scan` and `grad` as JAX's references do (JAX turns the reads and writes
into functional updates).

`ref.slice({axis: index})` stages a *view*: a reference to part of the same buffer,
whose axes are those that the index leaves. Indexing a view composes with the staged
index, so `ref.slice({"layer": 2})[{"head": 0}] = v` writes `layer 2, head 0` of the
whole buffer. A view records, per axis of the buffer, the positions it covers: the
whole axis, a fixed position (an int, possibly traced), a window `jax.ds(start, size,
stride)` (start possibly traced), or a list/array of positions (an advanced index,
whose axes replace the axis).

Examples:
    >>> Layer, Head = Axis("layer", 3), Axis("head", 2)
    >>> cache = nx.new_ref(nx.zeros((Layer, Head)))
    >>> cache["layer", 1] = nx.ones(Head)
    >>> cache.slice({"layer": 2})[{"head": 0}] = 5.0
    >>> cache.value().array
    Array([[0., 0.],
           [1., 1.],
           [5., 0.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import jax.ref
import numpy as np
from jax.core import Tracer

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSelector, axis_name
from namedax.core._errors import describe, format_axes
from namedax.ops._indexing import (
    _DS,
    _align_update,
    _as_mapping,
    _numpy_index,
    _plan,
    dslice,
)

__all__: list[str] = []  # the public names are re-exported by namedax/__init__.py

# JAX's window index: start (may be traced), static size and stride. Typed `type[Any]`:
# jax.ds is annotated `slice | Slice`, so its type would be taken for `slice`'s too.
_Slice: type[Any] = type(jax.ds(0, 1))
_FULL = slice(None)


class UnsupportedViewError(ValueError, NotImplementedError):
    """A view cannot be indexed this way (raised as both `ValueError` and `NotImplementedError`)."""


def _is_fixed(entry: Any) -> bool:
    """Whether a view's entry fixes its axis at one position (an int, possibly traced)."""
    return not isinstance(entry, (_Slice, slice, list)) and _is_int_scalar(entry)


def _is_full(entry: Any) -> bool:
    return isinstance(entry, slice) and entry == _FULL


def _static(x: Any) -> int | None:
    """`x` as a Python int when it is a static (or concrete) integer scalar, else None."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, (int, np.integer)):
        return int(x)
    concrete = isinstance(x, (np.ndarray, jax.Array)) and not isinstance(x, Tracer)
    if concrete and x.shape == () and jnp.issubdtype(x.dtype, jnp.integer):
        return int(x)
    return None


def _is_int_scalar(x: Any) -> bool:
    if _static(x) is not None:
        return True
    return isinstance(x, jax.Array) and x.shape == () and jnp.issubdtype(x.dtype, jnp.integer)


def _as_window(entry: Any, n: int) -> tuple[Any, int, int] | None:
    """`(start, size, stride)` of a full axis, a slice or a window; None for other entries."""
    if isinstance(entry, range):
        entry = slice(entry.start, entry.stop, entry.step)
    if isinstance(entry, slice):
        start, stop, step = entry.indices(n)
        return start, len(range(start, stop, step)), step
    if isinstance(entry, _Slice):
        return entry.start, int(entry.size), int(entry.stride)
    if isinstance(entry, dslice):
        start = entry.start
        static = _static(start)
        if static is not None and static < 0:
            start = static + n
        return start, entry.size, 1
    return None


def _wrap_negative(i: Any, length: int, where: str) -> Any:
    static = _static(i)
    if static is not None:
        if not -length <= static < length:
            raise IndexError(
                f"NamedRef: index {static} is out of range for {where} of size {length}; valid "
                f"indices are {-length} to {length - 1}."
            )
        return static + length if static < 0 else static
    return jnp.where(i < 0, i + length, i)


def _compose(current: Any, new: Any, base: Axis, view_size: int) -> Any:
    """The index on the buffer's axis `base` that `new`, applied to the view `current`, means."""
    where = f"axis {base.name!r} of this view"
    window = _as_window(current, base.size)
    if window is None:  # the view holds a list/array of positions: gather from it
        return _gather_positions(current, new, base, view_size)
    start0, size0, step0 = window
    inner = _as_window(new, size0)
    if inner is not None:
        start1, size1, step1 = inner
        if size1 == 0:  # an empty window: anchor it at 0 so it stays in bounds
            return jax.ds(0, 0, 1)
        return jax.ds(start0 + start1 * step0, size1, step0 * step1)
    if _is_int_scalar(new):
        return start0 + _wrap_negative(new, size0, where) * step0
    if isinstance(new, (list, tuple)):
        return [start0 + _wrap_negative(_int_item(i), size0, where) * step0 for i in new]
    if isinstance(new, NamedArray):
        positions = jnp.where(new.array < 0, new.array + size0, new.array)
        return _wrap(positions * step0 + start0, new.axes)
    if isinstance(new, (jax.Array, np.ndarray)):
        new = jnp.asarray(new)
        return jnp.where(new < 0, new + size0, new) * step0 + start0
    raise TypeError(
        f"NamedRef: cannot index {where} with {describe(new)}; use an int, a slice, "
        f"nx.ds(start, size), a list of ints or an integer array."
    )


def _int_item(item: Any) -> int:
    if _static(item) is None:
        raise TypeError(f"NamedRef: a list index must hold ints, got {describe(item)}.")
    return int(item)


def _gather_positions(current: Any, new: Any, base: Axis, view_size: int) -> Any:
    """Positions `current[new]`, when the view already holds a list/array of positions."""
    if isinstance(current, NamedArray):
        raise UnsupportedViewError(
            f"NamedRef: axis {base.name!r} of the buffer was replaced by the axes "
            f"{format_axes(current.axes)} of a NamedArray index; index those axes by name."
        )
    positions = current if isinstance(current, list) else jnp.asarray(current)
    window = _as_window(new, view_size)
    if window is not None:
        start, size, step = window
        first = _static(start)
        if isinstance(positions, list) and first is not None:
            return positions[first : first + size * step : step][:size]
        return jnp.asarray(positions)[jnp.asarray(start) + jnp.arange(size) * step]
    if isinstance(new, (list, tuple)):
        picked = [_wrap_negative(_int_item(i), view_size, f"axis {base.name!r}") for i in new]
        if isinstance(positions, list):
            return [positions[i] for i in picked]
        return positions[jnp.asarray(picked, dtype=jnp.int32)]
    if _is_int_scalar(new) and isinstance(positions, list) and _static(new) is not None:
        return positions[_wrap_negative(new, view_size, f"axis {base.name!r}")]
    return jnp.asarray(positions)[jnp.asarray(new)]


def _as_index(entry: Any, axis: Axis) -> Any:
    """A view's entry for `axis` as a NamedArray index (lists and arrays named after `axis`)."""
    if isinstance(entry, _Slice):
        start, size, stride = entry.start, int(entry.size), int(entry.stride)
        static = _static(start)
        if static is not None:
            return slice(static, static + size * stride, stride) if size else slice(static, static)
        if stride == 1:
            return dslice(start, size)
        return _wrap(start + jnp.arange(size) * stride, (Axis(axis.name, size),))
    if isinstance(entry, list):
        return _wrap(jnp.asarray(entry, dtype=jnp.int32), (Axis(axis.name, len(entry)),))
    if isinstance(entry, (jax.Array, np.ndarray)) and jnp.ndim(entry) == 1:
        return _wrap(jnp.asarray(entry), (Axis(axis.name, entry.shape[0]),))
    return entry


@jax.tree_util.register_pytree_node_class
class NamedRef:
    """A mutable reference to a NamedArray's buffer, indexed by axis name (see the module).

    Make one with `new_ref(x)`. Reads (`ref[index]`, `ref.value()`) return NamedArrays;
    writes (`ref[index] = v`) take a NamedArray aligned to the indexed region by name (it
    may lack some of the region's axes, and is broadcast over them) or a scalar. A
    `NamedRef` is a pytree whose leaf is JAX's reference, so it passes through `jit` and
    may be closed over by `scan` bodies.

    Attributes:
        axes: The axes this reference (or view) shows.
    """

    __slots__ = ("_axes", "_prefix", "_ref")

    def __init__(self, ref: Any, axes: tuple[Axis, ...], prefix: tuple[Any, ...] | None = None):
        prefix = tuple(_FULL for _ in axes) if prefix is None else tuple(prefix)
        if len(prefix) != len(axes):
            raise ValueError(
                f"NamedRef: the view has {len(prefix)} entries for the {len(axes)} axes "
                f"{format_axes(axes)} of the buffer."
            )
        self._ref = ref
        self._axes = tuple(axes)
        self._prefix = prefix

    # --- pytree: the JAX reference and any array positions are leaves ---------------------

    def tree_flatten(self) -> tuple[tuple[Any, ...], Any]:
        dynamic = [i for i, e in enumerate(self._prefix) if _is_array_entry(e)]
        leaves = (self._ref, *(self._prefix[i] for i in dynamic))
        static = tuple(None if i in dynamic else e for i, e in enumerate(self._prefix))
        return leaves, (self._axes, static, tuple(dynamic))

    @classmethod
    def tree_unflatten(cls, aux: Any, leaves: Any) -> NamedRef:
        axes, static, dynamic = aux
        prefix = list(static)
        for i, leaf in zip(dynamic, leaves[1:]):
            prefix[i] = leaf
        return cls(leaves[0], axes, tuple(prefix))

    # --- what the view shows ---------------------------------------------------------------

    def _abstract(self) -> NamedArray:
        shape = tuple(ax.size for ax in self._axes)
        return _wrap(jax.ShapeDtypeStruct(shape, self.dtype), self._axes)

    def _plan(self, prefix: tuple[Any, ...], op: str) -> tuple[Any, tuple[Axis, ...]]:
        selector = {ax: _as_index(e, ax) for ax, e in zip(self._axes, prefix) if not _is_full(e)}
        if not selector:
            return (...), self._axes
        mode, payload, axes = _plan(self._abstract(), selector, op, allow_dynamic=True)
        if mode == "numpy":
            return payload, axes
        index = []
        for kind, value, ax in payload:
            if kind == _DS:
                index.append(jax.ds(value, ax.size))
            else:
                index.append(_numpy_index([(kind, value, ax)])[0])
        return tuple(index), axes

    @property
    def dtype(self) -> Any:
        """The element type of the buffer."""
        return self._ref.dtype

    @property
    def axes(self) -> tuple[Axis, ...]:
        return self._plan(self._prefix, "NamedRef")[1]

    @property
    def shape(self) -> dict[str, int]:
        """`{axis name: size}` of the view, as `NamedArray.shape`."""
        return {ax.name: ax.size for ax in self.axes}

    named_shape = shape

    @property
    def ndim(self) -> int:
        """The number of axes of the view."""
        return len(self.axes)

    def resolve_axis(self, axis: AxisSelector) -> Axis:
        """The view's axis named like `axis`.

        Raises:
            ValueError: If the view has no such axis.
        """
        name = axis_name(axis)
        for ax in self.axes:
            if ax.name == name:
                return ax
        raise ValueError(
            f"NamedRef: axis {name!r} is not in this view {format_axes(self.axes)} "
            f"(buffer {format_axes(self._axes)})."
        )

    # --- composing views ---------------------------------------------------------------------

    def _combined(self, selector: Mapping[Any, Any]) -> tuple[Any, ...]:
        prefix = list(self._prefix)
        view = {ax.name: ax for ax in self.axes}
        for key, new in selector.items():
            name = axis_name(key)
            holders = [
                i
                for i, e in enumerate(prefix)
                if isinstance(e, NamedArray) and name in {ax.name for ax in e.axes}
            ]
            if holders:  # an axis a NamedArray index brought in: index the positions by name
                for i in holders:
                    prefix[i] = prefix[i][{name: new}]
                continue
            names = [ax.name for ax in self._axes]
            if name in names and _is_fixed(prefix[names.index(name)]):
                raise ValueError(
                    f"NamedRef: axis {name!r} is already fixed by this view (at position "
                    f"{describe(prefix[names.index(name)])}), so it cannot be indexed again; "
                    f"index the unsliced reference (ref.unsliced()) instead."
                )
            if name not in view:
                raise UnsupportedViewError(
                    f"NamedRef: axis {name!r} is not in this view {format_axes(self.axes)} "
                    f"(buffer {format_axes(self._axes)})."
                )
            i = [ax.name for ax in self._axes].index(name)
            prefix[i] = _compose(prefix[i], new, self._axes[i], view[name].size)
        return tuple(prefix)

    def _selector(self, idx: Any) -> Mapping[Any, Any]:
        if idx is Ellipsis or idx is None:
            return {}
        return _as_mapping(self._abstract(), idx, "NamedRef")

    def slice(self, selector: Mapping[AxisSelector, Any]) -> NamedRef:
        """A view of part of this reference: `selector` is staged for later reads and writes.

        Examples:
            >>> ref = nx.new_ref(nx.arange(Axis("x", 6)))
            >>> view = ref.slice({"x": slice(2, 5)})
            >>> view.axes, view[{"x": 0}].array
            ((Axis(name='x', size=3),), Array(2, dtype=int32))
        """
        return NamedRef(self._ref, self._axes, self._combined(self._selector(selector)))

    def unsliced(self) -> NamedRef:
        """The reference to the whole buffer this view belongs to."""
        if all(_is_full(e) for e in self._prefix):
            return self
        return NamedRef(self._ref, self._axes)

    # --- reading and writing -----------------------------------------------------------------

    def _locate(self, idx: Any) -> tuple[Any, tuple[Axis, ...]]:
        return self._plan(self._combined(self._selector(idx)), "NamedRef")

    def __getitem__(self, idx: Any = Ellipsis) -> NamedArray:
        index, axes = self._locate(idx)
        return _wrap(self._ref[index], axes)

    def value(self) -> NamedArray:
        """The view's current contents, as a NamedArray."""
        return self[...]

    def _payload(self, value: Any, axes: tuple[Axis, ...], op: str) -> Any:
        if isinstance(value, (bool, int, float, complex)):
            value = jnp.asarray(value, dtype=self.dtype)  # a Python scalar is weakly typed
        aligned = _align_update(value, axes, op)
        payload = jnp.broadcast_to(aligned, tuple(ax.size for ax in axes))
        if payload.dtype != self.dtype:
            raise ValueError(
                f"{op}: the value has dtype {payload.dtype} but the reference holds "
                f"{self.dtype}; cast it with .astype({self.dtype})."
            )
        return payload

    def __setitem__(self, idx: Any, value: Any) -> None:
        index, axes = self._locate(idx)
        self._ref[index] = self._payload(value, axes, "NamedRef write")

    def swap(self, idx: Any, value: Any) -> NamedArray:
        """Writes `value` at `idx` and returns what was there before.

        Examples:
            >>> ref = nx.new_ref(nx.zeros(Axis("x", 3)))
            >>> ref.swap({"x": 1}, 4.0).array, ref.value().array
            (Array(0., dtype=float32), Array([0., 4., 0.], dtype=float32))
        """
        index, axes = self._locate(idx)
        previous = jax.ref.swap(self._ref, index, self._payload(value, axes, "NamedRef.swap"))
        return _wrap(previous, axes)

    def __repr__(self) -> str:
        return f"NamedRef({format_axes(self.axes)}, dtype={self.dtype})"


def _is_array_entry(entry: Any) -> bool:
    return isinstance(entry, (NamedArray, jax.Array, np.ndarray))


def new_ref(value: NamedArray) -> NamedRef:
    """A new mutable reference holding a copy of `value` (JAX's `jax.new_ref`).

    Raises:
        TypeError: If `value` is not a NamedArray.

    Examples:
        >>> ref = nx.new_ref(nx.zeros(Axis("x", 3)))
        >>> ref[{"x": 0}] = 2.0
        >>> ref.value().array
        Array([2., 0., 0.], dtype=float32)
    """
    if not isinstance(value, NamedArray):
        raise TypeError(
            f"new_ref: expected a NamedArray, got {describe(value)}; wrap a positional array "
            f"with nx.named(array, axes) first."
        )
    return NamedRef(jax.new_ref(value.array), value.axes)
