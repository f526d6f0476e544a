"""Axis-aware transformations: vmap, nmap, scan/fold/map and rematerialisation.

Built on `namedax.core`. The four loop and mapping transforms are re-exported here
(this is also `haliax.hof` under `install_as_haliax()`).
"""

from namedax.transforms._nmap import nmap as nmap
from namedax.transforms._scan import fold as fold, map as map, scan as scan
from namedax.transforms._vmap import vmap as vmap
