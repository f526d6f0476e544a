"""Conversions to and from the named arrays of other libraries: Haliax, Penzai and xarray.

Each converter keeps the data (no copy for JAX arrays) and the axis names and sizes;
the other libraries are imported only when a converter needs to build one of their
arrays, so they stay optional (the `interop` extra installs Penzai and xarray).

A Haliax NamedArray is recognised by its shape, as Haliax itself duck-types it: an
`.array` and `.axes` of objects with `.name` and `.size`. `from_haliax` therefore
works without Haliax installed (on arrays from a pickled model, say); `to_haliax`
needs it.
"""

from __future__ import annotations

from typing import Any, TypeVar

import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis, check_unique_names
from namedax.core._errors import describe, format_axes

__all__ = [
    "from_haliax",
    "from_penzai",
    "from_xarray",
    "to_haliax",
    "to_penzai",
    "tree_from_haliax",
]

T = TypeVar("T")


def _is_haliax_like(x: Any) -> bool:
    axes = getattr(x, "axes", None)
    return (
        not isinstance(x, NamedArray)
        and hasattr(x, "array")
        and isinstance(axes, tuple)
        and all(hasattr(a, "name") and hasattr(a, "size") for a in axes)
    )


def from_haliax(x: Any) -> NamedArray:
    """A Haliax NamedArray as a namedax NamedArray (same data, axis names and sizes).

    Args:
        x: A Haliax `NamedArray` (anything with `.array` and `.axes` of named, sized axes).

    Raises:
        TypeError: If `x` is not a Haliax NamedArray.
        ValueError: If its axes do not match its array's shape, or repeat a name.

    Examples:
        >>> class HaliaxLike:  # what Haliax's NamedArray looks like to namedax
        ...     def __init__(self, array, axes):
        ...         self.array, self.axes = array, axes
        >>> x = nx.from_haliax(HaliaxLike(jnp.zeros((2, 3)), (Axis("batch", 2), Axis("embed", 3))))
        >>> x.axes
        (Axis(name='batch', size=2), Axis(name='embed', size=3))
    """
    if not _is_haliax_like(x):
        raise TypeError(
            f"from_haliax: expected a Haliax NamedArray (with .array and .axes), got {describe(x)}."
        )
    axes = tuple(Axis(str(a.name), int(a.size)) for a in x.axes)
    array = x.array if isinstance(x.array, jax.Array) else jnp.asarray(x.array)
    return _converted(array, axes, "from_haliax")


def _converted(array: Any, axes: tuple[Axis, ...], op: str) -> NamedArray:
    """The NamedArray a converter built, checked like `NamedArray(...)`: shape and unique names."""
    if tuple(array.shape) != tuple(a.size for a in axes):
        raise ValueError(
            f"{op}: the array has shape {tuple(array.shape)} but its axes are {format_axes(axes)}."
        )
    if len(axes) > 1:
        check_unique_names(axes, op)
    return _wrap(array, axes)


def to_haliax(x: NamedArray) -> Any:
    """A namedax NamedArray as a Haliax NamedArray (needs Haliax installed).

    Raises:
        TypeError: If `x` is not a namedax NamedArray.
        ImportError: If Haliax is not installed.
    """
    _check_namedax("to_haliax", x)
    try:
        import haliax  # pyright: ignore[reportMissingImports]  # optional
    except ImportError as e:
        raise ImportError("to_haliax needs Haliax: pip install haliax.") from e
    axes = tuple(haliax.Axis(a.name, a.size) for a in x.axes)
    return haliax.NamedArray(x.array, axes)


def tree_from_haliax(tree: T) -> T:
    """`tree` (e.g. a Haliax-built Equinox model) with every Haliax NamedArray converted.

    Other leaves and the tree's structure are kept.

    Examples:
        >>> class HaliaxLike:
        ...     def __init__(self, array, axes):
        ...         self.array, self.axes = array, axes
        >>> model = {"w": HaliaxLike(jnp.ones(2), (Axis("embed", 2),)), "step": 3}
        >>> nx.tree_from_haliax(model)["w"].axes
        (Axis(name='embed', size=2),)
    """
    convert = lambda x: from_haliax(x) if _is_haliax_like(x) else x
    return jax.tree_util.tree_map(convert, tree, is_leaf=_is_haliax_like)


def from_penzai(x: Any) -> NamedArray:
    """A Penzai `NamedArray` (or `NamedArrayView`) with only named axes, as a namedax NamedArray.

    Raises:
        TypeError: If `x` is not a Penzai named array.
        ValueError: If it still has positional axes (name them with `.tag(...)` first).

    Examples:
        >>> from penzai import pz
        >>> p = pz.nx.wrap(jnp.zeros((2, 3))).tag("batch", "embed")
        >>> nx.from_penzai(p).axes
        (Axis(name='batch', size=2), Axis(name='embed', size=3))
    """
    if not (hasattr(x, "named_shape") and hasattr(x, "positional_shape") and hasattr(x, "unwrap")):
        raise TypeError(f"from_penzai: expected a Penzai NamedArray, got {describe(x)}.")
    if x.positional_shape:
        raise ValueError(
            f"from_penzai: the array has positional axes of shape {tuple(x.positional_shape)} "
            "besides its named ones; name them with .tag(...) first."
        )
    names = tuple(x.named_shape)
    axes = tuple(Axis(str(n), int(x.named_shape[n])) for n in names)
    return _converted(x.unwrap(*names), axes, "from_penzai")


def to_penzai(x: NamedArray) -> Any:
    """A namedax NamedArray as a Penzai `NamedArray` with the same axis names.

    Examples:
        >>> p = nx.to_penzai(nx.zeros((Axis("batch", 2), Axis("embed", 3))))
        >>> dict(p.named_shape)
        {'batch': 2, 'embed': 3}
    """
    _check_namedax("to_penzai", x)
    from penzai import pz  # an optional dependency: imported only here

    return pz.nx.wrap(x.array).tag(*x.axis_names)


def from_xarray(da: Any) -> NamedArray:
    """An `xarray.DataArray` as a NamedArray: its dims become the axis names.

    Coordinates and attributes are not carried over (a NamedArray has none).

    Raises:
        TypeError: If `da` is not a DataArray (a `Dataset` holds several: convert one
            variable, `from_xarray(ds["name"])`).
        ValueError: If a dimension name repeats (xarray allows that, namedax does not).

    Examples:
        >>> import xarray as xr
        >>> da = xr.DataArray(jnp.zeros((2, 3)), dims=("batch", "embed"))
        >>> nx.from_xarray(da).axes
        (Axis(name='batch', size=2), Axis(name='embed', size=3))
    """
    if hasattr(da, "data_vars"):
        names = list(da.data_vars)
        raise TypeError(
            f"from_xarray: expected an xarray.DataArray, got an xarray.Dataset with variables "
            f"{names}. A NamedArray holds one array: convert one variable, "
            f"from_xarray(ds[{names[0] if names else 'name'!r}]), or each with "
            "{k: from_xarray(v) for k, v in ds.data_vars.items()}."
        )
    if not (hasattr(da, "dims") and hasattr(da, "values") and hasattr(da, "sizes")):
        raise TypeError(f"from_xarray: expected an xarray.DataArray, got {describe(da)}.")
    names = [str(d) for d in da.dims]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(
            f"from_xarray: the DataArray has dims {tuple(da.dims)}, which repeat {repeated}; "
            "axis names must be unique within a NamedArray. Give the DataArray distinct dims "
            "first (e.g. build it again with dims=(...))."
        )
    values = jnp.asarray(da.values)
    axes = tuple(Axis(n, int(size)) for n, size in zip(names, values.shape))
    return _converted(values, axes, "from_xarray")


def _check_namedax(op: str, x: Any) -> None:
    if not is_named_array(x):
        raise TypeError(f"{op}: expected a namedax NamedArray, got {describe(x)}.")
