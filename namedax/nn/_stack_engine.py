"""The layer-stack engine: the operations `Stacked`, `BlockSeq`, `Pattern` and `Pipeline` share.

Data model
----------
A layer stack holds `L` layers of a block along a named axis, `Layers`. However it is
stored, each leaf of a layer is one of two kinds:

* **per-layer**: every layer has its own value. Stored stacked, a per-layer NamedArray
  carries the stacking axis (anywhere among its axes); a per-layer plain array (from a
  block with plain JAX parameters) has a leading dimension of that size, and the stack
  records its path, since a plain array has no axis names to tell.
* **shared**: one value used by every layer (no stacking axis).

The stacking axis is `Layers` itself, except for a `Pattern` stack, whose unit is a
period of `P` different blocks: its leaves stack the `L / P` repeats (the *steps*)
under the same axis name, and layer `i` is position `i % P` of step `i // P`. Every
loop runs over the steps, so a plain stack is the case `P = 1`.

Calls follow one rule for arguments (Haliax's, plus one safeguard for keys):

* a NamedArray with `Layers` is sliced per layer; one with another size of that axis
  is an error, never a broadcast;
* a plain array with at least one dimension is sliced along its first dimension, which
  must have one entry per layer (so `key=jax.random.split(k, L)` gives layer `i` key `i`);
* a single typed PRNG key is split into one key per layer, `jax.random.split(key, L)`,
  so no two layers draw the same mask by accident;
* everything else (numbers, 0-d arrays, NamedArrays without `Layers`) goes to every layer.

After `layer_arguments` has applied the rule, `positions` cuts the arguments into the
`P` per-position trees a step needs. `loop` and `vmap_layers` then run one
`namedax.scan`/`namedax.vmap` over the steps; inside a step the blocks are applied in
order, and each result passes through the carry rule of `namedax.transforms._carry`
(shared with `namedax.fold` and `namedax.scan`, so every loop accepts the same blocks).

Everything a user sees counts layers in model order: `take`/`layer_tree` give layer
`i` of a leaf, `restack` puts loaded layers back where a template stores them (on the
template's sharding), and the state dict numbers layers `0 … L-1` whatever the storage.

Examples:
    >>> Layers = Axis("layers", 3)
    >>> w = nx.arange(Layers).broadcast_axis(Axis("embed", 2))
    >>> take(w, Layers, 1).array
    Array([1, 1], dtype=int32)
    >>> restack(w, [take(w, Layers, i) for i in range(3)], Layers, "w").axes == w.axes
    True
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import Tracer

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis
from namedax.core._errors import argument_paths, describe, describe_tree, format_axes
from namedax.ops._creation import stack as _stack
from namedax.transforms._carry import next_carry, next_carry_and_output
from namedax.transforms._remat import RematSpec, ScanCheckpointPolicy
from namedax.transforms._scan import scan as _scan
from namedax.transforms._vmap import vmap as _vmap

__all__: list[str] = []


# --- leaves and paths ----------------------------------------------------------------------


def is_array(x: Any) -> bool:
    """Whether a leaf holds array data (a NamedArray, an array, or a shape template)."""
    return isinstance(x, (NamedArray, jax.Array, np.ndarray, jax.ShapeDtypeStruct))


def flatten(tree: Any) -> list[tuple[str, Any]]:
    """`(path, leaf)` pairs with NamedArrays as leaves; paths as `jax.tree_util.keystr`."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_named_array)
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in flat]


def dotted(path: str) -> str:
    """`.attn.q_proj[0].weight` -> `attn.q_proj.0.weight` (also `['k']` -> `k`)."""
    out = path.replace("[", ".").replace("]", "").replace("'", "").replace('"', "")
    return out.lstrip(".")


def call_method(method: str | Callable[..., Any]) -> Callable[..., Any]:
    """`fn(block, ...)` as given, or the block method named `method`."""
    if callable(method):
        return method
    if method == "__call__":
        return operator.call  # calls the block directly, with no frame of ours in between
    return lambda block, *args, **kwargs: getattr(block, method)(*args, **kwargs)


def block_name(block: Any) -> str:
    """A block class's or builder's name, for messages."""
    return getattr(block, "__name__", None) or type(block).__name__


# --- per-layer or shared --------------------------------------------------------------------


def is_per_layer(path: str, leaf: Any, Steps: Axis, plain_paths: frozenset[str]) -> bool:
    """Per-layer by axis presence (a NamedArray with `Steps`), or by record (a plain array)."""
    if isinstance(leaf, NamedArray):
        return Steps.name in leaf.axis_names
    return path in plain_paths and is_array(leaf)


def split(block: Any, Steps: Axis, plain_paths: frozenset[str]) -> tuple[Any, Any]:
    """(per-layer leaves, everything else) of a stacked block, the other half `None`."""
    flags = iter([is_per_layer(p, leaf, Steps, plain_paths) for p, leaf in flatten(block)])
    mask = jax.tree_util.tree_map(lambda _: next(flags), block, is_leaf=is_named_array)
    per = jax.tree_util.tree_map(
        lambda m, x: x if m else None, mask, block, is_leaf=_is_leaf_or_hole
    )
    rest = jax.tree_util.tree_map(
        lambda m, x: None if m else x, mask, block, is_leaf=_is_leaf_or_hole
    )
    return per, rest


def combine(per: Any, rest: Any) -> Any:
    """The inverse of `split`."""
    return eqx.combine(per, rest, is_leaf=is_named_array)


def _is_leaf_or_hole(x: Any) -> bool:
    """A NamedArray (whole) or a `None` hole: the leaves of a split's mask."""
    return x is None or isinstance(x, NamedArray)


# --- layer i of a leaf, and back ----------------------------------------------------------------


def take(leaf: Any, Steps: Axis, i: int) -> Any:
    """Step `i` of a per-layer leaf: `Steps` removed by name, or a plain leading dimension.

    Shape templates (`jax.ShapeDtypeStruct`, bare or in a NamedArray) lose the dimension.
    Leaves that are not per-layer (`None`, shared values) are returned as they are.
    """
    if isinstance(leaf, NamedArray):
        if Steps.name not in leaf.axis_names:
            return leaf
        pos = leaf.axis_names.index(Steps.name)
        axes = leaf.axes[:pos] + leaf.axes[pos + 1 :]
        if isinstance(leaf.array, jax.ShapeDtypeStruct):
            return _wrap(jax.ShapeDtypeStruct(tuple(a.size for a in axes), leaf.dtype), axes)
        return _wrap(lax.index_in_dim(leaf.array, i, pos, keepdims=False), axes)
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct(leaf.shape[1:], leaf.dtype)
    if isinstance(leaf, (jax.Array, np.ndarray)):
        return leaf[i]
    return leaf


def layer_tree(per: Any, Steps: Axis, i: int) -> Any:
    """Step `i` of every per-layer leaf of a tree."""
    return jax.tree_util.tree_map(lambda x: take(x, Steps, i), per, is_leaf=is_named_array)


def restack(template: Any, layers: Sequence[Any], Steps: Axis, where: str) -> Any:
    """Stacks per-layer values back into the layout (and onto the sharding) of `template`.

    Args:
        template: The per-layer leaf they replace (a NamedArray with `Steps`, or a
            plain array with a leading `Steps` dimension).
        layers: One value per step, each shaped like one step of `template`.
        Steps: The stacking axis.
        where: The leaf's name, for messages.

    Raises:
        ValueError: If the count or a shape does not match the template.
    """
    if len(layers) != Steps.size:
        raise ValueError(
            f"restack: {where} has {len(layers)} layers, but the stack has {Steps}; give one "
            "value per layer."
        )
    one = take(jax.eval_shape(lambda t: t, template), Steps, 0)
    want = one.array.shape if isinstance(one, NamedArray) else one.shape
    arrays = [x.array if isinstance(x, NamedArray) else jnp.asarray(x) for x in layers]
    for i, a in enumerate(arrays):
        if a.shape != want:
            raise ValueError(
                f"restack: layer {i} of {where} has shape {a.shape}, but one layer of the "
                f"template has {format_axes(one.axes) if isinstance(one, NamedArray) else want}."
            )
    pos = template.axis_names.index(Steps.name) if isinstance(template, NamedArray) else 0
    stacked = jnp.stack(arrays, axis=pos)
    raw = template.array if isinstance(template, NamedArray) else template
    sharding = getattr(raw, "sharding", None)
    if isinstance(raw, jax.Array) and not isinstance(raw, Tracer) and sharding is not None:
        stacked = jax.device_put(stacked, sharding)
    return _wrap(stacked, template.axes) if isinstance(template, NamedArray) else stacked


def placed_like(template: Any, loaded: Any) -> Any:
    """`loaded` with each array moved onto the sharding of its `template` counterpart.

    Concrete template arrays only: abstract or traced templates leave `loaded` as it is.
    """

    def place(t: Any, x: Any) -> Any:
        raw_t = t.array if isinstance(t, NamedArray) else t
        raw_x = x.array if isinstance(x, NamedArray) else x
        if not isinstance(raw_t, jax.Array) or isinstance(raw_t, Tracer):
            return x
        if not isinstance(raw_x, jax.Array) or raw_x.sharding == raw_t.sharding:
            return x
        placed = jax.device_put(raw_x, raw_t.sharding)
        return _wrap(placed, x.axes) if isinstance(x, NamedArray) else placed

    return jax.tree_util.tree_map(place, template, loaded, is_leaf=is_named_array)


def restack_tree(template: Any, layers: Sequence[Any], Steps: Axis, where: str) -> Any:
    """`restack` leaf by leaf: each layer tree shaped like one step of `template`."""
    paths = [p for p, _ in flatten(template)]
    names = iter(paths)
    return jax.tree_util.tree_map(
        lambda t, *xs: restack(t, xs, Steps, f"{where}{next(names)}") if is_array(t) else t,
        template,
        *layers,
        is_leaf=is_named_array,
    )


# --- keys ------------------------------------------------------------------------------------


def is_typed_key(x: Any) -> bool:
    """Whether `x` is an array of typed PRNG keys (`jax.random.key`)."""
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def layer_keys(key: Any, Layers: Axis, op: str) -> tuple[Any, Any]:
    """(one key per layer, the key of shared parameters) from one key or pre-split keys."""
    if key is None:
        return None, None
    if not isinstance(key, (jax.Array, np.ndarray)):
        raise TypeError(f"{op}: key must be a PRNG key (jax.random.key(...)), got {describe(key)}.")
    typed = is_typed_key(key)
    if not typed:
        _check_raw_key_data(key, op)
    batch = key.shape if typed else key.shape[:-1]
    if batch == ():
        return jax.random.split(key, Layers.size), key
    if batch == (Layers.size,):
        return key, key[0]
    raise ValueError(
        f"{op}: key must be one PRNG key (split automatically into {Layers.size} per-layer "
        f"keys along {Layers}) or {Layers.size} keys, one per layer; got a key array with "
        f"batch shape {batch}."
    )


def _check_raw_key_data(key: jax.Array | np.ndarray, op: str) -> None:
    """Raises our TypeError for raw key data that the default PRNG cannot use."""
    try:
        jax.random.wrap_key_data(jnp.asarray(key))
    except (TypeError, ValueError):
        raw = jax.random.key_data(jax.random.key(0))
        raise TypeError(
            f"{op}: key must be a PRNG key, got {describe(key)} of dtype {key.dtype}, which is "
            f"not raw key data (the default PRNG's raw keys are {raw.dtype} of shape "
            f"(..., {raw.shape[-1]})). Pass jax.random.key(seed), which is split per layer, "
            "or one key per layer."
        ) from None


def microbatch_keys(keys: jax.Array, microbatches: int) -> jax.Array:
    """Per-layer typed keys `[L, ...]` -> `[M, L, ...]`: microbatch `m` of layer `i` draws
    from `jax.random.split(keys[i], M)[m]`, its own stream."""
    return jnp.moveaxis(jax.vmap(lambda k: jax.random.split(k, microbatches))(keys), 1, 0)


# --- call arguments ---------------------------------------------------------------------------


def is_sliced_plain(x: Any) -> bool:
    """Whether a call-argument leaf is a plain array sliced along its first dimension."""
    return isinstance(x, (jax.Array, np.ndarray)) and np.ndim(x) >= 1


def layer_arguments(tree: Any, Layers: Axis, op: str, *, split_keys: bool = True) -> Any:
    """Call arguments under the call rule: single keys split per layer, lengths checked.

    Afterwards a leaf is per-layer exactly when it is a NamedArray with `Layers` or a
    plain array with at least one dimension, and its length along the layers is
    `Layers.size`.

    `Stacked.init` passes `split_keys=False`: only its `key=` is split per layer.

    Raises:
        ValueError: If an argument's length along the layers is not `Layers.size`.
    """
    paths = argument_paths(tree)
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_named_array)
    out = [_layer_argument(leaf, path, Layers, op, split_keys) for leaf, path in zip(leaves, paths)]
    return jax.tree_util.tree_unflatten(treedef, out)


def _layer_argument(leaf: Any, path: str, Layers: Axis, op: str, split_keys: bool) -> Any:
    if isinstance(leaf, NamedArray):
        if split_keys and leaf.ndim == 0 and is_typed_key(leaf.array):
            return jax.random.split(leaf.array, Layers.size)
        size = leaf.axis_size(Layers.name) if Layers.name in leaf.axis_names else Layers.size
        if size != Layers.size:
            raise ValueError(
                f"{op}: {path} {format_axes(leaf.axes)} has axis {Layers.name!r} of size {size}, "
                f"but the stack has {Layers}; give one slice per layer (a NamedArray argument "
                f"with the layers axis gives layer i its slice i), or rename that axis to pass "
                "it whole to every layer."
            )
        return leaf
    if split_keys and is_typed_key(leaf) and leaf.ndim == 0:
        return jax.random.split(leaf, Layers.size)
    if is_sliced_plain(leaf) and np.shape(leaf)[0] != Layers.size:
        raise ValueError(length_message(op, path, leaf, Layers))
    return leaf


def length_message(op: str, path: str, leaf: Any, Layers: Axis) -> str:
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


def argument_layer(prepared: Any, Layers: Axis, i: int) -> Any:
    """Layer `i`'s slice of prepared call arguments (see `layer_arguments`)."""

    def one(x: Any) -> Any:
        if is_sliced_plain(x):
            return x[i]
        return take(x, Layers, i) if isinstance(x, NamedArray) else x

    return jax.tree_util.tree_map(one, prepared, is_leaf=is_named_array)


def positions(prepared: Any, Layers: Axis, period: int) -> list[Any]:
    """Prepared arguments cut into the `period` trees of one step each: layers `j, j+P, …`.

    Per-layer leaves then run over the steps, `Layers` resized to `Layers.size / period`.
    """
    if period == 1:
        return [prepared]
    Steps = Layers.resize(Layers.size // period)

    def strided(x: Any, j: int) -> Any:
        if isinstance(x, NamedArray) and Layers.name in x.axis_names:
            pos = x.axis_names.index(Layers.name)
            array = lax.slice_in_dim(x.array, j, Layers.size, period, axis=pos)
            return _wrap(array, (*x.axes[:pos], Steps, *x.axes[pos + 1 :]))
        if is_sliced_plain(x):
            return lax.slice_in_dim(jnp.asarray(x), j, Layers.size, period, axis=0)
        return x

    return [
        jax.tree_util.tree_map(lambda x, j=j: strided(x, j), prepared, is_leaf=is_named_array)
        for j in range(period)
    ]


# --- remat -----------------------------------------------------------------------------------


def checkpointed(call: Callable[..., Any], remat: RematSpec) -> Callable[..., Any]:
    """`call` under a remat policy, for loops that are unrolled in Python (`BlockSeq`)."""
    policy = ScanCheckpointPolicy.from_remat(remat)
    if not policy.rematerialises:
        return call
    return eqx.filter_checkpoint(
        call, policy=policy.checkpoint_policy(), prevent_cse=policy.prevent_cse
    )


# --- the loops -------------------------------------------------------------------------------


def apply_step(
    call: Callable[..., Any],
    blocks: Sequence[Any],
    carry: Any,
    step_args: Sequence[Any],
    *,
    outputs: bool,
    op: str,
) -> Any:
    """One step: each block on the carry in turn, through the carry rule.

    Returns the next carry, or `(carry, per-block outputs)` with `outputs`.
    """
    ys = []
    for block, (args, kwargs) in zip(blocks, step_args, strict=True):
        out = call(block, carry, *args, **kwargs)
        if outputs:
            carry, y = next_carry_and_output(op, carry, out, "the block")
            ys.append(y)
        else:
            carry = next_carry(op, carry, out, "the block")
    return (carry, tuple(ys)) if outputs else carry


def loop(
    call: Callable[..., Any],
    blocks_of: Callable[[Any], Sequence[Any]],
    per: Any,
    Steps: Axis,
    step_args: list[Any],
    init: Any,
    *,
    outputs: bool,
    remat: RematSpec,
    unroll: int | bool,
    op: str,
) -> Any:
    """One `namedax.scan` over the steps: `per`'s step `i` becomes `blocks_of(...)`.

    Returns the final carry, or `(carry, per-position outputs stacked along Steps)`.
    """

    def step(carry: Any, layer: Any, step_args: list[Any]) -> tuple[Any, Any]:
        out = apply_step(call, blocks_of(layer), carry, step_args, outputs=outputs, op=op)
        return out if outputs else (out, None)

    carry, ys = _scan(step, Steps, remat=remat, unroll=unroll)(init, per, step_args)
    return (carry, ys) if outputs else carry


def vmap_layers(
    call: Callable[..., Any],
    blocks_of: Callable[[Any], Sequence[Any]],
    per: Any,
    Steps: Axis,
    step_args: list[Any],
) -> tuple[Any, ...]:
    """Every block of every step on its arguments, in parallel: per-position outputs."""

    def member(layer: Any, step_args: list[Any]) -> tuple[Any, ...]:
        pairs = zip(blocks_of(layer), step_args, strict=True)
        return tuple(call(block, *args, **kwargs) for block, (args, kwargs) in pairs)

    return _vmap(member, Steps)(per, step_args)


def interleave(per_position: Sequence[Any], Layers: Axis, op: str, names: Sequence[str]) -> Any:
    """One output tree along `Layers`, in layer order, from each position's outputs over steps.

    With one position it is that position's outputs (the steps are the layers).
    """
    if len(per_position) == 1:
        return per_position[0]
    Steps = Layers.resize(Layers.size // len(per_position))
    structures = [jax.tree_util.tree_structure(y) for y in per_position]
    for j, s in enumerate(structures):
        if s != structures[0]:
            raise ValueError(
                f"{op}: the blocks of the pattern return outputs of different structures or "
                f"axes, so they cannot be stacked along {Layers}: position 0 ({names[0]}) "
                f"returned {describe_tree(per_position[0])}, position {j} ({names[j]}) returned "
                f"{describe_tree(per_position[j])}. Make every block return the same structure."
            )

    def merge(*xs: Any) -> Any:
        first = xs[0]
        if isinstance(first, NamedArray):
            pos = first.axis_names.index(Steps.name)
            arrays = [jnp.moveaxis(x.array, pos, 0) for x in xs]
            rest = first.axes[:pos] + first.axes[pos + 1 :]
            return _wrap(_riffle(arrays, Layers.size), (Layers, *rest))
        if is_array(first):
            return _riffle(list(xs), Layers.size)
        return first

    return jax.tree_util.tree_map(merge, *per_position, is_leaf=is_named_array)


def _riffle(arrays: list[Any], n: int) -> Any:
    """`[a, b]` with leading dim `r` -> leading dim `n = 2r`, in order `a0, b0, a1, b1, …`."""
    stacked = jnp.stack(arrays, axis=1)
    return stacked.reshape((n, *stacked.shape[2:]))


def stack_outputs(outputs: Sequence[Any], Layers: Axis) -> Any:
    """Outputs of an unrolled loop, one per layer, stacked with `Layers` in front."""

    def one(*xs: Any) -> Any:
        first = xs[0]
        if isinstance(first, NamedArray):
            return _stack(Layers, xs)
        if is_array(first):
            return jnp.stack(xs)
        return first

    return jax.tree_util.tree_map(one, *outputs, is_leaf=is_named_array)


# --- building --------------------------------------------------------------------------------


def constructor(Block: Any, op: str) -> Callable[..., Any]:
    """`Block.init` if the block class defines a static/class `init`, else the block itself.

    Raises:
        TypeError: For a block *instance* (pass its class), or anything else not callable.
    """
    if isinstance(Block, type):
        init = inspect.getattr_static(Block, "init", None)
        if isinstance(init, (staticmethod, classmethod)):
            return Block.init  # type: ignore[attr-defined]
        return Block
    if isinstance(Block, eqx.Module):
        raise TypeError(
            f"{op}: Block must be the block's class (or a function that builds one), but got "
            f"an instance of {type(Block).__name__}. Pass the class, "
            f"{op}(Layers, {type(Block).__name__})(*init_args, key=key): the stack builds "
            "every layer itself, in one vmapped call."
        )
    if callable(Block):
        return Block
    raise TypeError(
        f"{op}: Block must be a module class (with a static `init` or an `__init__`) or a "
        f"function that builds one, got {describe(Block)}."
    )
