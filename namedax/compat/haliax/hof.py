"""`haliax.hof`: the named-axis loop and mapping transforms."""

from namedax.transforms import (
    fold as fold,
    map as map,
    nmap as nmap,
    scan as scan,
    vmap as vmap,
)
