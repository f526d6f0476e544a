"""`haliax._src.compile_utils`: Equinox's compilation cache, which Haliax keeps a copy of.

`compile_cache(fn)` caches `fn(user_fn_names, *args, **kwargs)` per user function and
hashable arguments; `clear_caches()` empties such caches (Equinox's `eqx.clear_caches`).
namedax uses Equinox's own cache, so both names are Equinox's.
"""

from equinox import clear_caches as clear_caches
from equinox._compile_utils import compile_cache as compile_cache

__all__ = ["clear_caches", "compile_cache"]
