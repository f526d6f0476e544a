"""State dicts: a model's arrays as a flat `{"path.to.leaf": array}` dict, and back.

A state dict names every array leaf of a pytree (an Equinox module, dicts, lists,
NamedArrays) by its dotted path: `model.layers.0.attn.q_proj.weight`. Values are
positional arrays; a NamedArray contributes its `.array` in its own axis order, and
the template's axes give the names back on load. Non-array leaves (Python numbers,
strings, functions) are not stored: loading takes them from the template.

Layer stacks use the same keys whether stored stacked or unrolled:

* a `namedax.nn.Stacked` at `layers` stores each per-layer leaf once per layer, as
  `layers.0.weight`, `layers.1.weight`, ... (the `Layers` axis removed), and each
  shared leaf once, as `layers.weight`; loading restacks them along `Layers`;
* a `namedax.nn.BlockSeq` stores block `i` under `layers.i.` (its `blocks` field is
  not part of the key), so a per-layer `Stacked` and the equivalent `BlockSeq` have
  equal state dicts.

`save_state_dict` / `load_state_dict` write and read a state dict as a NumPy `.npz`
archive, bit-exactly, including dtypes NumPy lacks (`bfloat16`, float8).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import Tracer

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._errors import describe, format_axes
from namedax.nn._blockseq import BlockSeq
from namedax.nn._pattern import pattern_from_state_parts, pattern_state_parts
from namedax.nn._stacked import Stacked

__all__ = ["StateDict", "from_state_dict", "load_state_dict", "save_state_dict", "to_state_dict"]

StateDict = dict[str, Any]
"""A flat `{"dotted.path": positional array}` dict."""

_DTYPES_KEY = "__namedax_dtypes__"


# --- keys -----------------------------------------------------------------------------------


def _join(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


def _path_key(path: tuple[Any, ...]) -> str:
    """A JAX key path as a dotted key: `.attn`, `['k']`, `[0]` -> `attn.k.0`."""
    parts = []
    for entry in path:
        if isinstance(entry, jax.tree_util.GetAttrKey):
            parts.append(entry.name)
        elif isinstance(entry, jax.tree_util.DictKey):
            parts.append(str(entry.key))
        elif isinstance(entry, jax.tree_util.SequenceKey):
            parts.append(str(entry.idx))
        elif isinstance(entry, jax.tree_util.FlattenedIndexKey):
            parts.append(str(entry.key))
        else:
            parts.append(str(entry))
    return ".".join(parts)


def _is_node(x: Any) -> bool:
    """Leaves of the walk: NamedArrays and the layer containers with their own key layout."""
    return isinstance(x, (NamedArray, Stacked, BlockSeq))


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))


def _check_prefix(prefix: Any, op: str) -> str | None:
    if prefix is None or isinstance(prefix, str):
        return prefix or None
    raise TypeError(f"{op}: prefix must be a str or None, got {describe(prefix)}.")


# --- the split of a Stacked into per-layer and shared leaves ---------------------------------


def _is_per_layer(stack: Stacked, path: tuple[Any, ...], leaf: Any) -> bool:
    if isinstance(leaf, NamedArray):
        return stack.Layers.name in leaf.axis_names
    return _is_array(leaf) and jax.tree_util.keystr(path) in stack.per_layer_arrays


def _split(stack: Stacked) -> tuple[Any, Any]:
    """(per-layer leaves, shared leaves) of the stacked block, the others set to `None`."""

    def keep(per_layer: bool) -> Callable[[Any, Any], Any]:
        return lambda path, leaf: leaf if _is_per_layer(stack, path, leaf) == per_layer else None

    tree, is_leaf = stack.stacked, is_named_array
    per = jax.tree_util.tree_map_with_path(keep(True), tree, is_leaf=is_leaf)
    shared = jax.tree_util.tree_map_with_path(keep(False), tree, is_leaf=is_leaf)
    return per, shared


def _layer(leaf: Any, stack: Stacked, i: int) -> Any:
    """Layer `i` of a per-layer leaf."""
    if isinstance(leaf, NamedArray):
        pos = leaf.axis_names.index(stack.Layers.name)
        sliced = lax.index_in_dim(leaf.array, i, pos, keepdims=False)
        return _wrap(sliced, leaf.axes[:pos] + leaf.axes[pos + 1 :])
    return leaf[i]


def _layer_template(leaf: Any, stack: Stacked) -> Any:
    """The shape and dtype of one layer of a per-layer leaf (its template for loading)."""
    if isinstance(leaf, NamedArray):
        axes = tuple(a for a in leaf.axes if a.name != stack.Layers.name)
        return _wrap(jax.ShapeDtypeStruct(tuple(a.size for a in axes), leaf.dtype), axes)
    return jax.ShapeDtypeStruct(tuple(leaf.shape[1:]), leaf.dtype)


def _restack(template: Any, layers: list[Any], stack: Stacked) -> Any:
    """Stacks the loaded layers of one per-layer leaf along `Layers`, where the template has it."""
    if isinstance(template, NamedArray):
        pos = template.axis_names.index(stack.Layers.name)
        return _wrap(jnp.stack([x.array for x in layers], axis=pos), template.axes)
    return jnp.stack(layers, axis=0)


# --- to_state_dict --------------------------------------------------------------------------


def to_state_dict(tree: Any, prefix: str | None = None) -> StateDict:
    """Flattens the arrays of a pytree into a `{"dotted.path": array}` dict.

    Args:
        tree: A pytree: an Equinox module, dicts, lists and tuples, with NamedArrays
            and plain arrays as leaves. `Stacked` and `BlockSeq` are stored layer by
            layer (see the module documentation).
        prefix: Prepended to every key (`"model"` gives `model.weight`).

    Returns:
        The state dict: positional arrays (a NamedArray's `.array`, in its own axis
        order) by dotted path. Non-array leaves are left out.

    Raises:
        TypeError: If `prefix` is not a string.

    Examples:
        >>> Layers, Embed = Axis("layers", 2), Axis("embed", 3)
        >>> stack = nx.nn.Stacked.init(Layers, nx.nn.LayerNorm, shared="bias")(Embed)
        >>> {k: v.shape for k, v in nx.to_state_dict({"layers": stack}).items()}
        {'layers.0.weight': (3,), 'layers.1.weight': (3,), 'layers.bias': (3,)}
    """
    prefix = _check_prefix(prefix, "to_state_dict")
    return dict(_entries(tree, prefix or ""))


def _entries(tree: Any, key: str) -> Iterator[tuple[str, Any]]:
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_node)[0]:
        k = _join(key, _path_key(path))
        if isinstance(leaf, Stacked):
            yield from _stacked_entries(leaf, k)
        elif isinstance(leaf, BlockSeq):
            for i, block in enumerate(leaf.blocks):
                yield from _entries(block, _join(k, str(i)))
        elif isinstance(leaf, NamedArray):
            yield k, leaf.array
        elif _is_array(leaf):
            yield k, leaf


def _stacked_entries(stack: Stacked, key: str) -> Iterator[tuple[str, Any]]:
    parts = pattern_state_parts(stack)  # a Pattern stack: layers numbered in model order
    if parts is not None:
        for suffix, part in parts:
            yield from _entries(part, _join(key, suffix))
        return
    per, shared = _split(stack)
    for i in range(stack.Layers.size):
        layer = jax.tree_util.tree_map(
            lambda x, i=i: _layer(x, stack, i), per, is_leaf=is_named_array
        )
        yield from _entries(layer, _join(key, str(i)))
    yield from _entries(shared, key)


# --- from_state_dict ------------------------------------------------------------------------


class _Loader:
    """Rebuilds a template from a state dict, collecting every problem before raising."""

    def __init__(self, state_dict: Mapping[str, Any]):
        self.state_dict = state_dict
        self.used: set[str] = set()
        self.missing: list[str] = []
        self.mismatched: list[str] = []

    def load(self, template: Any, key: str) -> Any:
        flat, treedef = jax.tree_util.tree_flatten_with_path(template, is_leaf=_is_node)
        out = [self.leaf(leaf, _join(key, _path_key(path))) for path, leaf in flat]
        return jax.tree_util.tree_unflatten(treedef, out)

    def leaf(self, leaf: Any, key: str) -> Any:
        if isinstance(leaf, Stacked):
            return self.stacked(leaf, key)
        if isinstance(leaf, BlockSeq):
            blocks = tuple(self.load(b, _join(key, str(i))) for i, b in enumerate(leaf.blocks))
            return eqx.tree_at(lambda s: s.blocks, leaf, blocks)
        if isinstance(leaf, NamedArray):
            return _wrap(self.array(leaf.array, key, leaf.axes), leaf.axes)
        if _is_array(leaf):
            return self.array(leaf, key, None)
        return leaf

    def stacked(self, stack: Stacked, key: str) -> Stacked:
        parts = pattern_state_parts(stack, template=True)
        if parts is not None:
            loaded = [self.load(part, _join(key, suffix)) for suffix, part in parts]
            if self.missing or self.mismatched:  # nothing sensible to restack
                return stack
            return pattern_from_state_parts(stack, loaded)
        per, shared = _split(stack)
        one_layer = jax.tree_util.tree_map(
            lambda x: _layer_template(x, stack), per, is_leaf=is_named_array
        )
        layers = [self.load(one_layer, _join(key, str(i))) for i in range(stack.Layers.size)]
        if self.missing or self.mismatched:  # nothing sensible to stack
            restacked = per
        else:
            restacked = jax.tree_util.tree_map(
                lambda t, *xs: _restack(t, list(xs), stack), per, *layers, is_leaf=is_named_array
            )
        block = eqx.combine(restacked, self.load(shared, key), is_leaf=is_named_array)
        return eqx.tree_at(lambda s: s.stacked, stack, block)

    def array(self, template: Any, key: str, axes: tuple | None) -> Any:
        if key not in self.state_dict:
            self.missing.append(f"{key} {_expected(template, axes)}")
            return template
        self.used.add(key)
        value = self.state_dict[key]
        shape = tuple(np.shape(value))
        if shape != tuple(template.shape):
            self.mismatched.append(
                f"{key}: expected {_expected(template, axes)}, got shape {shape}"
            )
            return template
        value = jnp.asarray(value, dtype=template.dtype)
        if isinstance(template, jax.Array) and not isinstance(template, Tracer):
            value = jax.device_put(value, template.sharding)
        return value


def _expected(template: Any, axes: tuple | None) -> str:
    shape = tuple(template.shape)
    named = f"{format_axes(axes)}, " if axes is not None else ""
    return f"({named}shape {shape}, {np.dtype(template.dtype).name})"


def from_state_dict(template: Any, state_dict: Mapping[str, Any], prefix: str | None = None):
    """Fills a template pytree with the arrays of a state dict.

    Args:
        template: A pytree with the structure to load into, such as a freshly
            initialised model or `equinox.filter_eval_shape` of its constructor
            (leaves may be `jax.ShapeDtypeStruct`s). Its axes, dtypes and non-array
            leaves are kept; `Stacked` leaves are restacked from per-layer keys.
        state_dict: A `{"dotted.path": array}` mapping, as made by `to_state_dict`.
        prefix: The prefix the keys carry (`"model"` reads `model.weight`). Keys outside
            the prefix are ignored, so one state dict can hold several models.

    Returns:
        The template with every array replaced by the state dict's value, cast to the
        template's dtype (and placed with its sharding, for concrete arrays).

    Raises:
        TypeError: If `state_dict` is not a mapping or `prefix` is not a string.
        ValueError: If keys are missing, if keys under the prefix are not used, or if
            a value's shape differs from the template's (the message lists each key
            with its expected named shape).

    Examples:
        >>> Embed = Axis("embed", 3)
        >>> model = nx.nn.Linear.init(Embed, Embed, key=jax.random.key(0))
        >>> state = nx.to_state_dict(model)
        >>> restored = nx.from_state_dict(model, {k: v + 1 for k, v in state.items()})
        >>> bool((restored.weight.array == model.weight.array + 1).all())
        True
        >>> nx.from_state_dict(model, {"weight": state["weight"]})
        Traceback (most recent call last):
        ...
        ValueError: from_state_dict: 1 key is missing: bias ({embed:3}, shape (3,), float32). \
The state dict has: weight.
    """
    prefix = _check_prefix(prefix, "from_state_dict")
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"from_state_dict: state_dict must be a mapping of keys to arrays, got "
            f"{describe(state_dict)}."
        )
    loader = _Loader(state_dict)
    result = loader.load(template, prefix or "")
    scope = [k for k in state_dict if prefix is None or k.startswith(prefix + ".")]
    extra = [k for k in scope if k not in loader.used and k != _DTYPES_KEY]
    problems = []
    if loader.mismatched:
        problems.append(_listing("shape mismatch", "shape mismatches", loader.mismatched, "; "))
    if loader.missing:
        problems.append(
            _listing("key is missing", "keys are missing", loader.missing, ", ")
            + f". The state dict has: {_some(sorted(scope))}"
        )
    if extra:
        problems.append(
            _listing("key is not in the template", "keys are not in the template", extra, ", ")
            + " (is the template the same model, or is a prefix missing?)"
        )
    if problems:
        raise ValueError("from_state_dict: " + ". ".join(problems) + ".")
    return result


def _listing(one: str, many: str, items: list[str], sep: str) -> str:
    head = f"1 {one}" if len(items) == 1 else f"{len(items)} {many}"
    return f"{head}: {_some(items, sep)}"


def _some(items: list[str], sep: str = ", ", limit: int = 8) -> str:
    if not items:
        return "no keys"
    shown = sep.join(items[:limit])
    return shown + (f"{sep}... ({len(items) - limit} more)" if len(items) > limit else "")


# --- files ----------------------------------------------------------------------------------


def save_state_dict(state_dict: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Writes a state dict to a NumPy `.npz` archive, bit-exactly.

    Dtypes that NumPy lacks (`bfloat16`, float8 types) are stored as their raw bits
    and restored by `load_state_dict`.

    Args:
        state_dict: A `{"dotted.path": array}` mapping, as made by `to_state_dict`.
        path: The file to write (NumPy appends `.npz` if the name lacks it).

    Raises:
        TypeError: If a value is not an array (or is a typed PRNG key array: store
            `jax.random.key_data(key)` instead).
        ValueError: If a key is the reserved name `__namedax_dtypes__`.

    Examples:
        >>> import tempfile, os
        >>> state = {"w": jnp.arange(3.0, dtype=jnp.bfloat16)}
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> nx.serialization.save_state_dict(state, path)
        >>> nx.serialization.load_state_dict(path)["w"]
        Array([0, 1, 2], dtype=bfloat16)
    """
    arrays: dict[str, Any] = {}
    dtypes: dict[str, str] = {}
    for key, value in state_dict.items():
        if key == _DTYPES_KEY:
            raise ValueError(f"save_state_dict: the key {_DTYPES_KEY!r} is reserved.")
        if isinstance(value, NamedArray) or not hasattr(value, "dtype"):
            raise TypeError(
                f"save_state_dict: the value at {key!r} is {describe(value)}; values must be "
                "positional arrays, as to_state_dict makes them."
            )
        if jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
            raise TypeError(
                f"save_state_dict: the value at {key!r} is a typed PRNG key array; store "
                "jax.random.key_data(key) instead and wrap it again after loading."
            )
        array = np.asarray(value)
        dtypes[key] = array.dtype.name
        if array.dtype.type.__module__ != "numpy":  # ml_dtypes: keep the raw bits
            array = array.view(f"u{array.dtype.itemsize}")
        arrays[key] = array
    arrays[_DTYPES_KEY] = np.array(json.dumps(dtypes))
    np.savez(path, **arrays)


def load_state_dict(path: str | os.PathLike) -> StateDict:
    """Reads a state dict written by `save_state_dict`.

    Args:
        path: The `.npz` file.

    Returns:
        The state dict, with JAX arrays of the saved dtypes.
    """
    with np.load(path, allow_pickle=False) as archive:
        dtypes = json.loads(str(archive[_DTYPES_KEY])) if _DTYPES_KEY in archive else {}
        out = {}
        for key in archive.files:
            if key == _DTYPES_KEY:
                continue
            array = archive[key]
            dtype = dtypes.get(key)
            if dtype is not None and array.dtype.name != dtype:
                array = array.view(jnp.dtype(dtype))
            out[key] = jnp.asarray(array)
        return out
