"""`haliax.field`: the `field` helper."""

from namedax.core._field import field as field
