"""State dicts: flat dotted keys, Stacked unstacked per layer, bit-exact save/load, errors."""

from __future__ import annotations

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from namedax import Axis
from namedax.serialization import load_state_dict, save_state_dict

from .helpers import in_order

Embed, Hidden, Layers = Axis("embed", 3), Axis("hidden", 5), Axis("layers", 4)
KEY = jax.random.key(0)


def _assert_identical(a, b):
    """Same structure, same axes, same dtypes and bit-identical values."""
    la, ta = jax.tree_util.tree_flatten(a, is_leaf=nx.is_named_array)
    lb, tb = jax.tree_util.tree_flatten(b, is_leaf=nx.is_named_array)
    assert ta == tb
    for x, y in zip(la, lb):
        assert type(x) is type(y)
        if isinstance(x, nx.NamedArray):
            assert x.axes == y.axes
            x, y = x.array, y.array
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), strict=True)


class Block(eqx.Module):
    proj: nx.nn.Linear
    norm: nx.nn.LayerNorm

    def __init__(self, *, key):
        self.proj = nx.nn.Linear.init(Embed, Embed, key=key)
        self.norm = nx.nn.LayerNorm.init(Embed)

    def __call__(self, x):
        return self.norm(nx.nn.relu(self.proj(x)))


class Model(eqx.Module):
    embed: nx.nn.Linear
    layers: nx.nn.Stacked
    scale: jax.Array
    name: str = eqx.field(static=True, default="model")


def _model(shared=None):
    k1, k2 = jax.random.split(KEY)
    layers = nx.nn.Stacked.init(Layers, Block, shared=shared)(key=k2)
    return Model(nx.nn.Linear.init(Hidden, Embed, key=k1), layers, jnp.arange(2.0))


def _perturbed(tree):
    """The same tree with every array changed, so that a load visibly replaces values."""
    return jax.tree_util.tree_map(lambda x: x + 1 if isinstance(x, jax.Array) else x, tree)


# --- to_state_dict --------------------------------------------------------------------------


def test_keys_are_dotted_paths_with_positional_values():
    layer = nx.nn.Linear.init(Hidden, Embed, key=KEY)
    state = nx.to_state_dict({"enc": [layer, jnp.ones(2)], "w": nx.ones((Embed, Hidden))})
    assert sorted(state) == ["enc.0.bias", "enc.0.weight", "enc.1", "w"]
    assert state["enc.0.weight"] is layer.weight.array
    assert state["w"].shape == (3, 5)
    assert all(isinstance(v, jax.Array) for v in state.values())


def test_prefix_is_prepended():
    state = nx.to_state_dict(nx.nn.LayerNorm.init(Embed), prefix="model.norm")
    assert sorted(state) == ["model.norm.bias", "model.norm.weight"]


@pytest.mark.parametrize("shared", [None, "norm", True])
def test_stacked_is_stored_layer_by_layer_and_shared_leaves_once(shared):
    model = _model(shared)
    state = nx.to_state_dict(model)
    per_layer = {"norm": ["proj.bias", "proj.weight"], True: [], None: None}[shared]
    if per_layer is None:
        per_layer = ["norm.bias", "norm.weight", "proj.bias", "proj.weight"]
    shared_keys = sorted({"proj.bias", "proj.weight", "norm.bias", "norm.weight"} - set(per_layer))
    expected = {f"layers.{i}.{p}" for i in range(Layers.size) for p in per_layer}
    expected |= {f"layers.{p}" for p in shared_keys}
    expected |= {"embed.weight", "embed.bias", "scale"}
    assert set(state) == expected
    for i in range(Layers.size):
        layer = model.layers.get_layer(i)
        for p in per_layer:
            leaf = layer
            for part in p.split("."):
                leaf = getattr(leaf, part)
            np.testing.assert_array_equal(state[f"layers.{i}.{p}"], leaf.array, strict=True)


def test_a_per_layer_stacked_and_the_equivalent_blockseq_have_equal_state_dicts():
    stack = nx.nn.Stacked.init(Layers, Block)(key=KEY)
    seq = nx.nn.BlockSeq.init(Layers, Block)(key=KEY)
    a, b = nx.to_state_dict({"layers": stack}), nx.to_state_dict({"layers": seq})
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    _assert_identical(nx.from_state_dict({"layers": seq}, a), {"layers": seq})
    _assert_identical(nx.from_state_dict({"layers": stack}, b), {"layers": stack})


def test_stacked_plain_array_blocks_drop_the_leading_dimension():
    stack = nx.nn.Stacked.init(Layers, eqx.nn.Linear)(2, 3, key=KEY)
    state = nx.to_state_dict(stack, prefix="layers")
    assert state["layers.1.weight"].shape == (3, 2)
    np.testing.assert_array_equal(state["layers.1.weight"], stack.stacked.weight[1])
    _assert_identical(nx.from_state_dict(_perturbed(stack), state, prefix="layers"), stack)


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [None, "norm", True])
def test_round_trip_is_bit_exact_for_a_model_with_a_stack(shared):
    model = _model(shared)
    state = nx.to_state_dict(model)
    restored = nx.from_state_dict(_perturbed(model), state)
    _assert_identical(restored, model)
    assert restored.name == "model"
    x = nx.ones(Embed)
    np.testing.assert_array_equal(restored.layers.fold(x).array, model.layers.fold(x).array)


def test_round_trip_restacks_along_layers_wherever_it_sits():
    stack = nx.nn.Stacked.init(Layers, Block)(key=KEY)
    weight = stack.stacked.proj.weight
    moved = eqx.tree_at(
        lambda s: s.stacked.proj.weight, stack, in_order(weight, ("embed", "layers", "embed_in"))
    )
    state = nx.to_state_dict(moved)
    np.testing.assert_array_equal(state["2.proj.weight"], weight.array[2])
    _assert_identical(nx.from_state_dict(_perturbed(moved), state), moved)


def test_loading_into_an_abstract_template():
    model = _model("norm")
    template = eqx.filter_eval_shape(_model, "norm")
    _assert_identical(nx.from_state_dict(template, nx.to_state_dict(model)), model)


def test_values_are_cast_to_the_template_dtype():
    norm = nx.nn.LayerNorm.init(Embed)
    state = {k: np.asarray(v, dtype=np.float64) + 0.5 for k, v in nx.to_state_dict(norm).items()}
    restored = nx.from_state_dict(norm, state)
    assert restored.weight.dtype == jnp.float32
    np.testing.assert_array_equal(restored.weight.array, np.full(3, 1.5, np.float32))


def test_one_state_dict_holds_several_models_under_prefixes():
    a, b = nx.nn.Linear.init(Embed, Hidden, key=KEY), nx.nn.LayerNorm.init(Hidden)
    state = nx.to_state_dict(a, prefix="a") | nx.to_state_dict(b, prefix="b")
    _assert_identical(nx.from_state_dict(_perturbed(a), state, prefix="a"), a)
    _assert_identical(nx.from_state_dict(_perturbed(b), state, prefix="b"), b)


_orders = st.permutations(("a", "b", "c")).map(tuple)


@settings(max_examples=15, deadline=None)
@given(
    orders=st.lists(_orders, min_size=1, max_size=4),
    dtype=st.sampled_from([jnp.float32, jnp.bfloat16, jnp.int8, jnp.bool_, jnp.float16]),
    nest=st.sampled_from(["list", "dict", "tuple"]),
)
def test_random_trees_round_trip_bit_exactly_through_a_file(tmp_path_factory, orders, dtype, nest):
    sizes = {"a": 2, "b": 3, "c": 1}
    key = jax.random.key(len(orders))
    leaves = [
        nx.named(
            jax.random.normal(jax.random.fold_in(key, i), tuple(sizes[n] for n in order)).astype(
                dtype
            ),
            order,
        )
        for i, order in enumerate(orders)
    ]
    tree = {
        "list": leaves,
        "dict": {f"k{i}": x for i, x in enumerate(leaves)},
        "tuple": tuple(leaves),
    }[nest]
    path = tmp_path_factory.mktemp("state") / "tree.npz"
    save_state_dict(nx.to_state_dict(tree, prefix="p"), path)
    loaded = load_state_dict(path)
    template = jax.tree_util.tree_map(lambda x: nx.zeros_like(x), tree, is_leaf=nx.is_named_array)
    _assert_identical(nx.from_state_dict(template, loaded, prefix="p"), tree)


def test_save_and_load_keep_dtypes_numpy_lacks(tmp_path):
    state = {
        "bf16": jnp.array([1.5, -2.25], jnp.bfloat16),
        "f8": jnp.array([0.5, 2.0], jnp.float8_e4m3fn),
        "i32": jnp.arange(3),
        "bool": jnp.array([True, False]),
        "scalar": jnp.float32(3.0),
    }
    save_state_dict(state, tmp_path / "s.npz")
    loaded = load_state_dict(tmp_path / "s.npz")
    assert loaded.keys() == state.keys()
    for k in state:
        assert loaded[k].dtype == state[k].dtype
        np.testing.assert_array_equal(np.asarray(loaded[k]), np.asarray(state[k]))


# --- errors ---------------------------------------------------------------------------------


def test_missing_keys_are_listed_with_their_named_shapes():
    model = _model()
    state = nx.to_state_dict(model)
    del state["layers.2.proj.weight"], state["scale"]
    with pytest.raises(
        ValueError,
        match=re.escape(
            "from_state_dict: 2 keys are missing: layers.2.proj.weight ({embed:3, embed_in:3}, "
            "shape (3, 3), float32), scale (shape (2,), float32). The state dict has: "
        ),
    ):
        nx.from_state_dict(model, state)


def test_extra_keys_are_listed():
    norm = nx.nn.LayerNorm.init(Embed)
    state = nx.to_state_dict(norm) | {"gamma": jnp.ones(3)}
    with pytest.raises(
        ValueError, match=r"1 key is not in the template: gamma \(is the template the same model"
    ):
        nx.from_state_dict(norm, state)


def test_shape_mismatches_name_the_key_the_expected_named_shape_and_the_shape_got():
    stack = nx.nn.Stacked.init(Layers, Block)(key=KEY)
    state = nx.to_state_dict(stack, prefix="layers")
    state["layers.1.norm.weight"] = jnp.ones(4)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "1 shape mismatch: layers.1.norm.weight: expected ({embed:3}, shape (3,), float32), got shape (4,)"
        ),
    ):
        nx.from_state_dict(stack, state, prefix="layers")


def test_wrong_kinds_of_arguments_are_type_errors(tmp_path):
    norm = nx.nn.LayerNorm.init(Embed)
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        nx.from_state_dict(norm, [jnp.ones(3)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="prefix must be a str or None, got int"):
        nx.to_state_dict(norm, prefix=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"values must be positional arrays"):
        save_state_dict({"w": nx.ones(Embed)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"jax.random.key_data"):
        save_state_dict({"k": jax.random.key(0)}, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="is reserved"):
        save_state_dict({"__namedax_dtypes__": jnp.ones(1)}, tmp_path / "x.npz")
