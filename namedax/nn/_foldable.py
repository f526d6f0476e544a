"""`BlockFoldable[Block]`: the interface `Stacked` and `BlockSeq` share, for annotations.

A model whose layers may be either kind declares the field as `layers: BlockFoldable[Block]`
(Haliax's name for this interface; `haliax.nn.scan.BlockFoldable` under
`install_as_haliax()`). It is a `typing.Protocol`: annotations only, never a base class,
since Equinox modules cannot inherit from a protocol.

Examples:
    >>> from namedax.nn.scan import BlockFoldable
    >>> Layers, Embed = Axis("layers", 2), Axis("embed", 3)
    >>> def depth(layers: BlockFoldable[nx.nn.LayerNorm]) -> int:
    ...     return layers.Layers.size
    >>> depth(nx.nn.Stacked.init(Layers, nx.nn.LayerNorm)(Embed))
    2
    >>> depth(nx.nn.BlockSeq.init(Layers, nx.nn.LayerNorm)(Embed))
    2
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from namedax.core._axes import Axis

__all__ = ["BlockFoldable"]

Block_co = TypeVar("Block_co", covariant=True)
Carry = TypeVar("Carry")


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
