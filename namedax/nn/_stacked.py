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
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis, sized_axes
from namedax.core._errors import argument_paths, describe, format_axes
from namedax.core._mapping import ResourceMapping
from namedax.transforms._remat import RematSpec, ScanCheckpointPolicy
from namedax.transforms._scan import fold as _fold, scan as _scan
from namedax.transforms._vmap import vmap as _vmap

from ._explain import explain_stack
from ._layer_calls import (
    LayerSequence,
    _call_method,
    _check_fold_result,
    _check_scan_result,
    _dotted,
    _flatten,
    _is_array,
    _is_per_layer_plain,
    _length_message,
    _slice_arguments,
    _slice_layer,
    layer_arguments,
    realigned_carry,
    realigned_scan_result,
)
from ._pattern import (
    Pattern,
    PatternBlocks,
    pattern_builder,
    pattern_loop_via,
    pattern_position,
    pattern_steps,
    pattern_vmap_via,
    pick_position,
)

__all__ = ["SharedSpec", "Stacked"]

M = TypeVar("M", bound=eqx.Module)
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


# --- leaves and paths ----------------------------------------------------------------------


def _block_name(block: Any) -> str:
    return getattr(block, "__name__", None) or type(block).__name__


# --- building ------------------------------------------------------------------------------


def _constructor(Block: Any, op: str) -> Callable[..., Any]:
    """`Block.init` if the block defines a static/class `init`, else the block itself."""
    if isinstance(Block, type):
        init = inspect.getattr_static(Block, "init", None)
        if isinstance(init, (staticmethod, classmethod)):
            return Block.init  # type: ignore[attr-defined]
        return Block
    if callable(Block):
        return Block
    raise TypeError(
        f"{op}: Block must be a module class (with a static `init` or an `__init__`) or a "
        f"function that builds one, got {describe(Block)}."
    )


def _layer_keys(key: Any, Layers: Axis, op: str) -> tuple[Any, Any]:
    """(one key per layer, the key for shared parameters) from a single or pre-split key."""
    if key is None:
        return None, None
    if not isinstance(key, (jax.Array, np.ndarray)):
        raise TypeError(f"{op}: key must be a PRNG key (jax.random.key(...)), got {describe(key)}.")
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
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


class _Marker:
    """Stands in for a leaf while a `shared=` callable picks leaves of the block."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path


def _shared_paths(shared: SharedSpec, abstract: Any, Block: Any) -> frozenset[str]:
    """The paths of the array leaves of `abstract` (a block) that `shared` selects."""
    leaves = [(p, leaf) for p, leaf in _flatten(abstract) if _is_array(leaf)]
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
            dotted = _dotted(name)
            hits = [p for p in paths if (d := _dotted(p)) == dotted or d.startswith(dotted + ".")]
            if not hits:
                raise ValueError(
                    f"Stacked.init: shared={name!r} names no parameter of {_block_name(Block)}. "
                    f"Its parameters are: {', '.join(_dotted(p) for p in paths) or 'none'}."
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
                f"{_block_name(Block)}. It must return nodes of the block it is given (e.g. "
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
    return _Marker(path) if _is_array(leaf) else leaf


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


class Stacked(eqx.Module, LayerSequence, Generic[M]):
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
        for path, leaf in _flatten(self.stacked):
            if isinstance(leaf, NamedArray):
                for a in leaf.axes:
                    if a.name == steps.name and a.size != steps.size:
                        raise ValueError(
                            f"Stacked: leaf {path} {format_axes(leaf.axes)} has axis "
                            f"{a.name!r} of size {a.size}, but the stack has {steps}."
                        )
            elif (
                path in self.per_layer_arrays
                and _is_array(leaf)
                and np.shape(leaf)[:1] != (steps.size,)
            ):
                raise ValueError(
                    f"Stacked: per-layer leaf {path} has shape {np.shape(leaf)}; its leading "
                    f"dimension must be the number of layers, {steps.size}."
                )

    @property
    def _Steps(self) -> Axis:
        """The axis the scan runs over: `Layers`, or for a `Pattern` its number of repeats."""
        return pattern_steps(self.stacked, self.Layers)

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
        make = _constructor(Block, "Stacked.init")

        def build(*args: Any, key: Any = None, **kwargs: Any) -> Stacked:
            per_keys, shared_key = _layer_keys(key, Layers, "Stacked.init")

            def make_one(k: Any, args: Any, kwargs: Any) -> Any:
                return make(*args, **kwargs) if k is None else make(*args, key=k, **kwargs)

            args, kwargs = _init_arguments((args, kwargs), Layers)
            first = _slice_arguments((args, kwargs), Layers, 0)
            abstract = eqx.filter_eval_shape(make_one, shared_key, *first)
            shared_paths = _shared_paths(shared, abstract, Block)
            array_paths = [p for p, leaf in _flatten(abstract) if _is_array(leaf)]
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
                for p, leaf in _flatten(block)
                if p in per_set and not isinstance(leaf, NamedArray)
            )
            return cls(block, Layers, gradient_checkpointing, plain)

        build.__name__ = f"init_stacked_{_block_name(Block)}"
        return build

    # --- the per-layer / shared split ------------------------------------------------------

    def _is_per_layer(self, path: str, leaf: Any) -> bool:
        if isinstance(leaf, NamedArray):
            return self.Layers.name in leaf.axis_names
        return path in self.per_layer_arrays and _is_array(leaf)

    def _partition(self) -> tuple[Any, Any, Callable[[Any], bool]]:
        """(per-layer leaves, shared leaves, is_scanned) for passing the block through a scan."""
        flags = iter([self._is_per_layer(p, leaf) for p, leaf in _flatten(self.stacked)])
        mask = jax.tree_util.tree_map(lambda _: next(flags), self.stacked, is_leaf=is_named_array)
        per = jax.tree_util.tree_map(lambda m, x: x if m else None, mask, self.stacked)
        shared = jax.tree_util.tree_map(lambda m, x: None if m else x, mask, self.stacked)
        plain_ids = {
            id(leaf)
            for leaf in jax.tree_util.tree_leaves(per, is_leaf=is_named_array)
            if not isinstance(leaf, NamedArray)
        }
        return per, shared, lambda leaf: isinstance(leaf, NamedArray) or id(leaf) in plain_ids

    # --- calling ---------------------------------------------------------------------------

    def fold(
        self,
        init: Any,
        *args: Any,
        unroll: int | bool | None = None,
        pipeline: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Applies the layers in order: `carry = layer(carry, *args, **kwargs)` for each layer.

        Compiles to one `lax.scan`. Arguments that are NamedArrays with `Layers`, and
        plain arrays with a dimension (along their first, as in Haliax, so
        `key=jax.random.split(k, Layers.size)` gives layer `i` key `i`), are sliced per
        layer; a single typed key is split per layer; all others go to every layer.

        Args:
            init: The initial carry.
            *args: Further arguments of the block's `__call__`.
            unroll: Layers per loop iteration (`True` unrolls fully), as in `jax.lax.scan`.
            pipeline: A `namedax.nn.Pipeline`: run the layers as a pipeline over its mesh
                axis instead (`pipeline.fold(self, init, ...)`).
            **kwargs: Further keyword arguments of the block's `__call__`.

        Returns:
            The final carry.

        Raises:
            TypeError: If the block returns a `(carry, output)` pair (use `scan`).
            ValueError: If the block changes the carry's structure or axes.
        """
        if pipeline is not None:
            return pipeline.fold(self, init, *args, **kwargs)
        return self.fold_via(_call_method("__call__"), unroll=unroll)(init, *args, **kwargs)

    def scan(
        self,
        init: Any,
        *args: Any,
        unroll: int | bool | None = None,
        pipeline: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Like `fold` for a block returning `(carry, output)`: returns `(carry, outputs)`.

        The outputs of all layers are stacked with `Layers` in front.

        Raises:
            TypeError: If the block does not return a pair (use `fold`).
        """
        if pipeline is not None:
            return pipeline.scan(self, init, *args, **kwargs)
        return self.scan_via(_call_method("__call__"), unroll=unroll)(init, *args, **kwargs)

    def vmap(self, *args: Any, **kwargs: Any) -> Any:
        """Applies every layer to the same input, in parallel (an ensemble).

        Arguments that are NamedArrays with `Layers` are sliced per member; all others
        go to every member. Every output gets `Layers` in front.

        Examples:
            >>> Members, Embed = Axis("members", 5), Axis("embed", 3)
            >>> ensemble = nx.nn.Stacked.init(Members, nx.nn.Linear)(
            ...     Embed, Axis("out", 1), key=jax.random.key(0))
            >>> ensemble.vmap(named(jnp.ones(3), Embed)).axes
            (Axis(name='members', size=5), Axis(name='out', size=1))
        """
        return self.vmap_via(_call_method("__call__"))(*args, **kwargs)

    def fold_via(
        self, fn: Callable[..., Any] | str, *, unroll: int | bool | None = None
    ) -> Callable[..., Any]:
        """Returns `(init, *args, **kwargs) -> carry` folding `fn(block, carry, *args, **kwargs)`.

        `fn` may be a function of the block or the name of a block method.
        """
        if isinstance(self.stacked, PatternBlocks):
            return pattern_loop_via(self, fn, unroll, outputs=False)
        return self._loop_via(fn, unroll, _fold, _check_fold_result, "Stacked.fold")

    def scan_via(
        self, fn: Callable[..., Any] | str, *, unroll: int | bool | None = None
    ) -> Callable[..., Any]:
        """Returns `(init, *args, **kwargs) -> (carry, outputs)` scanning `fn(block, carry, *a)`."""
        if isinstance(self.stacked, PatternBlocks):
            return pattern_loop_via(self, fn, unroll, outputs=True)
        return self._loop_via(fn, unroll, _scan, _check_scan_result, "Stacked.scan")

    def _loop_via(
        self,
        fn: Callable[..., Any] | str,
        unroll: int | bool | None,
        loop: Callable[..., Any],
        check: Callable[[str, Any, Any], None],
        op: str,
    ) -> Callable[..., Any]:
        """`fold_via`/`scan_via`: `loop` (`_fold` or `_scan`) over the layers, `check` per step."""
        call = _call_method(fn)
        per, shared, _ = self._partition()
        realign = realigned_scan_result if loop is _scan else realigned_carry

        def step(carry: Any, layer: Any, *args: Any, **kwargs: Any) -> Any:
            out = call(eqx.combine(layer, shared, is_leaf=is_named_array), carry, *args, **kwargs)
            out = realign(carry, out)
            check(op, carry, out)
            return out

        # every plain array in `per` is per-layer; plain call arguments follow layer_arguments
        is_scanned = lambda leaf: isinstance(leaf, NamedArray) or np.ndim(leaf) >= 1
        run = loop(step, self.Layers, **self._scan_options(unroll, is_scanned))

        def looped(init: Any, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = layer_arguments((args, kwargs), self.Layers, op)
            return run(init, per, *args, **kwargs)

        return looped

    def vmap_via(self, fn: Callable[..., Any] | str) -> Callable[..., Any]:
        """Returns `(*args, **kwargs) -> outputs` applying `fn(block, *args)` to all layers."""
        if isinstance(self.stacked, PatternBlocks):
            return pattern_vmap_via(self, fn)
        call = _call_method(fn)
        per, shared, _ = self._partition()

        def member(layer: Any, *args: Any, **kwargs: Any) -> Any:
            return call(eqx.combine(layer, shared, is_leaf=is_named_array), *args, **kwargs)

        run = _vmap(member, self.Layers)  # plain arrays (per-layer leaves, arguments) on dim 0

        def mapped(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = layer_arguments((args, kwargs), self.Layers, "Stacked.vmap")
            return run(per, *args, **kwargs)

        return mapped

    def _scan_options(self, unroll: int | bool | None, is_scanned: Callable) -> dict[str, Any]:
        return {
            "remat": self.gradient_checkpointing,
            "unroll": 1 if unroll is None else unroll,
            "is_scanned": is_scanned,
        }

    # --- inspection ------------------------------------------------------------------------

    def get_layer(self, i: int) -> M:
        """Layer `i` as a standalone block (per-layer leaves sliced, shared leaves as they are)."""
        if not -self.Layers.size <= i < self.Layers.size:
            raise IndexError(f"Stacked.get_layer: index {i} is out of range for {self.Layers}.")
        step, position = pattern_position(self.stacked, i % self.Layers.size)
        per, shared, _ = self._partition()
        layer = jax.tree_util.tree_map(
            lambda x: _slice_layer(x, self._Steps, step) if isinstance(x, NamedArray) else x[step],
            per,
            is_leaf=is_named_array,
        )
        return pick_position(eqx.combine(layer, shared, is_leaf=is_named_array), position)

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
        op = "scan_aware_tree_map"
        parts = [s._partition() for s in (self, *rest)]
        pers = [per for per, _, _ in parts]
        shareds = [shared for _, shared, _ in parts]

        def whole(*layers: Any) -> Any:
            blocks = [
                eqx.combine(layer, shared, is_leaf=is_named_array)
                for layer, shared in zip(layers, shareds, strict=True)
            ]
            return fn(*blocks)

        if not jax.tree_util.tree_leaves(pers[0], is_leaf=is_named_array):
            return eqx.tree_at(lambda s: s.stacked, self, whole(*pers))
        filters = [is_mapped for _, _, is_mapped in parts]
        default = lambda leaf: 0 if any(f(leaf) for f in filters) else None
        stacked_out = _vmap(whole, self._Steps, default=default)(*pers)
        before = _flatten(self.stacked)
        after_leaves, treedef = jax.tree_util.tree_flatten(stacked_out, is_leaf=is_named_array)
        if len(after_leaves) != len(before):
            raise ValueError(
                f"{op}: fn changed the structure of the stacked block {_block_name(self.stacked)} "
                f"({len(before)} leaves before, {len(after_leaves)} after); it must return a "
                "block of the same structure."
            )
        fixed = []
        for (path, leaf), new in zip(before, after_leaves, strict=True):
            if self._is_per_layer(path, leaf) or not _is_array(new):
                fixed.append(new)
            elif isinstance(new, NamedArray):
                fixed.append(_slice_layer(new, self._Steps, 0))
            else:
                fixed.append(new[0])
        merged = jax.tree_util.tree_unflatten(treedef, fixed)
        return eqx.tree_at(lambda s: s.stacked, self, merged)


def _init_arguments(tree: Any, Layers: Axis) -> Any:
    """`Stacked.init`'s block arguments, checked: plain arrays must have one entry per layer.

    `init` slices its arguments by the call rule (see `namedax.nn._layer_calls`), except
    that a single key among them is not split: only `key=` is split per layer.
    """
    paths = argument_paths(tree)
    leaves = jax.tree_util.tree_leaves(tree, is_leaf=is_named_array)
    for path, leaf in zip(paths, leaves, strict=True):
        if _is_per_layer_plain(leaf) and np.shape(leaf)[0] != Layers.size:
            raise ValueError(_length_message("Stacked.init", path, leaf, Layers))
    return tree


def _mapped_init_leaves(per_keys: Any) -> Callable[[Any], int | None]:
    """A vmap `default` that maps the per-layer keys and plain arrays with a dimension on dim 0."""
    return lambda leaf: 0 if leaf is per_keys or _is_per_layer_plain(leaf) else None
