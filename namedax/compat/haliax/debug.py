"""`haliax.debug`: checks for common module mistakes, and sharding printouts.

`diagnose_common_issues(module)` raises `ModuleProblems` when one array object sits at
several places of a module (Equinox would treat them as separate parameters, so their
gradients and updates diverge) or when an array is stored in a static field (it is
then baked into compiled code and never trained). `visualize_shardings(tree)` prints,
for every array of a pytree, how it is laid out on the devices, by axis name for
NamedArrays.

Examples:
    >>> import equinox as eqx
    >>> from namedax.compat.haliax.debug import ModuleProblems, diagnose_common_issues
    >>> class Tied(eqx.Module):
    ...     a: jax.Array
    ...     b: jax.Array
    >>> w = jnp.zeros(2)
    >>> try:
    ...     diagnose_common_issues(Tied(w, w))
    ... except ModuleProblems as problems:
    ...     print(problems)
    Found some problems with your module:
      Reused array ndarray(shape=(2,), dtype=float32) at paths ['.a', '.b']
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.tree_util as jtu

from namedax.compat.haliax._src.util import IdentityMap
from namedax.compat.haliax.util import is_jax_or_hax_array_like
from namedax.core._array import NamedArray
from namedax.core._axes import Axis

__all__ = [
    "ModuleProblems",
    "describe_array",
    "diagnose_common_issues",
    "visualize_named_sharding",
    "visualize_shardings",
]


def describe_array(arr: Any) -> str:
    """A one-line description of an array: its axes (or shape) and dtype.

    Examples:
        >>> describe_array(nx.zeros(Axis("x", 2)))
        "NamedArray(axes=(Axis(name='x', size=2),), dtype=float32)"
        >>> describe_array(jnp.zeros((2, 3), jnp.int32))
        'ndarray(shape=(2, 3), dtype=int32)'
    """
    if isinstance(arr, NamedArray):
        return f"NamedArray(axes={arr.axes}, dtype={arr.dtype})"
    return f"ndarray(shape={arr.shape}, dtype={arr.dtype})"


class ModuleProblems(Exception):
    """The problems `diagnose_common_issues` found; false when there are none.

    Attributes:
        reused_arrays: `(array, [paths])` for each array object found at several paths.
        static_arrays: The paths of static fields that hold arrays.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reused_arrays: list[tuple[Any, list[str]]] = []
        self.static_arrays: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.reused_arrays or self.static_arrays)

    def __str__(self) -> str:
        if not self:
            return "No problems found"
        lines = ["Found some problems with your module:"]
        for array, paths in self.reused_arrays:
            lines.append(f"  Reused array {describe_array(array)} at paths {paths}")
        lines += [f"  Static array at field {path}" for path in self.static_arrays]
        return "\n".join(lines)


def diagnose_common_issues(module: eqx.Module) -> None:
    """Checks `module` for reused arrays and arrays in static fields, then runs `eqx.tree_check`.

    Raises:
        ModuleProblems: If either problem is found (it lists every instance).
    """
    problems = ModuleProblems()
    problems.reused_arrays.extend(_reused_arrays(module))
    problems.static_arrays.extend(_static_arrays(module, ""))
    if problems:
        raise problems
    eqx.tree_check(module)


def _reused_arrays(module: Any) -> list[tuple[Any, list[str]]]:
    paths_of: IdentityMap[Any, list[str]] = IdentityMap()
    leaves, _ = jtu.tree_flatten_with_path(module, is_leaf=is_jax_or_hax_array_like)
    for path, leaf in leaves:
        if is_jax_or_hax_array_like(leaf):
            paths_of.setdefault(leaf, []).append(jtu.keystr(path))
    return [(leaf, paths) for leaf, paths in paths_of.items() if len(paths) > 1]


def _static_arrays(node: Any, path: str) -> list[str]:
    """The paths, below `node`, of static dataclass fields that hold arrays."""
    if isinstance(node, eqx.Module):
        found: list[str] = []
        for field in dataclasses.fields(node):
            value = getattr(node, field.name, None)
            if field.metadata.get("static", False) and is_jax_or_hax_array_like(value):
                found.append(f"{path}.{field.name}")
            else:
                found.extend(_static_arrays(value, f"{path}.{field.name}"))
        return found
    children, _ = eqx.tree_flatten_one_level(node)
    if children == [node]:
        return []
    found = []
    for key, child in jtu.tree_leaves_with_path(
        node, is_leaf=lambda x: any(x is c for c in children)
    ):
        found.extend(_static_arrays(child, f"{path}{jtu.keystr(key)}"))
    return found


def _spec_part(part: Any) -> str:
    if part is None:
        return "unsharded"
    if isinstance(part, (tuple, list)):
        return "+".join(str(p) for p in part)
    return str(part)


def visualize_named_sharding(axes: Sequence[Axis], sharding: jax.sharding.Sharding) -> None:
    """Prints how arrays with `axes` are laid out under `sharding`.

    Prints `jax.debug.visualize_sharding`'s grid when at most two axes are sharded (and
    the grid can be drawn), then one line `axis->mesh axes` per axis.
    """
    spec = getattr(sharding, "spec", None)
    parts = [_spec_part(p) for p in (spec if spec is not None else ())]
    parts += ["unsharded"] * (len(axes) - len(parts))
    if sum(p != "unsharded" for p in parts) <= 2:
        # the grid is only drawable for some shapes; the mapping line follows either way
        with contextlib.suppress(Exception):
            jax.debug.visualize_sharding([ax.size for ax in axes], sharding)
    print(", ".join(f"{ax.name}->{part}" for ax, part in zip(axes, parts)))


def visualize_shardings(tree: Any) -> None:
    """Prints the sharding of every array of `tree` (inside `jit` too, when it is known).

    A NamedArray is printed by axis name (`batch->data, embed->unsharded`); a plain array
    with `jax.debug.visualize_sharding`.
    """

    def show(leaf: Any) -> Any:
        axes = leaf.axes if isinstance(leaf, NamedArray) else None
        array = leaf.array if isinstance(leaf, NamedArray) else leaf

        def callback(sharding: Any) -> None:
            if axes is not None:
                visualize_named_sharding(axes, sharding)
                return
            try:
                jax.debug.visualize_sharding(array.shape, sharding)
            except Exception:  # e.g. more than two dimensions: describe it instead
                print(f"shape {tuple(array.shape)}: {sharding}")

        jax.debug.inspect_array_sharding(array, callback=callback)
        return leaf

    jtu.tree_map(show, tree, is_leaf=is_jax_or_hax_array_like)
