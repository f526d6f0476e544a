"""`Stacked`: many copies of one block stored as a single module, applied by one `scan`.

Data model
----------
A `Stacked` holds one instance of the block, `stacked`, whose leaves come in two
kinds, fixed when it is built:

* **per-layer** leaves hold every layer's value. A per-layer NamedArray carries
  the `Layers` axis (in front); a per-layer plain array (from a block whose
  parameters are plain JAX arrays, e.g. an `equinox.nn.Linear`) has a leading
  dimension of size `Layers.size`, and its path is recorded in the static field
  `per_layer_arrays`, because a plain array has no axis names to tell.
* **shared** leaves (everything else) are one value used by every layer; they have
  no `Layers` axis.

Calls follow one rule: per-layer leaves are sliced per layer, shared leaves are
passed whole to every layer. Arguments of `fold`/`scan`/`vmap` follow the same
rule: NamedArrays that carry `Layers` and plain arrays with a dimension (along
their first, as in Haliax) are sliced per layer, all other arguments are passed
whole (see `namedax.nn._layer_calls`). Because the stack is one module applied by
one `lax.scan`, a model compiles the block once, whatever its depth.

`namedax.nn.BlockSeq` is the unrolled counterpart (a tuple of separate blocks, applied by a
Python loop) with the same interface, for heterogeneous layers and for checking a
`Stacked` against.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

import equinox as eqx
import jax
import numpy as np

import namedax.nn._stack_engine as engine
from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis, sized_axes
from namedax.core._errors import describe, format_axes
from namedax.core._mapping import ResourceMapping
from namedax.transforms._remat import RematSpec, ScanCheckpointPolicy
from namedax.transforms._vmap import vmap as _vmap

from ._explain import explain_stack
from ._foldable import LayerSequence
from ._pattern import (
    Pattern,
    pattern_builder,
    unit_blocks,
    unit_names,
    unit_period,
    unit_positions,
    unit_shared_parts,
    with_unit_positions,
    with_unit_shared_parts,
)

__all__ = ["SharedSpec", "Stacked"]

M = TypeVar("M", bound=eqx.Module, covariant=True)
C = TypeVar("C")  # the carry of `fold`/`scan`
B = TypeVar("B", bound=eqx.Module)  # the block type of `Stacked.init`

SharedSpec = bool | str | Sequence[str] | Callable[[Any], Any] | Mapping[Any, Any] | None
"""Which parameters of a stacked block are shared across layers.

`None`/`False`: none (every parameter is per-layer). `True`: all of them. A field
name or dotted path (`"attn.q_proj"`, or as `explain()` prints it, `".attn.q_proj"`,
`".layers[0].weight"`), or a sequence of them: the leaves under those
fields. A callable `block -> node or tuple of nodes`, like `equinox.tree_at`'s
`where`: the leaves inside the nodes it returns. For a `Pattern`, any of these
applies to each kind of block separately, and a mapping `{block: spec}` gives
kinds their own (kinds it leaves out share nothing).
"""


# --- building ------------------------------------------------------------------------------


class _Marker:
    """Stands in for a leaf while a `shared=` callable picks leaves of the block."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path


def _shared_paths(shared: SharedSpec, abstract: Any, Block: Any) -> frozenset[str]:
    """The paths of the array leaves of `abstract` (a block) that `shared` selects."""
    leaves = [(p, leaf) for p, leaf in engine.flatten(abstract) if engine.is_array(leaf)]
    paths = [p for p, _ in leaves]
    if shared is None or shared is False:
        return frozenset()
    if shared is True:
        return frozenset(paths)
    if isinstance(shared, str) or (
        isinstance(shared, Sequence) and all(isinstance(s, str) for s in shared)
    ):
        names = (shared,) if isinstance(shared, str) else tuple(shared)
        selected = set()
        for name in names:
            # Both spellings: a dotted path (`layers.0.weight`) or the key path explain()
            # prints (`.layers[0].weight`).
            dotted = engine.dotted(name)
            hits = [
                p for p in paths if (d := engine.dotted(p)) == dotted or d.startswith(dotted + ".")
            ]
            if not hits:
                raise ValueError(
                    f"Stacked.init: shared={name!r} names no parameter of "
                    f"{engine.block_name(Block)}. "
                    f"Its parameters are: {', '.join(engine.dotted(p) for p in paths) or 'none'}."
                )
            selected.update(hits)
        return frozenset(selected)
    if callable(shared):
        marked = jax.tree_util.tree_map_with_path(
            lambda path, leaf: _mark(jax.tree_util.keystr(path), leaf),
            abstract,
            is_leaf=is_named_array,
        )
        picked = shared(marked)
        found = jax.tree_util.tree_leaves(picked, is_leaf=lambda x: isinstance(x, _Marker))
        selected = {m.path for m in found if isinstance(m, _Marker)}
        if not selected:
            raise ValueError(
                f"Stacked.init: the shared= callable selected no parameter of "
                f"{engine.block_name(Block)}. It must return nodes of the block it is given (e.g. "
                "`lambda block: (block.norm, block.proj.weight)`), like equinox.tree_at's where."
            )
        return frozenset(selected)
    raise TypeError(
        "Stacked.init: shared must be None, a bool, a field name, a sequence of field names, or "
        f"a callable selecting nodes of the block; got {describe(shared)}."
    )


def _mark(path: str, leaf: Any) -> Any:
    if isinstance(leaf, NamedArray):
        return _wrap(_Marker(path), leaf.axes)
    return _Marker(path) if engine.is_array(leaf) else leaf


def _merge(per_layer: Any, shared: Any, shared_paths: frozenset[str]) -> Any:
    """The per-layer tree with the leaves at `shared_paths` taken from the shared tree."""
    if per_layer is None:
        return shared
    if shared is None:
        return per_layer
    return jax.tree_util.tree_map_with_path(
        lambda path, p, s: s if jax.tree_util.keystr(path) in shared_paths else p,
        per_layer,
        shared,
        is_leaf=is_named_array,
    )


# --- Stacked -------------------------------------------------------------------------------


class Stacked(eqx.Module, LayerSequence[M], Generic[M]):
    """`Layers.size` copies of a block, stored as one module and applied by one `scan`.

    Build it with `Stacked.init(Layers, Block, ...)(*block_args, key=...)`. See the
    module documentation for the data model: per-layer leaves carry `Layers` (or, for
    plain arrays, a leading dimension recorded in `per_layer_arrays`), shared leaves
    do not.

    Attributes:
        stacked: The block whose per-layer leaves hold every layer's value.
        Layers: The axis that indexes the layers.
        gradient_checkpointing: The remat policy of `fold`/`scan` (any `remat=` value
            of `namedax.scan`).
        per_layer_arrays: The paths (`jax.tree_util.keystr`, relative to `stacked`)
            of the per-layer plain-array leaves.

    Examples:
        >>> Layers, Embed = Axis("layers", 3), Axis("embed", 4)
        >>> stack = nx.nn.Stacked.init(Layers, nx.nn.Linear)(Embed, Embed, key=jax.random.key(0))
        >>> stack.stacked.weight.axes
        (Axis(name='layers', size=3), Axis(name='embed', size=4), Axis(name='embed_in', size=4))
        >>> x = named(jnp.ones(4), Embed)
        >>> stack.fold(x).axes
        (Axis(name='embed', size=4),)
    """

    stacked: M
    Layers: Axis = eqx.field(static=True)
    gradient_checkpointing: RematSpec = eqx.field(static=True, default=False)
    per_layer_arrays: frozenset[str] = eqx.field(static=True, default=frozenset())

    def __check_init__(self):
        ScanCheckpointPolicy.from_remat(self.gradient_checkpointing)  # validates
        steps = self._Steps
        for path, leaf in engine.flatten(self.stacked):
            if isinstance(leaf, NamedArray):
                for a in leaf.axes:
                    if a.name == steps.name and a.size != steps.size:
                        raise ValueError(
                            f"Stacked: leaf {path} {format_axes(leaf.axes)} has axis "
                            f"{a.name!r} of size {a.size}, but the stack has {steps}."
                        )
            elif (
                path in self.per_layer_arrays
                and engine.is_array(leaf)
                and np.shape(leaf)[:1] != (steps.size,)
            ):
                raise ValueError(
                    f"Stacked: per-layer leaf {path} has shape {np.shape(leaf)}; its leading "
                    f"dimension must be the number of layers, {steps.size}."
                )

    @property
    def _Steps(self) -> Axis:
        """The axis the scan runs over: `Layers`, or for a `Pattern` its number of repeats."""
        return self.Layers.resize(self.Layers.size // unit_period(self.stacked))

    @overload
    @classmethod
    def init(
        cls,
        Layers: Axis,
        Block: Callable[..., B],
        *,
        gradient_checkpointing: RematSpec = False,
        shared: SharedSpec = None,
        prevent_cse: bool | None = None,
    ) -> Callable[..., Stacked[B]]: ...
    @overload
    @classmethod
    def init(
        cls,
        Layers: Axis,
        Block: Any,
        *,
        gradient_checkpointing: RematSpec = False,
        shared: SharedSpec = None,
        prevent_cse: bool | None = None,
    ) -> Callable[..., Stacked[Any]]: ...
    @classmethod
    def init(
        cls,
        Layers: Axis,
        Block: Any,
        *,
        gradient_checkpointing: RematSpec = False,
        shared: SharedSpec = None,
        prevent_cse: bool | None = None,
    ) -> Callable[..., Stacked[Any]]:
        """Returns a function that builds the stack from the block's own arguments.

        `Stacked.init(Layers, Block, ...)(*args, key=key, **kwargs)` builds every layer
        with `Block.init(*args, key=..., **kwargs)` (or `Block(*args, key=..., **kwargs)`
        for a block without a static `init`) in one vmapped call.

        Args:
            Layers: The layers axis (sized).
            Block: The block class, or a function that builds a block.
            gradient_checkpointing: The remat policy for `fold`/`scan`: `False`, `True`,
                `"full"`, `"nested"`, `"offload"`, `"save_all"` or a
                `ScanCheckpointPolicy`.
            shared: Which parameters are shared by all layers (see `SharedSpec`). They
                are built once, with the unsplit key, and have no `Layers` axis.
            prevent_cse: If given, the `prevent_cse` of the remat policy (Haliax's keyword).

        Returns:
            A builder `(*args, key=None, **kwargs) -> Stacked`. `key` is one PRNG key
            (split into one key per layer for per-layer parameters, used whole for
            shared ones) or `Layers.size` pre-split keys (then shared parameters use the
            first). Arguments that are NamedArrays with `Layers`, and plain arrays with
            at least one dimension (along their first, which must have `Layers.size`
            entries, as in Haliax), are sliced per layer (shared parameters see layer
            0's slice); all others (numbers, 0-d arrays, NamedArrays without `Layers`)
            go to every layer.

        Raises:
            TypeError: If `Block` cannot build a module, or `shared`/`key` has the wrong kind.
            ValueError: If `shared` selects nothing, or `key` has the wrong length.
        """
        (Layers,) = sized_axes(Layers, "Stacked.init")
        policy = ScanCheckpointPolicy.from_remat(gradient_checkpointing)  # fails on a bad policy
        if prevent_cse is not None:  # Haliax's keyword: overrides the policy's prevent_cse
            gradient_checkpointing = dataclasses.replace(policy, prevent_cse=prevent_cse)
        if isinstance(Block, Pattern):
            return pattern_builder(cls, Layers, Block, gradient_checkpointing, shared)
        make = engine.constructor(Block, "Stacked.init")

        def build(*args: Any, key: Any = None, **kwargs: Any) -> Stacked:
            per_keys, shared_key = engine.layer_keys(key, Layers, "Stacked.init")

            def make_one(k: Any, args: Any, kwargs: Any) -> Any:
                return make(*args, **kwargs) if k is None else make(*args, key=k, **kwargs)

            args, kwargs = engine.layer_arguments(
                (args, kwargs), Layers, "Stacked.init", split_keys=False
            )
            first = engine.argument_layer((args, kwargs), Layers, 0)
            abstract = eqx.filter_eval_shape(make_one, shared_key, *first)
            shared_paths = _shared_paths(shared, abstract, Block)
            array_paths = [p for p, leaf in engine.flatten(abstract) if engine.is_array(leaf)]
            per_paths = [p for p in array_paths if p not in shared_paths]
            per_tree = shared_tree = None
            if per_paths or not array_paths:
                per_tree = _vmap(make_one, Layers, default=_mapped_init_leaves(per_keys))(
                    per_keys, args, kwargs
                )
            if shared_paths:
                shared_tree = make_one(shared_key, *first)
            block = _merge(per_tree, shared_tree, shared_paths)
            per_set = set(per_paths)
            plain = frozenset(
                p
                for p, leaf in engine.flatten(block)
                if p in per_set and not isinstance(leaf, NamedArray)
            )
            return cls(block, Layers, gradient_checkpointing, plain)

        build.__name__ = f"init_stacked_{engine.block_name(Block)}"
        return build

    # --- the per-layer / shared split ------------------------------------------------------

    def _is_per_layer(self, path: str, leaf: Any) -> bool:
        return engine.is_per_layer(path, leaf, self._Steps, self.per_layer_arrays)

    def _split(self) -> tuple[Any, Any]:
        """(per-layer leaves, the rest) of the stacked block (see `engine.split`)."""
        return engine.split(self.stacked, self._Steps, self.per_layer_arrays)

    # --- calling ---------------------------------------------------------------------------

    def fold(
        self,
        init: C,
        *args: Any,
        unroll: int | bool | None = None,
        remat: RematSpec | None = None,
        pipeline: Any = None,
        **kwargs: Any,
    ) -> C:
        """Applies the layers in order: `carry = layer(carry, *args, **kwargs)` for each layer.

        Compiles to one `lax.scan`. Arguments that are NamedArrays with `Layers`, and
        plain arrays with a dimension (along their first, as in Haliax, so
        `key=jax.random.split(k, Layers.size)` gives layer `i` key `i`), are sliced per
        layer; a single typed key is split per layer; all others go to every layer.

        Args:
            init: The initial carry.
            *args: Further arguments of the block's `__call__`.
            unroll: Layers per loop iteration (`True` unrolls fully), as in `jax.lax.scan`.
            remat: The remat policy of this call (any `gradient_checkpointing` value);
                `None` uses the stack's `gradient_checkpointing`. A per-call choice leaves
                the module, and so optimizer states built from it, unchanged.
            pipeline: A `namedax.nn.Pipeline`: run the layers as a pipeline over its mesh
                axis instead (`pipeline.fold(self, init, ...)`).
            **kwargs: Further keyword arguments of the block's `__call__`.

        Returns:
            The final carry.

        Raises:
            TypeError: If the block returns a `(carry, output)` pair (use `scan`).
            ValueError: If the block changes the carry's structure or axes (their order
                may change: it is restored by name).
        """
        if pipeline is not None:
            return pipeline.fold(self, init, *args, remat=remat, **kwargs)
        return super().fold(init, *args, unroll=unroll, remat=remat, **kwargs)

    def scan(
        self,
        init: C,
        *args: Any,
        unroll: int | bool | None = None,
        remat: RematSpec | None = None,
        pipeline: Any = None,
        **kwargs: Any,
    ) -> tuple[C, Any]:
        """Like `fold` for a block returning `(carry, output)`: returns `(carry, outputs)`.

        The outputs of all layers are stacked with `Layers` in front.

        Raises:
            TypeError: If the block does not return a pair (use `fold`).
        """
        if pipeline is not None:
            return pipeline.scan(self, init, *args, remat=remat, **kwargs)
        return super().scan(init, *args, unroll=unroll, remat=remat, **kwargs)

    def _run(
        self,
        fn: Callable[..., Any] | str,
        init: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        unroll: int | bool | None,
        remat: RematSpec | None,
        *,
        outputs: bool,
    ) -> Any:
        """`fold`/`scan`: one `namedax.scan` over the steps, each step applying its blocks."""
        op = "Stacked.scan" if outputs else "Stacked.fold"
        prepared = engine.layer_arguments((args, kwargs), self.Layers, op)
        step_args = engine.positions(prepared, self.Layers, unit_period(self.stacked))
        per, rest = self._split()
        result = engine.loop(
            engine.call_method(fn),
            lambda layer: unit_blocks(engine.combine(layer, rest)),
            per,
            self._Steps,
            step_args,
            init,
            outputs=outputs,
            remat=self.gradient_checkpointing if remat is None else remat,
            unroll=1 if unroll is None else unroll,
            op=op,
        )
        if not outputs:
            return result
        carry, ys = result
        return carry, engine.interleave(ys, self.Layers, op, unit_names(self.stacked))

    def vmap_via(self, fn: Callable[..., Any] | str) -> Callable[..., Any]:
        """Returns `(*args, **kwargs) -> outputs` applying `fn(block, *args)` to all layers."""

        def mapped(*args: Any, **kwargs: Any) -> Any:
            prepared = engine.layer_arguments((args, kwargs), self.Layers, "Stacked.vmap")
            step_args = engine.positions(prepared, self.Layers, unit_period(self.stacked))
            per, rest = self._split()
            blocks_of = lambda layer: unit_blocks(engine.combine(layer, rest))
            call = engine.call_method(fn)
            ys = engine.vmap_layers(call, blocks_of, per, self._Steps, step_args)
            return engine.interleave(ys, self.Layers, "Stacked.vmap", unit_names(self.stacked))

        return mapped

    # --- inspection ------------------------------------------------------------------------

    def get_layer(self, i: int) -> M:
        """Layer `i` as a standalone block (per-layer leaves sliced, shared leaves as they are)."""
        if not -self.Layers.size <= i < self.Layers.size:
            raise IndexError(f"Stacked.get_layer: index {i} is out of range for {self.Layers}.")
        step, position = divmod(i % self.Layers.size, unit_period(self.stacked))
        per, rest = self._split()
        whole = engine.combine(engine.layer_tree(per, self._Steps, step), rest)
        return unit_blocks(whole)[position]

    def unstacked(self) -> tuple[M, ...]:
        """Every layer as a standalone block, in order."""
        return tuple(self.get_layer(i) for i in range(self.Layers.size))

    def explain(self, mapping: ResourceMapping | None = None) -> str:
        """A table of the block's parameters: per-layer or shared, named shape, placement.

        A `mapping` column (the mesh axes the mapping asks for) appears when a mapping is
        given or in force; a `sharding` column (the mesh axes each leaf is partitioned
        over, read from the arrays) when some leaf lives on a mesh. With both, a leaf
        whose sharding differs from its mapping is flagged `≠`.

        Args:
            mapping: A logical-to-mesh axis mapping; defaults to the current
                `axis_mapping` (axes it does not mention are shown as replicated, `-`).

        Returns:
            The table as a string (print it); in a notebook it displays as an HTML table.

        Examples:
            >>> Layers, Embed = Axis("layers", 2), Axis("embed", 4)
            >>> stack = nx.nn.Stacked.init(Layers, nx.nn.LayerNorm, shared="bias")(Embed)
            >>> print(stack.explain())
            Stacked LayerNorm over layers(2): 1 per-layer leaf (8 values), 1 shared leaf (4 values)
              leaf     kind       named shape          dtype
              .weight  per-layer  {layers:2, embed:4}  f32
              .bias    shared     {embed:4}            f32
            >>> print(stack.explain({"layers": "stage"}))
            Stacked LayerNorm over layers(2): 1 per-layer leaf (8 values), 1 shared leaf (4 values)
              leaf     kind       named shape          dtype  mapping
              .weight  per-layer  {layers:2, embed:4}  f32    {layers:stage, embed:-}
              .bias    shared     {embed:4}            f32    {embed:-}
        """
        return explain_stack(self, mapping)

    # --- tree utilities --------------------------------------------------------------------

    def _map_per_layer(self, fn: Callable[..., Any], *rest: Stacked) -> Stacked:
        """`fn(block, *rest_blocks)` applied layer by layer to real blocks, restacked.

        `fn` maps blocks to blocks of the same structure. It sees each layer as a whole
        block (per-layer leaves without `Layers`, shared leaves as they are), as on the
        unstacked blocks; one vmapped call covers all layers. A shared leaf stays shared
        and takes `fn`'s result at the first layer (so `fn` should treat shared leaves
        alike in every layer). Used by `namedax.tree_util.scan_aware_tree_map`.
        """
        splits = [s._split() for s in (self, *rest)]
        pers = [per for per, _ in splits]

        def whole(*layers: Any) -> Any:
            return fn(*(engine.combine(layer, r) for layer, (_, r) in zip(layers, splits)))

        if not jax.tree_util.tree_leaves(pers[0], is_leaf=is_named_array):
            return eqx.tree_at(lambda s: s.stacked, self, whole(*pers))
        stacked_out = _vmap(whole, self._Steps)(*pers)
        before = engine.flatten(self.stacked)
        after, treedef = jax.tree_util.tree_flatten(stacked_out, is_leaf=is_named_array)
        if len(after) != len(before):
            raise ValueError(
                f"scan_aware_tree_map: fn changed the structure of the stacked block "
                f"{engine.block_name(self.stacked)} ({len(before)} leaves before, {len(after)} "
                "after); it must return a block of the same structure."
            )
        fixed = [
            new if self._is_per_layer(path, leaf) or not engine.is_array(new)
            else engine.take(new, self._Steps, 0)
            for (path, leaf), new in zip(before, after, strict=True)
        ]  # fmt: skip
        return eqx.tree_at(lambda s: s.stacked, self, jax.tree_util.tree_unflatten(treedef, fixed))

    # --- the state-dict layout (see `namedax.serialization`) -------------------------------

    def state_dict_parts(self) -> list[tuple[str, Any]]:
        """The stack as `(key suffix, subtree)` parts: layer `i` under `"i"`, shared leaves after.

        Layers are numbered in model order whatever the storage, so a `Stacked`, a
        `Pattern` stack and the equivalent `BlockSeq` have the same keys.

        Examples:
            >>> Layers, Embed = Axis("layers", 2), Axis("embed", 3)
            >>> stack = nx.nn.Stacked.init(Layers, nx.nn.LayerNorm, shared="bias")(Embed)
            >>> [(suffix, part.weight.axes if part.weight is not None else None)
            ...  for suffix, part in stack.state_dict_parts()]
            [('0', (Axis(name='embed', size=3),)), ('1', (Axis(name='embed', size=3),)), ('', None)]
            >>> loaded = stack.from_state_dict_parts([part for _, part in stack.state_dict_parts()])
            >>> loaded.stacked.weight.axes == stack.stacked.weight.axes
            True
        """
        per, rest = self._split()
        by_position = unit_positions(per, self.stacked)
        P = len(by_position)
        layers = [
            (str(i), engine.layer_tree(by_position[i % P], self._Steps, i // P))
            for i in range(self.Layers.size)
        ]
        return layers + unit_shared_parts(rest, self.stacked)

    def from_state_dict_parts(self, parts: Sequence[Any]) -> Stacked[M]:
        """The stack rebuilt from loaded `state_dict_parts` (their subtrees, in order).

        Per-layer leaves are restacked in the layout and on the sharding of this stack's.
        """
        per, rest = self._split()
        by_position = unit_positions(per, self.stacked)
        P, N = len(by_position), self.Layers.size
        restacked = [
            engine.restack_tree(template, parts[j:N:P], self._Steps, f"layers[{j}::{P}]")
            for j, template in enumerate(by_position)
        ]
        per = with_unit_positions(per, restacked, self.stacked)
        rest = engine.placed_like(rest, with_unit_shared_parts(rest, parts[N:], self.stacked))
        return eqx.tree_at(lambda s: s.stacked, self, engine.combine(per, rest))


def _mapped_init_leaves(per_keys: Any) -> Callable[[Any], int | None]:
    """A vmap `default` that maps the per-layer keys and plain arrays with a dimension on dim 0."""
    return lambda leaf: 0 if leaf is per_keys or engine.is_sliced_plain(leaf) else None
