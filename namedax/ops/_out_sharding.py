"""Partition specs from axis names, and the output shardings of explicit-sharding meshes.

A NamedArray's `PartitionSpec` has one entry per axis, in the array's own order: the
mesh axis (or tuple of mesh axes) its name maps to through the axis mapping, or
`None` (replicated). `SpecTarget` computes and checks such specs (every mesh axis
must exist, divide the size of the axis it partitions, and appear at most once per
array) and caches them.

On a mesh with `AxisType.Explicit` axes ("sharding in types"), JAX asks for an
`out_sharding` wherever it cannot tell how a result is laid out: a contraction whose
contracted axes are sharded, a reshape that merges a sharded axis, a gather. namedax
knows the result's axis names and the mapping, so it supplies one: `out_sharding`
gives the spec of a result over the mesh's Explicit axes only (JAX refuses Auto
axes there), or None when no mapping is in force or the mesh has no Explicit axis,
which costs a thread-local look-up and nothing in the traced program.

Where JAX still refuses (no mapping in force, operands resharded by hand in
conflicting ways), `sharding_errors` turns its `ShardingTypeError` into an
`ExplicitShardingError` that says how to fix it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import AbstractMesh, AxisType, Mesh, PartitionSpec

from namedax.core._axes import Axis
from namedax.core._errors import format_axes
from namedax.core._mapping import ResourceMapping, current_axis_mapping

__all__ = ["ExplicitShardingError"]

try:  # JAX's error for sharding-in-types conflicts; private, so found defensively
    # (its declared type is the fallback class below, hence the ignore)
    from jax._src.core import (
        ShardingTypeError as JaxShardingTypeError,  # pyright: ignore[reportAssignmentType]
    )
except ImportError:  # pragma: no cover - a future JAX that moved it

    class JaxShardingTypeError(Exception):  # type: ignore[no-redef]
        """Stand-in when JAX's class cannot be imported (never raised by JAX)."""


AnyMesh = Mesh | AbstractMesh

_SPEC_CACHE: dict[tuple[Any, ...], PartitionSpec] = {}
_OUT_CACHE: dict[tuple[Any, ...], PartitionSpec | None] = {}

# --- specs from names ----------------------------------------------------------------------


def mapping_key(mapping: ResourceMapping, op: str) -> tuple[Any, ...]:
    """The mapping as a hashable tuple of items, after checking its values."""
    items = []
    for name, value in mapping.items():
        if isinstance(value, list):
            value = tuple(value)
        if not (
            value is None
            or isinstance(value, str)
            or (isinstance(value, tuple) and all(isinstance(v, str) for v in value))
        ):
            raise TypeError(
                f"{op}: the axis mapping sends {name!r} to {value!r}; each value must be a mesh "
                "axis name, a tuple of mesh axis names, or None."
            )
        items.append((name, value))
    return tuple(items)


def mesh_axes_of(value: Any) -> tuple[str, ...]:
    """The mesh axes of one mapping value: `()` for None, `(name,)` for one name."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def format_mesh(sizes: Mapping[str, int]) -> str:
    """A mesh's axes as `{data:4, model:2}`."""
    return format_axes(Axis(name, size) for name, size in sizes.items())


def compute_spec(
    op: str,
    axes: tuple[Axis, ...],
    mapping: Mapping[str, Any],
    mesh: AnyMesh | None,
    check_sizes: bool,
) -> PartitionSpec:
    """The spec of an array with `axes` under `mapping`, checked against `mesh` if given."""
    sizes = dict(mesh.shape) if mesh is not None else None
    used: dict[str, Axis] = {}
    entries: list[Any] = []
    where = f"NamedArray{format_axes(axes)}"
    for ax in axes:
        phys = mesh_axes_of(mapping.get(ax.name))
        for m in phys:
            if sizes is not None and m not in sizes:
                raise ValueError(
                    f"{op}: axis {ax.name!r} (size {ax.size}) of {where} is mapped to mesh axis "
                    f"{m!r}, but the mesh has no such axis; its axes are "
                    f"{format_mesh(sizes)}. Map {ax.name!r} to one of those or None."
                )
            other = used.get(m)
            if other is not None:
                size = f" (size {sizes[m]})" if sizes is not None else ""
                raise ValueError(
                    f"{op}: axes {other.name!r} (size {other.size}) and {ax.name!r} (size "
                    f"{ax.size}) of {where} are both mapped to mesh axis {m!r}{size}; a mesh axis "
                    f"can partition only one axis of an array. Map one of them to None or to "
                    "another mesh axis, e.g. with `axis_mapping({...}, merge=True)`."
                )
            used[m] = ax
        if check_sizes and sizes is not None and phys:
            parts = int(np.prod([sizes[m] for m in phys]))
            if ax.size % parts:
                over = " x ".join(f"{m!r} (size {sizes[m]})" for m in phys)
                raise ValueError(
                    f"{op}: axis {ax.name!r} (size {ax.size}) of {where} is mapped to mesh "
                    f"axis {over}, but {ax.size} is not divisible by {parts}. Make the axis size "
                    f"a multiple of {parts} (see round_axis_for_partitioning) or map "
                    f"{ax.name!r} to a smaller mesh axis or None."
                )
        entries.append(None if not phys else phys[0] if len(phys) == 1 else phys)
    return PartitionSpec(*entries)


class SpecTarget:
    """What one call partitions onto: the op name, the mapping and the mesh, with cache keys."""

    __slots__ = ("check_sizes", "key", "mapping", "mesh", "op")

    def __init__(
        self, op: str, mapping: ResourceMapping, mesh: AnyMesh | None, check_sizes: bool = True
    ):
        self.op = op
        self.mapping = mapping
        self.mesh = mesh
        self.check_sizes = check_sizes
        mesh_key = None if mesh is None else tuple(mesh.shape.items())
        self.key = (mapping_key(mapping, op), mesh_key, check_sizes)

    def spec(self, axes: tuple[Axis, ...]) -> PartitionSpec:
        """The spec of an array with these axes (cached); raises `ValueError` if invalid."""
        key = (axes, self.key)
        spec = _SPEC_CACHE.get(key)
        if spec is None:
            spec = compute_spec(self.op, axes, self.mapping, self.mesh, self.check_sizes)
            _SPEC_CACHE[key] = spec
        return spec


def split_spec(spec: PartitionSpec, mesh: AnyMesh) -> tuple[PartitionSpec, PartitionSpec]:
    """`spec` split into its Explicit mesh axes and its other (Auto) axes, entry by entry.

    JAX places an array over Explicit axes with `reshard` and over Auto axes with
    `with_sharding_constraint`, and each refuses the other kind, so a mixed mesh needs
    both halves.

    Examples:
        >>> from jax.sharding import AxisType, PartitionSpec as P
        >>> from namedax.ops._out_sharding import split_spec
        >>> mesh = jax.make_mesh((4, 2), ("data", "model"),
        ...                      axis_types=(AxisType.Explicit, AxisType.Auto))
        >>> split_spec(P("data", "model"), mesh)
        (P('data', None), P(None, 'model'))
    """
    explicit = explicit_mesh_axes(mesh)
    ex, auto = [], []
    for entry in spec:
        names = mesh_axes_of(entry)
        ex.append(_entry([m for m in names if m in explicit]))
        auto.append(_entry([m for m in names if m not in explicit]))
    return PartitionSpec(*ex), PartitionSpec(*auto)


def _entry(names: list[str]) -> Any:
    return None if not names else names[0] if len(names) == 1 else tuple(names)


def explicit_mesh_axes(mesh: AnyMesh) -> frozenset[str]:
    """The names of the mesh's `AxisType.Explicit` axes."""
    return frozenset(n for n, t in zip(mesh.axis_names, mesh.axis_types) if t == AxisType.Explicit)


# --- out_sharding for explicit meshes ------------------------------------------------------


def out_sharding(axes: tuple[Axis, ...], op: str) -> PartitionSpec | None:
    """The `out_sharding` JAX needs for a result with `axes`, or None when it needs none.

    None unless an axis mapping is in force and the current mesh (`jax.set_mesh`, abstract
    inside `jit`) has Explicit axes; then the mapping's spec for `axes`, restricted to the
    Explicit axes (an Auto axis is left to the compiler, as JAX requires).

    Examples:
        >>> from jax.sharding import AxisType
        >>> from namedax.ops._out_sharding import out_sharding
        >>> axes = (Axis("batch", 8), Axis("mlp", 4))
        >>> out_sharding(axes, "dot") is None  # no mapping, no mesh
        True
        >>> mesh = jax.make_mesh((4, 2), ("data", "model"),
        ...                      axis_types=(AxisType.Explicit, AxisType.Auto))
        >>> with jax.set_mesh(mesh), nx.axis_mapping({"batch": "data", "mlp": "model"}):
        ...     out_sharding(axes, "dot")
        P('data', None)
    """
    mapping = current_axis_mapping()
    if mapping is None:
        return None
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or AxisType.Explicit not in mesh.axis_types:
        return None
    key = (axes, mapping_key(mapping, op), mesh.axis_names, mesh.axis_sizes, mesh.axis_types)
    try:
        return _OUT_CACHE[key]
    except KeyError:
        pass
    spec, _ = split_spec(compute_spec(op, axes, mapping, mesh, True), mesh)
    _OUT_CACHE[key] = spec
    return spec


def along_whole_axis(
    fn: Any, array: Any, position: int, axes: tuple[Axis, ...], op: str, **kwargs: Any
) -> Any:
    """`fn(array, position, **kwargs)` for a function that needs that dimension unsharded.

    JAX's axis-wise functions (`cumsum`, `sort`, ...) refuse an input sharded along
    their axis on Explicit mesh axes. There the input is first gathered along that one
    axis (`reshard`, its other dimensions kept), and the result is laid out as the
    mapping says, if one is in force. Elsewhere this is `fn(array, position)` itself.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or AxisType.Explicit not in mesh.axis_types:
        return fn(array, position, **kwargs)
    spec = list(jax.typeof(array).sharding.spec)
    if position >= len(spec) or spec[position] is None:
        return fn(array, position, **kwargs)
    spec[position] = None
    out = fn(jax.sharding.reshard(array, PartitionSpec(*spec)), position, **kwargs)
    laid = out_sharding(axes, op)
    return out if laid is None else jax.sharding.reshard(out, laid)


class ExplicitShardingError(ValueError, JaxShardingTypeError):
    """JAX could not tell how to shard a result on a mesh with Explicit axes.

    A `ValueError` (and JAX's `ShardingTypeError`, for code that catches that) whose
    message names the operation, the operands' axes and the fix.
    """


_FIX = (
    "namedax supplies the output sharding from the axis mapping, so set one that covers "
    "these axes: `with nx.axis_mapping({...}):` around the call (or named_jit(..., "
    "axis_resources={...})). If the operands were placed by hand in conflicting ways (one "
    "contracted axis sharded over different mesh axes), reshard one by name first: "
    "`nx.reshard(x, {...})`. Or use a mesh with AxisType.Auto axes, where the compiler "
    "chooses the layouts."
)


def explain_sharding_error(
    op: str, error: Exception, operands: tuple[tuple[Axis, ...], ...]
) -> ExplicitShardingError:
    """JAX's `ShardingTypeError` from `op` on `operands` as an error that says the fix."""
    if isinstance(error, ExplicitShardingError):
        return error
    shapes = ", ".join(format_axes(a) for a in operands)
    mapping = current_axis_mapping()
    found = "no axis mapping is in force" if mapping is None else f"the mapping is {mapping}"
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return ExplicitShardingError(
        f"{op}: on this mesh with Explicit axes JAX cannot tell how to shard the result of the "
        f"operands {shapes} ({found}). JAX says: {first} Fix: {_FIX}"
    )


@contextlib.contextmanager
def sharding_errors(op: str, *operands: tuple[Axis, ...]) -> Iterator[None]:
    """Re-raises JAX's `ShardingTypeError` as an `ExplicitShardingError` that says the fix."""
    try:
        yield
    except JaxShardingTypeError as e:
        raise explain_sharding_error(op, e, operands) from e
