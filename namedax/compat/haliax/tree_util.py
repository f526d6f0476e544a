"""`haliax.tree_util`: pytree utilities that treat NamedArrays as leaves."""

from typing import Any

import equinox as eqx
import jax

from namedax.tree_util import (
    resize_axis as resize_axis,
    scan_aware_tree_map as scan_aware_tree_map,
    tree_flatten as tree_flatten,
    tree_leaves as tree_leaves,
    tree_map as tree_map,
    tree_structure as tree_structure,
    tree_unflatten as tree_unflatten,
)


def hashable_partition(pytree: Any, filter_spec: Any) -> tuple[Any, tuple[tuple[Any, ...], Any]]:
    """`equinox.partition`, with the static part as a hashable `(leaves, treedef)` pair.

    Examples:
        >>> from namedax.compat.haliax.tree_util import hashable_combine, hashable_partition
        >>> dynamic, static = hashable_partition({"w": jnp.ones(2), "n": 3}, eqx.is_array)
        >>> hash(static) is not None, hashable_combine(dynamic, static)["n"]
        (True, 3)
    """
    dynamic, static = eqx.partition(pytree, filter_spec)
    leaves, treedef = jax.tree_util.tree_flatten(static)
    return dynamic, (tuple(leaves), treedef)


def hashable_combine(dynamic: Any, static: tuple[tuple[Any, ...], Any]) -> Any:
    """The pytree `hashable_partition` split (`equinox.combine` of its two parts)."""
    leaves, treedef = static
    return eqx.combine(dynamic, jax.tree_util.tree_unflatten(treedef, leaves))
