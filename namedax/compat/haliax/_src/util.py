"""`haliax._src.util`.

Examples:
    >>> from namedax.compat.haliax._src.util import index_where
    >>> index_where(lambda a: a.name == "b", make_axes(a=1, b=2, c=3))
    1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import TypeVar

T = TypeVar("T")


def index_where(pred: Callable[[T], bool], xs: Sequence[T], start: int = 0) -> int:
    """The index of the first element of `xs` from `start` on for which `pred` holds.

    Raises:
        ValueError: If no element from `start` on satisfies `pred`.
    """
    for i in range(start, len(xs)):
        if pred(xs[i]):
            return i
    raise ValueError(
        f"index_where: no element of the {len(xs)} given (from index {start} on) satisfies "
        f"{getattr(pred, '__name__', pred)!r}."
    )


K = TypeVar("K")
V = TypeVar("V")


class IdentityMap(MutableMapping[K, V]):
    """A mutable mapping whose keys are compared by identity (`is`), not equality.

    Arrays are neither hashable nor comparable with `==` to a bool, so finding the same
    array object in several places of a pytree needs a mapping keyed by `id`. Each key
    object is kept alive with its entry.

    Examples:
        >>> a, b = jnp.zeros(2), jnp.zeros(2)
        >>> seen = IdentityMap([(a, "first")])
        >>> a in seen, b in seen, seen[a]
        (True, False, 'first')
    """

    def __init__(self, items: Iterable[tuple[K, V]] | Mapping[K, V] | None = None):
        self._entries: dict[int, tuple[K, V]] = {}
        if items is not None:
            self.update(items)

    def __contains__(self, key: object) -> bool:
        return id(key) in self._entries

    def __getitem__(self, key: K) -> V:
        try:
            return self._entries[id(key)][1]
        except KeyError:
            raise KeyError(key) from None

    def __setitem__(self, key: K, value: V) -> None:
        self._entries[id(key)] = (key, value)

    def __delitem__(self, key: K) -> None:
        try:
            del self._entries[id(key)]
        except KeyError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[K]:
        return (key for key, _ in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"IdentityMap({[(key, value) for key, value in self._entries.values()]!r})"
