"""`haliax.ops`: structural ops, `where`, `clip` and set ops."""

from namedax.ops._bits import packbits as packbits, unpackbits as unpackbits
from namedax.ops._comparison import isclose as isclose
from namedax.ops._sets import (
    bincount as bincount,
    searchsorted as searchsorted,
    unique as unique,
    unique_all as unique_all,
    unique_counts as unique_counts,
    unique_inverse as unique_inverse,
    unique_values as unique_values,
)
from namedax.ops._structural import (
    pad as pad,
    pad_left as pad_left,
    trace as trace,
    tril as tril,
    triu as triu,
)
from namedax.ops._where import clip as clip, where as where
