"""`haliax._src.rearrange`: the einops-style pattern form."""

from namedax.compat.haliax.axis import PartialAxisSpec
from namedax.core._array import NamedArray
from namedax.ops._rearrange import rearrange as rearrange

einops_rearrange = rearrange  # Haliax's name for the pattern form


def axis_spec_rearrange(array: NamedArray, axis_spec: PartialAxisSpec) -> NamedArray:
    """`array` transposed to the axis order `axis_spec` (names, `Axis` objects and `...`).

    Raises:
        ValueError: If the order is empty for an array with axes, or names an axis twice
            or one that `array` lacks.

    Examples:
        >>> from namedax.compat.haliax._src.rearrange import axis_spec_rearrange
        >>> axis_spec_rearrange(nx.zeros({"a": 1, "b": 2, "c": 3}), ("c", ...)).axis_names
        ('c', 'a', 'b')
    """
    if len(axis_spec) == 0 and array.ndim != 0:
        raise ValueError(
            f"axis_spec_rearrange: No axes specified for an array with axes "
            f"{array.axis_names}; give the order, with ... for the axes you do not name."
        )
    return rearrange(array, tuple(axis_spec))
