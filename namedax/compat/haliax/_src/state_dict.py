"""`haliax._src.state_dict`: where Haliax defines its state-dict functions."""

from collections.abc import Sequence
from typing import Any

from jax.tree_util import DictKey, FlattenedIndexKey, GetAttrKey, SequenceKey

from namedax.compat.haliax.state_dict import (
    ModuleWithStateDictSerialization as ModuleWithStateDictSerialization,
    StateDict as StateDict,
    flatten_modules_for_export as flatten_modules_for_export,
    from_state_dict as from_state_dict,
    from_torch_compatible_state_dict as from_torch_compatible_state_dict,
    load_state_dict as load_state_dict,
    save_state_dict as save_state_dict,
    to_numpy_state_dict as to_numpy_state_dict,
    to_state_dict as to_state_dict,
    to_torch_compatible_state_dict as to_torch_compatible_state_dict,
    unflatten_modules_from_export as unflatten_modules_from_export,
    with_prefix as with_prefix,
)
from namedax.core import _state_dict as _serialization


def format_path_for_state_dict(prefix: str | None, path: Sequence) -> str:
    """The dotted state-dict key of a JAX key path (`.0`, `.name`), after `prefix`.

    Examples:
        >>> from jax.tree_util import DictKey, GetAttrKey, SequenceKey
        >>> path = (GetAttrKey("layers"), SequenceKey(0), DictKey("w"))
        >>> format_path_for_state_dict(None, path), format_path_for_state_dict("model", path)
        ('layers.0.w', 'model.layers.0.w')
    """
    key = "".join(_path_part(part) for part in path)
    if prefix is not None:
        return f"{prefix}{key}"
    return key.removeprefix(".")


def _path_part(part: Any) -> str:
    # `Any`: jax types its key classes as `Any`, so isinstance could not narrow an `object`.
    if isinstance(part, SequenceKey):
        return f".{part.idx}"
    if isinstance(part, DictKey):
        return f".{part.key}"
    if isinstance(part, GetAttrKey):
        return f".{part.name}"
    if isinstance(part, FlattenedIndexKey):
        return f".{part.key}"
    text = str(part)
    return text if text.startswith(".") else f".{text}"


default_eqx_module_to_state_dict = _serialization.default_module_to_state_dict
"""A module's state dict built from its fields (and key map), ignoring its own method."""

default_eqx_module_from_state_dict = _serialization.default_module_from_state_dict
"""A module read field by field from a state dict, ignoring its own method."""
