"""`haliax.nn.pool`: pooling over named spatial axes."""

from namedax.nn._pool import (
    max_pool as max_pool,
    mean_pool as mean_pool,
    min_pool as min_pool,
    pool as pool,
)
