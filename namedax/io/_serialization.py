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

import dataclasses
import json
import os
import struct
import zipfile
import zlib
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
from namedax.io._atomic import atomic_write
from namedax.nn._blockseq import BlockSeq
from namedax.nn._export import ModuleWithStateDictSerialization
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
    """Leaves of the walk: NamedArrays, and the modules with their own key layout."""
    return isinstance(x, (NamedArray, Stacked, BlockSeq)) or _has_own_layout(x)


def _has_own_layout(x: Any) -> bool:
    """A module that renames its fields or writes its own state dict (as Haliax's modules do)."""
    return isinstance(x, eqx.Module) and (
        hasattr(x, "_state_dict_key_map") or _custom(x, "to_state_dict")
    )


def _custom(module: Any, method: str) -> bool:
    """Whether `module` defines `method` itself (not the default walk of the base class)."""
    found = getattr(type(module), method, None)
    return callable(found) and found is not getattr(ModuleWithStateDictSerialization, method)


def _fields(module: Any) -> Iterator[tuple[str, str | None]]:
    """(field name, key part) of each array-holding field, after the module's key map."""
    key_map = getattr(module, "_state_dict_key_map", dict)()
    for field in dataclasses.fields(module):
        if not field.metadata.get("static", False):
            yield field.name, key_map.get(field.name, field.name)


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))


def _is_none(x: Any) -> bool:
    return x is None


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
    return {k: _positional(v) for k, v in named_state_dict(tree, prefix).items()}


def named_state_dict(tree: Any, prefix: str | None = None) -> dict[str, Any]:
    """Like `to_state_dict`, but NamedArray leaves stay NamedArrays (for their axes).

    Examples:
        >>> from namedax.io._serialization import named_state_dict
        >>> named_state_dict({"w": nx.zeros(Axis("embed", 3))})
        {'w': NamedArray(...)}
    """
    prefix = _check_prefix(prefix, "to_state_dict")
    return dict(_entries(tree, prefix or ""))


def _positional(value: Any) -> Any:
    return value.array if isinstance(value, NamedArray) else value


def _entries(tree: Any, key: str) -> Iterator[tuple[str, Any]]:
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_node)[0]:
        k = _join(key, _path_key(path))
        if isinstance(leaf, Stacked):
            yield from _stacked_entries(leaf, k)
        elif isinstance(leaf, BlockSeq):
            for i, block in enumerate(leaf.blocks):
                yield from _entries(block, _join(k, str(i)))
        elif _has_own_layout(leaf):
            yield from _module_entries(leaf, k)
        elif isinstance(leaf, NamedArray) or _is_array(leaf):
            yield k, leaf


def _module_entries(module: Any, key: str) -> Iterator[tuple[str, Any]]:
    if _custom(module, "to_state_dict"):
        yield from module.to_state_dict(key or None).items()
        return
    for name, part in _fields(module):
        yield from _entries(getattr(module, name), _join(key, part))


def default_module_to_state_dict(module: Any, prefix: str | None = None) -> StateDict:
    """The state dict of `module` by its fields and key map, ignoring its own `to_state_dict`."""
    prefix = _check_prefix(prefix, "to_state_dict")
    out: StateDict = {}
    for name, part in _fields(module):
        out.update(
            (k, _positional(v)) for k, v in _entries(getattr(module, name), _join(prefix, part))
        )
    return out


def default_module_from_state_dict(
    module: Any, state_dict: Mapping[str, Any], prefix: str | None = None
) -> Any:
    """`module` read field by field under `prefix`, ignoring its own `from_state_dict`."""
    loader = _Loader(state_dict)
    result = loader.fields(module, _check_prefix(prefix, "from_state_dict") or "")
    loader.raise_problems(prefix, extra=False)
    return result


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
        if _has_own_layout(leaf):
            return self.module(leaf, key)
        if isinstance(leaf, NamedArray):
            return _wrap(self.array(leaf.array, key, leaf.axes), leaf.axes)
        if _is_array(leaf):
            return self.array(leaf, key, None)
        return leaf

    def raise_problems(self, prefix: str | None, *, extra: bool) -> None:
        """The ValueError listing every missing, mismatched and (with `extra`) unused key."""
        scope = [k for k in self.state_dict if prefix is None or k.startswith(prefix + ".")]
        unused = [k for k in scope if k not in self.used and k != _DTYPES_KEY] if extra else []
        problems = []
        if self.mismatched:
            problems.append(_listing("shape mismatch", "shape mismatches", self.mismatched, "; "))
        if self.missing:
            problems.append(
                _listing("key is missing", "keys are missing", self.missing, ", ")
                + f". The state dict has: {_some(sorted(scope))}"
            )
        if unused:
            problems.append(
                _listing("key is not in the template", "keys are not in the template", unused, ", ")
                + " (is the template the same model, or is a prefix missing?)"
            )
        if problems:
            raise ValueError("from_state_dict: " + ". ".join(problems) + ".")

    def module(self, module: Any, key: str) -> Any:
        if not _custom(module, "from_state_dict"):
            return self.fields(module, key)
        self.used.update(k for k in self.state_dict if k.startswith(key + ".") or not key)
        return module.from_state_dict(self.state_dict, key or None)

    def fields(self, module: Any, key: str) -> Any:
        names, parts = zip(*_fields(module)) if dataclasses.fields(module) else ((), ())
        values = tuple(self.load(getattr(module, n), _join(key, p)) for n, p in zip(names, parts))
        return eqx.tree_at(
            lambda m: tuple(getattr(m, n) for n in names), module, values, is_leaf=_is_none
        )

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


def from_state_dict(
    template: Any, state_dict: Mapping[str, Any], prefix: str | None = None, *, strict: bool = True
):
    """Fills a template pytree with the arrays of a state dict.

    Args:
        template: A pytree with the structure to load into, such as a freshly
            initialised model or `equinox.filter_eval_shape` of its constructor
            (leaves may be `jax.ShapeDtypeStruct`s). Its axes, dtypes and non-array
            leaves are kept; `Stacked` leaves are restacked from per-layer keys.
        state_dict: A `{"dotted.path": array}` mapping, as made by `to_state_dict`.
        prefix: The prefix the keys carry (`"model"` reads `model.weight`). Keys outside
            the prefix are ignored, so one state dict can hold several models.
        strict: Whether keys under the prefix that the template does not use are an
            error (the default). `strict=False` ignores them, as Haliax does (its
            `from_state_dict`, `namedax.state_dict.from_state_dict`, is this with
            `strict=False`).

    Returns:
        The template with every array replaced by the state dict's value, cast to the
        template's dtype (and placed with its sharding, for concrete arrays).

    Raises:
        TypeError: If `state_dict` is not a mapping or `prefix` is not a string.
        ValueError: If keys are missing, if keys under the prefix are not used (with
            `strict`), or if
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
    loader.raise_problems(prefix, extra=strict)
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


def check_saveable(op: str, key: str, value: Any) -> None:
    """Raises the TypeError for a state-dict value that is not a positional array."""
    if isinstance(value, NamedArray) or not hasattr(value, "dtype"):
        raise TypeError(
            f"{op}: the value at {key!r} is {describe(value)}; values must be positional "
            "arrays, as to_state_dict makes them."
        )
    if jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
        raise TypeError(
            f"{op}: the value at {key!r} is a typed PRNG key array; store "
            "jax.random.key_data(key) instead and wrap it again after loading."
        )


def save_state_dict(state_dict: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Writes a state dict to a NumPy `.npz` archive, bit-exactly.

    Dtypes that NumPy lacks (`bfloat16`, float8 types) are stored as their raw bits
    and restored by `load_state_dict`.

    Args:
        state_dict: A `{"dotted.path": array}` mapping, as made by `to_state_dict`.
        path: The file to write (`.npz` is appended if the name lacks it). It is written
            under a temporary name and renamed when complete, so a crash never leaves
            a partial file under this name.

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
        check_saveable("save_state_dict", key, value)
        array = np.asarray(value)
        dtypes[key] = array.dtype.name
        if array.dtype.type.__module__ != "numpy":  # ml_dtypes: keep the raw bits
            array = array.view(f"u{array.dtype.itemsize}")
        arrays[key] = array
    arrays[_DTYPES_KEY] = np.array(json.dumps(dtypes))
    path = os.fspath(path)
    with atomic_write(path if path.endswith(".npz") else path + ".npz") as f:
        np.savez(f, **arrays)


def load_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Reads a state dict written by `save_state_dict`.

    Every leaf is read (and its CRC checked) before any is returned: a damaged file
    never loads partially.

    Args:
        path: The `.npz` file.

    Returns:
        The state dict, with JAX arrays of the saved dtypes.

    Raises:
        ValueError: If the file is truncated or corrupted; the message names the file
            and the leaf.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        host = _read_archive(f, path)
    dtypes = json.loads(str(host.pop(_DTYPES_KEY))) if _DTYPES_KEY in host else {}
    out = {}
    for key, array in host.items():
        dtype = dtypes.get(key)
        if dtype is not None and array.dtype.name != dtype:
            array = array.view(jnp.dtype(dtype))
        out[key] = jnp.asarray(array)
    return out


def _read_archive(f: Any, path: str) -> dict[str, np.ndarray]:
    """Every array of an open `.npz` file, each read (and CRC-checked) in full."""
    errors = (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error)
    try:
        archive = np.load(f, allow_pickle=False)
    except errors as e:
        raise _damaged(path, _last_entry(path), e) from e
    host = {}
    with archive:
        for key in archive.files:
            try:
                host[key] = archive[key]
            except errors as e:
                raise _damaged(path, key, e) from e
    return host


def _damaged(path: str, key: str | None, cause: Exception) -> ValueError:
    where = f"leaf {key!r}" if key is not None else "no complete leaf"
    return ValueError(
        f"load_state_dict: {path} is truncated or corrupted at {where} ({cause}). Nothing was "
        "loaded; restore the file from a good copy or save it again."
    )


def _last_entry(path: str) -> str | None:
    """The last leaf whose entry begins in a damaged archive (where a truncated file ends)."""
    with open(path, "rb") as f:
        data = f.read()
    last, start = None, data.find(b"PK\x03\x04")
    while start >= 0 and start + 30 <= len(data):
        name_length, extra_length = struct.unpack("<HH", data[start + 26 : start + 30])
        name = data[start + 30 : start + 30 + name_length]
        if name.endswith(b".npy"):
            last = name[:-4].decode(errors="replace")
        start = data.find(b"PK\x03\x04", start + 30 + name_length + extra_length)
    return last
