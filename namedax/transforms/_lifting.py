"""What the lifted transforms (`vmap`, `scan`, `nmap`) share: carrying outputs out.

A function lifted over a named axis may return any pytree. Only its arrays can pass
through `jax.vmap` or `jax.lax.scan`, so the output is split into the positional
arrays (which the transform stacks along a new leading dimension) and the *static*
part: the tree structure and, for each leaf, its axes, a marker for a plain array,
or the non-array value itself. After the transform, `stack_output` puts the two
back together, giving each NamedArray the mapped axes in front.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis

__all__: list[str] = []


class Static:
    """A non-array output leaf, returned as it is."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


PLAIN_ARRAY = object()
"""The slot of a plain-array output leaf: it gains a leading dimension, no name."""


def is_array(x: Any) -> bool:
    """Whether `x` is a positional array: a JAX array, or a NumPy array or scalar."""
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def split_output(out: Any) -> tuple[list[Any], tuple[Any, list[Any]]]:
    """The array leaves of `out` and its static part `(treedef, slots)`.

    A slot is the axes of a NamedArray, `PLAIN_ARRAY`, or a `Static` value.
    """
    leaves, treedef = jax.tree_util.tree_flatten(out, is_leaf=is_named_array)
    dynamic: list[Any] = []
    slots: list[Any] = []
    for leaf in leaves:
        if isinstance(leaf, NamedArray):
            dynamic.append(leaf.array)
            slots.append(leaf.axes)
        elif is_array(leaf):
            dynamic.append(leaf)
            slots.append(PLAIN_ARRAY)
        else:
            slots.append(Static(leaf))
    return dynamic, (treedef, slots)


def stack_output(
    dynamic: list[Any],
    static: tuple[Any, list[Any]],
    mapped: tuple[Axis, ...],
    clash: Callable[[tuple[Axis, ...], str], str] | None = None,
) -> Any:
    """Rebuilds the output tree: NamedArrays get the `mapped` axes in front.

    Args:
        dynamic: The stacked arrays, in the order `split_output` returned them.
        static: The static part from `split_output`.
        mapped: The axes the transform added in front of every array.
        clash: Builds the error message for a NamedArray output that already holds a
            mapped axis, from its axes and that axis's name; `None` when the caller has
            ruled that out.

    Raises:
        ValueError: If an output NamedArray already has a mapped axis.
    """
    treedef, slots = static
    arrays = iter(dynamic)
    names = {a.name for a in mapped}
    leaves = []
    for slot in slots:
        if isinstance(slot, Static):
            leaves.append(slot.value)
        elif slot is PLAIN_ARRAY:
            leaves.append(next(arrays))
        else:
            taken = next((a.name for a in slot if a.name in names), None)
            if taken is not None and clash is not None:
                raise ValueError(clash(slot, taken))
            leaves.append(_wrap(next(arrays), mapped + slot))
    return jax.tree_util.tree_unflatten(treedef, leaves)
