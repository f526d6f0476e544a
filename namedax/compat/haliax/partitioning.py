"""`haliax.partitioning`: namedax's partitioning module with Haliax's extra spellings.

Haliax's `current_thread_local_mapping` is `current_axis_mapping`, and
`_get_mesh` (private in Haliax, called by Haliax-based code) is `context_mesh`. `shard`
differs from namedax's where Haliax's does: with no mapping or no mesh it warns and
returns its input instead of raising.
"""

import warnings
from typing import Any

from jax.sharding import Mesh as Mesh  # Haliax's module exposes both

from namedax.compat.haliax.jax_utils import is_in_jit
from namedax.parallel._mesh import MeshLike as MeshLike
from namedax.parallel._pspec import resolve_mesh
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
    shard as _namedax_shard,
    shard_map as shard_map,
    shard_with_axis_mapping as shard_with_axis_mapping,
    sharding_for_axis as sharding_for_axis,
)

_get_mesh = context_mesh
current_thread_local_mapping = current_axis_mapping


def shard(x: Any, mapping: Any = None, mesh: Any = None) -> Any:
    """Haliax's `shard`: as `namedax.shard`, but with no mapping or no mesh it returns `x`.

    namedax's `shard` raises when a mapping is in force and no mesh is set; Haliax code
    calls `shard` in places that also run without a mesh, so here that case (and the case
    of no mapping at all) emits a `RuntimeWarning` outside `jit` and leaves `x` as it is.

    Examples:
        >>> import warnings
        >>> from namedax.compat.haliax.partitioning import shard
        >>> x = nx.zeros({"batch": 4})
        >>> with nx.axis_mapping({"batch": "data"}), warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     shard(x) is x, str(w[0].message).startswith("shard: No mesh found")
        (True, True)
    """
    if mapping is None:
        mapping = current_axis_mapping()
    if mapping is None:
        if not is_in_jit():
            warnings.warn(
                "shard: No resource mapping found. Not sharding (set one with "
                "axis_mapping({...}) or pass mapping=).",
                RuntimeWarning,
                stacklevel=2,
            )
        return x
    if resolve_mesh(mesh, "shard") is None:
        if not is_in_jit():
            warnings.warn(
                "shard: No mesh found. Not sharding: the axis mapping is set but no device mesh "
                "is (set one with `with jax.set_mesh(mesh):` or pass mesh=).",
                RuntimeWarning,
                stacklevel=2,
            )
        return x
    return _namedax_shard(x, mapping, mesh)
