"""`Stacked.explain`: the table of a stack's leaves, per-layer or shared, with their mesh axes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from namedax.core._array import NamedArray, _short_dtype
from namedax.core._axes import Axis
from namedax.core._errors import format_axes
from namedax.core._mapping import ResourceMapping, physical_axis_name

from ._layer_calls import _flatten, _is_array
from ._pattern import leaf_layers, stack_title

if TYPE_CHECKING:
    from ._stacked import Stacked

__all__ = ["explain_stack"]


def explain_stack(stack: Stacked, mapping: ResourceMapping | None = None) -> str:
    """The text of `Stacked.explain` (see there)."""
    rows, counts = [], {"per-layer": [0, 0], "shared": [0, 0]}
    layers_of = leaf_layers(stack)  # a Pattern stack: which global layers each leaf serves
    for path, leaf in _flatten(stack.stacked):
        if not _is_array(leaf):
            continue
        kind = "per-layer" if stack._is_per_layer(path, leaf) else "shared"
        counts[kind][0] += 1
        counts[kind][1] += int(
            np.prod(np.shape(leaf.array if isinstance(leaf, NamedArray) else leaf))
        )
        described = _describe_leaf(leaf, stack._Steps, path in stack.per_layer_arrays, mapping)
        row = (path, kind, *described)
        rows.append(row if layers_of is None else (layers_of(path), *row))
    (n_per, v_per), (n_shared, v_shared) = counts["per-layer"], counts["shared"]
    head = (
        f"Stacked {stack_title(stack.stacked, stack.Layers)} over {stack.Layers}: "
        f"{n_per} per-layer {_leaves(n_per)} ({v_per} values), "
        f"{n_shared} shared {_leaves(n_shared)} ({v_shared} values)"
    )
    columns = ("leaf", "kind", "named shape", "dtype", "mesh")
    table = [columns if layers_of is None else ("layers", *columns), *rows]
    last = len(table[0]) - 1
    widths = [max(len(r[c]) for r in table) for c in range(last)]
    lines = [head]
    for r in table:
        cells = [r[c].ljust(widths[c]) for c in range(last)] + [r[last]]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _describe_leaf(
    leaf: Any, Layers: Axis, plain_per_layer: bool, mapping: ResourceMapping | None
) -> tuple[str, str, str]:
    """(named shape, dtype, mesh placement) of one leaf for `Stacked.explain`."""
    if isinstance(leaf, NamedArray):
        mesh = ", ".join(
            f"{a.name}:{_mesh_name(physical_axis_name(a, mapping))}" for a in leaf.axes
        )
        return format_axes(leaf.axes), _short_dtype(leaf.dtype), "{" + mesh + "}"
    dims = [str(d) for d in np.shape(leaf)]
    if plain_per_layer:
        dims[0] = f"{Layers.name}:{dims[0]}"
    return "[" + ", ".join(dims) + "]", _short_dtype(leaf.dtype), "-"


def _leaves(n: int) -> str:
    return "leaf" if n == 1 else "leaves"


def _mesh_name(resource: Any) -> str:
    if resource is None:
        return "-"
    if isinstance(resource, tuple):
        return "(" + ",".join(resource) + ")"
    return str(resource)
