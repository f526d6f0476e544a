"""`Stacked.explain`: the table of a stack's leaves, per-layer or shared, with their placement.

Columns beyond leaf, kind, named shape and dtype appear only when they say something:

- `mapping`: the mesh axes the logical-to-mesh mapping asks for (when a mapping is given
  or in force);
- `sharding`: the mesh axes each leaf is actually partitioned over, read from the
  arrays' `NamedSharding` (when some leaf lives on a mesh);
- when both are shown, a leaf whose sharding differs from its mapping is flagged `≠`.

The result is a `str` (print it) that also renders as an HTML table in notebooks.
"""

from __future__ import annotations

import html
from typing import Any

import jax
import numpy as np
from jax.core import Tracer

from namedax.core._array import NamedArray, _short_dtype
from namedax.core._axes import Axis
from namedax.core._errors import format_axes
from namedax.core._mapping import ResourceMapping, current_axis_mapping, physical_axis_name

from ._pattern import leaf_layers, stack_title
from ._stack_engine import flatten as _flatten, is_array as _is_array

__all__ = ["StackExplanation", "explain_stack"]

_DIFFERS = "≠"


class StackExplanation(str):
    """The text of `Stacked.explain`, with an HTML table for notebooks (`_repr_html_`)."""

    head: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]

    def __new__(cls, head: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]):
        table = [columns, *rows]
        last = len(columns) - 1
        widths = [max(len(r[c]) for r in table) for c in range(last)]
        lines = [head]
        for r in table:
            cells = [r[c].ljust(widths[c]) for c in range(last)] + [r[last]]
            lines.append("  " + "  ".join(cells).rstrip())
        text = super().__new__(cls, "\n".join(lines))
        text.head, text.columns, text.rows = head, columns, rows
        return text

    def _repr_html_(self) -> str:
        header = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(_html_cell(c, cell) for c, cell in zip(self.columns, r)) + "</tr>"
            for r in self.rows
        )
        return (
            f"<div class='namedax-explain'><p>{html.escape(self.head)}</p>"
            f"<table><tr>{header}</tr>{body}</table></div>"
        )


def _html_cell(column: str, cell: str) -> str:
    if column == "leaf":
        return f"<td><code>{html.escape(cell)}</code></td>"
    if cell.endswith(_DIFFERS):
        return f"<td class='namedax-differs'>{html.escape(cell)}</td>"
    return f"<td>{html.escape(cell)}</td>"


def explain_stack(stack: Any, mapping: ResourceMapping | None = None) -> StackExplanation:
    """The table of `Stacked.explain` (see there)."""
    mapping = mapping if mapping is not None else current_axis_mapping()
    leaves = [(path, leaf) for path, leaf in _flatten(stack.stacked) if _is_array(leaf)]
    sharded = any(_named_sharding(leaf) is not None for _, leaf in leaves)
    layers_of = leaf_layers(stack)  # a Pattern stack: which global layers each leaf serves
    rows, counts = [], {"per-layer": [0, 0], "shared": [0, 0]}
    for path, leaf in leaves:
        kind = "per-layer" if stack._is_per_layer(path, leaf) else "shared"
        counts[kind][0] += 1
        counts[kind][1] += int(np.prod(np.shape(_positional(leaf))))
        shape = _named_shape(leaf, stack._Steps, path in stack.per_layer_arrays)
        row = (path, kind, shape, _short_dtype(leaf.dtype))
        row += _placement(leaf, mapping, sharded)
        rows.append(row if layers_of is None else (layers_of(path), *row))
    (n_per, v_per), (n_shared, v_shared) = counts["per-layer"], counts["shared"]
    head = (
        f"Stacked {stack_title(stack.stacked, stack.Layers)} over {stack.Layers}: "
        f"{n_per} per-layer {_leaves(n_per)} ({v_per} values), "
        f"{n_shared} shared {_leaves(n_shared)} ({v_shared} values)"
    )
    columns = ("leaf", "kind", "named shape", "dtype")
    columns += ("mapping",) * (mapping is not None) + ("sharding",) * sharded
    return StackExplanation(head, columns if layers_of is None else ("layers", *columns), rows)


def _positional(leaf: Any) -> Any:
    return leaf.array if isinstance(leaf, NamedArray) else leaf


def _named_shape(leaf: Any, Layers: Axis, plain_per_layer: bool) -> str:
    if isinstance(leaf, NamedArray):
        return format_axes(leaf.axes)
    dims = [str(d) for d in np.shape(leaf)]
    if plain_per_layer:
        dims[0] = f"{Layers.name}:{dims[0]}"
    return "[" + ", ".join(dims) + "]"


def _named_sharding(leaf: Any) -> Any:
    """The leaf's NamedSharding over a mesh of more than one device, or None."""
    array = _positional(leaf)
    if not isinstance(array, jax.Array) or isinstance(array, Tracer):
        return None
    sharding = getattr(array, "sharding", None)
    if isinstance(sharding, jax.sharding.NamedSharding) and sharding.mesh.size > 1:
        return sharding
    return None


def _placement(leaf: Any, mapping: ResourceMapping | None, sharded: bool) -> tuple[str, ...]:
    """The `mapping` and `sharding` cells of one leaf (those of the columns shown)."""
    names = _dim_names(leaf)
    cells = []
    asked = None
    if mapping is not None:
        asked = [_entry(physical_axis_name(a, mapping)) for a in _named_axes(leaf)]
        cells.append(_format_placement(names, asked) if asked else "-")
    if sharded:
        actual = _actual_entries(leaf)
        text = "single device" if actual is None else _format_placement(names, actual)
        replicated = [()] * len(names)
        if asked is not None and (actual or replicated) != (asked or replicated):
            text += " " + _DIFFERS
        cells.append(text)
    return tuple(cells)


def _named_axes(leaf: Any) -> tuple[Axis, ...]:
    # A plain array has no logical names, so the mapping asks nothing of it.
    return leaf.axes if isinstance(leaf, NamedArray) else ()


def _dim_names(leaf: Any) -> list[str]:
    if isinstance(leaf, NamedArray):
        return list(leaf.axis_names)
    return [str(i) for i in range(np.ndim(leaf))]


def _actual_entries(leaf: Any) -> list[tuple[str, ...]] | None:
    sharding = _named_sharding(leaf)
    if sharding is None:
        return None
    spec = tuple(sharding.spec) + (None,) * (np.ndim(_positional(leaf)) - len(sharding.spec))
    return [_entry(s) for s in spec]


def _entry(resource: Any) -> tuple[str, ...]:
    if resource is None:
        return ()
    return tuple(resource) if isinstance(resource, tuple) else (str(resource),)


def _format_placement(names: list[str], entries: list[tuple[str, ...]]) -> str:
    cells = ", ".join(f"{n}:{_mesh_name(e)}" for n, e in zip(names, entries))
    return "{" + cells + "}"


def _mesh_name(entry: tuple[str, ...]) -> str:
    if not entry:
        return "-"
    return entry[0] if len(entry) == 1 else "(" + ",".join(entry) + ")"


def _leaves(n: int) -> str:
    return "leaf" if n == 1 else "leaves"
