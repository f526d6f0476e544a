"""`haliax.testing`: the pytest markers Haliax's own tests (and its users' tests) use.

`pytest` is imported when a marker is made, not with this module, so installing the
Haliax names does not need pytest.

Examples:
    >>> from namedax.compat.haliax.testing import skip_if_not_enough_devices
    >>> mark = skip_if_not_enough_devices(10_000, "needs a pod")
    >>> mark.kwargs["reason"].endswith(": needs a pod"), bool(mark.args[0])
    (True, True)
"""

from collections.abc import Callable
from typing import Any, TypeVar

import jax

__all__ = ["has_torch", "skip_if_no_torch", "skip_if_not_enough_devices"]

F = TypeVar("F", bound=Callable[..., Any])


def skip_if_not_enough_devices(count: int, reason: str | None = None) -> Any:
    """A `pytest.mark.skipif` that skips when there are fewer than `count` JAX devices."""
    import pytest

    have = len(jax.devices())
    message = f"Not enough devices ({have})" + (f": {reason}" if reason else "")
    return pytest.mark.skipif(have < count, reason=message)


def has_torch() -> bool:
    """Whether `import torch` works."""
    try:
        import torch  # noqa: F401  # pyright: ignore[reportMissingImports]  # optional
    except ImportError:
        return False
    return True


def skip_if_no_torch(f: F) -> F:
    """Marks the test `f` to be skipped when torch is not installed."""
    import pytest

    return pytest.mark.skipif(not has_torch(), reason="torch not installed")(f)
