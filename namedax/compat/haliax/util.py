"""`haliax.util`: predicates and a string-constant class helper.

Examples:
    >>> from namedax.compat.haliax.util import StringHolderEnum, is_jax_or_hax_array_like
    >>> class Mode(metaclass=StringHolderEnum):
    ...     TRAIN = "train"
    ...     EVAL = "eval"
    >>> Mode.TRAIN, list(Mode), "eval" in Mode
    ('train', ['train', 'eval'], True)
    >>> is_jax_or_hax_array_like(nx.ones(Axis("a", 2))), is_jax_or_hax_array_like(3)
    (True, False)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from namedax.compat.haliax.jax_utils import is_jax_array_like
from namedax.core._array import is_named_array as is_named_array


class StringHolderEnum(type):
    """Metaclass for a class of string constants: the class iterates over its values.

    Unlike `enum.Enum`, the attributes stay plain strings (`Mode.TRAIN == "train"`).
    `members` lists the constants (class attributes that are neither dunders nor
    callables) in definition order.
    """

    members: list[Any]

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]):
        cls = super().__new__(mcs, name, bases, namespace)
        cls.members = [
            value
            for key, value in namespace.items()
            if not key.startswith("__") and not callable(value) and not _is_method(value)
        ]
        return cls

    def __iter__(cls) -> Iterator[Any]:
        return iter(cls.members)

    def __contains__(cls, value: object) -> bool:
        return value in cls.members


def _is_method(value: Any) -> bool:
    return isinstance(value, (staticmethod, classmethod))


def ensure_tuple(x: Any) -> tuple[Any, ...]:
    """`x` as a tuple: a sequence (other than a string) is converted, anything else wrapped.

    Examples:
        >>> ensure_tuple([1, 2]), ensure_tuple("ab"), ensure_tuple(3)
        ((1, 2), ('ab',), (3,))
    """
    if isinstance(x, Sequence) and not isinstance(x, str):
        return tuple(x)
    return (x,)


def is_jax_or_hax_array_like(x: Any) -> bool:
    """Whether `x` is array-like (has `.shape` and `.dtype`) or a NamedArray."""
    return is_jax_array_like(x) or is_named_array(x)
