"""`haliax.partitioning`: namedax's partitioning module with Haliax's extra spellings.

Haliax's `current_thread_local_mapping` is `current_axis_mapping`, and
`_get_mesh` (private in Haliax, called by Haliax-based code) is `context_mesh`.
"""

from jax.sharding import Mesh as Mesh  # Haliax's module exposes both

from namedax.parallel._mesh import MeshLike as MeshLike
from namedax.partitioning import (
    NamedJitWrapped as NamedJitWrapped,
    PhysicalAxisSpec as PhysicalAxisSpec,
    ResourceAxis as ResourceAxis,
    ResourceMapping as ResourceMapping,
    auto_sharded as auto_sharded,
    axis_mapping as axis_mapping,
    context_mesh as context_mesh,
    current_axis_mapping as current_axis_mapping,
    fsdp as fsdp,
    infer_resource_partitions as infer_resource_partitions,
    named_jit as named_jit,
    physical_axis_name as physical_axis_name,
    physical_axis_size as physical_axis_size,
    process_local_to_global as process_local_to_global,
    pspec_for as pspec_for,
    pspec_for_axis as pspec_for_axis,
    round_axis_for_partitioning as round_axis_for_partitioning,
    set_mesh as set_mesh,
    shard as shard,
    shard_map as shard_map,
    shard_with_axis_mapping as shard_with_axis_mapping,
    sharding_for_axis as sharding_for_axis,
)

_get_mesh = context_mesh
current_thread_local_mapping = current_axis_mapping
