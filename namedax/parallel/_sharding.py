"""Placing NamedArrays on a device mesh according to their axis names.

Outside a trace arrays are moved with one batched `jax.device_put`; inside `jit`,
`grad`, `vmap`, ... a sharding constraint is added instead. The specs come from
`namedax.parallel._pspec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import jax
from jax.core import Tracer
from jax.sharding import AbstractMesh, AxisType, NamedSharding

from namedax.core._array import NamedArray, _wrap
from namedax.core._errors import describe
from namedax.core._mapping import ResourceMapping, current_axis_mapping
from namedax.parallel._pspec import (
    AnyMesh,
    SpecTarget,
    is_array,
    leaf_specs,
    require_mesh,
    resolve_mapping,
    resolve_mesh,
)

__all__ = ["auto_sharded", "shard", "shard_tree", "shard_with_axis_mapping"]

T = TypeVar("T")

# --- placing arrays ------------------------------------------------------------------------


def _has_explicit_axes(mesh: AnyMesh) -> bool:
    return any(t == AxisType.Explicit for t in mesh.axis_types)


def shard(tree: T, mapping: ResourceMapping | None = None, mesh: AnyMesh | None = None) -> T:
    """Partitions every NamedArray in a pytree over the mesh according to its axis names.

    Outside `jit` the arrays are moved with `jax.device_put`; inside a trace (`jit`,
    `grad`, `vmap`, ...) a sharding constraint is added instead
    (`with_sharding_constraint`, or `jax.sharding.reshard` on a mesh with `Explicit`
    axes). Axes the mapping does not mention are replicated.

    Plain arrays are left alone: without names there is no telling which dimension
    means what (shard them yourself with `jax.device_put`). Non-array leaves pass
    through. With no mapping given and none in force, `shard` returns `tree` unchanged,
    so model code may call it unconditionally.

    Args:
        tree: Any pytree holding NamedArrays.
        mapping: `{logical_axis: mesh_axis | (mesh_axis, ...) | None}`; defaults to the
            current `axis_mapping`.
        mesh: The device mesh; defaults to the one set with `jax.set_mesh`.

    Returns:
        The same tree with its NamedArrays partitioned.

    Raises:
        ValueError: If a mapping is in force but no mesh is set, or an array's spec is
            invalid for the mesh (a missing mesh axis, an axis size not divisible by its
            mesh axes' size, two axes of one array on the same mesh axis).

    Examples:
        >>> mesh = jax.make_mesh((4, 2), ("data", "model"))
        >>> x = named(jnp.zeros((8, 6)), ("batch", "embed"))
        >>> y = shard(x, {"batch": "data"}, mesh)
        >>> y.array.sharding.spec
        P('data', None)
        >>> y.array.addressable_shards[0].data.shape
        (2, 6)
    """
    mapping = resolve_mapping(mapping)
    if mapping is None:
        return tree
    return shard_tree(tree, mapping, mesh, "shard")


def shard_tree(tree: T, mapping: ResourceMapping, mesh: AnyMesh | None, op: str) -> T:
    """`shard` with a given mapping; errors name `op`."""
    mesh = require_mesh(mesh, op)
    target = SpecTarget(op, mapping, mesh)
    explicit = _has_explicit_axes(mesh)
    abstract = isinstance(mesh, AbstractMesh)

    def leaf_spec(x: Any) -> Any:
        if isinstance(x, NamedArray) and is_array(x.array):
            return target.spec(x.axes)
        return None

    specs, leaves, treedef = leaf_specs(tree, leaf_spec)
    to_put: list[int] = []
    put_arrays: list[Any] = []
    put_shardings: list[NamedSharding] = []
    for i, (leaf, spec) in enumerate(zip(leaves, specs)):
        if spec is None:
            continue
        sharding = NamedSharding(mesh, spec)
        array = leaf.array
        if abstract or isinstance(array, Tracer):
            if explicit:
                array = jax.sharding.reshard(array, sharding)
            else:
                array = jax.lax.with_sharding_constraint(array, sharding)
            leaves[i] = _wrap(array, leaf.axes)
        else:
            to_put.append(i)
            put_arrays.append(array)
            put_shardings.append(sharding)
    if to_put:
        for i, array in zip(to_put, jax.device_put(put_arrays, put_shardings)):
            leaves[i] = _wrap(array, leaves[i].axes)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def auto_sharded(tree: T, mesh: AnyMesh | None = None) -> T:
    """`shard` with the current `axis_mapping`; a no-op when no mapping or no mesh is set.

    Library and model code call this on activations so that the same code runs on
    one device and, under `axis_mapping` and `jax.set_mesh`, partitioned.

    Examples:
        >>> x = named(jnp.zeros((8, 6)), ("batch", "embed"))
        >>> auto_sharded(x) is x  # no mapping in force
        True
        >>> with namedax.axis_mapping({"batch": "data"}):
        ...     y = auto_sharded(x, jax.make_mesh((8,), ("data",)))
        >>> y.array.sharding.spec
        P('data', None)
    """
    mapping = current_axis_mapping()
    if mapping is None or resolve_mesh(mesh, "auto_sharded") is None:
        return tree
    return shard(tree, mapping, mesh)


def shard_with_axis_mapping(tree: T, mapping: ResourceMapping, mesh: AnyMesh | None = None) -> T:
    """`shard(tree, mapping, mesh)` with the mapping given explicitly (Haliax's older name).

    Examples:
        >>> mesh = jax.make_mesh((8,), ("data",))
        >>> x = named(jnp.zeros((8, 2)), ("batch", "embed"))
        >>> shard_with_axis_mapping(x, {"batch": "data"}, mesh).array.sharding.spec
        P('data', None)
    """
    if not isinstance(mapping, Mapping):
        raise TypeError(
            "shard_with_axis_mapping: mapping must be a {logical_axis: mesh_axis} dict, got "
            f"{describe(mapping)}; use shard(tree) to take the current axis_mapping."
        )
    return shard_tree(tree, mapping, mesh, "shard_with_axis_mapping")
