"""`BlockSeq`: blocks applied by a Python loop, with the interface of `Stacked`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

import equinox as eqx
import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, is_named_array
from namedax.core._axes import Axis
from namedax.ops._creation import stack as _stack
from namedax.transforms._remat import RematSpec, ScanCheckpointPolicy

from ._layer_calls import (
    LayerSequence,
    _call_method,
    _check_fold_result,
    _check_scan_result,
    _is_array,
    _slice_arguments,
    layer_arguments,
    realigned_carry,
    realigned_scan_result,
)
from ._stacked import SharedSpec, Stacked, _block_name

__all__ = ["BlockSeq"]

M = TypeVar("M", bound=eqx.Module)
B = TypeVar("B", bound=eqx.Module)  # the block type of `BlockSeq.init`


class BlockSeq(eqx.Module, LayerSequence, Generic[M]):
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

        build.__name__ = f"init_blockseq_{_block_name(Block)}"
        return build

    def _call(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        policy = ScanCheckpointPolicy.from_remat(self.gradient_checkpointing)
        if not policy.rematerialises:
            return fn
        return eqx.filter_checkpoint(
            fn, policy=policy.checkpoint_policy(), prevent_cse=policy.prevent_cse
        )

    def fold(self, init: Any, *args: Any, unroll: int | bool | None = None, **kwargs: Any) -> Any:
        """`carry = block(carry, *args, **kwargs)` for each block in order; see `Stacked.fold`."""
        return self.fold_via(_call_method("__call__"))(init, *args, **kwargs)

    def scan(self, init: Any, *args: Any, unroll: int | bool | None = None, **kwargs: Any) -> Any:
        """Like `fold` for blocks returning `(carry, output)`; outputs stacked along `Layers`."""
        return self.scan_via(_call_method("__call__"))(init, *args, **kwargs)

    def vmap(self, *args: Any, **kwargs: Any) -> Any:
        """Every block on the same input; outputs stacked along `Layers`. See `Stacked.vmap`."""
        return self.vmap_via(_call_method("__call__"))(*args, **kwargs)

    def fold_via(
        self, fn: Callable[..., Any] | str, *, unroll: int | bool | None = None
    ) -> Callable[..., Any]:
        """Returns `(init, *args, **kwargs) -> carry` folding `fn(block, carry, *args)`."""
        call = self._call(_call_method(fn))

        def run(init: Any, *args: Any, **kwargs: Any) -> Any:
            carry = init
            prepared = layer_arguments((args, kwargs), self.Layers, "BlockSeq.fold")
            for i, block in enumerate(self.blocks):
                a, k = _slice_arguments(prepared, self.Layers, i)
                out = realigned_carry(carry, call(block, carry, *a, **k))
                _check_fold_result("BlockSeq.fold", carry, out)
                carry = out
            return carry

        return run

    def scan_via(
        self, fn: Callable[..., Any] | str, *, unroll: int | bool | None = None
    ) -> Callable[..., Any]:
        """Returns `(init, *args, **kwargs) -> (carry, outputs)` scanning `fn`."""
        call = self._call(_call_method(fn))

        def run(init: Any, *args: Any, **kwargs: Any) -> Any:
            carry, outputs = init, []
            prepared = layer_arguments((args, kwargs), self.Layers, "BlockSeq.scan")
            for i, block in enumerate(self.blocks):
                a, k = _slice_arguments(prepared, self.Layers, i)
                out = realigned_scan_result(carry, call(block, carry, *a, **k))
                _check_scan_result("BlockSeq.scan", carry, out)
                carry = out[0]
                outputs.append(out[1])
            return carry, _stack_outputs(outputs, self.Layers)

        return run

    def vmap_via(self, fn: Callable[..., Any] | str) -> Callable[..., Any]:
        """Returns `(*args, **kwargs) -> outputs` applying `fn(block, *args)` to each block."""
        call = _call_method(fn)

        def run(*args: Any, **kwargs: Any) -> Any:
            outputs = []
            prepared = layer_arguments((args, kwargs), self.Layers, "BlockSeq.vmap")
            for i, block in enumerate(self.blocks):
                a, k = _slice_arguments(prepared, self.Layers, i)
                outputs.append(call(block, *a, **k))
            return _stack_outputs(outputs, self.Layers)

        return run

    def get_layer(self, i: int) -> M:
        """Block `i`."""
        return self.blocks[i]

    def unstacked(self) -> tuple[M, ...]:
        """The blocks."""
        return tuple(self.blocks)


def _stack_outputs(outputs: list[Any], Layers: Axis) -> Any:
    """Stacks per-layer outputs: NamedArrays gain `Layers` in front, arrays a leading dimension."""

    def stack(*xs: Any) -> Any:
        first = xs[0]
        if isinstance(first, NamedArray):
            return _stack(Layers, xs)
        if _is_array(first):
            return jnp.stack(xs)
        return first

    return jax.tree_util.tree_map(stack, *outputs, is_leaf=is_named_array)
