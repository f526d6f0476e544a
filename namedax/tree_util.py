"""Pytree utilities that treat NamedArrays as leaves, and `resize_axis`.

Examples:
    >>> tree = {"w": named(jnp.ones((2, 3)), ("a", "b")), "scale": 2.0}
    >>> doubled = nx.tree_util.tree_map(lambda x: x * 2, tree)
    >>> doubled["w"].axes == tree["w"].axes
    True
"""

from namedax.core._tree_util import (
    resize_axis as resize_axis,
    scan_aware_tree_map as scan_aware_tree_map,
    tree_flatten as tree_flatten,
    tree_leaves as tree_leaves,
    tree_map as tree_map,
    tree_structure as tree_structure,
    tree_unflatten as tree_unflatten,
)
