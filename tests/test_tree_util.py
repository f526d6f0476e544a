"""namedax.tree_util: NamedArrays are leaves, a user is_leaf is honoured, resize_axis."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import tree_util
from tests.helpers import assert_named_close, axis_orders, in_order

Vocab, Embed = nx.Axis("vocab", 3), nx.Axis("embed", 4)
W = jax.random.normal(jax.random.key(0), (3, 4))


def make_tree():
    return {
        "w": nx.named(W, (Vocab, Embed)),
        "b": nx.named(jnp.arange(4.0), Embed),
        "meta": (2, "name"),
        "none": None,
    }


def test_tree_map_hands_named_arrays_whole():
    tree = make_tree()
    seen = []
    out = tree_util.tree_map(lambda x: seen.append(x) or x, tree)
    assert {type(x).__name__ for x in seen} == {"NamedArray", "int", "str"}
    assert out["w"] is tree["w"]
    # jax.tree_util itself would descend into the NamedArray and see the bare array
    assert not any(isinstance(x, nx.NamedArray) for x in jax.tree_util.tree_leaves(tree))
    doubled = tree_util.tree_map(lambda x, y: x + y, tree["w"], tree["w"])
    assert_named_close(doubled, 2 * W)


def test_tree_map_with_rest_and_a_user_is_leaf():
    tree = {"w": nx.named(W, (Vocab, Embed)), "pair": (1, 2)}
    other = {"w": in_order(tree["w"], ("embed", "vocab")), "pair": (10, 20)}
    summed = tree_util.tree_map(lambda x, y: x + y, tree, other)
    assert_named_close(summed["w"], 2 * W, ("vocab", "embed"))
    assert summed["pair"] == (11, 22)
    as_leaf = tree_util.tree_map(
        lambda x: "tuple" if isinstance(x, tuple) else x.axis_names,
        tree,
        is_leaf=lambda x: isinstance(x, tuple),
    )
    assert as_leaf == {"w": ("vocab", "embed"), "pair": "tuple"}


def test_flatten_unflatten_leaves_structure():
    tree = make_tree()
    leaves, treedef = tree_util.tree_flatten(tree)
    assert [type(x).__name__ for x in leaves] == ["NamedArray", "int", "str", "NamedArray"]
    rebuilt = tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt["w"] is tree["w"] and rebuilt["meta"] == (2, "name") and rebuilt["none"] is None
    assert len(tree_util.tree_leaves(tree)) == 4
    assert tree_util.tree_structure(tree) == treedef
    assert treedef.num_leaves == 4
    leaves, _ = tree_util.tree_flatten(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves[1] == (2, "name")
    assert len(tree_util.tree_leaves(tree, is_leaf=lambda x: isinstance(x, tuple))) == 3


# --- resize_axis ------------------------------------------------------------------------------
@pytest.mark.parametrize("order", list(axis_orders((Vocab, Embed))))
def test_resize_axis_shrinks_by_keeping_the_first_elements(order):
    tree = {"w": in_order(nx.named(W, (Vocab, Embed)), order), "b": nx.named(jnp.ones(4), Embed)}
    out = tree_util.resize_axis(tree, "vocab", 2)
    assert out["w"].axis_names == tuple(a.name for a in order)
    assert out["w"].shape["vocab"] == 2
    assert_named_close(out["w"], W[:2], ("vocab", "embed"))
    assert out["b"] is tree["b"]  # no vocab axis: unchanged


@pytest.mark.parametrize("order", list(axis_orders((Vocab, Embed))))
def test_resize_axis_grows_with_the_mean_or_a_truncated_normal(order):
    w = in_order(nx.named(W, (Vocab, Embed)), order)
    grown = tree_util.resize_axis(w, Vocab, 6)
    assert grown.axis_names == w.axis_names and grown.shape["vocab"] == 6
    mean, std = np.asarray(W.mean(0)), np.asarray(W.std(0))
    want = jnp.concatenate([W, jnp.broadcast_to(mean, (3, 4))])
    assert_named_close(grown, want, ("vocab", "embed"))
    key = jax.random.key(1)
    sampled = tree_util.resize_axis(w, "vocab", 6, key=key)
    values = np.asarray(in_order(sampled, ("vocab", "embed")).array)
    np.testing.assert_allclose(values[:3], W, rtol=1e-6)
    new = values[3:]
    assert np.all(np.abs(new - mean) <= 2 * std + 1e-5)
    assert not np.allclose(new, np.broadcast_to(mean, (3, 4)))
    again = tree_util.resize_axis(w, "vocab", 6, key=key)
    np.testing.assert_array_equal(again.array, sampled.array)


def test_resize_axis_other_dtypes_empty_axes_and_jit():
    tree = {
        "ids": nx.named(jnp.array([3, 1, 2]), Vocab),
        "empty": nx.named(jnp.ones((0, 2)), ("vocab", "x")),
        "plain": jnp.ones(3),
    }
    out = tree_util.resize_axis(tree, "vocab", 5, key=jax.random.key(0))
    np.testing.assert_array_equal(out["ids"].array, [3, 1, 2, 0, 0])
    assert out["ids"].dtype == jnp.int32
    assert out["empty"].shape == {"vocab": 5, "x": 2}
    np.testing.assert_array_equal(out["empty"].array, np.zeros((5, 2)))
    assert out["plain"] is tree["plain"]
    resize = jax.jit(functools.partial(tree_util.resize_axis, old_axis="vocab", new_size=4))
    jitted = resize({"w": nx.named(W, (Vocab, Embed))})
    assert jitted["w"].shape == {"vocab": 4, "embed": 4}
    assert_named_close(jitted["w"], jnp.concatenate([W, W.mean(0, keepdims=True)]))


def test_resize_axis_errors():
    tree = {"w": nx.named(W, (Vocab, Embed))}
    with pytest.raises(
        ValueError, match=r"resize_axis: axis 'vocab' has size 3 .* selected as vocab\(5\)"
    ):
        tree_util.resize_axis(tree, nx.Axis("vocab", 5), 2)
    with pytest.raises(ValueError, match=r"resize_axis: new_size must be >= 0, got -1"):
        tree_util.resize_axis(tree, "vocab", -1)
    with pytest.raises(TypeError, match=r"resize_axis: new_size must be an int, got float"):
        tree_util.resize_axis(tree, "vocab", 2.0)  # type: ignore[arg-type]


def test_public_module():
    assert nx.tree_util.tree_map is tree_util.tree_map
    assert {"tree_map", "tree_flatten", "tree_unflatten", "tree_leaves", "tree_structure"} <= set(
        dir(nx.tree_util)
    )
    assert "resize_axis" in dir(nx.tree_util)


# --- scan_aware_tree_map with an is_leaf that selects modules -----------------------------


def _lora_stack(shared=None):
    import dataclasses

    import equinox as eqx

    Layers, Embed, Up = nx.Axis("layers", 3), nx.Axis("embed", 4), nx.Axis("up", 5)

    class Block(eqx.Module):
        up: nx.nn.Linear
        down: nx.nn.Linear

        @staticmethod
        def init(offset, *, key):
            k1, k2 = jax.random.split(key)
            up = nx.nn.Linear.init(Embed, Up, key=k1)
            down = nx.nn.Linear.init(Up, Embed, key=k2)
            return Block(
                dataclasses.replace(up, weight=up.weight + offset),
                dataclasses.replace(down, weight=down.weight + offset),
            )

    keys = jax.random.split(jax.random.key(0), Layers.size)
    offsets = nx.arange(Layers).astype(jnp.float32)
    return nx.nn.Stacked.init(Layers, Block, shared=shared)(offsets, key=keys), Layers


def _bias(linear):
    assert linear.bias is not None
    return linear.bias


def _centre_linear(x):
    import dataclasses

    if not isinstance(x, nx.nn.Linear):
        return x
    bias = None if x.bias is None else x.bias + 1.0
    return dataclasses.replace(x, weight=x.weight - nx.mean(x.weight), bias=bias)


def test_scan_aware_tree_map_hands_fn_real_per_layer_modules():
    stack, Layers = _lora_stack()
    is_linear = lambda x: isinstance(x, nx.nn.Linear)
    seen = []

    def checked(x):
        if is_linear(x):
            seen.append(x)
            assert x.weight is not None and x.bias is not None
            assert "layers" not in x.weight.axis_names
        return _centre_linear(x)

    out = tree_util.scan_aware_tree_map(checked, {"stack": stack}, is_leaf=is_linear)
    assert len(seen) == 2  # up and down, each once (vmapped over the layers)
    new = out["stack"]
    assert new.stacked.up.weight.axes == stack.stacked.up.weight.axes
    for i in range(Layers.size):
        expected = _centre_linear(stack.get_layer(i).up)
        assert_named_close(new.get_layer(i).up.weight, np.asarray(expected.weight.array))
        assert_named_close(
            _bias(new.get_layer(i).down), np.asarray(_bias(stack.get_layer(i).down).array) + 1
        )
    # centred per layer, not over all layers jointly (which tree_map would do)
    np.testing.assert_allclose(nx.mean(new.stacked.up.weight, ("up", "embed")).array, 0, atol=1e-5)
    joint = tree_util.tree_map(_centre_linear, stack, is_leaf=is_linear)
    assert not np.allclose(joint.stacked.up.weight.array, new.stacked.up.weight.array)


def test_scan_aware_tree_map_keeps_shared_leaves_shared_and_works_under_jit():
    stack, Layers = _lora_stack(shared="down.bias")
    is_linear = lambda x: isinstance(x, nx.nn.Linear)
    run = jax.jit(lambda s: tree_util.scan_aware_tree_map(_centre_linear, s, is_leaf=is_linear))
    new = run(stack)
    assert _bias(new.stacked.down).axes == _bias(stack.stacked.down).axes  # still no layers axis
    assert_named_close(_bias(new.stacked.down), np.asarray(_bias(stack.stacked.down).array) + 1)
    for i in range(Layers.size):
        expected = _centre_linear(stack.get_layer(i).down)
        assert_named_close(new.get_layer(i).down.weight, np.asarray(expected.weight.array))


def test_scan_aware_tree_map_rejects_a_structure_change():
    stack, _ = _lora_stack()
    drop = lambda x: None if isinstance(x, nx.nn.Linear) else x
    with pytest.raises(ValueError, match=r"^scan_aware_tree_map: fn changed the structure"):
        tree_util.scan_aware_tree_map(drop, stack, is_leaf=lambda x: isinstance(x, nx.nn.Linear))
