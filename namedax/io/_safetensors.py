"""safetensors files: a state dict in the format PyTorch and Hugging Face exchange weights in.

The format is a little-endian `u64` header length, a JSON header naming each tensor's
dtype, shape and byte range, then the raw bytes. namedax writes and reads it directly
(no PyTorch, Flax or `safetensors.numpy`, which lacks `bfloat16`), so every dtype JAX
has a safetensors code for round-trips bit-exactly: `BF16` and the float8 types
included. Files open with `safetensors.safe_open` and `torch` as usual.

The header's free-form `__metadata__` records, besides `"format": "pt"` (which
Hugging Face tools expect):

* `namedax.axes`: each NamedArray leaf's named shape, so that loading into a template
  checks the axes by name (and reorders a leaf saved in another axis order);
* `namedax.crc32`: a CRC-32 of each tensor's bytes, so a corrupted file fails naming
  the leaf instead of loading wrong weights.

Writes are crash-safe: the file is written under a temporary name and renamed when
complete (see `namedax.io._atomic`).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import ml_dtypes
import numpy as np

from namedax.core._array import NamedArray
from namedax.core._axes import Axis
from namedax.core._errors import format_axes
from namedax.io._atomic import atomic_write
from namedax.io._serialization import (
    StateDict,
    check_saveable,
    from_state_dict,
    named_state_dict,
)

__all__ = ["load_safetensors", "read_safetensors", "save_safetensors", "write_safetensors"]

_CODES: dict[str, Any] = {
    "BOOL": np.bool_,
    "U8": np.uint8,
    "I8": np.int8,
    "U16": np.uint16,
    "I16": np.int16,
    "U32": np.uint32,
    "I32": np.int32,
    "U64": np.uint64,
    "I64": np.int64,
    "F16": np.float16,
    "BF16": ml_dtypes.bfloat16,
    "F32": np.float32,
    "F64": np.float64,
    "C64": np.complex64,
    "F8_E5M2": ml_dtypes.float8_e5m2,
    "F8_E4M3": ml_dtypes.float8_e4m3fn,
}
_CODE_OF = {np.dtype(t): code for code, t in _CODES.items()}
_AXES_KEY, _CRC_KEY = "namedax.axes", "namedax.crc32"
_ALIGN = 8


def _code(dtype: Any, key: str) -> str:
    code = _CODE_OF.get(np.dtype(dtype))
    if code is None:
        raise TypeError(
            f"save_safetensors: the value at {key!r} has dtype {np.dtype(dtype).name}, which "
            f"safetensors has no code for (it has {', '.join(_CODES)}); cast it first."
        )
    return code


# --- writing --------------------------------------------------------------------------------


def write_safetensors(
    state_dict: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, str] | None = None,
    axes: Mapping[str, tuple[Axis, ...]] | None = None,
) -> None:
    """Writes a flat `{key: positional array}` state dict as a safetensors file, crash-safely.

    Arrays are copied to the host one at a time while writing, so the host holds at
    most one array beyond the file buffer.

    Args:
        state_dict: Keys to positional arrays (`None` values are skipped, as in Haliax).
        path: The file to write; replaced atomically when complete.
        metadata: Extra `__metadata__` strings (`"format": "pt"` is always set).
        axes: The named shape of some keys, recorded for `load_safetensors`'s checks.

    Raises:
        TypeError: If a value is not an array, or its dtype has no safetensors code.

    Examples:
        >>> import os, tempfile
        >>> from namedax.io._safetensors import read_safetensors, write_safetensors
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> write_safetensors({"w": jnp.arange(3, dtype=jnp.bfloat16)}, path)
        >>> read_safetensors(path)["w"]
        Array([0, 1, 2], dtype=bfloat16)
    """
    items = [(k, v) for k, v in state_dict.items() if v is not None]
    for key, value in items:
        check_saveable("save_safetensors", key, value)
    header: dict[str, Any] = {}
    offset = 0
    for key, value in items:
        nbytes = int(np.prod(value.shape, dtype=np.int64)) * np.dtype(value.dtype).itemsize
        header[key] = {
            "dtype": _code(value.dtype, key),
            "shape": [int(d) for d in value.shape],
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    meta = {"format": "pt", **(metadata or {})}
    if axes:
        meta[_AXES_KEY] = json.dumps(
            {k: [[a.name, a.size] for a in ax] for k, ax in axes.items() if k in header}
        )
    crcs = dict.fromkeys(header, "00000000")
    with atomic_write(path) as f:
        f.write(_header_bytes(header, meta, crcs))
        for key, value in items:
            data = np.ascontiguousarray(np.asarray(value)).reshape(-1).view(np.uint8)
            crcs[key] = f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"
            f.write(data.data)
        f.seek(0)  # the CRCs are fixed-width, so the header keeps its length
        f.write(_header_bytes(header, meta, crcs))


def _header_bytes(header: dict[str, Any], meta: dict[str, str], crcs: dict[str, str]) -> bytes:
    full = {"__metadata__": {**meta, _CRC_KEY: json.dumps(crcs)}, **header}
    text = json.dumps(full, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % _ALIGN)
    return struct.pack("<Q", len(text)) + text


# --- reading --------------------------------------------------------------------------------


class _File:
    """A safetensors file's header, checked against its size, with per-leaf reads."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self.size = os.path.getsize(self.path)
        with open(self.path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                self.fail(f"it has {self.size} bytes, fewer than the 8-byte header length")
            (length,) = struct.unpack("<Q", head)
            if 8 + length > self.size:
                self.fail(f"its header claims {length} bytes but the file has {self.size}")
            try:
                header = json.loads(f.read(length))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                self.fail(f"its header is not valid JSON ({e})")
        self.data_start = 8 + length
        self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
        self.tensors: dict[str, dict[str, Any]] = header
        self.crcs = json.loads(self.metadata.get(_CRC_KEY, "{}"))
        self.axes = {
            k: tuple(Axis(n, s) for n, s in v)
            for k, v in json.loads(self.metadata.get(_AXES_KEY, "{}")).items()
        }
        self._check_layout()

    def fail(self, why: str, key: str | None = None) -> Any:
        leaf = f" (leaf {key!r})" if key is not None else ""
        raise ValueError(
            f"load_safetensors: {self.path} is truncated or corrupted{leaf}: {why}. Nothing was "
            "loaded; restore the file from a good copy or save it again."
        )

    def _check_layout(self) -> None:
        available = self.size - self.data_start
        for key, info in self.tensors.items():
            code = info.get("dtype")
            if code not in _CODES:
                self.fail(f"unknown dtype code {code!r}", key)
            start, end = info["data_offsets"]
            expected = int(np.prod(info["shape"], dtype=np.int64)) * np.dtype(_CODES[code]).itemsize
            if end - start != expected:
                self.fail(f"{end - start} bytes for shape {tuple(info['shape'])} {code}", key)
            if end > available:
                self.fail(f"it needs data bytes up to {end} but the file holds {available}", key)

    def read(self, key: str) -> np.ndarray:
        info = self.tensors[key]
        start, end = info["data_offsets"]
        with open(self.path, "rb") as f:
            f.seek(self.data_start + start)
            raw = f.read(end - start)
        expected = self.crcs.get(key)
        if expected is not None and f"{zlib.crc32(raw) & 0xFFFFFFFF:08x}" != expected:
            self.fail("its bytes do not match the CRC-32 recorded when it was saved", key)
        dtype = np.dtype(_CODES[info["dtype"]])
        return np.frombuffer(raw, dtype=dtype).reshape(info["shape"])


def read_safetensors(path: str | os.PathLike[str], *, as_numpy: bool = False) -> StateDict:
    """Reads every tensor of a safetensors file into a `{key: jax.Array}` state dict.

    Every leaf is checked (byte ranges, and CRC-32 where recorded) before any is
    returned, so a damaged file never loads partially.

    Args:
        path: The file.
        as_numpy: Return host NumPy arrays instead of JAX arrays.

    Raises:
        ValueError: If the file is truncated or corrupted (naming the file and the leaf).
    """
    file = _File(path)
    host = {key: file.read(key) for key in file.tensors}
    if as_numpy:
        return host
    return {key: jnp.asarray(value) for key, value in host.items()}


# --- the named layer ------------------------------------------------------------------------


def save_safetensors(
    tree: Any,
    path: str | os.PathLike[str],
    *,
    prefix: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Saves a model (or any pytree, or a flat state dict) as a safetensors file.

    The keys are those of `namedax.serialization.to_state_dict` (a `Stacked` layer by
    layer). Each NamedArray leaf's named shape goes into the metadata. For the
    torch-compatible layout, pass `flatten_modules_for_export(model)` (from
    `namedax.state_dict`) and load with the same flattening.

    Args:
        tree: The model, pytree or state dict.
        path: The file to write; replaced atomically when complete.
        prefix: Prepended to every key.
        metadata: Extra `__metadata__` strings.

    Examples:
        >>> import os, tempfile
        >>> Embed, Hidden = Axis("embed", 3), Axis("hidden", 2)
        >>> layer = nx.nn.Linear.init(Embed, Hidden, key=jax.random.key(0), dtype=jnp.bfloat16)
        >>> path = os.path.join(tempfile.mkdtemp(), "layer.safetensors")
        >>> nx.serialization.save_safetensors(layer, path)
        >>> loaded = nx.serialization.load_safetensors(path, layer)
        >>> loaded.weight.axes == layer.weight.axes, loaded.weight.dtype
        (True, dtype(bfloat16))
    """
    named = named_state_dict(tree, prefix)
    arrays = {k: v.array if isinstance(v, NamedArray) else v for k, v in named.items()}
    axes = {k: v.axes for k, v in named.items() if isinstance(v, NamedArray)}
    write_safetensors(arrays, path, metadata=metadata, axes=axes)


def load_safetensors(
    path: str | os.PathLike[str],
    template: Any = None,
    *,
    prefix: str | None = None,
    strict: bool = True,
) -> Any:
    """Loads a safetensors file: as a state dict, or into a template model.

    With a template, each leaf the file recorded a named shape for is checked by name:
    the same axes in another order are transposed into the template's order; different
    axes or sizes are a `ValueError` listing every leaf that differs.

    Args:
        path: The file.
        template: A model or pytree (concrete, or from `equinox.filter_eval_shape`); if
            None, the flat `{key: jax.Array}` state dict is returned.
        prefix: The keys' prefix (with a template).
        strict: Whether file keys the template does not use are an error.

    Returns:
        The state dict, or the template filled with the file's arrays.

    Raises:
        ValueError: If the file is truncated or corrupted (naming the file and the leaf),
            or its axes, shapes or keys do not match the template.
    """
    if template is None:
        return read_safetensors(path)
    file = _File(path)
    expected = named_state_dict(template, prefix)
    state, problems = {}, []
    for key in file.tensors:
        value = file.read(key)
        want, saved = expected.get(key), file.axes.get(key)
        if isinstance(want, NamedArray) and saved is not None and saved != want.axes:
            if {a for a in saved} == set(want.axes):
                value = np.transpose(value, [saved.index(a) for a in want.axes])
            else:
                problems.append(
                    f"{key} was saved as {format_axes(saved)}, the template has "
                    f"{format_axes(want.axes)}"
                )
        state[key] = value
    if problems:
        raise ValueError(
            f"load_safetensors: {file.path} does not match the template's axes: "
            + "; ".join(problems)
            + ". Load into a template built with the same axes (or rename them first)."
        )
    return from_state_dict(template, state, prefix, strict=strict)
