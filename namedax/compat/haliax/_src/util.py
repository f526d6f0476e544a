"""`haliax._src.util`.

Examples:
    >>> from namedax.compat.haliax._src.util import index_where
    >>> index_where(lambda a: a.name == "b", make_axes(a=1, b=2, c=3))
    1
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
