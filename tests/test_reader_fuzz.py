"""Fuzzing every checkpoint reader: a damaged or hostile file either loads exactly what was
saved or raises a ValueError naming the file, never another exception and never a crash.

Files are damaged by truncation and by changed bytes (one change: the CRC-32s of the data
and of the header must catch it; several changes: anything but a crash is fine), and
built from scratch with random JSON headers (checked against the `safetensors` library
itself) and random npz members (object arrays that would unpickle, strings, structured
dtypes, wrong dtype tables, repeated names, members that are not `.npy`).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import tempfile
import warnings
import zipfile

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import safetensors
import safetensors.numpy
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import namedax as nx
from namedax.compat.haliax import state_dict as sd
from namedax.io._npz import read_state_dict
from namedax.io._safetensors import read_safetensors, write_safetensors
from namedax.serialization import Checkpoints, load_state_dict, save_state_dict

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DIRECTORY = tempfile.mkdtemp(prefix="namedax-fuzz-")


def _state():
    rng = np.random.default_rng(0)
    return {
        "w": rng.normal(size=(3, 2)).astype(ml_dtypes.bfloat16),
        "b": rng.normal(size=4).astype(np.float32),
        "i": np.arange(-2, 2, dtype=np.int8).reshape(2, 2),
        "flag": np.array([True, False, True]),
        "empty": np.zeros((0, 3), np.float32),
        "a.b": np.arange(3, dtype=np.uint16),
    }


def _saved_bytes(save, name: str) -> bytes:
    path = os.path.join(DIRECTORY, name)
    save(_state(), path)
    with open(path, "rb") as f:
        return f.read()


SAFETENSORS = _saved_bytes(write_safetensors, "reference.safetensors")
NPZ = _saved_bytes(save_state_dict, "reference.npz")


def _write(data: bytes, name: str) -> str:
    path = os.path.join(DIRECTORY, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _bits(x) -> np.ndarray:
    x = np.asarray(x)
    return x.view(f"u{x.dtype.itemsize}") if x.dtype != np.bool_ else x


def _same(loaded, expected) -> None:
    assert sorted(loaded) == sorted(expected)
    for key, value in expected.items():
        got = np.asarray(loaded[key])
        assert got.dtype == value.dtype and got.shape == value.shape, key
        np.testing.assert_array_equal(_bits(got), _bits(value), strict=True)


def _exact_or_refused(load, path: str) -> str:
    """Loads `path`: it must give exactly `_state()`, or a ValueError naming the file."""
    try:
        loaded = load(path)
    except ValueError as e:
        assert path in str(e), str(e)
        return "refused"
    _same(loaded, _state())
    return "loaded"


def _loads_or_refused(load, path: str):
    """Loads `path`: anything that is not a crash or a stray exception type is fine."""
    try:
        return load(path)
    except ValueError as e:
        assert path in str(e), str(e)
        return None


def _changed(data: bytes, changes: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, value in changes:
        out[at % len(out)] = value
    return bytes(out)


_CHANGE = st.tuples(st.integers(0, 1 << 20), st.integers(0, 255))
_AS_NUMPY = {
    "safetensors": lambda p: read_safetensors(p, as_numpy=True),
    "npz": read_state_dict,
}
_AS_JAX = {"safetensors": read_safetensors, "npz": load_state_dict}
_DATA = {"safetensors": SAFETENSORS, "npz": NPZ}


# --- damaged copies of a saved file ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["safetensors", "npz"])
@FUZZ
@given(cut=st.integers(0, 1 << 20))
def test_a_truncated_file_is_refused_naming_it(kind, cut):
    data = _DATA[kind]
    path = _write(data[: cut % len(data)], f"cut.{kind}")
    assert _exact_or_refused(_AS_NUMPY[kind], path) == "refused"


@pytest.mark.parametrize("kind", ["safetensors", "npz"])
@FUZZ
@given(change=_CHANGE)
def test_one_changed_byte_loads_exactly_or_is_refused(kind, change):
    path = _write(_changed(_DATA[kind], [change]), f"flip.{kind}")
    _exact_or_refused(_AS_NUMPY[kind], path)
    _exact_or_refused(_AS_JAX[kind], path)


@pytest.mark.parametrize("kind", ["safetensors", "npz"])
@FUZZ
@given(changes=st.lists(_CHANGE, min_size=2, max_size=12))
def test_many_changed_bytes_never_escape_as_another_error(kind, changes):
    path = _write(_changed(_DATA[kind], changes), f"flips.{kind}")
    _loads_or_refused(_AS_NUMPY[kind], path)


def test_every_single_header_byte_change_is_caught():
    """Exhaustive over the safetensors header: each byte set to a neighbouring value."""
    (length,) = struct.unpack("<Q", SAFETENSORS[:8])
    outcomes = set()
    for at in range(8 + length):
        for value in {SAFETENSORS[at] ^ 1, SAFETENSORS[at] ^ 0x20}:
            path = _write(_changed(SAFETENSORS, [(at, value)]), "header.safetensors")
            outcomes.add(_exact_or_refused(_AS_NUMPY["safetensors"], path))
    assert outcomes == {"refused", "loaded"}  # padding spaces may become tabs or newlines


def test_every_single_zip_directory_byte_change_is_caught():
    """Exhaustive over the npz's central directory: a damaged entry there may hide the
    members listed after it, which the dtype table (stored first) must notice."""
    start = NPZ.find(b"PK\x01\x02")
    outcomes = set()
    for at in range(start, len(NPZ)):
        for value in {NPZ[at] ^ 1, NPZ[at] ^ 0x80} - {NPZ[at]}:
            path = _write(_changed(NPZ, [(at, value)]), "directory.npz")
            outcomes.add(_exact_or_refused(_AS_NUMPY["npz"], path))
    assert outcomes == {"refused", "loaded"}  # timestamps and attributes may change freely


# --- safetensors files from random headers, checked against the safetensors library ----------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
_CODES = ["F32", "F16", "I32", "U8", "I64", "F64", "BOOL", "BF16", "I8", "X9", "f32"]
_SIZE = st.integers(-2, 5) | st.sampled_from([2**31, 2**62, 2**64 + 1])


@st.composite
def _entry(draw):
    entry = {
        "dtype": draw(st.sampled_from(_CODES) | _JSON),
        "shape": draw(st.lists(_SIZE, max_size=3) | _JSON),
        "data_offsets": draw(st.lists(st.integers(-8, 64) | _SIZE, min_size=2, max_size=2) | _JSON),
    }
    for field in draw(st.sets(st.sampled_from(sorted(entry)), max_size=1)):
        del entry[field]
    return entry if draw(st.integers(0, 9)) else draw(_JSON)


@st.composite
def _plausible_entries(draw):
    """Entries that are mostly consistent: packed from 0, with an occasional defect."""
    entries, offset = {}, 0
    for i in range(draw(st.integers(0, 3))):
        code = draw(st.sampled_from(["F32", "I32", "U8", "F16", "BOOL"]))
        shape = draw(st.lists(st.integers(0, 3), max_size=2))
        size = (
            int(np.prod(shape, dtype=np.int64))
            * np.dtype(
                {"F32": "f4", "I32": "i4", "U8": "u1", "F16": "f2", "BOOL": "?"}[code]
            ).itemsize
        )
        start = offset + draw(st.sampled_from([0] * 12 + [-1, 1]))
        entries[f"t{i}"] = {"dtype": code, "shape": shape, "data_offsets": [start, start + size]}
        offset = start + size
    return entries, max(offset, 0)


@st.composite
def _safetensors_file(draw):
    if draw(st.booleans()):
        header, size = draw(_plausible_entries())
    else:
        header = draw(st.dictionaries(st.text(max_size=3), _entry(), max_size=3))
        size = draw(st.integers(0, 64))
    if not draw(st.integers(0, 3)):
        header["__metadata__"] = draw(
            st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2) | _JSON
        )
    text = json.dumps(header).encode()
    if not draw(st.integers(0, 15)):
        text = draw(st.sampled_from([b"[]", b"null", b"{", b'{"a": 1, "a": 2}', b"\xff\xfe"]))
    data = draw(st.binary(min_size=size, max_size=size))
    if not draw(st.integers(0, 5)):
        data += draw(st.binary(min_size=1, max_size=2))
    length = len(text) + draw(st.sampled_from([0] * 12 + [-1, 1, 1 << 40]))
    return struct.pack("<Q", max(length, 0)) + text + data


def _library(path: str):
    try:
        return safetensors.numpy.load_file(path)
    except Exception:  # the library's own errors (SafetensorError, TypeError on bf16, ...)
        return None


@FUZZ
@given(data=_safetensors_file())
def test_random_safetensors_headers_load_as_the_library_does_or_are_refused(data):
    path = _write(data, "random.safetensors")
    ours = _loads_or_refused(_AS_NUMPY["safetensors"], path)
    theirs = _library(path)
    if ours is not None:  # what we load, the library loads the same
        assert theirs is not None
        _same(ours, theirs)
    elif theirs is not None:  # we may be stricter than the library only about BOOL bytes
        assert any(v.dtype == np.bool_ and v.view(np.uint8).max() > 1 for v in theirs.values())


def test_the_library_accepts_a_zero_tensor_file_and_so_do_we():
    path = _write(struct.pack("<Q", 2) + b"{}", "empty.safetensors")
    assert read_safetensors(path) == {} == safetensors.numpy.load_file(path)


# --- npz archives with random members -------------------------------------------------------

UNPICKLED = []


def _trip(what: str) -> str:
    UNPICKLED.append(what)
    return what


class _Tripwire:
    """Unpickling it (and only that) appends to `UNPICKLED`."""

    def __reduce__(self):
        return (_trip, ("unpickled",))


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, array, allow_pickle=True)
    return out.getvalue()


_MEMBER_ARRAYS = st.sampled_from(
    [
        np.arange(3, dtype=np.uint32),
        np.arange(3, dtype=np.float32),
        np.arange(4, dtype=np.int32),
        np.ones(2, dtype=np.bool_),
        np.arange(6, dtype=np.uint16).reshape(2, 3),
        np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        np.arange(4, dtype=">i4"),
        np.array(["a", "bc"]),
        np.array([b"x"]),
        np.array([_Tripwire()], dtype=object),
        np.zeros(2, dtype=[("x", "f4")]),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
        np.array(1.5),
        np.zeros((0, 2), np.int8),
    ]
)
_TABLE_VALUES = st.sampled_from(["uint32", "bfloat16", "uint16", "float32", "int32", "str", "V2"])


@st.composite
def _npz_file(draw):
    out = io.BytesIO()
    keys = draw(st.lists(st.sampled_from(["w", "b", "a.b", "w"]), max_size=3))
    with zipfile.ZipFile(out, "w") as archive:
        for key in keys:
            name = key + draw(st.sampled_from([".npy"] * 8 + [".txt", ""]))
            body = _npy(draw(_MEMBER_ARRAYS))
            if not draw(st.integers(0, 5)):
                body = body[: draw(st.integers(0, len(body)))]
            with warnings.catch_warnings():  # zipfile warns about a repeated name
                warnings.simplefilter("ignore")
                archive.writestr(name, body)
        if draw(st.booleans()):
            table = draw(
                st.dictionaries(st.sampled_from(["w", "b", "a.b", "x"]), _TABLE_VALUES) | _JSON
            )
            text = json.dumps(table) if draw(st.integers(0, 5)) else "{not json"
            archive.writestr("__namedax_dtypes__.npy", _npy(np.array(text)))
    return out.getvalue()


@FUZZ
@given(data=_npz_file())
def test_random_npz_members_load_consistently_or_are_refused_and_nothing_is_unpickled(data):
    path = _write(data, "random.npz")
    loaded = _loads_or_refused(read_state_dict, path)
    assert not UNPICKLED
    if loaded is None:
        return
    reference = np.load(path, allow_pickle=False)  # what NumPy itself reads there
    with reference:
        assert sorted(loaded) == sorted(k for k in reference.files if k != "__namedax_dtypes__")
        for key, value in loaded.items():
            stored = reference[key]
            assert value.shape == stored.shape
            if value.dtype.type.__module__ == "numpy":  # the values NumPy reads
                assert value.dtype == stored.dtype.newbyteorder("=") and value.dtype.kind in "biufc"
                np.testing.assert_array_equal(value, stored)
            else:  # a bfloat16 leaf: exactly the stored bits
                np.testing.assert_array_equal(value.view(stored.dtype), stored, strict=True)


def test_a_pickled_object_array_is_refused_without_being_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([_Tripwire()], dtype=object))
    with pytest.raises(ValueError, match=rf"{path}.*leaf 'w'.*objects.*Nothing was unpickled"):
        load_state_dict(path)
    assert not UNPICKLED
    pickle.loads(pickle.dumps(_Tripwire()))
    assert UNPICKLED == ["unpickled"]
    UNPICKLED.clear()


# --- Orbax: a damaged record of axes --------------------------------------------------------


@pytest.fixture(scope="module")
def orbax_step(tmp_path_factory):
    directory = tmp_path_factory.mktemp("orbax")
    state = {"w": jnp.arange(6.0).reshape(2, 3), "i": jnp.arange(4, dtype=jnp.int32)}
    with Checkpoints(directory) as ckpts:
        ckpts.save(0, state)
    record = directory / "0" / "axes" / "metadata"
    return directory, record, record.read_bytes(), state


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))  # pyright: ignore[reportArgumentType]  # every HealthCheck
@given(
    record=st.one_of(
        _JSON.map(lambda j: json.dumps(j).encode()),
        st.builds(
            lambda w, i: json.dumps({"w": w, "i": i}).encode(),
            st.fixed_dictionaries({"axes": _JSON, "shape": st.lists(_SIZE, max_size=3)}),
            st.fixed_dictionaries({"axes": st.none(), "shape": st.just([4])}) | _JSON,
        ),
        st.binary(max_size=40),
    )
)
def test_a_damaged_orbax_record_restores_exactly_or_is_refused(orbax_step, record):
    directory, path, original, state = orbax_step
    assume(record != original)
    path.write_bytes(record)
    try:
        with Checkpoints(directory) as ckpts:
            restored = ckpts.restore(state)
    except ValueError as e:
        assert str(directory / "0") in str(e), str(e)
    else:
        _same(restored, {k: np.asarray(v) for k, v in state.items()})
    finally:
        path.write_bytes(original)


# --- state dicts of any values into a template (plain and torch layout) ---------------------

_VALUES = st.sampled_from(
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),  # the right one
        np.arange(6, dtype=np.float32).reshape(3, 2),
        np.arange(6, dtype=np.float64).reshape(2, 3),
        np.arange(6, dtype=np.int32).reshape(2, 3),
        np.full((2, 3), 1.5 + 2j, np.complex64),
        np.zeros((2, 3), np.bool_),
        np.array([["a", "b", "c"], ["d", "e", "f"]]),
        np.array([[object()] * 3] * 2, dtype=object),
        [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]],
        [[0.0, 1.0], [2.0]],
        None,
        "weights",
        3.0,
        jnp.arange(6.0).reshape(2, 3),
        jax.random.key(0),
    ]
)


@FUZZ
@given(value=_VALUES, dtype=st.sampled_from([jnp.float32, jnp.bfloat16, jnp.int32, jnp.int8]))
def test_any_state_dict_value_loads_exactly_or_is_refused_naming_the_key(value, dtype):
    template = {"blk": {"w": jnp.zeros((2, 3), dtype)}}
    for load in (nx.from_state_dict, sd.from_torch_compatible_state_dict):
        try:
            loaded = load(template, {"blk.w": value})
        except ValueError as e:
            assert "blk.w" in str(e), str(e)
            continue
        got = loaded["blk"]["w"]
        assert got.dtype == dtype and got.shape == (2, 3)
        expected = np.asarray(value)
        assert not np.issubdtype(expected.dtype, np.floating) or jnp.issubdtype(dtype, jnp.floating)
        np.testing.assert_array_equal(np.asarray(got, np.float64), expected.astype(np.float64))
