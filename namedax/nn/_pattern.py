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
from typing import Any

import equinox as eqx
import jax

import namedax.nn._stack_engine as engine
from namedax.core._array import is_named_array
from namedax.core._axes import Axis

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


def leaf_layers(stack: Any) -> Callable[[str], str] | None:
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


# --- what a stack's unit looks like to the engine: a block, or a pattern's positions ---------


def unit_period(unit: Any) -> int:
    """How many layers one step of a stack of `unit` applies: 1, or the pattern's length."""
    return len(unit.kinds) if isinstance(unit, PatternBlocks) else 1


def unit_blocks(whole: Any) -> list[Any]:
    """The blocks one step applies, in order: the block itself, or each position's block."""
    if isinstance(whole, PatternBlocks):
        return [whole.block(j) for j in range(len(whole.kinds))]
    return [whole]


def unit_names(unit: Any) -> list[str]:
    """A name per position, for messages."""
    if isinstance(unit, PatternBlocks):
        return [unit.names[k] for k in unit.kinds]
    return [type(unit).__name__]


def unit_positions(per: Any, unit: Any) -> list[Any]:
    """The per-layer leaves of each position (the `per` half of `engine.split`)."""
    return list(per.blocks) if isinstance(unit, PatternBlocks) else [per]


def with_unit_positions(per: Any, positions: Sequence[Any], unit: Any) -> Any:
    """The inverse of `unit_positions`."""
    if isinstance(unit, PatternBlocks):
        return eqx.tree_at(lambda p: p.blocks, per, tuple(positions), is_leaf=_is_none)
    (only,) = positions
    return only


def unit_shared_parts(rest: Any, unit: Any) -> list[tuple[str, Any]]:
    """The shared leaves as state-dict parts: under the stack's own key, or per kind.

    A pattern's kinds store their shared leaves once, under the index of the kind's first
    layer, or under the stack's key (like a plain stack's) when the pattern has one kind.
    """
    if not isinstance(unit, PatternBlocks):
        return [("", rest)]
    return [
        ("" if len(unit.names) == 1 else str(unit.first_position(kind)), shared)
        for kind, shared in enumerate(rest.shared)
        if shared is not None
    ]


def with_unit_shared_parts(rest: Any, loaded: Sequence[Any], unit: Any) -> Any:
    """The inverse of `unit_shared_parts`."""
    if not isinstance(unit, PatternBlocks):
        (only,) = loaded
        return only
    parts = iter(loaded)
    shared = tuple(None if s is None else next(parts) for s in rest.shared)
    return eqx.tree_at(lambda r: r.shared, rest, shared, is_leaf=_is_none)


def _is_none(x: Any) -> bool:
    return x is None


# --- building --------------------------------------------------------------------------------


def pattern_builder(
    cls: Any,
    Layers: Axis,
    pattern: Pattern,
    gradient_checkpointing: Any,
    shared: Any,
) -> Callable[..., Any]:
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

    def build(*args: Any, key: Any = None, **kwargs: Any) -> Any:
        per_keys, _ = engine.layer_keys(key, Layers, "Stacked.init")
        prepared = engine.layer_arguments((args, kwargs), Layers, "Stacked.init", split_keys=False)
        positions = []
        cut = engine.positions(prepared, Layers, P)
        for j, (Block, (a, k)) in enumerate(zip(pattern.blocks, cut, strict=True)):
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


def _assemble(positions: list[Any], kinds: tuple[int, ...], names: tuple[str, ...]) -> Any:
    """One `PatternBlocks` from the per-position stacks, keeping each kind's first shared copy."""
    blocks, shared = [], [None] * len(names)
    for j, sub in enumerate(positions):

        def is_shared(path: Any, leaf: Any, sub: Any = sub) -> bool:
            return engine.is_array(leaf) and not sub._is_per_layer(jax.tree_util.keystr(path), leaf)

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
