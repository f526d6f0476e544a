"""haliax.state_dict (namedax.compat.haliax.state_dict): Haliax's names, the torch-compatible layout, safetensors save/load."""

from __future__ import annotations

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import Axis
from namedax.compat.haliax import state_dict as sd
from namedax.compat.haliax.nn.scan import _stack_state_dict, _unstack_state_dict

Head, HeadDim, Embed, Layers = (
    Axis("head", 2),
    Axis("head_dim", 3),
    Axis("embed", 4),
    Axis("layers", 3),
)
KEY = jax.random.key(0)


class Attn(sd.ModuleWithStateDictSerialization):
    o_proj: nx.nn.Linear
    norm: nx.nn.RmsNorm

    def _state_dict_key_map(self):
        return {"o_proj": "dense"}


def _attn(key=KEY):
    return Attn(nx.nn.Linear.init((Head, HeadDim), Embed, key=key), nx.nn.RmsNorm.init(Embed))


@pytest.mark.parametrize("out_first", [True, False])
def test_linear_torch_layout_is_the_positional_reshape(out_first):
    layer = nx.nn.Linear.init((Head, HeadDim), Embed, key=KEY, out_first=out_first)
    assert layer.bias is not None
    state = sd.to_torch_compatible_state_dict(layer)
    w = np.asarray(layer.weight.array)
    expected = w.reshape(4, 6) if out_first else w.reshape(6, 4)
    np.testing.assert_array_equal(state["weight"], expected, strict=True)
    np.testing.assert_array_equal(state["bias"], np.asarray(layer.bias.array), strict=True)
    assert all(isinstance(v, jax.Array) for v in state.values())  # as Haliax returns
    host = nx.serialization.to_torch_compatible_state_dict(layer)  # namedax's: host NumPy
    assert all(isinstance(v, np.ndarray) for v in host.values())
    np.testing.assert_array_equal(host["weight"], expected, strict=True)


def test_square_linear_weight_keeps_torch_shape():
    layer = nx.nn.Linear.init(Embed, Embed, key=KEY)
    state = sd.to_torch_compatible_state_dict(layer)
    np.testing.assert_array_equal(state["weight"], np.asarray(layer.weight.array), strict=True)


def test_norm_over_two_axes_is_flattened_and_restored():
    norm = nx.nn.LayerNorm.init((Head, HeadDim))
    assert norm.weight is not None
    norm = eqx.tree_at(
        lambda n: n.weight,
        norm,
        norm.weight + nx.named(jnp.arange(6.0).reshape(2, 3), (Head, HeadDim)),
    )
    state = sd.to_torch_compatible_state_dict(norm)
    assert state["weight"].shape == (6,)
    np.testing.assert_array_equal(state["weight"], np.asarray(norm.weight.array).reshape(6))
    back = sd.from_torch_compatible_state_dict(nx.nn.LayerNorm.init((Head, HeadDim)), state)
    assert back == norm


def _attn_block(*, key):
    return _attn(key)


def test_round_trip_through_renamed_module_and_stack():
    stack = nx.nn.Stacked.init(Layers, _attn_block)(key=jax.random.split(KEY, Layers.size))
    model = {"layers": stack}
    state = sd.to_torch_compatible_state_dict(model, prefix="model")
    for i in range(Layers.size):
        layer_w = np.asarray(stack.stacked.o_proj.weight.array)[i]
        np.testing.assert_array_equal(
            state[f"model.layers.{i}.dense.weight"], layer_w.reshape(4, 6)
        )
    assert sorted(state) == sorted(
        f"model.layers.{i}.{k}"
        for i in range(3)
        for k in ("dense.weight", "dense.bias", "norm.weight", "norm.bias")
    )
    template = {
        "layers": nx.nn.Stacked.init(Layers, _attn_block)(
            key=jax.random.split(jax.random.key(1), 3)
        )
    }
    restored = sd.from_torch_compatible_state_dict(template, state, prefix="model")
    assert eqx.tree_equal(restored, model)


def test_round_trip_into_an_abstract_model():
    model = _attn()
    state = sd.to_torch_compatible_state_dict(model)
    abstract = eqx.filter_eval_shape(_attn)
    restored = sd.from_torch_compatible_state_dict(abstract, state)
    np.testing.assert_array_equal(restored.o_proj.weight.array, model.o_proj.weight.array)
    assert restored.o_proj.weight.axes == model.o_proj.weight.axes


def test_unflatten_false_reads_the_plain_layout():
    model = _attn()
    state = sd.to_torch_compatible_state_dict(model, flatten=False)
    assert state["dense.weight"].shape == (4, 2, 3)
    restored = sd.from_torch_compatible_state_dict(_attn(jax.random.key(1)), state, unflatten=False)
    assert eqx.tree_equal(restored, model)


def test_wrong_torch_shape_names_the_key():
    state = sd.to_torch_compatible_state_dict(_attn())
    state["dense.weight"] = np.zeros((6, 4), np.float32)
    with pytest.raises(
        ValueError, match=r"dense\.weight: expected .*shape \(4, 6\).*got shape \(6, 4\)"
    ):
        sd.from_torch_compatible_state_dict(_attn(), state)


def test_from_state_dict_ignores_unused_keys_like_haliax():
    model = _attn()
    state = {**sd.to_state_dict(model), "lm_head.weight": np.zeros(3)}
    assert eqx.tree_equal(sd.from_state_dict(model, state), model)
    with pytest.raises(ValueError, match=r"lm_head\.weight"):
        nx.serialization.from_state_dict(model, state)


def test_save_load_state_dict_is_safetensors(tmp_path):
    safetensors = pytest.importorskip("safetensors")
    state = {
        "w": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": jnp.ones(3, jnp.bfloat16),
        "n": None,
    }
    path = tmp_path / "m.safetensors"
    sd.save_state_dict(state, path)
    with safetensors.safe_open(str(path), framework="numpy") as f:
        assert sorted(f.keys()) == ["b", "w"]
        np.testing.assert_array_equal(f.get_tensor("w"), state["w"])
        assert f.metadata()["format"] == "pt"
    loaded = sd.load_state_dict(path)
    assert loaded["b"].dtype == jnp.bfloat16 and isinstance(loaded["w"], np.ndarray)
    np.testing.assert_array_equal(loaded["w"], state["w"], strict=True)


def test_with_prefix():
    assert sd.with_prefix(None, None) is None
    assert sd.with_prefix("a", None) == "a"
    assert sd.with_prefix("a", "b.c") == "a.b.c"


def test_stack_and_unstack_state_dict_are_inverse():
    state = {f"h.{i}.w": jnp.full((2,), float(i)) for i in range(3)} | {"other": jnp.ones(1)}
    stacked = _stack_state_dict(state, "h")
    np.testing.assert_array_equal(stacked["h.w"], np.repeat(np.arange(3.0)[:, None], 2, axis=1))
    assert set(stacked) == {"h.w", "other"}
    back = _unstack_state_dict(stacked, "h")
    assert set(back) == set(state)
    for k in state:
        np.testing.assert_array_equal(back[k], state[k])


def test_stack_state_dict_with_a_gap_is_an_error():
    with pytest.raises(ValueError, match=r"layers of 'w' under 'h' are \[0, 2\], not 0..1"):
        _stack_state_dict({"h.0.w": jnp.ones(1), "h.2.w": jnp.ones(1)}, "h")


# --- loads check what they read and land where the template is ------------------------------


def test_torch_layout_loads_land_on_the_template_sharding(tmp_path):
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    Batch = Axis("batch", 8)
    layer = nx.nn.Linear.init((Head, HeadDim), Axis("out", 8), key=KEY)
    spec = jax.sharding.PartitionSpec
    placed = {
        "proj": eqx.tree_at(
            lambda m: m.weight,
            layer,
            nx.named(
                jax.device_put(
                    layer.weight.array, jax.sharding.NamedSharding(mesh, spec("model", None, None))
                ),
                layer.weight.axes,
            ),
        ),
        "table": jax.device_put(
            jnp.zeros((8, 4)), jax.sharding.NamedSharding(mesh, spec("data", "model"))
        ),
        "row": nx.named(
            jax.device_put(jnp.zeros(8), jax.sharding.NamedSharding(mesh, spec("model"))), (Batch,)
        ),
    }
    state = sd.to_torch_compatible_state_dict(jax.tree_util.tree_map(lambda x: x + 1, placed))
    path = tmp_path / "m.safetensors"
    sd.save_state_dict(state, path)
    loaded = sd.from_torch_compatible_state_dict(placed, sd.load_state_dict(path))
    pairs = zip(
        jax.tree_util.tree_leaves(loaded, is_leaf=nx.is_named_array),
        jax.tree_util.tree_leaves(placed, is_leaf=nx.is_named_array),
        strict=True,
    )
    for got, like in pairs:
        got, like = (got.array, like.array) if isinstance(like, nx.NamedArray) else (got, like)
        assert got.sharding == like.sharding  # before: every leaf on one device
        np.testing.assert_array_equal(np.asarray(got), np.asarray(like) + 1)


def test_torch_layout_refuses_truncating_casts_and_duplicate_keys():
    layer = _attn()
    state = sd.to_torch_compatible_state_dict(layer)
    as_ints = jax.tree_util.tree_map(
        lambda x: x.astype(jnp.int32) if x.dtype == jnp.float32 else x, layer
    )
    with pytest.raises(
        ValueError,
        match="float32 values and the template is int32: a float to integer cast truncates",
    ):
        sd.from_torch_compatible_state_dict(as_ints, state)
    with pytest.raises(ValueError, match=re.escape("two leaves have the key 'a.b'")):
        sd.to_torch_compatible_state_dict({"a.b": jnp.zeros(2), "a": {"b": jnp.ones(2)}})
