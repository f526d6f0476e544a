"""`haliax.core`: the NamedArray type and its array manipulations."""

from namedax.core._array import NamedArray as NamedArray, named as named
from namedax.core._broadcast import (
    broadcast_arrays as broadcast_arrays,
    broadcast_axis as broadcast_axis,
    broadcast_to as broadcast_to,
)
from namedax.ops._indexing import (
    index as index,
    slice as slice,
    take as take,
    updated_slice as updated_slice,
)
from namedax.ops._shape import (
    flatten as flatten,
    flatten_axes as flatten_axes,
    ravel as ravel,
    split as split,
    unbind as unbind,
    unflatten_axis as unflatten_axis,
)
from namedax.ops._structural import roll as roll
