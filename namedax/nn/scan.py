"""Layer stacks: `Stacked` (one scanned copy per layer) and `BlockSeq` (unrolled), and their
checkpoint policy. This is also `haliax.nn.scan` under `install_as_haliax()`.

Examples:
    >>> from namedax.nn.scan import Stacked
    >>> Stacked is nx.nn.Stacked
    True
"""

from namedax.transforms._remat import (
    ScanCheckpointPolicy as ScanCheckpointPolicy,
    ScanCheckpointSpec as ScanCheckpointSpec,
)

from ._blockseq import BlockSeq as BlockSeq
from ._export import (
    _stack_state_dict as _stack_state_dict,  # Haliax keeps these here
    _unstack_state_dict as _unstack_state_dict,
)
from ._foldable import BlockFoldable as BlockFoldable
from ._stacked import Stacked as Stacked
