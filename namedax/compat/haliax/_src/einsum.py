"""`haliax._src.einsum`: the einsum equation forms."""

from namedax.ops._einsum import einsum as einsum
