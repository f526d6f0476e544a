"""`haliax.specialized_fns`: `top_k`."""

from namedax.ops._sets import (
    UniqueAllResult as UniqueAllResult,
    UniqueCountsResult as UniqueCountsResult,
    UniqueInverseResult as UniqueInverseResult,
    bincount as bincount,
    searchsorted as searchsorted,
    top_k as top_k,
    unique as unique,
    unique_all as unique_all,
    unique_counts as unique_counts,
    unique_inverse as unique_inverse,
    unique_values as unique_values,
)
