"""`haliax.field` under `install_as_haliax()`: the `field` helper."""

from namedax.core._field import field as field
