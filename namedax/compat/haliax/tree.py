"""`haliax.tree`: `namedax.tree_util`'s functions under short names (`tree.map`).

Examples:
    >>> from namedax.compat.haliax import tree as htree
    >>> tree = {"w": named(jnp.ones((2, 3)), ("a", "b"))}
    >>> htree.leaves(htree.map(lambda x: x * 2, tree))[0].axis_names
    ('a', 'b')
"""

from namedax.core._tree_util import (
    scan_aware_tree_map as scan_aware_map,
    tree_flatten as flatten,
    tree_leaves as leaves,
    tree_map as map,
    tree_structure as structure,
    tree_unflatten as unflatten,
)

__all__ = ["flatten", "leaves", "map", "scan_aware_map", "structure", "unflatten"]
