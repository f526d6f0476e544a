"""`haliax.nn.scan`: layer stacks (`Stacked`, `BlockSeq`) and their checkpoint policy.

Examples:
    >>> from namedax.compat.haliax.nn.scan import Stacked
    >>> Stacked is nx.nn.Stacked
    True
"""

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
