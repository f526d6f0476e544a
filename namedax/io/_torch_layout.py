"""The torch-compatible state dict: every layer's multi-axis weights merged to torch's 2-d layout.

`torch.nn.Linear` stores a `(out_features, in_features)` weight; a namedax `Linear`
from `(head, head_dim)` to `embed` holds a 3-d weight. `flatten_modules_for_export`
asks every `ModuleWithStateDictSerialization` in a tree for its torch layout (its
`flatten_for_export`), and `unflatten_modules_from_export` undoes it against a
template. `to_torch_compatible_state_dict` and `from_torch_compatible_state_dict`
combine that with the state dict, as Haliax's functions of the same names do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer
from jax.experimental import multihost_utils

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._state_dict import StateDict, from_state_dict, to_state_dict
from namedax.nn._export import ModuleWithStateDictSerialization

__all__ = [
    "flatten_modules_for_export",
    "from_torch_compatible_state_dict",
    "to_numpy_state_dict",
    "to_torch_compatible_state_dict",
    "unflatten_modules_from_export",
    "with_prefix",
]

T = TypeVar("T")


def _is_exporter(x: Any) -> bool:
    return isinstance(x, ModuleWithStateDictSerialization)


def flatten_modules_for_export(t: T) -> T:
    """Every `ModuleWithStateDictSerialization` in `t` in its torch layout (`flatten_for_export`).

    Modules inside a flattened module are flattened too; a layer inside a `Stacked`
    keeps its `Layers` axis.

    Examples:
        >>> In, Out = (Axis("head", 2), Axis("head_dim", 3)), Axis("embed", 4)
        >>> proj = nx.nn.Linear.init(In, Out, key=jax.random.key(0))
        >>> flat = nx.serialization.flatten_modules_for_export({"proj": proj})
        >>> flat["proj"].weight.shape
        {'__OUT__': 4, '__IN__': 6}
    """

    def flatten(module: Any) -> Any:
        if not _is_exporter(module):
            return module
        module = module.flatten_for_export()
        inner = lambda x: x is not module and _is_exporter(x)
        return jax.tree_util.tree_map(flatten, module, is_leaf=inner)

    return jax.tree_util.tree_map(flatten, t, is_leaf=_is_exporter)


def unflatten_modules_from_export(t: T, template: T) -> T:
    """`t` (from `flatten_modules_for_export`) split back into `template`'s axes.

    Args:
        t: The flattened tree, with the loaded values.
        template: The tree in its own layout (its values are not used, only its axes).

    Examples:
        >>> In, Out = (Axis("head", 2), Axis("head_dim", 3)), Axis("embed", 4)
        >>> proj = nx.nn.Linear.init(In, Out, key=jax.random.key(0))
        >>> flat = nx.serialization.flatten_modules_for_export(proj)
        >>> back = nx.serialization.unflatten_modules_from_export(flat, proj)
        >>> back.weight.axes == proj.weight.axes, bool((back.weight == proj.weight).all())
        (True, True)
    """

    def unflatten(module: Any, like: Any) -> Any:
        if not _is_exporter(module):
            return module
        module = module.unflatten_from_export(like)
        inner = lambda x: x is not module and _is_exporter(x)
        return jax.tree_util.tree_map(unflatten, module, like, is_leaf=inner)

    return jax.tree_util.tree_map(unflatten, t, template, is_leaf=_is_exporter)


def with_prefix(prefix: str | None, leaf: str | None) -> str | None:
    """Joins two optional dotted key parts: `with_prefix("model", "weight") == "model.weight"`.

    Examples:
        >>> nx.serialization.with_prefix("model", "weight"), nx.serialization.with_prefix(None, "w")
        ('model.weight', 'w')
    """
    if prefix is None:
        return leaf
    if leaf is None:
        return prefix
    return f"{prefix}.{leaf}"


def _to_host(x: Any) -> Any:
    if isinstance(x, jax.Array):
        if not x.is_fully_addressable:  # gathered across hosts (each host gets a full copy)
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)
    return x


def to_numpy_state_dict(model: Any, prefix: str | None = None) -> StateDict:
    """The state dict of `model` with every value a host NumPy array (gathered if sharded).

    Examples:
        >>> state = nx.serialization.to_numpy_state_dict({"w": nx.zeros(Axis("embed", 2))})
        >>> type(state["w"]).__name__, state["w"].shape
        ('ndarray', (2,))
    """
    return {k: _to_host(v) for k, v in to_state_dict(model, prefix).items()}


def _is_array_like(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def to_torch_compatible_state_dict(
    t: Any,
    *,
    flatten: bool = True,
    prefix: str | None = None,
    filter: Callable[[Any], bool] = _is_array_like,
) -> StateDict:
    """The state dict of `t` in torch's layout, as NumPy arrays (Haliax's function).

    Args:
        t: The model or pytree.
        flatten: Whether to merge each layer's axes first (`flatten_modules_for_export`).
        prefix: Prepended to every key.
        filter: Which leaves to keep (an `equinox.filter` spec; default: arrays).

    Examples:
        >>> In, Out = (Axis("head", 2), Axis("head_dim", 3)), Axis("embed", 4)
        >>> proj = nx.nn.Linear.init(In, Out, key=jax.random.key(0))
        >>> {k: v.shape for k, v in nx.serialization.to_torch_compatible_state_dict(proj).items()}
        {'weight': (4, 6), 'bias': (4,)}
    """
    t = eqx.filter(t, filter)
    if flatten:
        t = flatten_modules_for_export(t)
    return to_numpy_state_dict(t, prefix=prefix)


def _zeros_like_abstract(x: Any) -> Any:
    return jnp.zeros(x.shape, x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x


def from_torch_compatible_state_dict(
    t: T, state_dict: Mapping[str, Any], *, unflatten: bool = True, prefix: str | None = None
) -> T:
    """`t` filled from a torch-layout state dict (Haliax's function; keys it lacks are ignored).

    Args:
        t: The template: a model, or `equinox.filter_eval_shape` of its constructor.
        state_dict: A state dict in torch's layout, as `to_torch_compatible_state_dict` makes.
        unflatten: Whether the state dict has merged axes (`flatten_modules_for_export`).
        prefix: The keys' prefix.

    Returns:
        `t` with the loaded values; each lands on the sharding of the template's leaf,
        where that is a concrete array.

    Raises:
        ValueError: If keys are missing, shapes differ, a dtype would be truncated, or
            two leaves have the same key (naming each key).

    Examples:
        >>> In, Out = (Axis("head", 2), Axis("head_dim", 3)), Axis("embed", 4)
        >>> proj = nx.nn.Linear.init(In, Out, key=jax.random.key(0))
        >>> state = nx.serialization.to_torch_compatible_state_dict(proj)
        >>> back = nx.serialization.from_torch_compatible_state_dict(proj, state)
        >>> bool((back.weight == proj.weight).all())
        True
    """
    if not unflatten:
        return from_state_dict(t, state_dict, prefix, strict=False)
    flat_template = jax.eval_shape(
        lambda: flatten_modules_for_export(jax.tree_util.tree_map(_zeros_like_abstract, t))
    )
    flat = from_state_dict(flat_template, state_dict, prefix, strict=False)
    loaded = unflatten_modules_from_export(flat, t)
    return jax.tree_util.tree_map(_placed_like, loaded, t, is_leaf=is_named_array)


def _placed_like(value: Any, like: Any) -> Any:
    """`value` on the sharding of the template leaf `like`, where that is a concrete array."""
    if isinstance(value, NamedArray) and isinstance(like, NamedArray):
        return _wrap(_placed_like(value.array, like.array), value.axes)
    concrete = isinstance(like, jax.Array) and not isinstance(like, Tracer)
    if concrete and isinstance(value, jax.Array) and value.shape == like.shape:
        return jax.device_put(value, like.sharding)
    return value
