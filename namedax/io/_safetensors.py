"""safetensors files: a state dict in the format PyTorch and Hugging Face exchange weights in.

The format is a little-endian `u64` header length, a JSON header naming each tensor's
dtype, shape and byte range, then the raw bytes. namedax writes and reads it directly
(no PyTorch, Flax or `safetensors.numpy`, which lacks `bfloat16`), so every dtype JAX
has a safetensors code for round-trips bit-exactly: `BF16` and the float8 types
included. Files open with `safetensors.safe_open` and `torch` as usual, and files the
`safetensors` library writes load here.

The header's free-form `__metadata__` records, besides `"format": "pt"` (which
Hugging Face tools expect):

* `namedax.axes`: each NamedArray leaf's named shape, so that loading into a template
  checks the axes by name (and reorders a leaf saved in another axis order);
* `namedax.crc32`: a CRC-32 of each tensor's bytes, so a corrupted file fails naming
  the leaf instead of loading wrong weights;
* `namedax.header_crc32`: a CRC-32 of the rest of the header, so a changed dtype,
  shape or key fails too.

Reading trusts nothing in the file: the header must be a JSON object without repeated
keys; each entry needs a known `dtype`, a `shape` of non-negative integers and
`data_offsets` whose span is exactly the shape's size; the byte ranges must tile the
data exactly (in bounds, no overlaps, no gaps, nothing after the last); `__metadata__`
must map strings to strings. Every failure is a `ValueError` naming the file and the
key, raised before any tensor is returned. The file is opened once per load, so a save
that replaces it meanwhile (always by an atomic rename) cannot mix two versions.

Writes are crash-safe and concurrency-safe: the file is written under a fresh
temporary name and renamed when complete (see `namedax.io._atomic`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, NamedTuple, NoReturn

import ml_dtypes
import numpy as np

from namedax.core._array import NamedArray
from namedax.core._axes import Axis
from namedax.core._errors import format_axes
from namedax.core._state_dict import StateDict, from_state_dict, named_state_dict
from namedax.core._value_checks import check_key, check_saveable, to_jax
from namedax.io._atomic import atomic_write

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
_DTYPE_OF = {code: np.dtype(t).newbyteorder("<") for code, t in _CODES.items()}
_CODE_OF = {dtype: code for code, dtype in _DTYPE_OF.items()}
_METADATA = "__metadata__"
_AXES_KEY, _CRC_KEY, _HEADER_CRC_KEY = "namedax.axes", "namedax.crc32", "namedax.header_crc32"
_RESERVED_METADATA = (_AXES_KEY, _CRC_KEY, _HEADER_CRC_KEY)
_ALIGN = 8
_MAX_HEADER = 100 << 20  # bytes, as the safetensors library allows
_NO_CRC = "00000000"


def _code(dtype: np.dtype, key: str) -> str:
    code = _CODE_OF.get(dtype)
    if code is None:
        raise TypeError(
            f"save_safetensors: the value at {key!r} has dtype {dtype.name}, which "
            f"safetensors has no code for (it has {', '.join(_CODES)}); cast it first."
        )
    return code


def _crc(data: Any) -> str:
    return f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"


# --- writing --------------------------------------------------------------------------------


def _little_endian(value: Any) -> np.ndarray:
    """The value as a C-contiguous little-endian host array (the file's byte order)."""
    array = np.asarray(value)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def _user_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    meta = {"format": "pt"}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"save_safetensors: metadata must map strings to strings, got {key!r}: {value!r}."
            )
        if key in _RESERVED_METADATA:
            raise ValueError(
                f"save_safetensors: the metadata key {key!r} is written by namedax itself; "
                "use another name."
            )
        meta[key] = value
    return meta


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
        TypeError: If a key or metadata entry is not a string, a value is not an
            array, or its dtype has no safetensors code.
        ValueError: If a key is `__metadata__`, or a metadata key is one namedax writes.

    Examples:
        >>> import os, tempfile
        >>> from namedax.io._safetensors import read_safetensors, write_safetensors
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> write_safetensors({"w": jnp.arange(3, dtype=jnp.bfloat16)}, path)
        >>> read_safetensors(path)["w"]
        Array([0, 1, 2], dtype=bfloat16)
    """
    items = []
    for key, value in state_dict.items():
        check_key("save_safetensors", key, reserved=(_METADATA,))
        if value is not None:
            check_saveable("save_safetensors", key, value)
            items.append((key, value))
    meta = _user_metadata(metadata)
    header: dict[str, Any] = {}
    offset = 0
    for key, value in items:
        dtype = np.dtype(value.dtype).newbyteorder("<")
        nbytes = math.prod(int(d) for d in value.shape) * dtype.itemsize
        header[key] = {
            "dtype": _code(dtype, key),
            "shape": [int(d) for d in value.shape],
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    if axes:
        meta[_AXES_KEY] = json.dumps(
            {k: [[a.name, a.size] for a in ax] for k, ax in axes.items() if k in header}
        )
    crcs = dict.fromkeys(header, _NO_CRC)
    with atomic_write(path) as f:
        f.write(_header_bytes(header, meta, crcs))
        for key, value in items:
            data = _little_endian(value).reshape(-1).view(np.uint8)
            crcs[key] = _crc(data)
            f.write(data.data)
        f.seek(0)  # the CRCs are fixed-width, so the header keeps its length
        f.write(_header_bytes(header, meta, crcs))


def _canonical(header: Mapping[str, Any]) -> bytes:
    """The header as the bytes its CRC-32 covers (all of it but that CRC, keys sorted)."""
    meta = {k: v for k, v in header.get(_METADATA, {}).items() if k != _HEADER_CRC_KEY}
    return json.dumps({**header, _METADATA: meta}, sort_keys=True, separators=(",", ":")).encode()


def _header_bytes(header: dict[str, Any], meta: dict[str, str], crcs: dict[str, str]) -> bytes:
    full = {_METADATA: {**meta, _CRC_KEY: json.dumps(crcs)}, **header}
    full[_METADATA][_HEADER_CRC_KEY] = _crc(_canonical(full))
    text = json.dumps(full, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % _ALIGN)
    return struct.pack("<Q", len(text)) + text


# --- reading --------------------------------------------------------------------------------


class _Entry(NamedTuple):
    dtype: np.dtype
    shape: tuple[int, ...]
    start: int
    end: int


class _RepeatedKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _strict_json(text: str | bytes) -> Any:
    """`json.loads` refusing repeated object keys (`_RepeatedKey`) and NaN/Infinity."""
    return json.loads(
        text, object_pairs_hook=_object_without_repeats, parse_constant=_refuse_constant
    )


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _kind(x: Any) -> str:
    names = {dict: "object", list: "array", str: "string", type(None): "null"}
    return names.get(type(x), type(x).__name__)


class _File:
    """A safetensors file, open once: its header checked in full, then per-leaf reads."""

    def __init__(self, f: BinaryIO, path: str, op: str):
        self.f, self.path, self.op = f, path, op
        self.size = os.fstat(f.fileno()).st_size
        header = self._header()
        self.metadata = self._metadata(header.get(_METADATA))
        self.tensors = {k: self._entry(k, v) for k, v in header.items() if k != _METADATA}
        self._check_layout()
        self.crcs = self._crcs()
        self.axes = self._axes()
        recorded = self.metadata.get(_HEADER_CRC_KEY)
        if recorded is not None and recorded != _crc(_canonical(header)):
            self.fail(
                "its header (dtypes, shapes, offsets, keys or metadata) does not match the "
                "CRC-32 recorded when it was saved",
                _METADATA,
            )

    def fail(self, why: str, key: str | None = None) -> NoReturn:
        leaf = f" (leaf {key!r})" if key is not None else ""
        raise ValueError(
            f"{self.op}: {self.path} is truncated or corrupted{leaf}: {why}. Nothing was "
            "loaded; restore the file from a good copy or save it again."
        )

    # --- the header ---

    def _header(self) -> dict[str, Any]:
        head = self.f.read(8)
        if len(head) < 8:
            self.fail(f"it has {self.size} bytes, fewer than the 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > self.size - 8:
            self.fail(f"its header claims {length} bytes but the file has {self.size}")
        if length > _MAX_HEADER:
            self.fail(f"its header claims {length} bytes, more than the {_MAX_HEADER} allowed")
        raw = self.f.read(length)
        if len(raw) != length:
            self.fail(f"its header ends after {len(raw)} of {length} bytes")
        self.data_start = 8 + length
        try:
            header = _strict_json(raw.decode("utf-8"))
        except _RepeatedKey as e:
            self.fail("its header names this key twice (one entry would hide the other)", e.key)
        except (ValueError, RecursionError) as e:
            self.fail(f"its header is not valid JSON ({type(e).__name__}: {e})")
        if not isinstance(header, dict):
            self.fail(f"its header is a JSON {_kind(header)}, not an object of tensors")
        return header

    def _metadata(self, meta: Any) -> dict[str, str]:
        if meta is None:
            return {}
        if not isinstance(meta, dict):
            self.fail(f"__metadata__ is a JSON {_kind(meta)}, not an object of strings", _METADATA)
        for key, value in meta.items():
            if not isinstance(value, str):
                self.fail(
                    f"__metadata__[{key!r}] is a JSON {_kind(value)}; metadata values must "
                    "be strings",
                    _METADATA,
                )
        return meta

    def _entry(self, key: str, info: Any) -> _Entry:
        if not isinstance(info, dict):
            self.fail(f"its entry is a JSON {_kind(info)}, not an object", key)
        for field in ("dtype", "shape", "data_offsets"):
            if field not in info:
                self.fail(f"its entry has no {field!r}", key)
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(code, str) or code not in _CODES:
            self.fail(f"unknown dtype code {code!r} (known: {', '.join(_CODES)})", key)
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            self.fail(f"its shape {shape!r} is not a list of non-negative integers", key)
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_int(o) and o >= 0 for o in offsets)
            or offsets[0] > offsets[1]
        ):
            self.fail(
                f"its data_offsets {offsets!r} are not [start, end] with 0 <= start <= end", key
            )
        dtype, (start, end) = _DTYPE_OF[code], offsets
        expected = math.prod(shape) * dtype.itemsize
        if end - start != expected:
            self.fail(
                f"shape {tuple(shape)} {code} needs {expected} bytes, but data_offsets "
                f"[{start}, {end}] span {end - start}",
                key,
            )
        return _Entry(dtype, tuple(shape), start, end)

    def _check_layout(self) -> None:
        """The byte ranges must tile the data exactly, as the safetensors library requires."""
        available = self.size - self.data_start
        if self.tensors:
            key, last = max(self.tensors.items(), key=lambda kv: kv[1].end)
            if last.end > available:
                self.fail(f"it needs data up to byte {last.end}; the file holds {available}", key)
        position, previous = 0, None
        for key, entry in sorted(self.tensors.items(), key=lambda kv: (kv[1].start, kv[1].end)):
            if entry.start < position:
                self.fail(
                    f"its bytes [{entry.start}, {entry.end}) overlap those of {previous!r}, "
                    f"which end at {position}",
                    key,
                )
            if entry.start > position:
                self.fail(
                    f"{entry.start - position} unused bytes lie before its data (from "
                    f"{position} to {entry.start}); tensors must be packed without gaps",
                    key,
                )
            position, previous = entry.end, key
        if position != available:
            self.fail(
                f"{available - position} bytes follow the last tensor's data; the data "
                f"section should end at {position}",
                previous,
            )

    def _json_metadata(self, name: str) -> Any:
        try:
            return _strict_json(self.metadata[name])
        except _RepeatedKey as e:
            self.fail(f"__metadata__[{name!r}] names {e.key!r} twice", _METADATA)
        except (ValueError, RecursionError) as e:
            self.fail(f"__metadata__[{name!r}] is not valid JSON ({e})", _METADATA)

    def _crcs(self) -> dict[str, str]:
        if _CRC_KEY not in self.metadata:
            return {}
        crcs = self._json_metadata(_CRC_KEY)
        if not isinstance(crcs, dict):
            self.fail(f"__metadata__[{_CRC_KEY!r}] is not a JSON object", _METADATA)
        for key in self.tensors.keys() - crcs.keys():
            self.fail("the recorded CRC-32s do not cover it (was a key renamed?)", key)
        for key, value in crcs.items():
            if key not in self.tensors:
                self.fail("a CRC-32 is recorded for it, but the file has no such tensor", key)
            if not isinstance(value, str) or len(value) != 8 or value.strip("0123456789abcdef"):
                self.fail(f"its recorded CRC-32 {value!r} is not 8 hex digits", key)
        return crcs

    def _axes(self) -> dict[str, tuple[Axis, ...]]:
        if _AXES_KEY not in self.metadata:
            return {}
        recorded = self._json_metadata(_AXES_KEY)
        if not isinstance(recorded, dict):
            self.fail(f"__metadata__[{_AXES_KEY!r}] is not a JSON object", _METADATA)
        return {key: self._named_shape(key, value) for key, value in recorded.items()}

    def _named_shape(self, key: str, value: Any) -> tuple[Axis, ...]:
        if key not in self.tensors:
            self.fail("axes are recorded for it, but the file has no such tensor", key)
        pairs = value if isinstance(value, list) else None
        if pairs is None or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and _is_int(p[1])
            for p in pairs
        ):
            self.fail(f"its recorded axes {value!r} are not a list of [name, size] pairs", key)
        try:
            axes = tuple(Axis(name, size) for name, size in pairs)
        except (ValueError, TypeError) as e:
            self.fail(f"its recorded axes {value!r} are not valid axes ({e})", key)
        shape = self.tensors[key].shape
        names = [a.name for a in axes]
        if len(set(names)) != len(names) or tuple(a.size for a in axes) != shape:
            self.fail(
                f"its recorded axes {format_axes(axes)} do not describe its shape {shape}", key
            )
        return axes

    # --- the data ---

    def read(self, key: str) -> np.ndarray:
        entry = self.tensors[key]
        self.f.seek(self.data_start + entry.start)
        raw = self.f.read(entry.end - entry.start)
        if len(raw) != entry.end - entry.start:
            self.fail(f"its data ends after {len(raw)} of {entry.end - entry.start} bytes", key)
        expected = self.crcs.get(key)
        if expected is not None and _crc(raw) != expected:
            self.fail("its bytes do not match the CRC-32 recorded when it was saved", key)
        array = np.frombuffer(raw, dtype=entry.dtype).reshape(entry.shape)
        if entry.dtype == np.bool_ and array.size and array.view(np.uint8).max() > 1:
            self.fail("its BOOL data holds bytes other than 0 and 1", key)
        return array.astype(entry.dtype.newbyteorder("="), copy=False)


@contextlib.contextmanager
def _open(path: str | os.PathLike[str], op: str) -> Iterator[_File]:
    path = os.fspath(path)
    with open(path, "rb") as f:
        yield _File(f, path, op)


def read_safetensors(path: str | os.PathLike[str], *, as_numpy: bool = False) -> StateDict:
    """Reads every tensor of a safetensors file into a `{key: jax.Array}` state dict.

    The whole header is checked, then every leaf (its CRC-32 where recorded), before
    any is returned, so a damaged file never loads partially.

    Args:
        path: The file.
        as_numpy: Return host NumPy arrays instead of JAX arrays.

    Raises:
        ValueError: If the file is truncated or corrupted (naming the file and the key),
            or, as JAX arrays, holds 64-bit integers beyond 32 bits without
            `jax_enable_x64`.
    """
    with _open(path, "load_safetensors") as file:
        host = {key: file.read(key) for key in file.tensors}
    if as_numpy:
        return host
    where = f"load_safetensors: {os.fspath(path)} at leaf"
    return {key: to_jax(value, f"{where} {key!r}") for key, value in host.items()}


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
    `namedax.serialization`) and load with the same flattening.

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
    expected = named_state_dict(template, prefix)
    state, problems = {}, []
    with _open(path, "load_safetensors") as file:
        for key in file.tensors:
            value = file.read(key)
            want, saved = expected.get(key), file.axes.get(key)
            if isinstance(want, NamedArray) and saved is not None and saved != want.axes:
                if set(saved) == set(want.axes):
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
    try:
        return from_state_dict(template, state, prefix, strict=strict)
    except ValueError as e:
        raise ValueError(f"load_safetensors: {file.path} does not fit the template: {e}") from e
