"""`haliax.ref`: mutable references to named arrays, with Haliax's function spellings.

`NamedRef` and `new_ref` are namedax's (`nx.NamedRef`, `nx.new_ref`); `freeze(ref)` is
`ref.value()`, `get(ref, idx)` is `ref[idx]` and `swap(ref, idx, value)` is
`ref.swap(idx, value)`.

Examples:
    >>> from namedax.compat.haliax import ref as href
    >>> r = href.new_ref(nx.zeros(Axis("x", 2)))
    >>> href.swap(r, {"x": 0}, 1.0).array, href.freeze(r).array
    (Array(0., dtype=float32), Array([1., 0.], dtype=float32))
"""

from __future__ import annotations

from typing import Any

from namedax.core._array import NamedArray
from namedax.ops._ref import NamedRef as NamedRef, new_ref as new_ref

__all__ = ["NamedRef", "freeze", "get", "new_ref", "swap"]


def freeze(ref: NamedRef) -> NamedArray:
    """The reference's current contents (`ref.value()`)."""
    return ref.value()


def get(ref: NamedRef, idx: Any = Ellipsis) -> NamedArray:
    """`ref[idx]`."""
    return ref[idx]


def swap(ref: NamedRef, idx: Any, value: Any) -> NamedArray:
    """Writes `value` at `idx` of `ref` and returns the previous contents (`ref.swap`)."""
    return ref.swap(idx, value)
