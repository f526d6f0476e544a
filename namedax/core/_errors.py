"""Formatting helpers shared by every error message in namedax.

All messages about axes use the same notation for a named shape, `{batch:4, embed:8}`,
and the same notion of an argument path (`args[0]['w']`), so users learn to read
them once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax


def format_axes(axes: Iterable[Any]) -> str:
    """Formats axes as `{batch:4, embed:8}`; a bare name (a selector without a size) shows alone.

    Examples:
        >>> from namedax import Axis
        >>> format_axes([Axis("batch", 4), "embed"])
        '{batch:4, embed}'
    """
    return "{" + ", ".join(_format_axis(a) for a in axes) + "}"


def _format_axis(axis: Any) -> str:
    return axis if isinstance(axis, str) else f"{axis.name}:{axis.size}"


def format_path(path: tuple[Any, ...], root: str = "") -> str:
    """Formats a JAX key path as a readable argument path such as `args[0]['w'].array`."""
    return root + jax.tree_util.keystr(path)


_FOREIGN = {  # top-level module of a named-array type -> (library, converter)
    "haliax": ("Haliax", "namedax.from_haliax(x)"),
    "penzai": ("Penzai", "namedax.from_penzai(x)"),
    "xarray": ("xarray", "namedax.from_xarray(x)"),
}


def foreign_named_array(x: Any) -> tuple[str, str] | None:
    """(library, converter) if `x` is another library's named array (Haliax, Penzai, xarray)."""
    found = _FOREIGN.get(type(x).__module__.partition(".")[0])
    if found is None or not (hasattr(x, "axes") or hasattr(x, "named_shape") or hasattr(x, "dims")):
        return None
    return found


def describe(x: Any) -> str:
    """Names the kind and shape of a value for an error message."""
    foreign = foreign_named_array(x)
    if foreign is not None:
        library, converter = foreign
        return f"{library} {type(x).__name__} (from another library: convert it with {converter})"
    axes = getattr(x, "axes", None)
    if axes is not None and hasattr(x, "array"):
        return f"NamedArray{format_axes(axes)}"
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"{type(x).__name__} of shape {tuple(shape)}"
    return f"{type(x).__name__} {x!r}"


def _is_named(x: Any) -> bool:  # duck-typed like `describe`: _array imports this module
    return hasattr(x, "axes") and hasattr(x, "array")


def describe_tree(tree: Any) -> str:
    """`tree` with every leaf (and every NamedArray, whole) replaced by its `describe`."""
    return str(jax.tree_util.tree_map(describe, tree, is_leaf=_is_named))


def argument_paths(tree: Any) -> list[str]:
    """Readable paths (`args[1]['w']`, `kwargs['x']`) of the leaves of `(args, kwargs)`.

    NamedArrays count as leaves.
    """
    flat, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_named)
    roots = ("args", "kwargs")
    return [format_path(path[1:], roots[path[0].idx]) for path, _ in flat]


def function_name(f: Any) -> str:
    """The name of a function for a message: its qualified name, or its repr."""
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)
