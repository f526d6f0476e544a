"""`haliax.nn.scan`: layer stacks (`Stacked`, `BlockSeq`) and their checkpoint policy.

Examples:
    >>> from namedax.compat.haliax.nn.scan import Stacked
    >>> Stacked is nx.nn.Stacked
    True
"""

from typing import Any, Protocol, TypeVar

from namedax.nn._blockseq import BlockSeq as BlockSeq
from namedax.nn._export import (
    _stack_state_dict as _stack_state_dict,  # Haliax keeps these here
    _unstack_state_dict as _unstack_state_dict,
)
from namedax.nn._foldable import BlockFoldable as BlockFoldable
from namedax.nn._stacked import Stacked as Stacked
from namedax.transforms._remat import (
    ScanCheckpointPolicy as ScanCheckpointPolicy,
    ScanCheckpointSpec as ScanCheckpointSpec,
)

M_co = TypeVar("M_co", covariant=True)


class FoldFunction(Protocol):
    """A block method usable with `Stacked.fold`: `(block, carry, *args) -> carry`."""

    def __call__(self, module: Any, carry: Any, *args: Any, **kwargs: Any) -> Any: ...


class ScanFunction(Protocol):
    """A block method usable with `Stacked.scan`: `(block, carry, *args) -> (carry, output)`."""

    def __call__(self, module: Any, carry: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]: ...


class VmapFunction(Protocol):
    """A block method usable with `Stacked.vmap`: `(block, *args) -> output`."""

    def __call__(self, module: Any, *args: Any, **kwargs: Any) -> Any: ...


class ModuleInit(Protocol[M_co]):
    """A block constructor, as `Stacked.init(Layers, ModuleInit)` takes it."""

    def __call__(self, *args: Any, **kwargs: Any) -> M_co: ...
