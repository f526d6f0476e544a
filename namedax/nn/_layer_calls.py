"""What `Stacked` and `BlockSeq` share: slicing per layer and checking what a block returns.

The one rule for call arguments lives here (`layer_arguments`), Haliax's rule plus
one safeguard for keys:

* a NamedArray that carries the layers axis is sliced per layer;
* a plain array with at least one dimension is sliced along its first dimension,
  which must then have one entry per layer (so `key=jax.random.split(k, n)`, raw
  or typed, gives layer `i` key `i`);
* a single typed PRNG key (`jax.random.key(...)`, 0-d) is split into one key per
  layer, deterministically, so no two layers draw the same dropout mask by
  accident; a 0-d NamedArray of keys is treated the same way;
* everything else (numbers, 0-d arrays, NamedArrays without the layers axis) is
  passed whole to each layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import jax
import numpy as np
from jax import lax

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis
from namedax.core._broadcast import align_array
from namedax.core._errors import argument_paths, describe_tree
from namedax.transforms._scan import ScanResultError

__all__: list[str] = []

S = TypeVar("S", bound="LayerSequence")


class LayerSequence:
    """What `Stacked` and `BlockSeq` share as modules: layers indexed by the `Layers` axis."""

    Layers: Axis  # a field of each (Equinox) subclass

    @property
    def Block(self) -> Axis:  # the Haliax name of the layers axis
        """The layers axis (Haliax calls it `Block`)."""
        return self.Layers

    def to_state_dict(self, prefix: str | None = None) -> dict[str, Any]:
        """This stack's state dict, as `namedax.state_dict.to_state_dict(self, prefix)`.

        Each layer is stored under `prefix.i.` (see `namedax.serialization`), so a
        `Stacked` and the equivalent `BlockSeq` give the same keys.

        Examples:
            >>> Layers, Embed = Axis("layers", 2), Axis("embed", 3)
            >>> stack = nx.nn.Stacked.init(Layers, nx.nn.LayerNorm)(Embed)
            >>> sorted(stack.to_state_dict(prefix="h"))
            ['h.0.bias', 'h.0.weight', 'h.1.bias', 'h.1.weight']
            >>> stack.from_state_dict(stack.to_state_dict()).stacked.weight.axes
            (Axis(name='layers', size=2), Axis(name='embed', size=3))
        """
        from namedax.io._serialization import to_state_dict

        return to_state_dict(self, prefix)

    def from_state_dict(self: S, state_dict: Mapping[str, Any], prefix: str | None = None) -> S:
        """This stack with its arrays read from `state_dict` (the layout of `to_state_dict`)."""
        from namedax.io._serialization import from_state_dict

        return from_state_dict(self, state_dict, prefix)


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


def _is_typed_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _is_per_layer_plain(x: Any) -> bool:
    """Whether a call-argument leaf is a plain array sliced along its first dimension."""
    return isinstance(x, (jax.Array, np.ndarray)) and np.ndim(x) >= 1


def layer_arguments(tree: Any, Layers: Axis, op: str) -> Any:
    """Call arguments prepared for a per-layer call: single keys split, lengths checked.

    After this, each leaf is per-layer if it is a NamedArray with `Layers` or a plain
    array with a leading dimension of `Layers.size` (see the module documentation).

    Raises:
        ValueError: If a plain array argument's first dimension is not `Layers.size`.
    """
    paths = argument_paths(tree)
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_named_array)
    out: list[Any] = []
    for path, leaf in zip(paths, leaves):
        named_key = isinstance(leaf, NamedArray) and leaf.ndim == 0 and _is_typed_key(leaf.array)
        value: Any = leaf.array if named_key else leaf
        if _is_typed_key(value) and value.ndim == 0:
            value = jax.random.split(value, Layers.size)
        elif _is_per_layer_plain(value) and np.shape(value)[0] != Layers.size:
            raise ValueError(_length_message(op, path, value, Layers))
        out.append(value)
    return jax.tree_util.tree_unflatten(treedef, out)


def _length_message(op: str, path: str, leaf: Any, Layers: Axis) -> str:
    hint = (
        f" It looks like a raw PRNG key; split it, key=jax.random.split(key, {Layers.size}), "
        "or pass one typed key (jax.random.key), which is split per layer."
        if np.shape(leaf) == (2,) and leaf.dtype == np.uint32
        else " Wrap it with namedax.named to give it axis names, or close over it to pass it "
        "whole to every layer."
    )
    return (
        f"{op}: {path} is a plain array of shape {np.shape(leaf)}. Plain array arguments are "
        f"sliced per layer along their first dimension (as in Haliax), which must then have "
        f"size {Layers.size} for {Layers}.{hint}"
    )


def _slice_arguments(tree: Any, Layers: Axis, i: int) -> Any:
    """Layer `i`'s slice of prepared call arguments (see `layer_arguments`)."""

    def one(x: Any) -> Any:
        return x[i] if _is_per_layer_plain(x) else _slice_layer(x, Layers, i)

    return jax.tree_util.tree_map(one, tree, is_leaf=is_named_array)


def realigned_carry(carry: Any, out: Any) -> Any:
    """`out` with each NamedArray laid out like the carry's, where only the order differs."""
    carry_leaves, carry_def = jax.tree_util.tree_flatten(carry, is_leaf=is_named_array)
    out_leaves, out_def = jax.tree_util.tree_flatten(out, is_leaf=is_named_array)
    if carry_def != out_def:
        return out
    fixed = []
    for c, o in zip(carry_leaves, out_leaves):
        if (
            isinstance(c, NamedArray)
            and isinstance(o, NamedArray)
            and c.axes != o.axes
            and set(c.axes) == set(o.axes)
        ):
            o = _wrap(align_array(o.array, o.axes, c.axes), c.axes)
        fixed.append(o)
    return jax.tree_util.tree_unflatten(out_def, fixed)


def realigned_scan_result(carry: Any, out: Any) -> Any:
    """A scan block's `(carry, output)` with the carry put back in the carry's axis order."""
    if isinstance(out, tuple) and len(out) == 2:
        return realigned_carry(carry, out[0]), out[1]
    return out


def _check_fold_result(op: str, carry: Any, out: Any) -> None:
    # Plain tree structures: a NamedArray's treedef holds its axes, so they are compared too.
    want = jax.tree_util.tree_structure(carry)
    if jax.tree_util.tree_structure(out) == want:
        return
    if isinstance(out, tuple) and len(out) == 2 and jax.tree_util.tree_structure(out[0]) == want:
        raise ScanResultError(
            f"{op}: the block returned a pair (carry, output), but fold keeps only the carry. "
            "Use .scan (or .scan_via) for a block that returns (carry, output); its outputs are "
            "stacked along the layers axis."
        )
    raise ValueError(
        f"{op}: the block must return the next carry, with the structure and axes of the carry "
        f"it received ({describe_tree(carry)}), but it returned {describe_tree(out)}. The "
        "axis order may differ (it is restored by name); the axis names and sizes may not."
    )


def _check_scan_result(op: str, carry: Any, out: Any) -> None:
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ScanResultError(
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
