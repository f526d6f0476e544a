"""`haliax._src.rearrange`: the einops-style pattern form."""

from namedax.ops._rearrange import rearrange as rearrange

einops_rearrange = rearrange  # Haliax's name for the pattern form
