"""treescope support for NamedArray: axis names in the tree view and in array figures.

`NamedArray.__treescope_repr__` imports this module the first time treescope renders a
NamedArray, so treescope is needed only by those who use it, and
`NamedArray.__treescope_ndarray_adapter__` gives treescope the array adapter, which
lets `treescope.render_array(x)` and treescope's automatic array visualisation label
each dimension with its axis name. The module reads NamedArrays by their attributes:
it does not import `namedax.core._array`, which imports it (through `_display`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from treescope import ndarray_adapters, rendering_parts
from treescope.external import jax_support

from namedax.core._display import short_form

__all__ = ["NamedArrayAdapter", "render"]


NamedArray = Any  # a namedax NamedArray, read by its `array` and `axes`


class NamedArrayAdapter(ndarray_adapters.NDArrayAdapter[Any]):
    """Tells treescope's array figures the axis names; the data come from the jax adapter."""

    _jax = jax_support.JAXArrayAdapter()

    def get_axis_info_for_array_data(self, array: NamedArray) -> tuple[Any, ...]:
        return tuple(
            ndarray_adapters.NamedPositionalAxisInfo(i, a.name, a.size)  # type: ignore[arg-type]
            for i, a in enumerate(array.axes)
        )

    def get_array_data_with_truncation(
        self, array: NamedArray, mask: Any, edge_items_per_axis: tuple[int | None, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        mask = mask.array if hasattr(mask, "axes") and hasattr(mask, "array") else mask
        return self._jax.get_array_data_with_truncation(array.array, mask, edge_items_per_axis)

    def get_array_summary(self, array: NamedArray, fast: bool) -> Any:
        parts: list[Any] = [rendering_parts.text(f"NamedArray {short_form(array)}")]
        if not fast:
            parts.append(rendering_parts.text(jax_support.summarize_array_data(array.array)))
        return rendering_parts.siblings(*parts)

    def get_numpy_dtype(self, array: NamedArray) -> np.dtype | None:
        return self._jax.get_numpy_dtype(array.array)

    def get_sharding_info_for_array_data(self, array: NamedArray) -> Any:
        return self._jax.get_sharding_info_for_array_data(array.array)

    def should_autovisualize(self, array: NamedArray) -> bool:
        return self._jax.should_autovisualize(array.array)


def render(x: NamedArray, path: str | None, subtree_renderer: Any) -> Any:
    """A foldable node: collapsed `<NamedArray f32{a:3} ≈… ±…>`, expanded with its values."""
    summary = NamedArrayAdapter().get_array_summary(x, fast=False)
    label = rendering_parts.abbreviation_color(
        rendering_parts.comment_color_when_expanded(
            rendering_parts.siblings(
                rendering_parts.fold_condition(
                    expanded=rendering_parts.text("# "), collapsed=rendering_parts.text("<")
                ),
                summary,
                rendering_parts.fold_condition(collapsed=rendering_parts.text(">")),
            )
        )
    )
    child_path = None if path is None else f"{path}.array"
    contents = rendering_parts.fold_condition(
        expanded=rendering_parts.indented_children([subtree_renderer(x.array, path=child_path)])
    )
    return rendering_parts.build_custom_foldable_tree_node(
        label=label,
        contents=contents,
        path=path,
        expand_state=rendering_parts.ExpandState.COLLAPSED,
    )
