"""State dicts as NumPy `.npz` archives: written crash-safely, read without trusting a byte.

`save_state_dict` writes one `.npy` member per key, uncompressed, plus a JSON table of
each key's dtype (`__namedax_dtypes__`): dtypes NumPy lacks (`bfloat16`, float8) are
stored as their raw bits (`uint16`, `uint8`) and restored from the table, bit-exactly.

`load_state_dict` parses the archive itself (it never calls `pickle`, not even through
`np.load`) and checks everything before returning anything: that the file is a zip of
`.npy` members with distinct names, that each member's header agrees with its size, that
each array holds numbers (no strings, no objects), and that the dtype table names every
key and agrees with the stored array (a `bfloat16` leaf is stored as `uint16` of the
same shape, and nothing else is reinterpreted). Every failure is a `ValueError` naming
the file and the key.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any, NoReturn

import jax.numpy as jnp
import numpy as np

from namedax.core._state_dict import _DTYPES_KEY, StateDict
from namedax.core._value_checks import check_key, check_saveable, numeric_kind, to_jax
from namedax.io._atomic import atomic_write

__all__ = ["load_state_dict", "save_state_dict"]

_SUFFIX = ".npy"
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # np.savez, np.savez_compressed
_MAX_TABLE = 64 << 20  # bytes of the dtype table's JSON


def _stored_dtype(dtype: np.dtype) -> np.dtype:
    """How a dtype is stored: as itself, or as raw unsigned bits where NumPy lacks it."""
    if dtype.type.__module__ == "numpy":
        return dtype
    return np.dtype(f"u{dtype.itemsize}")


# --- writing --------------------------------------------------------------------------------


def save_state_dict(state_dict: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Writes a state dict to a NumPy `.npz` archive, bit-exactly and crash-safely.

    Dtypes that NumPy lacks (`bfloat16`, float8 types) are stored as their raw bits
    and restored by `load_state_dict`. Nothing is pickled.

    Args:
        state_dict: A `{"dotted.path": array}` mapping, as made by `to_state_dict`.
        path: The file to write (`.npz` is appended if the name lacks it). It is written
            under a fresh temporary name and renamed when complete, so a crash (or a
            concurrent save to the same path) never leaves a partial file under this name.

    Raises:
        TypeError: If a key is not a string, or a value is not a numeric array (or is a
            typed PRNG key array: store `jax.random.key_data(key)` instead).
        ValueError: If a key is the reserved name `__namedax_dtypes__`.

    Examples:
        >>> import tempfile, os
        >>> state = {"w": jnp.arange(3.0, dtype=jnp.bfloat16)}
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> nx.serialization.save_state_dict(state, path)
        >>> nx.serialization.load_state_dict(path)["w"]
        Array([0, 1, 2], dtype=bfloat16)
    """
    members: list[tuple[str, np.ndarray]] = []
    dtypes: dict[str, str] = {}
    for key, value in state_dict.items():
        check_key("save_state_dict", key, reserved=(_DTYPES_KEY,))
        check_saveable("save_state_dict", key, value)
        array = np.asarray(value)
        dtypes[key] = array.dtype.name
        members.append((key, array.view(_stored_dtype(array.dtype))))
    # the table goes first: a damaged zip directory that hides later members cannot hide it,
    # and it names every member that should be there
    members.insert(0, (_DTYPES_KEY, np.array(json.dumps(dtypes))))
    path = os.fspath(path)
    with (
        atomic_write(path if path.endswith(".npz") else path + ".npz") as f,
        zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive,
    ):
        for key, array in members:
            with archive.open(key + _SUFFIX, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


# --- reading --------------------------------------------------------------------------------

_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ValueError,  # numpy's header parser, UnicodeDecodeError, ...
    OSError,
    EOFError,
    zlib.error,
    struct.error,
    NotImplementedError,  # zipfile: an unsupported compression method
    RuntimeError,  # zipfile: an encrypted member
    SyntaxError,  # numpy's header parser on some inputs
    TypeError,
    KeyError,
    OverflowError,
    MemoryError,
    RecursionError,
)


class _Refused(ValueError):
    """The ValueError `_Archive.fail` raises (not wrapped again where errors are caught)."""


class _Archive:
    """An open `.npz` file, read member by member with every claim checked."""

    def __init__(self, f: Any, path: str):
        self.f, self.path = f, path

    def fail(self, why: str, key: str | None = None) -> NoReturn:
        where = f"leaf {key!r}" if key is not None else "no complete leaf"
        raise _Refused(
            f"load_state_dict: {self.path} is truncated or corrupted at {where}: {why}. Nothing "
            "was loaded; restore the file from a good copy or save it again "
            "(namedax.serialization.save_state_dict)."
        )

    def read(self) -> dict[str, np.ndarray]:
        try:
            archive = zipfile.ZipFile(self.f)
        except _ERRORS as e:
            self.fail(f"it is not a complete zip archive ({_cause(e)})", self._last_entry())
        host: dict[str, np.ndarray] = {}
        with archive:
            for info in archive.infolist():
                key = self._key(info)
                if key in host:
                    self.fail(
                        f"the archive holds two members named {info.filename!r}; a key must "
                        "be stored once",
                        key,
                    )
                try:
                    host[key] = self._member(archive, info, key)
                except _Refused:
                    raise
                except _ERRORS as e:
                    self.fail(_cause(e), key)
        return host

    def _key(self, info: zipfile.ZipInfo) -> str:
        name = info.filename
        if not name.endswith(_SUFFIX):
            self.fail(f"the member {name!r} is not a .npy array (a state dict holds only those)")
        key = name[: -len(_SUFFIX)]
        if info.flag_bits & 0x1:
            self.fail("the member is encrypted", key)
        if info.compress_type not in _COMPRESSIONS:
            self.fail(
                f"the member uses zip compression method {info.compress_type}; only stored "
                "and deflated members are read",
                key,
            )
        return key

    def _member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> np.ndarray:
        with archive.open(info) as member:
            shape, fortran, dtype = self._header(member, key)
            expected = math.prod(shape) * dtype.itemsize
            available = info.file_size - member.tell()
            if expected != available:
                self.fail(
                    f"its .npy header says shape {shape} {dtype.name} ({expected} bytes), "
                    f"but the member holds {available} bytes of data",
                    key,
                )
            data = member.read()  # to the end, so that zipfile checks the CRC-32
        if len(data) != expected:
            self.fail(f"it ends after {len(data)} of its {expected} data bytes", key)
        array = np.frombuffer(data, dtype=dtype)
        array = array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
        return array.astype(dtype.newbyteorder("="), copy=False)

    def _header(self, member: Any, key: str) -> tuple[tuple[int, ...], bool, np.dtype]:
        fmt = np.lib.format
        version = fmt.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(member)
        else:
            self.fail(f"its .npy format version {version} is not 1.0 or 2.0", key)
        if any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in shape):
            self.fail(f"its .npy header has the invalid shape {shape}", key)
        table = key == _DTYPES_KEY
        if table and (dtype.kind != "U" or shape != () or dtype.itemsize > _MAX_TABLE):
            self.fail(f"the dtype table is a {dtype} array of shape {shape}, not one string", key)
        if not table and numeric_kind(dtype) is None:
            what = "objects (which would need unpickling)" if dtype.hasobject else str(dtype)
            self.fail(
                f"it holds {what}; a state dict holds numeric arrays only. Nothing was unpickled",
                key,
            )
        return tuple(shape), bool(fortran), dtype

    def _last_entry(self) -> str | None:
        """The last leaf whose entry begins in a damaged archive (where a truncated file ends)."""
        self.f.seek(0)
        data = self.f.read()
        last, start = None, data.find(b"PK\x03\x04")
        while start >= 0 and start + 30 <= len(data):
            name_length, extra_length = struct.unpack("<HH", data[start + 26 : start + 30])
            name = data[start + 30 : start + 30 + name_length]
            if name.endswith(_SUFFIX.encode()):
                last = name[: -len(_SUFFIX)].decode(errors="replace")
            start = data.find(b"PK\x03\x04", start + 30 + name_length + extra_length)
        return last

    def dtype_table(self, host: dict[str, np.ndarray]) -> dict[str, np.dtype]:
        """The checked `{key: dtype}` table of the archive (the stored dtypes if it has none)."""
        if _DTYPES_KEY not in host:  # a plain np.savez archive of numeric arrays
            return {key: array.dtype for key, array in host.items()}
        try:
            table = json.loads(str(host.pop(_DTYPES_KEY)))
        except (ValueError, RecursionError) as e:
            self.fail(f"the dtype table is not JSON ({_cause(e)})", _DTYPES_KEY)
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            self.fail("the dtype table is not a JSON object of dtype names", _DTYPES_KEY)
        for key in host.keys() - table.keys():
            self.fail("the dtype table has no entry for it", key)
        for key in table.keys() - host.keys():
            self.fail("the dtype table lists it, but the archive has no such member", key)
        return {key: self._table_dtype(table[key], host[key], key) for key in host}

    def _table_dtype(self, name: str, stored: np.ndarray, key: str) -> np.dtype:
        try:
            dtype = np.dtype(jnp.dtype(name))
        except (TypeError, ValueError):
            dtype = None
        if dtype is None or numeric_kind(dtype) is None or dtype.name != name:
            self.fail(f"the dtype table names {name!r}, which is not a numeric dtype", key)
        if stored.dtype != _stored_dtype(dtype):
            self.fail(
                f"the dtype table says {name}, which is stored as {_stored_dtype(dtype).name}, "
                f"but the stored array is {stored.dtype.name} of shape {stored.shape}",
                key,
            )
        return dtype


def _cause(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Reads a `.npz` state dict as host NumPy arrays of the saved dtypes, checking everything.

    Raises:
        ValueError: If the file is truncated, corrupted or not a state dict (naming the
            file and the key).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        archive = _Archive(f, path)
        try:
            host = archive.read()
            dtypes = archive.dtype_table(host)
        except _Refused as e:
            raise ValueError(str(e)) from None  # shown as the plain ValueError it is
    return {key: array.view(dtypes[key]) for key, array in host.items()}


def load_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Reads a state dict written by `save_state_dict`.

    Every leaf is read and checked (its CRC-32, its `.npy` header against its size, its
    dtype against the dtype table) before any is returned: a damaged file never loads
    partially, and nothing is unpickled.

    Args:
        path: The `.npz` file.

    Returns:
        The state dict, with JAX arrays of the saved dtypes.

    Raises:
        ValueError: If the file is truncated, corrupted or not a state dict of numeric
            arrays; the message names the file and the leaf.

    Examples:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "bad.npz")
        >>> np.savez(path, names=np.array(["a", "b"]))
        >>> nx.serialization.load_state_dict(path)
        Traceback (most recent call last):
        ...
        ValueError: load_state_dict: ...bad.npz is truncated or corrupted at leaf 'names': \
it holds <U1; a state dict holds numeric arrays only. Nothing was unpickled. ...
    """
    host = read_state_dict(path)
    where = f"load_state_dict: {os.fspath(path)} at leaf"
    return {key: to_jax(array, f"{where} {key!r}") for key, array in host.items()}
