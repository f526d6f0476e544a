"""Global NamedArrays from per-process data, for programs that run on many hosts.

Under JAX's distributed runtime (`jax.distributed.initialize`) every process runs the
same program and sees the whole mesh, but can only fill its own devices. Each process
loads its share of a batch (`batch:B/P` rows on `P` processes); the global array is
assembled, without moving data, by `jax.make_array_from_process_local_data` with the
sharding that the axis mapping gives each NamedArray's names. Along axes the mapping
sends to mesh axes that span processes, the global size is the sum of the local ones;
along the others every process must hold the same values.
"""

from __future__ import annotations

from typing import Any, TypeVar

import jax
import numpy as np
from jax.core import Tracer
from jax.sharding import NamedSharding

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis
from namedax.core._errors import describe
from namedax.core._mapping import ResourceMapping
from namedax.parallel._pspec import AnyMesh, SpecTarget, leaf_specs, require_mesh, resolve_mapping

__all__ = ["process_local_to_global"]

T = TypeVar("T")


def _is_local_data(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def _process_share_counts(sharding: NamedSharding, ndim: int) -> tuple[int, ...]:
    """Per array dimension: into how many process-local parts the sharding splits it.

    A dimension split into `T` shards of which this process's devices hold `L` distinct
    ones is the concatenation of `T / L` process parts (every process holds as many).
    """
    counts = []
    mesh_shape = sharding.mesh.shape
    entries = tuple(sharding.spec) + (None,) * (ndim - len(sharding.spec))
    for entry in entries:
        names = () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)
        counts.append(int(np.prod([mesh_shape[n] for n in names], dtype=int)))
    probe = sharding.devices_indices_map(tuple(counts))  # one element per shard
    local = [probe[d] for d in sharding.addressable_devices]
    return tuple(
        total // len({index[dim].start for index in local}) for dim, total in enumerate(counts)
    )


def process_local_to_global(
    tree: T, mapping: ResourceMapping | None = None, mesh: AnyMesh | None = None
) -> T:
    """Builds global NamedArrays from this process's part of each one, by axis names.

    Call it in every process with that process's data (for instance its rows of the
    batch). Each NamedArray is placed on the mesh by its axis names, as `shard` would
    place the global array: an axis mapped to mesh axes that span several processes
    is the concatenation of the processes' parts (in the mesh's device order), and its
    global size is computed; every other axis must be equal across processes. Plain
    arrays are taken as replicated (every process passes the same value). Other leaves
    pass through. On one process the result equals `shard(tree, mapping, mesh)`.

    Args:
        tree: A pytree of this process's NamedArrays (NumPy or JAX arrays inside).
        mapping: `{logical_axis: mesh_axis}`; defaults to the current `axis_mapping`.
        mesh: The global mesh; defaults to the one set with `jax.set_mesh`.

    Returns:
        The tree with each NamedArray replaced by a global one, with global axis sizes.

    Raises:
        ValueError: If there is no mapping or mesh, a spec is invalid for the mesh, or a
            global axis size is not divisible by the mesh axes it is split over.
        TypeError: If a NamedArray holds a tracer (call it outside `jit`).

    Examples:
        >>> mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        >>> local = named(jnp.arange(16.0).reshape(8, 2), ("batch", "embed"))
        >>> x = process_local_to_global(local, {"batch": "data"}, mesh)  # one process here
        >>> x.axes, x.array.sharding.spec
        ((Axis(name='batch', size=8), Axis(name='embed', size=2)), P('data', None))
    """
    op = "process_local_to_global"
    resolved = resolve_mapping(mapping)
    if resolved is None:
        raise ValueError(
            f"{op}: no axis mapping to place the arrays by; pass mapping=... or call inside "
            "`with namedax.axis_mapping({...}):`."
        )
    the_mesh = require_mesh(mesh, op)
    if not isinstance(the_mesh, jax.sharding.Mesh):
        raise ValueError(f"{op}: needs a concrete jax.sharding.Mesh (call it outside jit).")
    local_target = SpecTarget(op, resolved, the_mesh, check_sizes=False)

    def leaf_spec(x: Any) -> Any:
        if isinstance(x, NamedArray):
            if isinstance(x.array, Tracer):
                raise TypeError(
                    f"{op}: got a traced {describe(x)}; build global arrays outside jit, from "
                    "the data each process loaded."
                )
            return local_target.spec(x.axes)
        return jax.sharding.PartitionSpec() if _is_local_data(x) else None

    specs, leaves, treedef = leaf_specs(tree, leaf_spec)
    global_target = SpecTarget(op, resolved, the_mesh)
    out = []
    for leaf, spec in zip(leaves, specs):
        if spec is None:
            out.append(leaf)
            continue
        sharding = NamedSharding(the_mesh, spec)
        local = np.asarray(leaf.array if isinstance(leaf, NamedArray) else leaf)
        parts = _process_share_counts(sharding, local.ndim)
        shape = tuple(n * k for n, k in zip(local.shape, parts))
        if isinstance(leaf, NamedArray):
            axes = tuple(Axis(a.name, n) for a, n in zip(leaf.axes, shape))
            global_target.spec(axes)  # the global sizes must split evenly
        array = jax.make_array_from_process_local_data(sharding, local, shape)
        out.append(_wrap(array, axes) if isinstance(leaf, NamedArray) else array)
    return jax.tree_util.tree_unflatten(treedef, out)
