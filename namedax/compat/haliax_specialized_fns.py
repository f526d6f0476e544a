"""`haliax.specialized_fns` under `install_as_haliax()`: `top_k`."""

from namedax.ops._sets import top_k as top_k
