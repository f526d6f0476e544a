"""`haliax.util` under `install_as_haliax()`."""

from namedax.core._array import is_named_array as is_named_array
