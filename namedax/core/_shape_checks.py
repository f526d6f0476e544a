"""A switch for the NamedArray constructor's shape check (Haliax's `enable_shape_checks`).

The constructor checks that the array's shape matches the axes. Code ported from Haliax
sometimes builds a NamedArray around an array JAX has not yet given its final shape and
turns the check off for that span with `haliax.core.enable_shape_checks(False)`. Every
other rule of the constructor (Axis objects, unique names) still holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_enabled = [True]


def shape_checks_enabled() -> bool:
    """Whether the NamedArray constructor checks shapes (the default)."""
    return _enabled[0]


@contextlib.contextmanager
def shape_checks(enabled: bool) -> Iterator[bool]:
    """Within the block, the constructor checks shapes only if `enabled`; yields the old setting."""
    previous = _enabled[0]
    _enabled[0] = bool(enabled)
    try:
        yield previous
    finally:
        _enabled[0] = previous
