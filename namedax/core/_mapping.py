"""The current mapping from logical axis names to physical mesh axes.

A mapping says, for each logical axis name, which mesh axis (or tuple of mesh
axes) it is partitioned over; axes it does not mention are replicated. The
`axis_mapping` context sets it for the current thread; contexts nest, and an
inner context replaces the outer mapping unless `merge=True`.

This module holds only the state so that low-level modules (`vmap`) can consult it
without importing the partitioning machinery.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import TypeAlias

from namedax.core._axes import Axis, AxisSelector

__all__ = ["ResourceAxis", "ResourceMapping", "axis_mapping", "current_axis_mapping"]

ResourceAxis: TypeAlias = str | tuple[str, ...] | None
"""A physical mesh axis name, a tuple of them (partitioned over their product), or None."""

ResourceMapping: TypeAlias = Mapping[str, ResourceAxis]
"""A mapping from logical axis names to physical mesh axes."""


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[dict[str, ResourceAxis]] = []


_state = _State()


@contextlib.contextmanager
def axis_mapping(
    mapping: ResourceMapping, *, merge: bool = False
) -> Iterator[dict[str, ResourceAxis]]:
    """Sets the logical-to-physical axis mapping for the current thread.

    Args:
        mapping: `{logical_axis_name: mesh_axis_name | tuple | None}`.
        merge: If true, the entries update the enclosing mapping instead of replacing it.

    Yields:
        The mapping in force inside the context.

    Examples:
        >>> with axis_mapping({"batch": "data"}):
        ...     with axis_mapping({"embed": "model"}, merge=True):
        ...         current_axis_mapping()
        {'batch': 'data', 'embed': 'model'}
    """
    if not isinstance(mapping, Mapping):
        raise TypeError(
            "axis_mapping: expected a {logical_name: mesh_axis} dict, got "
            f"{type(mapping).__name__}."
        )
    new = dict(current_axis_mapping() or {}) if merge else {}
    new.update(mapping)
    _state.stack.append(new)
    try:
        yield new
    finally:
        _state.stack.pop()


def current_axis_mapping() -> dict[str, ResourceAxis] | None:
    """The mapping set by the innermost `axis_mapping` context, or None outside any."""
    return _state.stack[-1] if _state.stack else None


def physical_axis_name(axis: AxisSelector, mapping: ResourceMapping | None = None) -> ResourceAxis:
    """The mesh axis (or axes) that a logical axis maps to, or None if replicated.

    Args:
        axis: The logical axis, by `Axis` or name.
        mapping: The mapping to consult; defaults to the current one.

    Examples:
        >>> physical_axis_name("batch", {"batch": ("replica", "data")})
        ('replica', 'data')
        >>> physical_axis_name(Axis("embed", 8), {"batch": "data"}) is None
        True
    """
    if mapping is None:
        mapping = current_axis_mapping() or {}
    name = axis.name if isinstance(axis, Axis) else axis
    return mapping.get(name)
