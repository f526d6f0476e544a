"""`Pattern`: a `Stacked` whose unit is a period of different blocks, repeated along `Layers`.

Data model
----------
`Stacked.init(Layers, Pattern(Local, Local, Global))` builds `Layers.size` layers:
layer `i` is an instance of block `i % 3` of the pattern. The stack stores them as
one `PatternBlocks` module, the unit of its scan: one block per position of the
pattern, whose per-layer leaves carry the layers axis resized to the number of
repeats, `Layers.size / len(pattern)` (layer `i` is repeat `i // 3` of position
`i % 3`). So `fold` is one `lax.scan` over the repeats, each step applying the
pattern's blocks in order, and compile time does not grow with depth.

A *kind* is one distinct object among the pattern's blocks (`Local` above is one
kind used at two positions). Parameters shared with `shared=` are shared per kind:
built once (with the key and the arguments of the kind's first layer), stored once
in `PatternBlocks.shared`, used by every layer of that kind.

Everything a user sees counts layers in model order, `0 … Layers.size - 1`: call
arguments with `Layers` (and keys, split one per layer) give layer `i` slice `i`;
`get_layer(i)`, `unstacked()` and `explain()` use that index, and so does the state
dict (`layers.0.…` … `layers.N-1.…`), which is the state dict of the `BlockSeq` of the
same layers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis
from namedax.core._errors import argument_paths, describe_tree, format_axes
from namedax.transforms._scan import fold as _fold, scan as _scan
from namedax.transforms._vmap import vmap as _vmap

from ._layer_calls import (
    _call_method,
    _check_fold_result,
    _check_scan_result,
    _is_array,
    _slice_layer,
)

if TYPE_CHECKING:
    from ._stacked import SharedSpec, Stacked

__all__ = ["Pattern", "PatternBlocks"]


# --- the pattern: which block at which position ---------------------------------------------


class Pattern:
    """The blocks of one period of a `Stacked`, repeated along its layers axis.

    Pass it as the block of `Stacked.init` (or `BlockSeq.init`): layer `i` of
    `Stacked.init(Layers, Pattern(A, B, C))` is built by block `i % 3`, so the stack
    holds `A, B, C, A, B, C, …` and `Layers.size` must be a multiple of 3. Each block
    is anything `Stacked.init` accepts (a module class with a static `init` or an
    `__init__`, or a function building a block, e.g. a `functools.partial` that fixes
    a block's own options); every block is built with the same `init` arguments.

    The same object at several positions is one *kind*: `shared=` works per kind
    (see `Stacked.init`), and `explain()` names layers by kind.

    Args:
        *blocks: The blocks of one period, in order.

    Raises:
        TypeError: If no block is given, or a block is itself a `Pattern`.

    Examples:
        >>> Layers, Embed = Axis("layers", 6), Axis("embed", 4)
        >>> pattern = nx.nn.Pattern(nx.nn.LayerNorm, nx.nn.LayerNorm, nx.nn.RmsNorm)
        >>> pattern
        Pattern(LayerNorm*2, RmsNorm)
        >>> stack = nx.nn.Stacked.init(Layers, pattern)(Embed)
        >>> [type(layer).__name__ for layer in stack.unstacked()]
        ['LayerNorm', 'LayerNorm', 'RmsNorm', 'LayerNorm', 'LayerNorm', 'RmsNorm']
        >>> stack.fold(nx.ones(Embed)).axes
        (Axis(name='embed', size=4),)
    """

    __slots__ = ("blocks", "kinds")

    blocks: tuple[Any, ...]
    kinds: tuple[int, ...]

    def __init__(self, *blocks: Any):
        if not blocks:
            raise TypeError("Pattern: give the blocks of one period, e.g. Pattern(Local, Global).")
        for b in blocks:
            if isinstance(b, Pattern):
                raise TypeError(
                    f"Pattern: a block of a pattern cannot be a pattern ({b!r}); list the "
                    "blocks of one period directly, e.g. Pattern(*inner.blocks, Other)."
                )
        distinct: list[Any] = []
        kinds = []
        for b in blocks:
            kind = next((k for k, d in enumerate(distinct) if d is b), None)
            if kind is None:
                distinct.append(b)
                kind = len(distinct) - 1
            kinds.append(kind)
        self.blocks = tuple(blocks)
        self.kinds = tuple(kinds)

    @property
    def kind_blocks(self) -> tuple[Any, ...]:
        """The distinct blocks (kinds), in order of first appearance."""
        return tuple(self.blocks[self.kinds.index(k)] for k in range(max(self.kinds) + 1))

    def __len__(self) -> int:
        return len(self.blocks)

    def __repr__(self) -> str:
        return _title([kind_name(b) for b in self.kind_blocks], self.kinds)


def _title(names: Sequence[str], kinds: Sequence[int]) -> str:
    """`Pattern(Local*5, Global)`: the kinds by position, runs of one kind counted."""
    runs: list[list[int]] = []
    for kind in kinds:
        if runs and runs[-1][0] == kind:
            runs[-1][1] += 1
        else:
            runs.append([kind, 1])
    parts = [names[k] + (f"*{n}" if n > 1 else "") for k, n in runs]
    return f"Pattern({', '.join(parts)})"


def kind_name(block: Any) -> str:
    """A readable name for a block of a pattern (a partial shows its keywords)."""
    if isinstance(block, functools.partial):
        options = ", ".join(
            [repr(a) for a in block.args] + [f"{k}={v!r}" for k, v in block.keywords.items()]
        )
        return f"{kind_name(block.func)}({options})"
    return getattr(block, "__qualname__", None) or type(block).__name__


# --- the unit of the scan --------------------------------------------------------------------


class PatternBlocks(eqx.Module):
    """The unit a pattern `Stacked` scans over: one block per position of the pattern.

    Per-layer leaves of `blocks[j]` carry the layers axis sized to the number of
    repeats; leaves shared by a kind are `None` there and live in `shared[kind]`.

    Attributes:
        blocks: Position `j`'s block (without its kind's shared leaves).
        shared: Per kind, the leaves its layers share (the rest `None`), or `None`.
        kinds: The kind of each position.
        names: The name of each kind.
    """

    blocks: tuple[Any, ...]
    shared: tuple[Any, ...]
    kinds: tuple[int, ...] = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)

    def block(self, j: int) -> Any:
        """Position `j`'s whole block: its own leaves with its kind's shared ones."""
        shared = self.shared[self.kinds[j]]
        if shared is None:
            return self.blocks[j]
        return eqx.combine(self.blocks[j], shared, is_leaf=is_named_array)

    def first_position(self, kind: int) -> int:
        """The first position (also the first layer) of a kind."""
        return self.kinds.index(kind)


def stack_title(unit: Any, Layers: Axis) -> str:
    """What `explain()` calls a stack's unit: the block's class, or the pattern and repeats."""
    if isinstance(unit, PatternBlocks):
        repeats = Layers.size // len(unit.kinds)
        noun = "repeat" if repeats == 1 else "repeats"
        return f"{_title(unit.names, unit.kinds)}, {repeats} {noun},"
    return type(unit).__name__


def leaf_layers(stack: Stacked) -> Callable[[str], str] | None:
    """For a pattern stack, `path -> the global layers the leaf serves` (for `explain()`).

    `None` for a plain stack (every leaf serves every layer).
    """
    unit = stack.stacked
    if not isinstance(unit, PatternBlocks):
        return None
    N, P = stack.Layers.size, len(unit.kinds)

    def layers(path: str) -> str:
        field, _, rest = path.partition("[")
        index = int(rest.partition("]")[0])
        if field == ".blocks":
            return _listing(range(index, N, P))
        return _listing([i for i in range(N) if unit.kinds[i % P] == index])

    return layers


def _listing(indices: Sequence[int]) -> str:
    """`0,6,12` or, for long runs, `0,6,...,30`."""
    shown = [str(i) for i in indices]
    return ",".join(shown) if len(shown) <= 4 else ",".join(shown[:2]) + ",...," + shown[-1]


def pattern_steps(unit: Any, Layers: Axis) -> Axis:
    """The axis a stack of `unit` scans over: `Layers`, or its repeats for a pattern."""
    if isinstance(unit, PatternBlocks):
        return Layers.resize(Layers.size // len(unit.kinds))
    return Layers


# --- building --------------------------------------------------------------------------------


def pattern_builder(
    cls: type[Stacked],
    Layers: Axis,
    pattern: Pattern,
    gradient_checkpointing: Any,
    shared: SharedSpec | Mapping[Any, SharedSpec],
) -> Callable[..., Stacked]:
    """`Stacked.init(Layers, pattern, ...)`: builds each position as a stack over the repeats."""
    P, N = len(pattern), Layers.size
    if N % P:
        lower, upper = N // P * P, (N // P + 1) * P
        raise ValueError(
            f"Stacked.init: {Layers} is not a whole number of repeats of {pattern!r}, which "
            f"has {P} blocks; give a layers axis whose size is a multiple of {P}"
            + (f" (e.g. {lower} or {upper})." if lower else f" (e.g. {upper}).")
        )
    Steps = Layers.resize(N // P)
    specs = _kind_specs(shared, pattern)
    names = tuple(kind_name(b) for b in pattern.kind_blocks)

    def build(*args: Any, key: Any = None, **kwargs: Any) -> Stacked:
        from ._stacked import _layer_keys  # _stacked imports this module

        per_keys, _ = _layer_keys(key, Layers, "Stacked.init")
        positions = []
        for j, Block in enumerate(pattern.blocks):
            a, k = _every_pth((args, kwargs), Layers, j, P, "Stacked.init")
            keys = None if per_keys is None else per_keys[j::P]
            make = cls.init(Steps, Block, gradient_checkpointing=gradient_checkpointing,
                            shared=specs[pattern.kinds[j]])  # fmt: skip
            positions.append(make(*a, key=keys, **k))
        return cls(
            _assemble(positions, pattern.kinds, names),
            Layers,
            gradient_checkpointing,
            frozenset(
                f".blocks[{j}]{path}"
                for j, s in enumerate(positions)
                for path in s.per_layer_arrays
            ),
        )

    build.__name__ = "init_stacked_pattern"
    return build


def _kind_specs(shared: Any, pattern: Pattern) -> list[Any]:
    """The `shared=` spec of each kind: a mapping gives kinds their own, anything else all."""
    kinds = pattern.kind_blocks
    if not isinstance(shared, Mapping):
        return [shared] * len(kinds)
    specs: list[Any] = [None] * len(kinds)
    for block, spec in shared.items():
        found = [k for k, b in enumerate(kinds) if b is block]
        if not found:
            raise ValueError(
                f"Stacked.init: shared= names {kind_name(block)}, which is not a block of "
                f"{pattern!r}; its keys must be the pattern's blocks: "
                f"{', '.join(kind_name(b) for b in kinds)}."
            )
        specs[found[0]] = spec
    return specs


def _assemble(positions: list[Stacked], kinds: tuple[int, ...], names: tuple[str, ...]) -> Any:
    """One `PatternBlocks` from the per-position stacks, keeping each kind's first shared copy."""
    blocks, shared = [], [None] * len(names)
    for j, sub in enumerate(positions):

        def is_shared(path: Any, leaf: Any, sub: Stacked = sub) -> bool:
            return _is_array(leaf) and not sub._is_per_layer(jax.tree_util.keystr(path), leaf)

        blocks.append(_keep(sub.stacked, lambda p, x, f=is_shared: not f(p, x)))
        kind = kinds[j]
        if kinds.index(kind) == j and any(is_shared(p, x) for p, x in _with_paths(sub.stacked)):
            shared[kind] = _keep(sub.stacked, is_shared)
    return PatternBlocks(tuple(blocks), tuple(shared), kinds, names)


def _with_paths(tree: Any) -> list[tuple[Any, Any]]:
    return jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_named_array)[0]


def _keep(tree: Any, keep: Callable[[Any, Any], bool]) -> Any:
    """`tree` with the leaves `keep(path, leaf)` rejects set to `None`."""
    return jax.tree_util.tree_map_with_path(
        lambda p, x: x if keep(p, x) else None, tree, is_leaf=is_named_array
    )


# --- per-position arguments ----------------------------------------------------------------


def _every_pth(tree: Any, Layers: Axis, j: int, P: int, op: str) -> Any:
    """`tree` with each NamedArray that has `Layers` cut to layers `j, j+P, …` (init's rule)."""
    paths = iter(argument_paths(tree))

    def cut(x: Any) -> Any:
        path = next(paths)
        if isinstance(x, NamedArray) and Layers.name in x.axis_names:
            return _strided_named(x, Layers, j, P, op, path)
        return x

    return jax.tree_util.tree_map(cut, tree, is_leaf=is_named_array)


def _strided_named(x: NamedArray, Layers: Axis, j: int, P: int, op: str, path: str) -> NamedArray:
    pos = x.axis_names.index(Layers.name)
    if x.axes[pos].size != Layers.size:
        raise ValueError(
            f"{op}: {path} {format_axes(x.axes)} has axis {Layers.name!r} of size "
            f"{x.axes[pos].size}, but the stack has {Layers}; give one slice per layer."
        )
    array = lax.slice_in_dim(x.array, j, Layers.size, P, axis=pos)
    steps = Layers.resize(Layers.size // P)
    return _wrap(array, (*x.axes[:pos], steps, *x.axes[pos + 1 :]))


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _call_positions(
    tree: Any, Layers: Axis, P: int, op: str
) -> tuple[list[Any], Callable[[Any], bool]]:
    """The call arguments of each position, and which of their plain arrays are scanned.

    The call rule of `Stacked`, for layer `i = repeat * P + position`: NamedArrays with
    `Layers` and plain arrays (ndim >= 1, along their first dimension) give layer `i`
    slice `i`; a single typed PRNG key is split into one key per layer first; every
    other value goes whole to every layer. Position `j` gets layers `j, j+P, …`.
    """
    N = Layers.size
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_named_array)
    paths = argument_paths(tree)
    columns: list[list[Any]] = [[] for _ in range(P)]
    sliced: set[int] = set()
    for leaf, path in zip(leaves, paths, strict=True):
        if _is_key(leaf) and leaf.ndim == 0:
            leaf = jax.random.split(leaf, N)
        if isinstance(leaf, NamedArray):
            cuts = [
                _strided_named(leaf, Layers, j, P, op, path) if Layers.name in leaf.axis_names
                else leaf
                for j in range(P)
            ]  # fmt: skip
        elif isinstance(leaf, (jax.Array, np.ndarray)) and np.ndim(leaf) >= 1:
            cuts = [_strided_plain(leaf, Layers, j, P, op, path) for j in range(P)]
            sliced.update(id(c) for c in cuts)
        else:
            cuts = [leaf] * P
        for j in range(P):
            columns[j].append(cuts[j])
    positions = [jax.tree_util.tree_unflatten(treedef, column) for column in columns]
    return positions, lambda leaf: id(leaf) in sliced


def _strided_plain(x: Any, Layers: Axis, j: int, P: int, op: str, path: str) -> Any:
    n = np.shape(x)[0]
    if n != Layers.size:
        hint = (
            f" To give each layer its own key, split it: jax.random.split(key, {Layers.size})."
            if np.shape(x) == (2,) and x.dtype == jnp.uint32
            else " To pass it whole to every layer, close over it or make it a NamedArray."
        )
        raise ValueError(
            f"{op}: {path} is a plain array of shape {np.shape(x)}; plain array arguments are "
            f"sliced per layer along their first dimension, which must be {Layers} (the "
            f"number of layers), not {n}.{hint}"
        )
    return lax.slice_in_dim(jnp.asarray(x), j, n, P, axis=0)


# --- calling -------------------------------------------------------------------------------


def pattern_loop_via(
    stack: Stacked, fn: Callable[..., Any] | str, unroll: int | bool | None, *, outputs: bool
) -> Callable[..., Any]:
    """`fold_via` (`outputs=False`) or `scan_via` of a pattern stack: one scan over the repeats."""
    call = _call_method(fn)
    unit: PatternBlocks = stack.stacked
    op = "Stacked.scan" if outputs else "Stacked.fold"
    check = _check_scan_result if outputs else _check_fold_result
    per, shared, in_stack = stack._partition()

    def step(carry: Any, layer: Any, positions: list[Any]) -> Any:
        whole = eqx.combine(layer, shared, is_leaf=is_named_array)
        ys = []
        for j, (args, kwargs) in enumerate(positions):
            out = call(whole.block(j), carry, *args, **kwargs)
            check(op, carry, out)
            carry, y = out if outputs else (out, None)
            ys.append(y)
        return (carry, tuple(ys)) if outputs else carry

    def run(init: Any, *args: Any, **kwargs: Any) -> Any:
        positions, sliced = _call_positions((args, kwargs), stack.Layers, len(unit.kinds), op)
        loop = (_scan if outputs else _fold)(
            step,
            stack._Steps,
            remat=stack.gradient_checkpointing,
            unroll=1 if unroll is None else unroll,
            is_scanned=lambda leaf: in_stack(leaf) or sliced(leaf),
        )
        result = loop(init, per, positions)
        if not outputs:
            return result
        carry, ys = result
        return carry, _interleave(ys, stack, op)

    return run


def pattern_vmap_via(stack: Stacked, fn: Callable[..., Any] | str) -> Callable[..., Any]:
    """`vmap_via` of a pattern stack: every layer on the same input, outputs in layer order."""
    call = _call_method(fn)
    unit: PatternBlocks = stack.stacked
    per, shared, in_stack = stack._partition()

    def member(layer: Any, positions: list[Any]) -> tuple[Any, ...]:
        whole = eqx.combine(layer, shared, is_leaf=is_named_array)
        return tuple(call(whole.block(j), *a, **k) for j, (a, k) in enumerate(positions))

    def run(*args: Any, **kwargs: Any) -> Any:
        positions, sliced = _call_positions(
            (args, kwargs), stack.Layers, len(unit.kinds), "Stacked.vmap"
        )

        def default(leaf: Any) -> int | None:
            return 0 if in_stack(leaf) or sliced(leaf) else None

        outs = _vmap(member, stack._Steps, default=default)(per, positions)
        return _interleave(outs, stack, "Stacked.vmap")

    return run


def _interleave(per_position: Sequence[Any], stack: Stacked, op: str) -> Any:
    """One output tree with `Layers` in front from each position's outputs over the repeats."""
    unit: PatternBlocks = stack.stacked
    Layers, Steps = stack.Layers, stack._Steps
    structures = [jax.tree_util.tree_structure(y) for y in per_position]
    for j, s in enumerate(structures):
        if s != structures[0]:
            raise ValueError(
                f"{op}: the blocks of the pattern return outputs of different structures or "
                f"axes, so they cannot be stacked along {Layers}: position 0 "
                f"({unit.names[unit.kinds[0]]}) returned {describe_tree(per_position[0])}, "
                f"position {j} ({unit.names[unit.kinds[j]]}) returned "
                f"{describe_tree(per_position[j])}. Make every block return the same structure."
            )

    def merge(*xs: Any) -> Any:
        first = xs[0]
        if isinstance(first, NamedArray):
            pos = first.axis_names.index(Steps.name)
            arrays = [jnp.moveaxis(x.array, pos, 0) for x in xs]
            rest = first.axes[:pos] + first.axes[pos + 1 :]
            return _wrap(_riffle(arrays, Layers.size), (Layers, *rest))
        if _is_array(first):
            return _riffle(list(xs), Layers.size)
        return first

    return jax.tree_util.tree_map(merge, *per_position, is_leaf=is_named_array)


def _riffle(arrays: list[Any], n: int) -> Any:
    """`[a, b]` with leading dim `r` -> leading dim `n = 2r`, in order `a0, b0, a1, b1, …`."""
    stacked = jnp.stack(arrays, axis=1)
    return stacked.reshape((n, *stacked.shape[2:]))


# --- layers by global index ----------------------------------------------------------------


def pattern_position(unit: Any, i: int) -> tuple[int, int]:
    """(repeat, position) of layer `i` (in range) of a stack of `unit`."""
    if isinstance(unit, PatternBlocks):
        return divmod(i, len(unit.kinds))
    return i, 0


def pick_position(step: Any, position: int) -> Any:
    """The block at `position` of one step of a stack (a plain block is its own step)."""
    if isinstance(step, PatternBlocks):
        return step.block(position)
    return step


def layers_of_position(unit: PatternBlocks, j: int, n_layers: int) -> list[int]:
    """The global indices of position `j`'s layers."""
    return list(range(j, n_layers, len(unit.kinds)))


def layers_of_kind(unit: PatternBlocks, kind: int, n_layers: int) -> list[int]:
    """The global indices of a kind's layers."""
    return [i for i in range(n_layers) if unit.kinds[i % len(unit.kinds)] == kind]


# --- the state dict: one flat numbering ----------------------------------------------------


def pattern_state_parts(stack: Stacked, template: bool = False) -> list[tuple[str, Any]] | None:
    """`(key suffix, leaves)` of a pattern stack's state dict, or `None` for a plain stack.

    Layer `i`'s per-layer leaves come under suffix `i` (in layer order); the leaves a
    kind shares come once, under the suffix of the kind's first layer, or under no
    suffix (like a plain stack's shared leaves) when the pattern has a single kind.
    With `template=True` the leaves are `jax.ShapeDtypeStruct`s (for loading).
    """
    unit = stack.stacked
    if not isinstance(unit, PatternBlocks):
        return None
    Steps, P = stack._Steps, len(unit.kinds)
    parts = []
    for i in range(stack.Layers.size):
        r, j = divmod(i, P)
        one = jax.tree_util.tree_map(
            lambda x, r=r: _one_layer(x, Steps, r, template), _per_layer(stack, j)
        , is_leaf=is_named_array)  # fmt: skip
        parts.append((str(i), one))
    for kind, shared in enumerate(unit.shared):
        if shared is not None:
            suffix = "" if len(unit.names) == 1 else str(unit.first_position(kind))
            parts.append((suffix, _shape_only(shared) if template else shared))
    return parts


def _per_layer_test(stack: Stacked, j: int) -> Callable[[Any, Any], bool]:
    """Whether a leaf (by its path within position `j`'s block) is a per-layer array."""
    prefix = f".blocks[{j}]"
    return lambda p, x: _is_array(x) and stack._is_per_layer(prefix + jax.tree_util.keystr(p), x)


def _per_layer(stack: Stacked, j: int) -> Any:
    """Position `j`'s per-layer leaves (the rest `None`)."""
    return _keep(stack.stacked.blocks[j], _per_layer_test(stack, j))


def _one_layer(x: Any, Steps: Axis, r: int, template: bool) -> Any:
    if not template:
        return _slice_layer(x, Steps, r) if isinstance(x, NamedArray) else x[r]
    if isinstance(x, NamedArray):
        axes = tuple(a for a in x.axes if a.name != Steps.name)
        return _wrap(jax.ShapeDtypeStruct(tuple(a.size for a in axes), x.dtype), axes)
    return jax.ShapeDtypeStruct(tuple(x.shape[1:]), x.dtype)


def _shape_only(tree: Any) -> Any:
    def shape(x: Any) -> Any:
        if isinstance(x, NamedArray):
            return _wrap(jax.ShapeDtypeStruct(x.array.shape, x.dtype), x.axes)
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype)

    return jax.tree_util.tree_map(shape, tree, is_leaf=is_named_array)


def pattern_from_state_parts(stack: Stacked, loaded: list[Any]) -> Stacked:
    """The stack rebuilt from loaded `pattern_state_parts` (in their order), restacked."""
    unit: PatternBlocks = stack.stacked
    Steps, P, N = stack._Steps, len(unit.kinds), stack.Layers.size
    blocks = []
    for j in range(P):
        per = _per_layer(stack, j)
        layers = [loaded[i] for i in range(j, N, P)]
        restacked = jax.tree_util.tree_map(
            lambda t, *xs: _restack(t, xs, Steps), per, *layers, is_leaf=is_named_array
        )
        is_per = _per_layer_test(stack, j)
        rest = _keep(unit.blocks[j], lambda p, x, f=is_per: not f(p, x))
        blocks.append(eqx.combine(restacked, rest, is_leaf=is_named_array))
    shared = iter(loaded[N:])
    new_shared = tuple(None if s is None else next(shared) for s in unit.shared)
    new_unit = PatternBlocks(tuple(blocks), new_shared, unit.kinds, unit.names)
    return eqx.tree_at(lambda s: s.stacked, stack, new_unit)


def _restack(template: Any, layers: Sequence[Any], Steps: Axis) -> Any:
    if isinstance(template, NamedArray):
        pos = template.axis_names.index(Steps.name)
        return _wrap(jnp.stack([x.array for x in layers], axis=pos), template.axes)
    return jnp.stack(list(layers), axis=0)
