"""`haliax.axis`: `Axis`, the `AxisSpec` family and the functions that combine them.

Examples:
    >>> from namedax.compat.haliax.axis import Axis, concat_axes, eliminate_axes
    >>> Batch, Embed = Axis("batch", 2), Axis("embed", 3)
    >>> eliminate_axes(concat_axes(Batch, Embed), "batch")
    (Axis(name='embed', size=3),)
"""

from namedax.core._axes import (
    Axis as Axis,
    AxisSelection as AxisSelection,
    AxisSelector as AxisSelector,
    AxisSpec as AxisSpec,
    axis_name as axis_name,
    axis_size as axis_size,
    axis_spec_to_shape_dict as axis_spec_to_shape_dict,
    axis_spec_to_tuple as axis_spec_to_tuple,
    concat_axes as concat_axes,
    eliminate_axes as eliminate_axes,
    intersect_axes as intersect_axes,
    make_axes as make_axes,
    rearrange_for_partial_order as rearrange_for_partial_order,
    replace_axis as replace_axis,
    resolve_axis as resolve_axis,
    selects_axis as selects_axis,
    union_axes as union_axes,
    without_axes as without_axes,
)
from namedax.ops._indexing import dblock as dblock, ds as ds, dslice as dslice
