"""`haliax._src.scan` under `install_as_haliax()`: the scan family and its checkpoint policy."""

from namedax.transforms._remat import ScanCheckpointPolicy as ScanCheckpointPolicy
from namedax.transforms._scan import fold as fold, map as map, scan as scan
