"""`haliax._src.scan`: the scan family and its checkpoint policy."""

from namedax.transforms._remat import (
    ScanCheckpointPolicy as ScanCheckpointPolicy,
    ScanCheckpointSpec as ScanCheckpointSpec,
)
from namedax.transforms._scan import (
    fold as fold,
    is_named_or_shaped_array_like as is_named_or_shaped_array_like,
    map as map,
    scan as scan,
)
