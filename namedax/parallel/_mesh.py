"""Setting the device mesh, and the conventional names of its axes.

`set_mesh(mesh)` is the context that makes `mesh` the one namedax (and JAX) place
arrays on: `jax.set_mesh`. `ResourceAxis` holds the usual mesh axis names as plain
strings, so `jax.make_mesh(shape, (ResourceAxis.DATA, ResourceAxis.MODEL))` and an
axis mapping `{"batch": ResourceAxis.DATA}` read the same as with "data" / "model".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import jax
from jax.sharding import AbstractMesh, Mesh

from namedax.core._errors import describe

__all__ = ["MeshLike", "ResourceAxis", "set_mesh"]

MeshLike = Mesh | AbstractMesh
"""A concrete device mesh or an abstract one (what `jax.set_mesh` and `shard_map` accept)."""


class _NameConstants(type):
    """A class of string constants that can be iterated (and tested with `in`)."""

    def __iter__(cls) -> Iterator[str]:
        return iter(v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, str))

    def __contains__(cls, name: object) -> bool:
        return name in list(cls)


class ResourceAxis(metaclass=_NameConstants):
    """The conventional mesh axis names, as plain strings (Haliax's `ResourceAxis`).

    `DATA` is the data-parallel (and FSDP) axis, `MODEL` the tensor-parallel one,
    `REPLICA` an outer axis of replicas, `REPLICA_DCN` replicas across slices (the
    data-centre network) and `CONTEXT` the sequence (context-parallel) axis. They are
    `str`s, not enum members, so they compare equal to (and can be mixed with) the
    names themselves.

    Examples:
        >>> from namedax.partitioning import ResourceAxis
        >>> ResourceAxis.DATA, list(ResourceAxis), "model" in ResourceAxis
        ('data', ['model', 'data', 'replica', 'replica_dcn', 'context'], True)
        >>> jax.make_mesh((8, 1), (ResourceAxis.DATA, ResourceAxis.MODEL)).axis_names
        ('data', 'model')
    """

    MODEL = "model"
    DATA = "data"
    REPLICA = "replica"
    REPLICA_DCN = "replica_dcn"
    CONTEXT = "context"


def set_mesh(mesh: Mesh | AbstractMesh) -> AbstractContextManager[Any]:
    """The context in which `mesh` is the device mesh: `jax.set_mesh(mesh)`.

    `shard`, `named_jit` and the other partitioning functions place arrays on the
    mesh set this way when no `mesh=` is passed.

    Args:
        mesh: The `jax.sharding.Mesh` (or `AbstractMesh`) to use.

    Returns:
        A context manager; `with set_mesh(mesh): ...`.

    Raises:
        TypeError: If `mesh` is not a mesh.

    Examples:
        >>> from namedax.partitioning import set_mesh, shard
        >>> mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        >>> with set_mesh(mesh):
        ...     x = shard(named(jnp.zeros((8, 2)), ("batch", "embed")), {"batch": "data"})
        >>> x.array.sharding.spec
        P('data', None)
    """
    if not isinstance(mesh, (Mesh, AbstractMesh)):
        raise TypeError(
            f"set_mesh: expected a jax.sharding.Mesh, got {describe(mesh)}; build one with "
            "jax.make_mesh(shape, axis_names)."
        )
    context: Any = mesh  # jax.set_mesh takes abstract meshes too; its stub says Mesh
    return jax.set_mesh(context)
