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
