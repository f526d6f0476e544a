"""Partitioning named axes onto a device mesh, with JAX's own sharding machinery.

Model code names *logical* axes (`batch`, `embed`, `mlp`); a device mesh has
*physical* axes (`data`, `model`). An axis mapping such as `{"batch": "data"}`
connects the two, so one model runs data-parallel, FSDP or tensor-parallel by
changing the mapping, never the model:

* `axis_mapping(mapping, merge=False)` sets the mapping for the current thread;
  `current_axis_mapping()` reads it and `physical_axis_name(axis)` looks one axis up.
* `shard(tree)` partitions every NamedArray in a pytree (`device_put` outside `jit`,
  a sharding constraint inside); `auto_sharded(tree)` does so only when a mapping and
  a mesh are set; `reshard(tree, mapping)` is the explicit request (it needs a
  mapping) and, on `Explicit` mesh axes, changes the arrays' types.
  `pspec_for(tree)` and `infer_resource_partitions(tree)` give the
  `PartitionSpec`s / `NamedSharding`s themselves.
* `named_jit(fn, axis_resources, ...)` is a filtered `jax.jit` that applies mappings
  to inputs and outputs; `fsdp(fn, parameter_mapping, compute_mapping)` is the FSDP
  pattern on top of it.
* `shard_map(fn, mesh)` is `jax.shard_map` with specs derived from axis names.

The mesh is a `jax.sharding.Mesh`, passed as `mesh=` or set with `jax.set_mesh`.
On meshes with `AxisType.Auto` axes XLA propagates shardings through the model from
the constraints namedax's layers add. On `Explicit` axes ("sharding in types")
namedax uses `jax.sharding.reshard`, and operations that JAX cannot lay out by
itself (contractions over sharded axes, reshapes, gathers) get their
`out_sharding` from the result's axis names and the mapping; see
docs/partitioning.md for which kind to choose.

Examples:
    >>> from jax.sharding import AxisType
    >>> from namedax.partitioning import axis_mapping, shard
    >>> mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    >>> x = named(jnp.zeros((8, 6)), ("batch", "embed"))
    >>> with jax.set_mesh(mesh), axis_mapping({"batch": "data", "embed": "model"}):
    ...     y = shard(x)
    >>> y.array.sharding.spec
    P('data', 'model')
"""

from namedax.core._deprecation import deprecated_names as _deprecated_names
from namedax.core._mapping import (
    ResourceAxis as PhysicalAxisSpec,
    ResourceMapping as ResourceMapping,
    axis_mapping as axis_mapping,
    current_axis_mapping as current_axis_mapping,
    physical_axis_name as physical_axis_name,
)
from namedax.parallel._mesh import ResourceAxis as ResourceAxis, set_mesh as set_mesh
from namedax.parallel._multihost import process_local_to_global as process_local_to_global
from namedax.parallel._named_jit import (
    NamedJitWrapped as NamedJitWrapped,
    fsdp as fsdp,
    named_jit as named_jit,
)
from namedax.parallel._pspec import (
    context_mesh as context_mesh,
    infer_resource_partitions as infer_resource_partitions,
    physical_axis_size as physical_axis_size,
    pspec_for as pspec_for,
    pspec_for_axis as pspec_for_axis,
    round_axis_for_partitioning as round_axis_for_partitioning,
    sharding_for_axis as sharding_for_axis,
)
from namedax.parallel._shard_map import shard_map as shard_map
from namedax.parallel._sharding import (
    auto_sharded as auto_sharded,
    reshard as reshard,
    shard as shard,
    shard_with_axis_mapping as shard_with_axis_mapping,
)

__getattr__ = _deprecated_names(
    __name__,
    {
        "current_thread_local_mapping": (
            lambda: current_axis_mapping,
            "it is `namedax.partitioning.current_axis_mapping` (Haliax's spelling is "
            "`haliax.partitioning.current_thread_local_mapping` under `install_as_haliax()`)",
        )
    },
)

__all__ = [
    "NamedJitWrapped",
    "PhysicalAxisSpec",
    "ResourceAxis",
    "ResourceMapping",
    "auto_sharded",
    "axis_mapping",
    "context_mesh",
    "current_axis_mapping",
    "fsdp",
    "infer_resource_partitions",
    "named_jit",
    "physical_axis_name",
    "physical_axis_size",
    "process_local_to_global",
    "pspec_for",
    "pspec_for_axis",
    "round_axis_for_partitioning",
    "sharding_for_axis",
    "shard",
    "reshard",
    "set_mesh",
    "shard_map",
    "shard_with_axis_mapping",
]
