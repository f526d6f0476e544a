"""`BlockSeq`: blocks applied by a Python loop, with the interface of `Stacked`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, overload

import equinox as eqx

import namedax.nn._stack_engine as engine
from namedax.core._axes import Axis
from namedax.transforms._remat import RematSpec, ScanCheckpointPolicy

from ._foldable import LayerSequence
from ._stacked import SharedSpec, Stacked

__all__ = ["BlockSeq"]

M = TypeVar("M", bound=eqx.Module, covariant=True)
C = TypeVar("C")  # the carry of `fold`/`scan`
B = TypeVar("B", bound=eqx.Module)  # the block type of `BlockSeq.init`


class BlockSeq(eqx.Module, LayerSequence[M], Generic[M]):
    """A sequence of blocks applied by a Python loop, with the interface of `Stacked`.

    Use it for heterogeneous layers (`BlockSeq([block_a, block_b], Layers)`), or to
    check a `Stacked` against the unrolled computation: `BlockSeq.init` takes the
    arguments of `Stacked.init` and builds the very same layers (same keys, same
    values), stored as separate blocks. Shared parameters are then copies in each
    block, so training a `BlockSeq` does not keep them tied.

    Arguments of `fold`/`scan`/`vmap` that are NamedArrays with `Layers` are sliced
    per layer; all others go to every layer.

    Attributes:
        blocks: The blocks, in order.
        Layers: The axis that indexes them (its size is the number of blocks).
        gradient_checkpointing: If it rematerialises (see `ScanCheckpointPolicy`), each
            block call is wrapped in `equinox.filter_checkpoint` with the policy.

    Examples:
        >>> Layers, Embed = Axis("layers", 3), Axis("embed", 4)
        >>> key = jax.random.key(0)
        >>> stack = nx.nn.Stacked.init(Layers, nx.nn.Linear)(Embed, Embed, key=key)
        >>> seq = nx.nn.BlockSeq.init(Layers, nx.nn.Linear)(Embed, Embed, key=key)
        >>> x = named(jnp.ones(4), Embed)
        >>> bool(jnp.allclose(stack.fold(x).array, seq.fold(x).array, atol=1e-6))
        True
    """

    blocks: tuple[M, ...]
    Layers: Axis = eqx.field(static=True)
    gradient_checkpointing: RematSpec = eqx.field(static=True, default=False)

    def __check_init__(self):
        if len(self.blocks) != self.Layers.size:
            raise ValueError(
                f"BlockSeq: {len(self.blocks)} blocks were given for {self.Layers}; give one "
                "block per position of the layers axis."
            )
        ScanCheckpointPolicy.from_remat(self.gradient_checkpointing)

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
    ) -> Callable[..., BlockSeq[B]]: ...
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
    ) -> Callable[..., BlockSeq[Any]]: ...
    @classmethod
    def init(
        cls,
        Layers: Axis,
        Block: Any,
        *,
        gradient_checkpointing: RematSpec = False,
        shared: SharedSpec = None,
        prevent_cse: bool | None = None,
    ) -> Callable[..., BlockSeq[Any]]:
        """Like `Stacked.init`, but returns the layers as separate blocks."""
        make = Stacked.init(
            Layers,
            Block,
            gradient_checkpointing=gradient_checkpointing,
            shared=shared,
            prevent_cse=prevent_cse,
        )

        def build(*args: Any, key: Any = None, **kwargs: Any) -> BlockSeq:
            stack = make(*args, key=key, **kwargs)
            return cls(stack.unstacked(), stack.Layers, stack.gradient_checkpointing)

        build.__name__ = f"init_blockseq_{engine.block_name(Block)}"
        return build

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
        """`fold`/`scan`: a Python loop over the blocks, each step as `Stacked`'s (`unroll`
        has nothing left to unroll)."""
        op = "BlockSeq.scan" if outputs else "BlockSeq.fold"
        policy = self.gradient_checkpointing if remat is None else remat
        call = engine.checkpointed(engine.call_method(fn), policy)
        prepared = engine.layer_arguments((args, kwargs), self.Layers, op)
        carry, ys = init, []
        for i, block in enumerate(self.blocks):
            step_args = [engine.argument_layer(prepared, self.Layers, i)]
            out = engine.apply_step(call, [block], carry, step_args, outputs=outputs, op=op)
            if outputs:
                carry, (y,) = out
                ys.append(y)
            else:
                carry = out
        if not outputs:
            return carry
        return carry, engine.stack_outputs(ys, self.Layers)

    def vmap_via(self, fn: Callable[..., Any] | str) -> Callable[..., Any]:
        """Returns `(*args, **kwargs) -> outputs` applying `fn(block, *args)` to each block."""
        call = engine.call_method(fn)

        def run(*args: Any, **kwargs: Any) -> Any:
            prepared = engine.layer_arguments((args, kwargs), self.Layers, "BlockSeq.vmap")
            outputs = []
            for i, block in enumerate(self.blocks):
                a, k = engine.argument_layer(prepared, self.Layers, i)
                outputs.append(call(block, *a, **k))
            return engine.stack_outputs(outputs, self.Layers)

        return run

    def get_layer(self, i: int) -> M:
        """Block `i`."""
        return self.blocks[i]

    def unstacked(self) -> tuple[M, ...]:
        """The blocks."""
        return tuple(self.blocks)

    def state_dict_parts(self) -> list[tuple[str, Any]]:
        """Block `i` under key suffix `"i"` (the layout of the equivalent `Stacked`)."""
        return [(str(i), block) for i, block in enumerate(self.blocks)]

    def from_state_dict_parts(self, parts: Sequence[Any]) -> BlockSeq[M]:
        """This sequence with its blocks replaced by loaded `state_dict_parts` subtrees.

        Each loaded array lands on the sharding of the leaf it replaces.
        """
        blocks = tuple(engine.placed_like(old, new) for old, new in zip(self.blocks, parts))
        return eqx.tree_at(lambda s: s.blocks, self, blocks)
