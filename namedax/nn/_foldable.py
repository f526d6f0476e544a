"""`BlockFoldable[Block]`: the interface `Stacked` and `BlockSeq` share, for annotations.

A model whose layers may be either kind declares the field as `layers: BlockFoldable[Block]`
(Haliax's name for this interface; `haliax.nn.scan.BlockFoldable` under
`install_as_haliax()`). It is a `typing.Protocol`: annotations only, never a base class,
since Equinox modules cannot inherit from a protocol.

Examples:
    >>> from namedax.nn import BlockFoldable
    >>> Layers, Embed = Axis("layers", 2), Axis("embed", 3)
    >>> def depth(layers: BlockFoldable[nx.nn.LayerNorm]) -> int:
    ...     return layers.Layers.size
    >>> depth(nx.nn.Stacked.init(Layers, nx.nn.LayerNorm)(Embed))
    2
    >>> depth(nx.nn.BlockSeq.init(Layers, nx.nn.LayerNorm)(Embed))
    2
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from namedax.core._axes import Axis
from namedax.core._state_dict import from_state_dict, to_state_dict

__all__ = ["BlockFoldable"]

S = TypeVar("S", bound="LayerSequence")
Block_co = TypeVar("Block_co", covariant=True)
Carry = TypeVar("Carry")
P = ParamSpec("P")
R = TypeVar("R")


class LayerSequence(Generic[Block_co]):
    """What `Stacked` and `BlockSeq` share as modules: layers indexed by the `Layers` axis."""

    Layers: Axis  # a field of each (Equinox) subclass

    @property
    def Block(self) -> Axis:  # the Haliax name of the layers axis
        """The layers axis (Haliax calls it `Block`)."""
        return self.Layers

    # --- calling: every kind implements `_run` (fold and scan) and `vmap_via` ---------------

    def _run(
        self,
        fn: Callable[..., Any] | str,
        init: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        unroll: int | bool | None,
        remat: Any,
        *,
        outputs: bool,
    ) -> Any:
        raise NotImplementedError  # pragma: no cover - every stack kind defines it

    def vmap_via(self, fn: Callable[..., Any] | str) -> Callable[..., Any]:
        """Returns `(*args, **kwargs) -> outputs` applying `fn(block, *args)` to every layer."""
        raise NotImplementedError  # pragma: no cover - every stack kind defines it

    def fold(
        self,
        init: Carry,
        *args: Any,
        unroll: int | bool | None = None,
        remat: Any = None,
        **kwargs: Any,
    ) -> Carry:
        """Applies the layers in order: `carry = layer(carry, *args, **kwargs)`.

        See `Stacked.fold` for the rule by which arguments are sliced per layer.
        `remat=` picks the remat policy of this call (`None`: the stored one).
        """
        return self._run("__call__", init, args, kwargs, unroll, remat, outputs=False)

    def scan(
        self,
        init: Carry,
        *args: Any,
        unroll: int | bool | None = None,
        remat: Any = None,
        **kwargs: Any,
    ) -> tuple[Carry, Any]:
        """Like `fold` for layers returning `(carry, output)`: returns `(carry, outputs)`.

        The outputs of all layers are stacked with `Layers` in front.
        """
        return self._run("__call__", init, args, kwargs, unroll, remat, outputs=True)

    def vmap(self: LayerSequence[Callable[P, R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """Applies every layer to the same input, in parallel (an ensemble).

        Arguments follow the call rule of `fold`: NamedArrays with `Layers` (and plain
        arrays, along their first dimension) are sliced per member, a single typed key
        is split per member, all others go to every member. Every output gets `Layers`
        in front.

        Examples:
            >>> Members, Embed = Axis("members", 5), Axis("embed", 3)
            >>> ensemble = nx.nn.Stacked.init(Members, nx.nn.Linear)(
            ...     Embed, Axis("out", 1), key=jax.random.key(0))
            >>> ensemble.vmap(named(jnp.ones(3), Embed)).axes
            (Axis(name='members', size=5), Axis(name='out', size=1))
        """
        return self.vmap_via("__call__")(*args, **kwargs)

    def fold_via(
        self, fn: Callable[..., Any] | str, *, unroll: int | bool | None = None, remat: Any = None
    ) -> Callable[..., Any]:
        """Returns `(init, *args, **kwargs) -> carry` folding `fn(block, carry, *args, **kwargs)`.

        `fn` may be a function of the block or the name of a block method.
        """
        return lambda init, *args, **kwargs: self._run(
            fn, init, args, kwargs, unroll, remat, outputs=False
        )

    def scan_via(
        self, fn: Callable[..., Any] | str, *, unroll: int | bool | None = None, remat: Any = None
    ) -> Callable[..., Any]:
        """Returns `(init, *args, **kwargs) -> (carry, outputs)` scanning `fn(block, carry, *a)`."""
        return lambda init, *args, **kwargs: self._run(
            fn, init, args, kwargs, unroll, remat, outputs=True
        )

    # --- the state dict ----------------------------------------------------------------------

    def to_state_dict(self, prefix: str | None = None) -> dict[str, Any]:
        """This stack's state dict, as `namedax.serialization.to_state_dict(self, prefix)`.

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
        return to_state_dict(self, prefix)

    def from_state_dict(self: S, state_dict: Mapping[str, Any], prefix: str | None = None) -> S:
        """This stack with its arrays read from `state_dict` (the layout of `to_state_dict`)."""
        return from_state_dict(self, state_dict, prefix)


class BlockFoldable(Protocol, Generic[Block_co]):
    """A sequence of layers along `Layers` that folds or scans a carry through them.

    Implemented by `namedax.nn.Stacked` (one scanned copy per layer) and
    `namedax.nn.BlockSeq` (separate blocks, applied in a Python loop).
    """

    Layers: Axis

    @property
    def Block(self) -> Axis:
        """The layers axis under its Haliax name."""
        ...

    def fold(
        self, init: Carry, *args: Any, unroll: int | bool | None = None, **kwargs: Any
    ) -> Carry:
        """Applies each layer in turn to the carry: `carry = layer(carry, *args, **kwargs)`."""
        ...

    def scan(self, init: Any, *args: Any, unroll: int | bool | None = None, **kwargs: Any) -> Any:
        """Like `fold`, for layers returning `(carry, output)`; outputs stack along `Layers`."""
        ...

    def fold_via(
        self, fn: Callable[..., Any] | str, *, unroll: int | bool | None = None
    ) -> Callable[..., Any]:
        """`fold` with `fn(layer, carry, ...)` (or the method named `fn`) in place of calls."""
        ...

    def scan_via(
        self, fn: Callable[..., Any] | str, *, unroll: int | bool | None = None
    ) -> Callable[..., Any]:
        """`scan` with `fn(layer, carry, ...) -> (carry, output)` in place of calls."""
        ...

    def vmap_via(self, fn: Callable[..., Any] | str) -> Callable[..., Any]:
        """Applies `fn(layer, ...)` to every layer independently; outputs get `Layers`."""
        ...
