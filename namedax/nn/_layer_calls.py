"""What `Stacked` and `BlockSeq` share: slicing per layer and checking what a block returns.

The one rule for calls lives here: a NamedArray that carries the layers axis is
sliced per layer; every other value is passed whole to each layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax import lax

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis
from namedax.core._errors import describe_tree

__all__: list[str] = []


class LayerSequence:
    """What `Stacked` and `BlockSeq` share as modules: layers indexed by the `Layers` axis."""

    Layers: Axis  # a field of each (Equinox) subclass

    @property
    def Block(self) -> Axis:  # the Haliax name of the layers axis
        """The layers axis (Haliax calls it `Block`)."""
        return self.Layers


def _is_array(x: Any) -> bool:
    return isinstance(x, (NamedArray, jax.Array, np.ndarray, jax.ShapeDtypeStruct))


def _slice_layer(x: Any, Layers: Axis, i: int) -> Any:
    """Layer `i` of a NamedArray with `Layers` (other values are returned as they are)."""
    if isinstance(x, NamedArray) and Layers.name in x.axis_names:
        pos = x.axis_names.index(Layers.name)
        return _wrap(
            lax.index_in_dim(x.array, i, pos, keepdims=False), x.axes[:pos] + x.axes[pos + 1 :]
        )
    return x


def _slice_args(tree: Any, Layers: Axis, i: int) -> Any:
    return jax.tree_util.tree_map(
        lambda x: _slice_layer(x, Layers, i), tree, is_leaf=is_named_array
    )


def _check_fold_result(op: str, carry: Any, out: Any) -> None:
    # Plain tree structures: a NamedArray's treedef holds its axes, so they are compared too.
    want = jax.tree_util.tree_structure(carry)
    if jax.tree_util.tree_structure(out) == want:
        return
    if isinstance(out, tuple) and len(out) == 2 and jax.tree_util.tree_structure(out[0]) == want:
        raise TypeError(
            f"{op}: the block returned a pair (carry, output), but fold keeps only the carry. "
            "Use .scan (or .scan_via) for a block that returns (carry, output); its outputs are "
            "stacked along the layers axis."
        )
    raise ValueError(
        f"{op}: the block must return the next carry, with the structure and axes of the carry "
        f"it received ({describe_tree(carry)}), but it returned {describe_tree(out)}."
    )


def _check_scan_result(op: str, carry: Any, out: Any) -> None:
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(
            f"{op}: the block must return a pair (carry, output), but it returned "
            f"{describe_tree(out)}. Use .fold (or .fold_via) for a block that returns only the "
            "carry."
        )
    want = jax.tree_util.tree_structure(carry)
    if jax.tree_util.tree_structure(out[0]) != want:
        raise ValueError(
            f"{op}: the carry returned by the block, {describe_tree(out[0])}, differs from the "
            f"carry it received, {describe_tree(carry)}. It must keep its structure and axes."
        )


def _call_method(method: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(method):
        return method
    return lambda block, *args, **kwargs: getattr(block, method)(*args, **kwargs)


def _flatten(tree: Any) -> list[tuple[str, Any]]:
    """`(path, leaf)` pairs with NamedArrays as leaves; paths as `jax.tree_util.keystr`."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_named_array)
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in flat]


def _dotted(path: str) -> str:
    """`.attn.q_proj[0].weight` -> `attn.q_proj.0.weight` (also `['k']` -> `k`)."""
    out = path.replace("[", ".").replace("]", "").replace("'", "").replace('"', "")
    return out.lstrip(".")
