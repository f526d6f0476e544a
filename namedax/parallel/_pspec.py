"""Partition specs from axis names, and the device mesh they refer to.

A NamedArray's `PartitionSpec` has one entry per axis, in the array's own order:
the mesh axis (or tuple of mesh axes) its name maps to, or `None` (replicated).
Specs are computed once per (axes, mapping, mesh shape) and cached, and checked on
the way: every mesh axis must exist, partition an axis whose size it divides, and
appear at most once per array (`namedax.ops._out_sharding` computes them, so that
operations can derive the `out_sharding` of explicit meshes too).

The mesh is the one passed as `mesh=`, else the one set with `jax.set_mesh`, else the
one of an enclosing `with mesh:` block (JAX's older mesh context).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jax.core import Tracer
from jax.sharding import AbstractMesh, Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis, AxisSelection, AxisSelector, axis_spec_to_tuple
from namedax.core._errors import describe, format_path
from namedax.core._mapping import ResourceMapping, current_axis_mapping, physical_axis_name
from namedax.ops._out_sharding import (
    SpecTarget as SpecTarget,
    format_mesh as _format_mesh,
    mapping_key as mapping_key,
    mesh_axes_of as _entry,
)

__all__ = [
    "infer_resource_partitions",
    "physical_axis_size",
    "pspec_for",
    "pspec_for_axis",
    "round_axis_for_partitioning",
    "sharding_for_axis",
]

try:  # the concrete context mesh even under a trace (eager `grad` too); no public equivalent
    from jax._src.mesh import get_concrete_mesh as _get_concrete_mesh
except ImportError:  # pragma: no cover - a future JAX without it falls back to the public API
    _get_concrete_mesh = None
try:  # `with mesh:` blocks (older JAX's mesh context, still used by Haliax code)
    from jax._src import mesh as _mesh_lib
except ImportError:  # pragma: no cover
    _mesh_lib = None

AnyMesh = Mesh | AbstractMesh

_NO_MESH_FIX = "pass mesh=..., or set one with `with jax.set_mesh(mesh):`"

# --- the mesh -----------------------------------------------------------------------------


def resolve_mesh(mesh: AnyMesh | None, op: str) -> AnyMesh | None:
    """`mesh` if given, else the mesh set with `jax.set_mesh` (abstract inside `jit`), else None."""
    if mesh is not None:
        if not isinstance(mesh, (Mesh, AbstractMesh)):
            raise TypeError(f"{op}: mesh must be a jax.sharding.Mesh, got {describe(mesh)}.")
        return mesh
    abstract = jax.sharding.get_abstract_mesh()
    if not abstract.empty and abstract.manual_axes:  # inside shard_map: its axis types count
        return abstract
    concrete = _concrete_mesh()
    if concrete is not None and not concrete.empty:
        return concrete
    if not abstract.empty:
        return abstract
    return _legacy_context_mesh()


def _legacy_context_mesh() -> Mesh | None:
    """The mesh of a `with mesh:` block (JAX's older mesh context), or None."""
    if _mesh_lib is None:  # pragma: no cover - a JAX without the legacy context
        return None
    found = _mesh_lib.thread_resources.env.physical_mesh
    return None if found.empty else found


def _concrete_mesh() -> Mesh | None:
    """The mesh set with `jax.set_mesh`, also inside traces (`jax.sharding.get_mesh` refuses)."""
    if _get_concrete_mesh is not None:
        return _get_concrete_mesh()
    try:
        return jax.sharding.get_mesh()
    except ValueError:  # inside a trace; the abstract mesh will do
        return None


def require_mesh(mesh: AnyMesh | None, op: str) -> AnyMesh:
    """Like `resolve_mesh`, but raises a `ValueError` saying how to set one if there is none."""
    found = resolve_mesh(mesh, op)
    if found is None:
        raise ValueError(f"{op}: no device mesh is set; {_NO_MESH_FIX}.")
    return found


# --- specs ---------------------------------------------------------------------------------


def leaf_specs(tree: Any, leaf_spec: Callable[[Any], Any]) -> tuple[list, list, Any]:
    """`leaf_spec` of every leaf (NamedArrays are leaves), the leaves and the treedef.

    A `ValueError` from `leaf_spec` is re-raised with the leaf's path appended.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_named_array)
    out = []
    for i, leaf in enumerate(leaves):
        try:
            out.append(leaf_spec(leaf))
        except ValueError as e:
            path = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_named_array)[0][i][0]
            raise ValueError(f"{e} (argument path: {format_path(path, 'tree')})") from None
    return out, leaves, treedef


def resolve_mapping(mapping: ResourceMapping | None) -> ResourceMapping | None:
    return current_axis_mapping() if mapping is None else mapping


def is_array(x: Any) -> bool:
    """A concrete or traced array (what `shard` can place)."""
    return isinstance(x, (jax.Array, np.ndarray))


def is_array_like(x: Any) -> bool:
    """An array or an abstract stand-in for one (what has a spec)."""
    return isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))


def pspec_for(
    tree: Any,
    mapping: ResourceMapping | None = None,
    preserve_existing_shardings: bool = False,
) -> Any:
    """The `PartitionSpec` of every array in a pytree, from axis names through the mapping.

    A NamedArray gets one spec entry per axis, in its own axis order. A plain array
    field of an `equinox.Module` declared with `field(axis_names=...)` is treated as
    a NamedArray with those names. Any other plain array gets a replicated spec
    (`PartitionSpec()` for a 0-d array, `PartitionSpec(None)` otherwise), as do Python
    scalars; every other leaf `None`. If a mesh is set (`jax.set_mesh` or `with mesh:`),
    the specs are checked against it.

    Args:
        tree: Any pytree; NamedArrays are treated as leaves.
        mapping: `{logical_axis: mesh_axis}`; defaults to the current `axis_mapping`.
        preserve_existing_shardings: If true, a concrete array that already has a
            sharding (any committed `jax.Array`, named or plain, except a plain array on
            a single device) gets `None`: keep it where it is.

    Returns:
        A pytree of the same structure with `PartitionSpec`s (or `None`) as leaves.

    Raises:
        ValueError: If there is no mapping, one array maps two axes to one mesh axis
            (or, with a mesh, names a missing mesh axis or an indivisible size), or an
            array field's `axis_names` do not match its number of dimensions.

    Examples:
        >>> x = named(jnp.zeros((8, 4)), ("batch", "embed"))
        >>> pspec_for({"x": x, "n": 3, "name": "x"}, {"batch": "data"})
        {'n': P(), 'name': None, 'x': P('data', None)}
        >>> pspec_for(x, {"batch": "data"}, preserve_existing_shardings=True) is None
        True
    """
    mapping = resolve_mapping(mapping)
    if mapping is None:
        raise ValueError(
            "pspec_for: no axis mapping was given and none is in force; pass mapping=... or "
            "call inside `with namedax.axis_mapping({...}):`."
        )
    target = SpecTarget("pspec_for", mapping, resolve_mesh(None, "pspec_for"))

    def leaf_spec(x: Any) -> Any:
        if isinstance(x, NamedArray):
            if not is_array_like(x.array) or (preserve_existing_shardings and _placed(x.array)):
                return None
            return target.spec(x.axes)
        if isinstance(x, (bool, int, float, complex)):
            return PartitionSpec()
        if not is_array_like(x):
            return None
        if np.ndim(x) == 0:
            return PartitionSpec()
        keep = preserve_existing_shardings and _placed(x)
        single = keep and isinstance(x.sharding, SingleDeviceSharding)
        return None if keep and not single else PartitionSpec(None)

    specs, _, treedef = leaf_specs(name_array_fields(tree, "pspec_for"), leaf_spec)
    return jax.tree_util.tree_unflatten(treedef, specs)


def _placed(x: Any) -> bool:
    """A concrete `jax.Array` (it has a sharding of its own), not a tracer or an abstract one."""
    return isinstance(x, jax.Array) and not isinstance(x, Tracer)


def infer_resource_partitions(
    tree: Any,
    mapping: ResourceMapping | None = None,
    preserve_existing_shardings: bool = False,
    mesh: AnyMesh | None = None,
) -> Any:
    """Like `pspec_for`, but `NamedSharding`s on the mesh (for `jax.jit`'s `in_shardings` etc.).

    With `preserve_existing_shardings=True`, a concrete array keeps its own sharding.

    Examples:
        >>> mesh = jax.make_mesh((8,), ("data",))
        >>> x = named(jnp.zeros((8, 4)), ("batch", "embed"))
        >>> infer_resource_partitions(x, {"batch": "data"}, mesh=mesh).spec
        P('data', None)
    """
    mesh = require_mesh(mesh, "infer_resource_partitions")
    mapping = resolve_mapping(mapping) or {}
    target = SpecTarget("infer_resource_partitions", mapping, mesh)

    def leaf_sharding(x: Any) -> Any:
        array = x.array if isinstance(x, NamedArray) else x
        if not is_array_like(array):
            return None
        if preserve_existing_shardings and _placed(array):
            return array.sharding
        spec = target.spec(x.axes) if isinstance(x, NamedArray) else PartitionSpec()
        return NamedSharding(mesh, spec)

    tree = name_array_fields(tree, "infer_resource_partitions")
    shardings, _, treedef = leaf_specs(tree, leaf_sharding)
    return jax.tree_util.tree_unflatten(treedef, shardings)


def name_array_fields(tree: Any, op: str) -> Any:
    """`tree` with each plain-array field declared `field(axis_names=...)` as a NamedArray.

    The tree keeps its structure (a NamedArray is one leaf where the array was), so
    specs computed on the result unflatten into the original tree's shape.
    """

    def visit(node: Any) -> Any:
        if not isinstance(node, eqx.Module) or isinstance(node, NamedArray):
            return node
        rebuilt = object.__new__(type(node))
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            names = f.metadata.get("axis_names")
            if names is not None and is_array_like(value):
                value = _named_field(node, f.name, value, names, op)
            elif not f.metadata.get("static", False):
                value = jax.tree_util.tree_map(visit, value, is_leaf=_is_module)
            object.__setattr__(rebuilt, f.name, value)
        return rebuilt

    return jax.tree_util.tree_map(visit, tree, is_leaf=_is_module)


def _is_module(x: Any) -> bool:
    return isinstance(x, eqx.Module) and not isinstance(x, NamedArray)


def _named_field(module: Any, name: str, value: Any, names: tuple[str, ...], op: str) -> NamedArray:
    shape = tuple(np.shape(value))
    if len(shape) != len(names):
        raise ValueError(
            f"{op}: field {type(module).__name__}.{name} declares axis_names={names!r} "
            f"({len(names)} axes) but holds an array of shape {shape}; declare one name per "
            "dimension."
        )
    return _wrap(value, tuple(Axis(n, k) for n, k in zip(names, shape)))


def pspec_for_axis(axis: AxisSelection, mapping: ResourceMapping | None = None) -> PartitionSpec:
    """The `PartitionSpec` for an array with exactly these axes, in this order.

    Examples:
        >>> pspec_for_axis(("batch", "embed"), {"embed": "model"})
        P(None, 'model')
    """
    mapping = resolve_mapping(mapping) or {}
    names = [a.name if isinstance(a, Axis) else a for a in axis_spec_to_tuple(axis)]
    return PartitionSpec(*(physical_axis_name(name, mapping) for name in names))


def sharding_for_axis(
    axis: AxisSelection, mapping: ResourceMapping | None = None, mesh: AnyMesh | None = None
) -> NamedSharding:
    """The `NamedSharding` for an array with exactly these axes, in this order, on a mesh.

    Args:
        axis: The array's axes (or their names), in storage order.
        mapping: The axis mapping; defaults to the current one.
        mesh: The mesh; defaults to the one set with `jax.set_mesh`.

    Raises:
        ValueError: If no mesh is given or set.

    Examples:
        >>> mesh = jax.make_mesh((4, 2), ("data", "model"))
        >>> sharding_for_axis(("batch", "embed"), {"batch": "data"}, mesh).spec
        P('data', None)
    """
    found = require_mesh(mesh, "sharding_for_axis")
    return NamedSharding(found, pspec_for_axis(axis, mapping))


def context_mesh() -> AnyMesh:
    """The mesh set with `jax.set_mesh` (or `with mesh:`), else JAX's empty abstract mesh.

    Examples:
        >>> context_mesh().empty
        True
        >>> with jax.set_mesh(jax.make_mesh((8,), ("data",))):
        ...     print(dict(context_mesh().shape))
        {'data': 8}
    """
    found = resolve_mesh(None, "context_mesh")
    return jax.sharding.get_abstract_mesh() if found is None else found


# --- sizes ---------------------------------------------------------------------------------


def physical_axis_size(
    axis: AxisSelector, mapping: ResourceMapping | None = None, mesh: AnyMesh | None = None
) -> int | None:
    """How many shards a logical axis is split into: the product of its mesh axes' sizes.

    Args:
        axis: The logical axis, by `Axis` or name.
        mapping: The mapping to consult; defaults to the current one.
        mesh: The mesh; defaults to the one set with `jax.set_mesh`.

    Returns:
        The number of shards, or None if the axis is not mapped (replicated).

    Raises:
        ValueError: If no mesh is set or the axis maps to a mesh axis the mesh lacks.

    Examples:
        >>> mesh = jax.make_mesh((4, 2), ("data", "model"))
        >>> physical_axis_size("batch", {"batch": ("data", "model")}, mesh)
        8
        >>> physical_axis_size("embed", {"batch": "data"}, mesh) is None
        True
    """
    name = axis.name if isinstance(axis, Axis) else axis
    phys = physical_axis_name(name, mapping)
    if phys is None:
        return None
    mesh = require_mesh(mesh, "physical_axis_size")
    sizes = dict(mesh.shape)
    size = 1
    for m in _entry(phys):
        if m not in sizes:
            raise ValueError(
                f"physical_axis_size: axis {name!r} is mapped to mesh axis {m!r}, but the mesh has "
                f"no such axis; its axes are {_format_mesh(sizes)}."
            )
        size *= sizes[m]
    return size


def round_axis_for_partitioning(
    axis: Axis, mapping: ResourceMapping | None = None, mesh: AnyMesh | None = None
) -> Axis:
    """`axis` grown to the next multiple of its number of shards (unchanged if unmapped).

    Examples:
        >>> mesh = jax.make_mesh((8,), ("data",))
        >>> round_axis_for_partitioning(Axis("vocab", 50), {"vocab": "data"}, mesh)
        Axis(name='vocab', size=56)
    """
    parts = physical_axis_size(axis, mapping, mesh)
    if parts is None:
        return axis
    return axis.resize(-(-axis.size // parts) * parts)
