"""Placing NamedArrays on a device mesh according to their axis names.

Outside a trace arrays are moved with one batched `jax.device_put`; inside `jit`,
`grad`, `vmap`, ... the layout is imposed by the means each mesh axis type takes:
`with_sharding_constraint` over Auto axes, `jax.sharding.reshard` over Explicit axes
(the array's type changes), both on a mixed mesh. The specs come from
`namedax.parallel._pspec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import jax
from jax.core import Tracer
from jax.sharding import AbstractMesh, AxisType, NamedSharding, PartitionSpec

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._errors import describe
from namedax.core._mapping import ResourceMapping, current_axis_mapping
from namedax.ops._out_sharding import mesh_axes_of, split_spec
from namedax.parallel._pspec import (
    AnyMesh,
    SpecTarget,
    is_array,
    leaf_specs,
    require_mesh,
    resolve_mapping,
    resolve_mesh,
)

__all__ = [
    "auto_sharded",
    "explicit_sharded",
    "reshard",
    "shard",
    "shard_tree",
    "shard_with_axis_mapping",
]

T = TypeVar("T")

# --- placing arrays ------------------------------------------------------------------------


def constrain(array: Any, spec: PartitionSpec, mesh: AnyMesh) -> Any:
    """A traced `array` laid out as `spec` on `mesh`, by the means each mesh axis type takes.

    Explicit axes change the array's type with `jax.sharding.reshard`; Auto axes get a
    `with_sharding_constraint`; Manual axes (inside `shard_map`) are already split and
    are left out. A mixed mesh gets both, each with its own axes.
    """
    kinds = set(mesh.axis_types)
    if kinds == {AxisType.Auto}:
        return jax.lax.with_sharding_constraint(array, NamedSharding(mesh, spec))
    explicit, rest = split_spec(spec, mesh)
    if AxisType.Explicit in kinds:
        array = jax.sharding.reshard(array, NamedSharding(mesh, explicit))
    if AxisType.Manual in kinds:
        manual = set(mesh.manual_axes)
        rest = PartitionSpec(*(_without(entry, manual) for entry in rest))
    if AxisType.Auto in kinds and any(e is not None for e in rest):
        array = jax.lax.with_sharding_constraint(array, NamedSharding(mesh, rest))
    return array


def _without_manual(mapping: ResourceMapping, mesh: AbstractMesh) -> dict[str, Any]:
    """`mapping` without the mesh's Manual axes (inside `shard_map` the arrays are local)."""
    manual = set(mesh.manual_axes)
    return {name: _without(value, manual) for name, value in mapping.items()}


def _without(entry: Any, names: set[str]) -> Any:
    kept = [m for m in mesh_axes_of(entry) if m not in names]
    return None if not kept else kept[0] if len(kept) == 1 else tuple(kept)


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
        array = leaf.array
        if abstract or isinstance(array, Tracer):
            leaves[i] = _wrap(constrain(array, spec, mesh), leaf.axes)
        else:
            to_put.append(i)
            put_arrays.append(array)
            put_shardings.append(NamedSharding(mesh, spec))
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
    if mapping is None:
        return tree
    found = resolve_mesh(mesh, "auto_sharded")
    if found is None:
        return tree
    if isinstance(found, AbstractMesh) and found.manual_axes:  # inside shard_map
        mapping = _without_manual(mapping, found)
    if isinstance(tree, NamedArray) and isinstance(tree.array, Tracer):  # the layers' case
        spec = SpecTarget("auto_sharded", mapping, found).spec(tree.axes)
        return _wrap(constrain(tree.array, spec, found), tree.axes)  # type: ignore[return-value]
    return shard_tree(tree, mapping, found, "auto_sharded")


def explicit_sharded(tree: T) -> T:
    """On a mesh with Explicit axes, `tree`'s NamedArrays laid out by the current mapping.

    A parameter partitioned by a parameter mapping (FSDP: `embed -> data`) cannot meet
    an activation partitioned by the compute mapping (`batch -> data`) in an
    elementwise operation on Explicit axes: JAX refuses a result sharded twice over
    one mesh axis. Layers pass such parameters (biases, norm scales) through this
    first, which gathers them as the compute mapping says. On Auto axes the compiler
    makes that choice, so this returns `tree` itself, as it does with no mapping or
    no mesh.

    Examples:
        >>> w = named(jnp.ones(8), "embed")
        >>> explicit_sharded(w) is w
        True
    """
    mapping = current_axis_mapping()
    if mapping is None:
        return tree
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or AxisType.Explicit not in mesh.axis_types:
        return tree
    if mesh.manual_axes:  # inside shard_map: those axes are already split
        mapping = _without_manual(mapping, mesh)
    target = SpecTarget("explicit_sharded", mapping, mesh)

    def relaid(x: Any) -> Any:
        if not isinstance(x, NamedArray) or not is_array(x.array):
            return x
        explicit, _ = split_spec(target.spec(x.axes), mesh)
        return _wrap(jax.sharding.reshard(x.array, explicit), x.axes)

    return jax.tree_util.tree_map(relaid, tree, is_leaf=is_named_array)


def reshard(tree: T, mapping: ResourceMapping | None = None, mesh: AnyMesh | None = None) -> T:
    """Lays out every NamedArray in a pytree by its axis names, on any kind of mesh.

    The by-name counterpart of `jax.sharding.reshard`: each array's layout comes from
    its axis names through `mapping`. On a mesh with `Explicit` axes the arrays' types
    change (later operations see the new sharding); on `Auto` axes a sharding
    constraint is added; on a mixed mesh both, each over its own axes. Outside `jit`
    the arrays are moved with `jax.device_put`. Axes the mapping does not mention are
    replicated.

    Unlike `shard`, which passes the tree through when no mapping is in force (so model
    code may call it unconditionally), `reshard` is an explicit request and needs one.

    Args:
        tree: Any pytree holding NamedArrays.
        mapping: `{logical_axis: mesh_axis | (mesh_axis, ...) | None}`; defaults to the
            current `axis_mapping`.
        mesh: The device mesh; defaults to the one set with `jax.set_mesh`.

    Returns:
        The same tree with its NamedArrays laid out by the mapping.

    Raises:
        ValueError: If no mapping is given or in force, no mesh is set, or an array's
            spec is invalid for the mesh (a missing mesh axis, an indivisible size, two
            axes of one array on one mesh axis).

    Examples:
        >>> from jax.sharding import AxisType
        >>> mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
        >>> x = named(jnp.zeros((8, 6)), ("batch", "embed"))
        >>> with jax.set_mesh(mesh):
        ...     y = nx.reshard(x, {"batch": "data"})
        ...     z = jax.jit(lambda y: nx.reshard(y, {"embed": "model"}))(y)
        >>> y.array.sharding.spec, z.array.sharding.spec
        (P('data', None), P(None, 'model'))
    """
    mapping = resolve_mapping(mapping)
    if mapping is None:
        raise ValueError(
            "reshard: no axis mapping was given and none is in force; pass one, e.g. "
            "reshard(x, {'batch': 'data'}), or call inside `with nx.axis_mapping({...}):`."
        )
    return shard_tree(tree, mapping, mesh, "reshard")


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
