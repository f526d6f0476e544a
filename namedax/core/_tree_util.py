"""Pytree utilities that treat NamedArrays as leaves: the implementation of `namedax.tree_util`.

`jax.tree_util` sees a NamedArray as a node whose single child is its positional
array, so `jax.tree_util.tree_map(f, tree)` hands `f` bare arrays without their
axes. The functions here stop at NamedArrays instead (as well as at whatever a
user's `is_leaf` selects), so `f` receives whole NamedArrays.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis, AxisSelector, axis_name, resolve_axis
from namedax.core._errors import describe

__all__: list[str] = []  # the public names are re-exported by namedax/tree_util.py

IsLeaf = Callable[[Any], bool] | None


def _leaf(is_leaf: IsLeaf) -> Callable[[Any], bool]:
    if is_leaf is None:
        return is_named_array
    return lambda x: isinstance(x, NamedArray) or is_leaf(x)


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any, is_leaf: IsLeaf = None) -> Any:
    """`jax.tree_util.tree_map` that hands NamedArrays to `fn` whole.

    Args:
        fn: Called on each leaf of `tree` (and the matching leaves of `rest`).
        tree: A pytree.
        *rest: Pytrees with the structure of `tree` (or with `tree` as a prefix).
        is_leaf: Selects further subtrees to treat as leaves.

    Returns:
        The pytree of `fn`'s results.

    Examples:
        >>> tree = {"w": named(jnp.ones((2, 3)), ("a", "b")), "n": 3}
        >>> nx.tree_util.tree_map(lambda x: x.axis_names if nx.is_named_array(x) else x, tree)
        {'n': 3, 'w': ('a', 'b')}
    """
    return jax.tree_util.tree_map(fn, tree, *rest, is_leaf=_leaf(is_leaf))


def tree_flatten(tree: Any, is_leaf: IsLeaf = None) -> tuple[list[Any], Any]:
    """`jax.tree_util.tree_flatten` that keeps NamedArrays as leaves.

    Examples:
        >>> leaves, treedef = nx.tree_util.tree_flatten([named(jnp.zeros(2), "a"), 1.0])
        >>> [type(leaf).__name__ for leaf in leaves]
        ['NamedArray', 'float']
    """
    return jax.tree_util.tree_flatten(tree, is_leaf=_leaf(is_leaf))


def tree_unflatten(treedef: Any, leaves: Any) -> Any:
    """Rebuilds a pytree from `tree_flatten`'s treedef and leaves (as `jax.tree_util`).

    Examples:
        >>> leaves, treedef = nx.tree_util.tree_flatten({"x": named(jnp.zeros(2), "a")})
        >>> nx.tree_util.tree_unflatten(treedef, leaves)["x"].axes
        (Axis(name='a', size=2),)
    """
    return jax.tree_util.tree_unflatten(treedef, leaves)


def tree_leaves(tree: Any, is_leaf: IsLeaf = None) -> list[Any]:
    """`jax.tree_util.tree_leaves` that keeps NamedArrays as leaves.

    Examples:
        >>> len(nx.tree_util.tree_leaves({"x": named(jnp.zeros(2), "a"), "y": (1, 2)}))
        3
    """
    return jax.tree_util.tree_leaves(tree, is_leaf=_leaf(is_leaf))


def tree_structure(tree: Any, is_leaf: IsLeaf = None) -> Any:
    """`jax.tree_util.tree_structure` that keeps NamedArrays as leaves.

    Examples:
        >>> nx.tree_util.tree_structure({"x": named(jnp.zeros(2), "a")}).num_leaves
        1
    """
    return jax.tree_util.tree_structure(tree, is_leaf=_leaf(is_leaf))


def _is_layered(x: Any) -> bool:
    """Whether `x` stores layers along an axis (a `namedax.nn.Stacked`): it can map per layer."""
    return callable(getattr(type(x), "_map_per_layer", None))


def scan_aware_tree_map(
    fn: Callable[..., Any], tree: Any, *rest: Any, is_leaf: IsLeaf = None
) -> Any:
    """`tree_map` that applies `fn` layer by layer inside every `namedax.nn.Stacked`.

    In a `Stacked`, `fn` sees each layer as a real block: per-layer leaves without the
    layers axis, shared leaves as they are (one vmapped call covers all layers), and
    the results are restacked. `fn` therefore sees what it would see on the unstacked
    blocks, also when `is_leaf` selects whole modules (e.g. a LoRA-style rewrite of
    every `Linear`). A shared leaf stays shared, with `fn`'s result at the first layer.
    Elsewhere it behaves like `tree_map`.

    Args:
        fn: Called on each leaf (NamedArrays whole), and the matching leaves of `rest`.
        tree: A pytree, possibly holding `Stacked` modules.
        *rest: Pytrees with the structure of `tree`.
        is_leaf: Selects further subtrees to treat as leaves.

    Returns:
        The pytree of `fn`'s results.

    Examples:
        >>> Layers, Embed = Axis("layers", 3), Axis("embed", 2)
        >>> stack = nx.nn.Stacked.init(Layers, nx.nn.LayerNorm)(Embed)
        >>> sums = nx.tree_util.scan_aware_tree_map(lambda x: x.sum(), stack)
        >>> sums.stacked.weight.shape  # one sum per layer
        {'layers': 3}
        >>> nx.tree_util.tree_map(lambda x: x.sum(), stack).stacked.weight.shape
        {}
    """
    leaf = _leaf(is_leaf)

    def apply(x: Any, *xs: Any) -> Any:
        if _is_layered(x):
            inner = lambda *blocks: scan_aware_tree_map(fn, *blocks, is_leaf=is_leaf)
            return x._map_per_layer(inner, *xs)
        return fn(x, *xs)

    return jax.tree_util.tree_map(apply, tree, *rest, is_leaf=lambda x: _is_layered(x) or leaf(x))


def resize_axis(tree: Any, old_axis: AxisSelector, new_size: int, key: Any = None) -> Any:
    """Resizes one axis in every NamedArray of a pytree that holds it.

    Shrinking keeps the first `new_size` elements. Growing appends new elements:
    for floating-point arrays they follow the statistics of the existing ones along
    the axis (separately for every position of the other axes): with a `key`, a
    normal sample truncated to +-2 standard deviations around the mean, scaled by
    the standard deviation; without one, the mean itself. Arrays of other dtypes,
    and arrays whose axis was empty, grow with zeros.

    NamedArrays without the axis, and other leaves, are returned unchanged. A module
    that stores the old `Axis` object itself must be updated separately.

    Args:
        tree: A pytree holding NamedArrays.
        old_axis: The axis to resize, by name or as an `Axis` (its size is checked
            in every array that holds it).
        new_size: The new size.
        key: A PRNG key for the new elements; it is split once per leaf.

    Returns:
        The pytree with the axis resized to `new_size` wherever it occurs.

    Raises:
        ValueError: If `new_size` is negative, or an array holds `old_axis` with a size
            other than the given `Axis`'s.
        TypeError: If `new_size` is not an int.

    Examples:
        >>> w, b = named(jnp.ones((2, 3)), ("vocab", "embed")), named(jnp.ones(3), "embed")
        >>> params = {"w": w, "b": b}
        >>> resized = nx.tree_util.resize_axis(params, "vocab", 4)
        >>> resized["w"].shape, resized["b"].shape
        ({'vocab': 4, 'embed': 3}, {'embed': 3})
    """
    if not isinstance(new_size, Integral) or isinstance(new_size, bool):
        raise TypeError(f"resize_axis: new_size must be an int, got {describe(new_size)}.")
    if new_size < 0:
        raise ValueError(f"resize_axis: new_size must be >= 0, got {new_size}.")
    name = axis_name(old_axis)
    leaves, treedef = tree_flatten(tree)
    keys = [None] * len(leaves) if key is None or not leaves else jax.random.split(key, len(leaves))
    resized = [
        _resize_leaf(leaf, old_axis, name, int(new_size), k)
        for leaf, k in zip(leaves, keys, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, resized)


def _resize_leaf(x: Any, selector: AxisSelector, name: Any, new_size: int, key: Any) -> Any:
    if not isinstance(x, NamedArray) or name not in x.axis_names:
        return x
    old = resolve_axis(x.axes, selector, "resize_axis")
    i = x.axes.index(old)
    axes = (*x.axes[:i], Axis(name, new_size), *x.axes[i + 1 :])
    if new_size == old.size:
        return x
    if new_size < old.size:
        return _wrap(lax.slice_in_dim(x.array, 0, new_size, axis=i), axes)
    extra_shape = tuple(new_size - old.size if j == i else a.size for j, a in enumerate(x.axes))
    if old.size == 0 or not jnp.issubdtype(x.dtype, jnp.inexact):
        extra = jnp.zeros(extra_shape, x.dtype)
    else:
        mean = jnp.mean(x.array, axis=i, keepdims=True)
        if key is None:
            extra = jnp.broadcast_to(mean, extra_shape)
        else:
            std = jnp.std(x.array, axis=i, keepdims=True)
            noise = jax.random.truncated_normal(key, -2.0, 2.0, extra_shape, x.dtype)
            extra = noise * std + mean
    return _wrap(jnp.concatenate([x.array, extra.astype(x.dtype)], axis=i), axes)
