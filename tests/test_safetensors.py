"""safetensors files: bit-exact dtypes (bf16, float8), the torch layout, named-shape metadata,
interchange with the safetensors library, and damaged files."""

from __future__ import annotations

import json
import re
import struct

import equinox as eqx
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import safetensors
import safetensors.numpy
from hypothesis import given, settings, strategies as st

import namedax as nx
from namedax import Axis
from namedax.compat.haliax import state_dict as sd
from namedax.io._safetensors import read_safetensors, write_safetensors
from namedax.serialization import load_safetensors, save_safetensors

Head, HeadDim, Embed, Layers = (
    Axis("head", 2),
    Axis("head_dim", 3),
    Axis("embed", 4),
    Axis("layers", 3),
)
KEY = jax.random.key(0)

DTYPES = [
    jnp.float32,
    jnp.bfloat16,
    jnp.float16,
    jnp.float64,
    ml_dtypes.float8_e4m3fn,
    ml_dtypes.float8_e5m2,
    jnp.int8,
    jnp.uint8,
    jnp.int32,
    jnp.int64,
    jnp.uint32,
    jnp.bool_,
]


class Block(eqx.Module):
    attn: nx.nn.Linear
    norm: nx.nn.LayerNorm

    def __init__(self, *, key):
        self.attn = nx.nn.Linear.init((Head, HeadDim), Embed, key=key, dtype=jnp.bfloat16)
        self.norm = nx.nn.LayerNorm.init(Embed)


def make_model(key=KEY):
    return {"layers": nx.nn.Stacked.init(Layers, Block)(key=jax.random.split(key, Layers.size))}


def _bits(x):
    x = np.asarray(x)
    return x.view(f"u{x.dtype.itemsize}") if x.dtype != np.bool_ else x


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_dtype_round_trips_bit_exactly(tmp_path, dtype):
    values = np.random.default_rng(0).normal(size=(5, 3)) * 10
    x = values.astype(dtype) if dtype != jnp.bool_ else values > 0
    if np.dtype(dtype).kind not in "biu":  # floats, incl. the ml_dtypes ones
        x[0, 0], x[0, 1] = np.nan, -0.0
    path = tmp_path / "x.safetensors"
    write_safetensors({"x": x}, path)
    loaded = read_safetensors(path, as_numpy=True)["x"]
    assert loaded.dtype == x.dtype
    np.testing.assert_array_equal(_bits(loaded), _bits(x), strict=True)
    if np.dtype(dtype).itemsize < 8:  # JAX arrays, when JAX has the dtype without x64
        assert read_safetensors(path)["x"].dtype == x.dtype


def test_model_round_trip_keeps_stacked_layout_per_layer(tmp_path):
    model = make_model()
    path = tmp_path / "m.safetensors"
    save_safetensors(model, path, prefix="model")
    state = read_safetensors(path)
    assert state["model.layers.1.attn.weight"].shape == (4, 2, 3)
    assert state["model.layers.1.attn.weight"].dtype == jnp.bfloat16
    restored = load_safetensors(path, make_model(jax.random.key(1)), prefix="model")
    assert eqx.tree_equal(restored, model)


def test_torch_layout_round_trip(tmp_path):
    model = make_model()
    path = tmp_path / "torch.safetensors"
    sd.save_state_dict(sd.to_torch_compatible_state_dict(model), path)
    with safetensors.safe_open(str(path), framework="numpy") as f:
        assert f.get_slice("layers.0.attn.weight").get_shape() == [4, 6]
    restored = sd.from_torch_compatible_state_dict(
        make_model(jax.random.key(2)), sd.load_state_dict(path)
    )
    assert eqx.tree_equal(restored, model)


def test_files_interchange_with_the_safetensors_library(tmp_path):
    state = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.arange(5, dtype=np.int64)}
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    write_safetensors(state, ours, metadata={"note": "x"})
    safetensors.numpy.save_file(state, str(theirs))
    for path in (ours, theirs):
        a = safetensors.numpy.load_file(str(path))
        b = read_safetensors(path, as_numpy=True)
        for key, value in state.items():
            np.testing.assert_array_equal(a[key], value, strict=True)
            np.testing.assert_array_equal(b[key], value, strict=True)
    with safetensors.safe_open(str(ours), framework="numpy") as f:
        assert f.metadata()["format"] == "pt" and f.metadata()["note"] == "x"


def test_metadata_records_named_shapes(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors({"w": nx.zeros((Embed, Head)), "plain": jnp.zeros(2)}, path)
    with safetensors.safe_open(str(path), framework="numpy") as f:
        axes = json.loads(f.metadata()["namedax.axes"])
    assert axes == {"w": [["embed", 4], ["head", 2]]}


def test_loading_transposes_a_leaf_saved_in_another_axis_order(tmp_path):
    w = nx.named(jnp.arange(8.0).reshape(4, 2), (Embed, Head))
    path = tmp_path / "m.safetensors"
    save_safetensors({"w": w}, path)
    template = {"w": nx.zeros((Head, Embed))}
    loaded = load_safetensors(path, template)["w"]
    assert loaded.axes == (Head, Embed)
    np.testing.assert_array_equal(loaded.array, w.array.T, strict=True)


def test_loading_names_every_leaf_whose_axes_differ(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors(
        {"a": nx.zeros((Embed, Head)), "b": nx.zeros(Embed), "c": nx.zeros(Head)}, path
    )
    template = {
        "a": nx.zeros((Embed, Axis("heads", 2))),
        "b": nx.zeros(Axis("hidden", 4)),
        "c": nx.zeros(Head),
    }
    message = (
        f"load_safetensors: {path} does not match the template's axes: "
        "a was saved as {embed:4, head:2}, the template has {embed:4, heads:2}; "
        "b was saved as {embed:4}, the template has {hidden:4}. "
        "Load into a template built with the same axes (or rename them first)."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        load_safetensors(path, template)


def test_unsupported_dtype_and_non_array_are_type_errors(tmp_path):
    with pytest.raises(
        TypeError, match=r"the value at 'c' has dtype complex128, which safetensors has no code"
    ):
        write_safetensors({"c": np.zeros(2, np.complex128)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match=r"the value at 'n' is .*values must be positional arrays"):
        write_safetensors({"n": nx.zeros(Embed)}, tmp_path / "x.safetensors")
    assert not list(tmp_path.iterdir())  # nothing half-written


def _saved(tmp_path):
    path = tmp_path / "m.safetensors"
    write_safetensors({"first": jnp.arange(64.0), "second": jnp.arange(64.0) * 2}, path)
    return path, path.read_bytes()


def test_a_flipped_byte_fails_naming_the_file_and_leaf(tmp_path):
    path, data = _saved(tmp_path)
    (length,) = struct.unpack("<Q", data[:8])
    at = 8 + length + 64 * 4 + 10  # inside "second"
    path.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :])
    message = f"load_safetensors: {path} is truncated or corrupted (leaf 'second'): its bytes do not match"
    with pytest.raises(ValueError, match=re.escape(message)):
        read_safetensors(path)
    with pytest.raises(ValueError, match=re.escape(message)):
        sd.load_state_dict(path)


@pytest.mark.parametrize(
    ("cut", "detail"),
    [(5, "fewer than the 8-byte header"), (40, "its header claims"), (-10, "leaf 'second'")],
)
def test_a_truncated_file_fails_naming_the_file(tmp_path, cut, detail):
    path, data = _saved(tmp_path)
    path.write_bytes(data[:cut])
    with pytest.raises(
        ValueError, match=rf"{re.escape(str(path))} is truncated or corrupted.*{re.escape(detail)}"
    ):
        load_safetensors(path, {"first": jnp.zeros(64), "second": jnp.zeros(64)})


_SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=3)


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(_SHAPES, min_size=1, max_size=4),
    dtype=st.sampled_from([np.float32, ml_dtypes.bfloat16, np.int16, np.uint8, np.bool_]),
    seed=st.integers(0, 2**31 - 1),
)
def test_any_state_dict_round_trips_in_both_formats(tmp_path_factory, shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    state = {f"leaf.{i}": (rng.normal(size=s) * 50).astype(dtype) for i, s in enumerate(shapes)}
    directory = tmp_path_factory.mktemp("rt")
    write_safetensors(state, directory / "m.safetensors")
    nx.serialization.save_state_dict(state, directory / "m.npz")
    for loaded in (
        read_safetensors(directory / "m.safetensors", as_numpy=True),
        nx.serialization.load_state_dict(directory / "m.npz"),
    ):
        assert sorted(loaded) == sorted(state)
        for key, value in state.items():
            got = np.asarray(loaded[key])
            assert got.dtype == value.dtype and got.shape == value.shape
            np.testing.assert_array_equal(_bits(got), _bits(value), strict=True)


@settings(max_examples=25, deadline=None)
@given(order=st.permutations([Head, HeadDim, Embed]), saved=st.permutations([Head, HeadDim, Embed]))
def test_named_leaf_loads_in_any_axis_order(tmp_path_factory, order, saved):
    data = jnp.arange(24.0).reshape(2, 3, 4)
    w = nx.named(data, (Head, HeadDim, Embed))
    path = tmp_path_factory.mktemp("order") / "w.safetensors"
    save_safetensors({"w": nx.rearrange(w, tuple(saved))}, path)
    loaded = load_safetensors(path, {"w": nx.zeros(tuple(order))})["w"]
    assert loaded.axes == tuple(order)
    np.testing.assert_array_equal(loaded.array, nx.rearrange(w, tuple(order)).array, strict=True)


# --- hostile files: every reader check names the file and the key ----------------------------


def _raw(tmp_path, header, data=b"", name="raw.safetensors"):
    """A safetensors file with exactly this header (a dict, or raw JSON bytes) and data."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _refused(path, *details):
    pattern = re.escape(f"load_safetensors: {path} is truncated or corrupted") + ".*"
    pattern += ".*".join(re.escape(d) for d in details)
    with pytest.raises(ValueError, match=pattern):
        read_safetensors(path)
    with pytest.raises(ValueError, match=pattern):
        load_safetensors(path, {"t": jnp.zeros(2)}, strict=False)


def _t(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (b"[]", "its header is a JSON array, not an object"),
        (b"null", "its header is a JSON null, not an object"),
        (b'"t"', "its header is a JSON string"),
        (b'{"t": 1', "its header is not valid JSON"),
        (b"\xff\xfe{}", "its header is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "its header is not valid JSON"),
        (b'{"t": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 8]}}', "not valid JSON"),
    ],
)
def test_a_header_that_is_not_a_json_object_is_refused(tmp_path, header, detail):
    _refused(_raw(tmp_path, header, b"\0" * 8), detail)


@pytest.mark.parametrize(
    ("entry", "detail"),
    [
        (None, "(leaf 't'): its entry is a JSON null, not an object"),
        ([1, 2], "(leaf 't'): its entry is a JSON array"),
        ({"dtype": "F32", "shape": [2]}, "(leaf 't'): its entry has no 'data_offsets'"),
        ({"shape": [2], "data_offsets": [0, 8]}, "(leaf 't'): its entry has no 'dtype'"),
        ({"dtype": "F32", "data_offsets": [0, 8]}, "(leaf 't'): its entry has no 'shape'"),
        (_t(dtype="F33"), "(leaf 't'): unknown dtype code 'F33'"),
        (_t(dtype=7), "(leaf 't'): unknown dtype code 7"),  # pyright: ignore[reportArgumentType]  # the error is the point
        (_t(shape=(-2,)), "(leaf 't'): its shape [-2] is not a list of non-negative integers"),
        (_t(shape=(True, 2)), "(leaf 't'): its shape [True, 2] is not a list"),
        ({**_t(), "shape": "2"}, "(leaf 't'): its shape '2'"),
        ({**_t(), "shape": [2.0]}, "(leaf 't'): its shape [2.0]"),
        (_t(offsets=(-8, 0)), "(leaf 't'): its data_offsets [-8, 0]"),
        (_t(offsets=(8, 0)), "(leaf 't'): its data_offsets [8, 0]"),
        (_t(offsets=(0, 8, 9)), "(leaf 't'): its data_offsets [0, 8, 9]"),
        ({**_t(), "data_offsets": None}, "(leaf 't'): its data_offsets None"),
        (_t(offsets=(0, 4)), "shape (2,) F32 needs 8 bytes, but data_offsets [0, 4] span 4"),
        # 2**32 * 2**32 * 4 bytes wraps to 0 in int64: it must not pass as an empty tensor
        (_t(shape=(2**32, 2**32), offsets=(0, 0)), "needs 73786976294838206464 bytes"),
        (_t(shape=(2**64 + 1,), offsets=(0, 0)), "(leaf 't'): shape (18446744073709551617,)"),
    ],
)
def test_a_malformed_entry_is_refused_naming_the_key(tmp_path, entry, detail):
    _refused(_raw(tmp_path, {"t": entry}, b"\0" * 8), detail)


def test_a_negative_start_does_not_return_the_header_bytes(tmp_path):
    header = {"t": _t(offsets=(-8, 0))}  # the 8 bytes before the data: the header's end
    _refused(_raw(tmp_path, header, b""), "(leaf 't')", "data_offsets [-8, 0]")


@pytest.mark.parametrize(
    ("header", "size", "detail"),
    [
        (
            {"a": _t(offsets=(0, 8)), "b": _t(offsets=(4, 12))},
            12,
            "(leaf 'b'): its bytes [4, 12) overlap those of 'a'",
        ),
        ({"a": _t(offsets=(0, 8)), "b": _t(offsets=(0, 8))}, 8, "overlap those of"),
        (
            {"a": _t(offsets=(0, 8)), "b": _t(offsets=(12, 20))},
            20,
            "(leaf 'b'): 4 unused bytes lie before its data",
        ),
        ({"a": _t(offsets=(4, 12))}, 12, "(leaf 'a'): 4 unused bytes lie before its data"),
        ({"a": _t(offsets=(0, 8))}, 10, "(leaf 'a'): 2 bytes follow the last tensor's data"),
        ({}, 3, "3 bytes follow the last tensor's data"),
        ({"a": _t(offsets=(0, 8)), "z": _t(shape=(0,), offsets=(4, 4))}, 8, "(leaf 'z')"),
        ({"a": _t(offsets=(0, 8))}, 6, "(leaf 'a'): it needs data up to byte 8; the file holds 6"),
    ],
)
def test_byte_ranges_must_tile_the_data_as_the_library_requires(tmp_path, header, size, detail):
    path = _raw(tmp_path, header, bytes(range(size)))
    _refused(path, detail)
    with pytest.raises(safetensors.SafetensorError):  # the library refuses these too
        safetensors.numpy.load_file(str(path))


@pytest.mark.parametrize(
    ("metadata", "detail"),
    [
        ([1], "(leaf '__metadata__'): __metadata__ is a JSON array, not an object of strings"),
        ({"format": 1}, "__metadata__['format'] is a JSON int; metadata values must be strings"),
        ({"namedax.axes": "{not json"}, "__metadata__['namedax.axes'] is not valid JSON"),
        ({"namedax.axes": "[]"}, "__metadata__['namedax.axes'] is not a JSON object"),
        (
            {"namedax.axes": '{"t": [["x", 3]]}'},
            "(leaf 't'): its recorded axes {x:3} do not describe its shape (2,)",
        ),
        ({"namedax.axes": '{"t": [["x", 1], ["x", 2]]}'}, "(leaf 't'): its recorded axes"),
        ({"namedax.axes": '{"t": [[1, 2]]}'}, "(leaf 't'): its recorded axes [[1, 2]] are not"),
        ({"namedax.axes": '{"u": [["x", 2]]}'}, "(leaf 'u'): axes are recorded for it, but"),
        ({"namedax.crc32": "nope"}, "__metadata__['namedax.crc32'] is not valid JSON"),
        ({"namedax.crc32": "{}"}, "(leaf 't'): the recorded CRC-32s do not cover it"),
        ({"namedax.crc32": '{"t": 5}'}, "(leaf 't'): its recorded CRC-32 5 is not 8 hex digits"),
        ({"namedax.crc32": '{"t": "00000000", "t": "00000000"}'}, "names 't' twice"),
    ],
)
def test_malformed_metadata_is_refused(tmp_path, metadata, detail):
    _refused(_raw(tmp_path, {"__metadata__": metadata, "t": _t()}, b"\0" * 8), detail)


def test_a_key_named_twice_in_the_header_is_refused(tmp_path):
    text = b'{"t": ' + json.dumps(_t()).encode() + b', "t": ' + json.dumps(_t()).encode() + b"}"
    _refused(_raw(tmp_path, text, b"\0" * 8), "(leaf 't'): its header names this key twice")


def test_bool_data_must_be_zeros_and_ones(tmp_path):
    _refused(
        _raw(tmp_path, {"t": _t("BOOL", (2,), (0, 2))}, b"\x01\x02"), "(leaf 't'): its BOOL data"
    )


def test_a_changed_dtype_code_is_caught_by_the_header_crc(tmp_path):
    path = tmp_path / "m.safetensors"
    write_safetensors({"t": np.arange(3, dtype=np.float32)}, path)
    data = path.read_bytes()
    assert data.count(b'"F32"') == 1
    path.write_bytes(data.replace(b'"F32"', b'"I32"'))  # same size: the bytes now read as ints
    _refused(path, "(leaf '__metadata__'): its header", "does not match the CRC-32")


def test_a_renamed_key_is_caught(tmp_path):
    path = tmp_path / "m.safetensors"
    write_safetensors({"abc": np.arange(3, dtype=np.float32)}, path)
    path.write_bytes(path.read_bytes().replace(b'"abc":{', b'"abd":{'))
    _refused(path, "(leaf 'abd'): the recorded CRC-32s do not cover it")


def test_a_file_replaced_while_reading_is_read_from_one_version(tmp_path):
    from namedax.io._safetensors import _open

    path = tmp_path / "m.safetensors"
    write_safetensors({"t": np.zeros(4, np.float32)}, path)
    with _open(path, "load_safetensors") as file:
        write_safetensors({"t": np.ones(4, np.float32)}, path)  # an atomic replace meanwhile
        np.testing.assert_array_equal(file.read("t"), np.zeros(4, np.float32))
    np.testing.assert_array_equal(read_safetensors(path, as_numpy=True)["t"], np.ones(4))


def test_leaves_with_the_same_dotted_key_are_refused_on_save(tmp_path):
    tree = {"a.b": jnp.zeros(2), "a": {"b": jnp.ones(2)}}
    with pytest.raises(
        ValueError,
        match=re.escape("two leaves have the key 'a.b' (tree['a']['b'] and tree['a.b'])"),
    ):
        save_safetensors(tree, tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


def test_reserved_keys_and_metadata_are_refused_on_save(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match="the key '__metadata__' is reserved"):
        write_safetensors({"__metadata__": np.zeros(2)}, path)
    with pytest.raises(ValueError, match=r"'namedax\.axes' is written by namedax itself"):
        write_safetensors({"t": np.zeros(2)}, path, metadata={"namedax.axes": "{}"})
    with pytest.raises(TypeError, match="metadata must map strings to strings"):
        write_safetensors({"t": np.zeros(2)}, path, metadata={"n": 1})  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(TypeError, match="state dict keys must be strings, got the key 3"):
        write_safetensors({3: np.zeros(2)}, path)  # pyright: ignore[reportArgumentType]  # the error is the point
    assert not list(tmp_path.iterdir())


def test_big_endian_arrays_are_written_little_endian(tmp_path):
    path = tmp_path / "m.safetensors"
    value = np.arange(3, dtype=">i4")
    write_safetensors({"t": value}, path)
    np.testing.assert_array_equal(safetensors.numpy.load_file(str(path))["t"], value)
    np.testing.assert_array_equal(read_safetensors(path, as_numpy=True)["t"], value)


def test_64_bit_integers_beyond_32_bits_are_not_wrapped(tmp_path):
    path = tmp_path / "m.safetensors"
    big = np.array([1, 2**40], np.int64)
    write_safetensors({"t": big, "small": np.arange(3, dtype=np.int64)}, path)
    np.testing.assert_array_equal(read_safetensors(path, as_numpy=True)["t"], big)
    if not jax.config.jax_enable_x64:  # pyright: ignore[reportAttributeAccessIssue]  # a dynamic flag
        with pytest.raises(
            ValueError, match=rf"{re.escape(str(path))} at leaf 't' holds int64 values beyond int32"
        ):
            read_safetensors(path)


def test_a_template_mismatch_names_the_file(tmp_path):
    path = tmp_path / "m.safetensors"
    write_safetensors({"w": np.zeros(3, np.float32)}, path)
    with pytest.raises(
        ValueError,
        match=rf"load_safetensors: {re.escape(str(path))} does not fit the template: from_state_dict: 1 shape mismatch: w",
    ):
        load_safetensors(path, {"w": jnp.zeros(4)})
    with pytest.raises(ValueError, match=r"w: expected .*int32.*float32 values.*truncates"):
        load_safetensors(path, {"w": jnp.zeros(3, jnp.int32)})


def test_files_we_write_load_in_the_library_with_our_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    state = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "e": np.zeros((0, 2), np.int32)}
    save_safetensors({**state, "n": nx.zeros(Embed)}, path, metadata={"note": "x"})
    loaded = safetensors.numpy.load_file(str(path))
    for key, value in state.items():
        np.testing.assert_array_equal(loaded[key], value, strict=True)
    with safetensors.safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    assert meta["note"] == "x" and set(json.loads(meta["namedax.crc32"])) == {"a", "e", "n"}
    assert len(meta["namedax.header_crc32"]) == 8


def test_loaded_leaves_land_on_the_template_sharding(tmp_path):
    mesh = jax.make_mesh((8,), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    template = {
        "w": nx.named(jax.device_put(jnp.zeros((8, 2)), sharding), (Axis("batch", 8), Head)),
        "p": jax.device_put(jnp.zeros(16), sharding),
    }
    path = tmp_path / "m.safetensors"
    save_safetensors(
        {"w": nx.named(jnp.ones((8, 2)), (Axis("batch", 8), Head)), "p": jnp.ones(16)}, path
    )
    loaded = load_safetensors(path, template)
    assert loaded["w"].array.sharding == sharding and loaded["p"].sharding == sharding
    np.testing.assert_array_equal(loaded["p"], np.ones(16))
