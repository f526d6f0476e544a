"""Signatures that show their defaults by name.

`help()` and `inspect.signature` print a default with its `repr`, so a function or
class default shows as `<function arrays_on_first_dim at 0x7f...>` and an
`object()` sentinel as `<object object at 0x...>`. `Sentinel` is a marker that
prints as its name, and `readable_defaults` gives a function a `__signature__`
whose function and class defaults print as their names (`default=arrays_on_first_dim`).
The function itself and the default values it receives are unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Sentinel", "readable_defaults"]

F = TypeVar("F", bound=Callable[..., Any])


class Sentinel:
    """A default marker that prints as its name (`axis=REQUIRED` in `help()`).

    Also what `readable_defaults` shows in place of a function or class default.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return self._name


def _readable(parameter: inspect.Parameter) -> inspect.Parameter:
    default = parameter.default
    if default is inspect.Parameter.empty:
        return parameter
    if inspect.isfunction(default) or inspect.isclass(default) or inspect.isbuiltin(default):
        return parameter.replace(default=Sentinel(getattr(default, "__name__", repr(default))))
    return parameter


def readable_defaults(fn: F) -> F:
    """`fn` with a displayed signature that names its function and class defaults.

    Examples:
        >>> from namedax.core._signature_defaults import readable_defaults
        >>> @readable_defaults
        ... def apply(x, f=abs, kind=float):
        ...     return kind(f(x))
        >>> import inspect
        >>> str(inspect.signature(apply))
        '(x, f=abs, kind=float)'
        >>> apply(-2)
        2.0
    """
    signature = inspect.signature(fn)
    parameters = [_readable(p) for p in signature.parameters.values()]
    fn.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return fn
