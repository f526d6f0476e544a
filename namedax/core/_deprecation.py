"""Deprecated spellings kept working: a module `__getattr__` that warns and forwards.

A name that namedax once documented under a second spelling stays importable, but each
access emits a `DeprecationWarning` naming the spelling to use instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


def deprecated_names(
    module: str, names: dict[str, tuple[Callable[[], Any], str]]
) -> Callable[[str], Any]:
    """A module `__getattr__` serving `names` with a `DeprecationWarning` on each access.

    Args:
        module: The dotted name of the module that keeps the old spellings.
        names: Maps each old name to `(load, advice)`: `load()` returns the object and
            `advice` says what to use instead.

    Examples:
        >>> __getattr__ = deprecated_names("pkg", {"old": (lambda: 1, "use `pkg.new`")})
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     value = __getattr__("old")
        >>> value, str(caught[0].message)
        (1, '`pkg.old` is deprecated: use `pkg.new`')
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        load, advice = names[name]
        warnings.warn(
            f"`{module}.{name}` is deprecated: {advice}", DeprecationWarning, stacklevel=2
        )
        return load()

    return __getattr__
