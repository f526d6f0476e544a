"""`haliax._src.rearrange` under `install_as_haliax()`: the einops-style pattern form."""

from namedax.ops._rearrange import rearrange as einops_rearrange, rearrange as rearrange
