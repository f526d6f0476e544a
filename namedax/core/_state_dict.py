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

Two leaves whose paths give the same key (`{"a.b": x, "a": {"b": y}}`) are an error,
when saving and when loading: one would silently replace the other.

`namedax.io` writes and reads state dicts as files (`.npz`, safetensors, Orbax).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._errors import describe, format_axes
from namedax.core._value_checks import cast_problem

__all__ = ["StateDict", "from_state_dict", "to_state_dict"]

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
    return isinstance(x, NamedArray) or _has_layer_layout(x) or _has_own_layout(x)


def _has_layer_layout(x: Any) -> bool:
    """A layer stack: it lays out its state dict layer by layer (`state_dict_parts`)."""
    return callable(getattr(type(x), "state_dict_parts", None))


def _has_own_layout(x: Any) -> bool:
    """A module that renames its fields or writes its own state dict (as Haliax's modules do)."""
    return isinstance(x, eqx.Module) and (
        hasattr(x, "_state_dict_key_map") or _custom(x, "to_state_dict")
    )


def _custom(module: Any, method: str) -> bool:
    """Whether `module` defines `method` itself (not the default walk of a base class)."""
    found = getattr(type(module), method, None)
    return callable(found) and not getattr(found, "__default_state_dict__", False)


def default_state_dict_method(method: Any) -> Any:
    """Marks a base class's `to_state_dict`/`from_state_dict` as the default walk.

    The walk then reads such a module field by field instead of calling the method
    (which would call the walk back).
    """
    method.__default_state_dict__ = True
    return method


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
        ValueError: If two leaves have the same key (such as `tree["a.b"]` and
            `tree["a"]["b"]`): one would overwrite the other.

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
        >>> from namedax.core._state_dict import named_state_dict
        >>> named_state_dict({"w": nx.zeros(Axis("embed", 3))})
        {'w': NamedArray(...)}
    """
    prefix = _check_prefix(prefix, "to_state_dict")
    return _unique(_entries(tree, prefix or ""), tree, prefix)


def _unique(entries: Iterator[tuple[str, Any]], tree: Any, prefix: str | None) -> dict[str, Any]:
    """The entries as a dict; a key that comes twice is the ValueError naming both leaves."""
    out: dict[str, Any] = {}
    for key, value in entries:
        if key in out:
            raise ValueError(
                f"to_state_dict: two leaves have the key {key!r} ({_paths_to(tree, prefix, key)}), "
                "so one would overwrite the other in the state dict. Rename one of them (a "
                "dict key or field name containing '.' collides with a nested path)."
            )
        out[key] = value
    return out


def _paths_to(tree: Any, prefix: str | None, key: str) -> str:
    """The pytree paths of the leaves whose dotted key is `key`, for an error message."""
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_named_array)[0]
    paths = [
        "tree" + jax.tree_util.keystr(path)
        for path, _ in flat
        if _join(prefix, _path_key(path)) == key
    ]
    if len(paths) > 1:
        return " and ".join(paths)
    found = f"{paths[0]} and " if paths else ""
    return found + "a leaf laid out by a layer stack or by a module's own to_state_dict"


def _positional(value: Any) -> Any:
    return value.array if isinstance(value, NamedArray) else value


def _entries(tree: Any, key: str) -> Iterator[tuple[str, Any]]:
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_node)[0]:
        k = _join(key, _path_key(path))
        if _has_layer_layout(leaf):
            for suffix, part in leaf.state_dict_parts():
                yield from _entries(part, _join(k, suffix))
        elif _has_own_layout(leaf):
            yield from _module_entries(leaf, k)
        elif isinstance(leaf, NamedArray) or _is_array(leaf):
            yield k, leaf


def _stored(module: Any) -> Any:
    """The module as its state dict holds it (`_state_dict_stored()`, if it defines one).

    A layer whose checkpoint holds a transformed parameter (a muP `Linear` stores its
    effective weight) defines `_state_dict_stored` and its inverse `_state_dict_restored`;
    the walk applies them around its field-by-field reading and writing.
    """
    view = getattr(module, "_state_dict_stored", None)
    return module if view is None else view()


def _restored(module: Any) -> Any:
    """The inverse of `_stored`, applied to a module read from a state dict."""
    view = getattr(module, "_state_dict_restored", None)
    return module if view is None else view()


def _module_entries(module: Any, key: str) -> Iterator[tuple[str, Any]]:
    if _custom(module, "to_state_dict"):
        yield from module.to_state_dict(key or None).items()
        return
    module = _stored(module)
    for name, part in _fields(module):
        yield from _entries(getattr(module, name), _join(key, part))


def default_module_to_state_dict(module: Any, prefix: str | None = None) -> StateDict:
    """The state dict of `module` by its fields and key map, ignoring its own `to_state_dict`."""
    prefix = _check_prefix(prefix, "to_state_dict")
    module = _stored(module)
    entries = (
        (k, _positional(v))
        for name, part in _fields(module)
        for k, v in _entries(getattr(module, name), _join(prefix, part))
    )
    return _unique(entries, module, prefix)


def default_module_from_state_dict(
    module: Any, state_dict: Mapping[str, Any], prefix: str | None = None
) -> Any:
    """`module` read field by field under `prefix`, ignoring its own `from_state_dict`."""
    loader = _Loader(state_dict)
    result = loader.fields(module, _check_prefix(prefix, "from_state_dict") or "")
    loader.raise_problems(prefix, extra=False)
    return _restored(result)


# --- from_state_dict ------------------------------------------------------------------------


class _Loader:
    """Rebuilds a template from a state dict, collecting every problem before raising."""

    def __init__(self, state_dict: Mapping[str, Any]):
        self.state_dict = state_dict
        self.used: set[str] = set()
        self.read: set[str] = set()  # keys read into a template leaf
        self.missing: list[str] = []
        self.mismatched: list[str] = []
        self.duplicated: list[str] = []
        self.too_deep: list[str] = []

    def load(self, template: Any, key: str) -> Any:
        flat, treedef = jax.tree_util.tree_flatten_with_path(template, is_leaf=_is_node)
        out = [self.leaf(leaf, _join(key, _path_key(path))) for path, leaf in flat]
        return jax.tree_util.tree_unflatten(treedef, out)

    def leaf(self, leaf: Any, key: str) -> Any:
        if _has_layer_layout(leaf):
            return self.layers(leaf, key)
        if _has_own_layout(leaf):
            return self.module(leaf, key)
        if isinstance(leaf, NamedArray):
            return _wrap(self.array(leaf.array, key, leaf.axes), leaf.axes)
        if _is_array(leaf):
            return self.array(leaf, key, None)
        return leaf

    @property
    def failed(self) -> bool:
        """Whether some leaf could not be read (the result will not be returned)."""
        return bool(self.missing or self.mismatched or self.duplicated or self.too_deep)

    def raise_problems(self, prefix: str | None, *, extra: bool) -> None:
        """The ValueError listing every missing, mismatched and (with `extra`) unused key."""
        scope = [k for k in self.state_dict if prefix is None or k.startswith(prefix + ".")]
        unused = [k for k in scope if k not in self.used and k != _DTYPES_KEY] if extra else []
        problems = []
        if self.duplicated:
            problems.append(
                _listing(
                    "key is read by two template leaves",
                    "keys are read by two template leaves",
                    self.duplicated,
                    ", ",
                )
                + " (their paths give the same dotted key: rename one of the leaves)"
            )
        problems.extend(self.too_deep)
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
            loaded = self.fields(module, key)
            return loaded if self.failed else _restored(loaded)
        self.used.update(k for k in self.state_dict if k.startswith(key + ".") or not key)
        return module.from_state_dict(self.state_dict, key or None)

    def fields(self, module: Any, key: str) -> Any:
        names, parts = zip(*_fields(module)) if dataclasses.fields(module) else ((), ())
        values = tuple(self.load(getattr(module, n), _join(key, p)) for n, p in zip(names, parts))
        return eqx.tree_at(
            lambda m: tuple(getattr(m, n) for n in names), module, values, is_leaf=_is_none
        )

    def layers(self, stack: Any, key: str) -> Any:
        """A layer stack read part by part (`state_dict_parts`), then rebuilt by the stack."""
        parts = eqx.filter_eval_shape(lambda s: s.state_dict_parts(), stack)
        loaded = [self.load(part, _join(key, suffix)) for suffix, part in parts]
        depth = sum(suffix.isdigit() for suffix, _ in parts)
        self.check_depth(key, depth)
        if self.failed:  # nothing sensible to rebuild
            return stack
        return stack.from_state_dict_parts(loaded)

    def check_depth(self, key: str, depth: int) -> None:
        """Records layers of the state dict beyond the template stack's `depth`."""
        start = key + "." if key else ""
        extra = sorted(
            {
                int(head)
                for k in self.state_dict
                if k.startswith(start)
                and (head := k[len(start) :].partition(".")[0]).isdigit()
                and int(head) >= depth
            }
        )
        if extra:
            shown = ", ".join(map(str, extra[:8])) + (", ..." if len(extra) > 8 else "")
            self.too_deep.append(
                f"the state dict has layers {shown} under {key or 'the root'!r}, but the template "
                f"stack there has {depth} layers (0 to {depth - 1}); build the template with "
                f"{extra[-1] + 1} layers, or drop those layers from the state dict"
            )

    def array(self, template: Any, key: str, axes: tuple | None) -> Any:
        if key in self.read:
            self.duplicated.append(key)
            return template
        self.read.add(key)
        if key not in self.state_dict:
            self.missing.append(f"{key} {_expected(template, axes)}")
            return template
        self.used.add(key)
        value = self.state_dict[key]
        if not isinstance(value, jax.Array):
            value = _host_array(value)
        shape = tuple(np.shape(value))
        if shape != tuple(template.shape):
            self.mismatched.append(
                f"{key}: expected {_expected(template, axes)}, got shape {shape}"
            )
            return template
        problem = cast_problem(value, template.dtype)
        if problem is not None:
            self.mismatched.append(
                f"{key}: expected {_expected(template, axes)}, but {problem} (convert it "
                "explicitly if that is what you want)"
            )
            return template
        value = jnp.asarray(value, dtype=template.dtype)
        if isinstance(template, jax.Array) and not isinstance(template, Tracer):
            value = jax.device_put(value, template.sharding)
        return value


def _host_array(value: Any) -> np.ndarray:
    """A state-dict value as a NumPy array (an object array if it is not array-like)."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError):  # ragged lists and the like
        return np.asarray(None, dtype=object)


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
            `from_state_dict`, `haliax.state_dict.from_state_dict`, is this with
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
