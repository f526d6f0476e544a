"""`haliax.state_dict`: state dicts with Haliax's names, signatures and file format.

The torch-compatible layout functions are namedax's own (`namedax.serialization`).
Three functions differ from namedax's functions of the same name, as Haliax's do:

* `from_state_dict` ignores keys the template does not use
  (`namedax.serialization.from_state_dict(..., strict=False)`);
* `save_state_dict` / `load_state_dict` write and read a flat state dict as a
  safetensors file (crash-safely, bf16 included), not `.npz`; `load_state_dict` returns
  NumPy arrays. namedax's safetensors functions are `namedax.serialization.save_safetensors`
  and `load_safetensors`.

Examples:
    >>> from namedax.compat.haliax import state_dict as hsd
    >>> Embed = Axis("embed", 3)
    >>> norm = nx.nn.LayerNorm.init(Embed)
    >>> state = hsd.to_state_dict(norm, prefix="norm")
    >>> sorted(state)
    ['norm.bias', 'norm.weight']
    >>> restored = hsd.from_state_dict(norm, {**state, "other": 1}, prefix="norm")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

import jax.numpy as jnp
import numpy as np

from namedax.compat.haliax.jax_utils import is_jax_array_like
from namedax.core._state_dict import (
    StateDict as StateDict,
    from_state_dict as _from_state_dict,
    to_state_dict as to_state_dict,
)
from namedax.io._safetensors import read_safetensors, write_safetensors
from namedax.io._torch_layout import (
    flatten_modules_for_export as flatten_modules_for_export,
    from_torch_compatible_state_dict as from_torch_compatible_state_dict,
    to_numpy_state_dict as to_numpy_state_dict,
    to_torch_compatible_state_dict as _to_torch_compatible_numpy,
    unflatten_modules_from_export as unflatten_modules_from_export,
    with_prefix as with_prefix,
)
from namedax.nn._export import (
    ModuleWithStateDictSerialization as ModuleWithStateDictSerialization,
)

T = TypeVar("T")

__all__ = [
    "ModuleWithStateDictSerialization",
    "StateDict",
    "flatten_modules_for_export",
    "from_state_dict",
    "from_torch_compatible_state_dict",
    "load_state_dict",
    "save_state_dict",
    "to_numpy_state_dict",
    "to_state_dict",
    "to_torch_compatible_state_dict",
    "unflatten_modules_from_export",
    "with_prefix",
]


def from_state_dict(tree: T, state_dict: Mapping[str, Any], prefix: str | None = None) -> T:
    """`tree` filled from `state_dict`; keys the tree does not use are ignored (as in Haliax).

    This is `namedax.serialization.from_state_dict(..., strict=False)`: missing keys and
    shape mismatches are still a `ValueError` naming each key.

    Examples:
        >>> from namedax.compat.haliax import state_dict as hsd
        >>> w = nx.zeros(Axis("embed", 2))
        >>> hsd.from_state_dict({"w": w}, {"w": jnp.ones(2), "x": jnp.ones(1)})["w"].array
        Array([1., 1.], dtype=float32)
    """
    return _from_state_dict(tree, state_dict, prefix, strict=False)


def save_state_dict(state_dict: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Writes a flat state dict as a safetensors file (Haliax's format), crash-safely.

    `None` values are skipped and the metadata says `"format": "pt"`, as Haliax writes.
    The file is written under a temporary name and renamed when complete.

    Examples:
        >>> import os, tempfile
        >>> from namedax.compat.haliax import state_dict as hsd
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> hsd.save_state_dict({"w": jnp.arange(3.0), "unused": None}, path)
        >>> hsd.load_state_dict(path)
        {'w': array([0., 1., 2.], dtype=float32)}
    """
    write_safetensors(state_dict, path)


def load_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Reads a safetensors file as a `{key: numpy array}` state dict (Haliax's function).

    Every leaf is checked before any is returned: a truncated or corrupted file is a
    `ValueError` naming the file and the leaf.

    Examples:
        >>> import os, tempfile
        >>> from namedax.compat.haliax import state_dict as hsd
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> hsd.save_state_dict({"b": jnp.ones(2, jnp.bfloat16)}, path)
        >>> hsd.load_state_dict(path)["b"].dtype
        dtype(bfloat16)
    """
    return read_safetensors(path, as_numpy=True)


def to_torch_compatible_state_dict(
    t: Any,
    *,
    flatten: bool = True,
    prefix: str | None = None,
    filter: Any = is_jax_array_like,
) -> StateDict:
    """The state dict of `t` in torch's layout, with `jax.Array` values (as Haliax returns).

    namedax's `namedax.serialization.to_torch_compatible_state_dict` returns host NumPy
    arrays; this gathers the same values (sharded arrays included) and returns them as
    `jax.Array`s on the default device.

    Examples:
        >>> from namedax.compat.haliax import state_dict as hsd
        >>> proj = nx.nn.Linear.init(Axis("i", 2), Axis("o", 3), key=jax.random.key(0))
        >>> {k: type(v).__name__ for k, v in hsd.to_torch_compatible_state_dict(proj).items()}
        {'weight': 'ArrayImpl', 'bias': 'ArrayImpl'}
    """
    state = _to_torch_compatible_numpy(t, flatten=flatten, prefix=prefix, filter=filter)
    return {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in state.items()}
