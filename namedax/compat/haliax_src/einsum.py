"""`haliax._src.einsum` under `install_as_haliax()`: the einsum equation forms."""

from namedax.ops._einsum import einsum as einsum
