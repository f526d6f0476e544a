"""Stacked and BlockSeq: per-layer and shared parameters, keys, calls, one scan, errors."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import nn
from tests.helpers import assert_named_close, tree_allclose

Layers, Embed, Hidden, Batch = (
    nx.Axis("layers", 4),
    nx.Axis("embed", 3),
    nx.Axis("hidden", 5),
    nx.Axis("batch", 2),
)
KEY = jax.random.key(0)


def jit_grad(loss):
    return eqx.filter_jit(eqx.filter_grad(loss))


class Block(eqx.Module):
    """A residual MLP block with a norm: named parameters built by a static init."""

    norm: nn.LayerNorm
    up: nn.Linear
    down: nn.Linear

    @classmethod
    def init(cls, Embed, Hidden, *, key):
        k1, k2 = jax.random.split(key)
        up, down = nn.Linear.init(Embed, Hidden, key=k1), nn.Linear.init(Hidden, Embed, key=k2)
        return cls(nn.LayerNorm.init(Embed), up, down)

    def __call__(self, x, scale=1.0):
        return x + scale * self.down(nn.relu(self.up(self.norm(x))))


class ScanBlock(Block):
    def __call__(self, x):
        y = super().__call__(x)
        return y, y.sum("embed")


def x_input():
    return nx.named(jax.random.normal(jax.random.key(1), (2, 3)), (Batch, Embed))


def loop(blocks, x):
    for b in blocks:
        x = b(x)
    return x


def test_per_layer_by_default_and_members_distinct():
    stack = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=KEY)
    assert stack.stacked.up.weight.axes == (Layers, Hidden, Embed)
    assert stack.stacked.norm.weight.axes == (Layers, Embed)  # pyright: ignore[reportOptionalMemberAccess]
    w = np.asarray(stack.stacked.up.weight.array)
    for i in range(1, Layers.size):
        assert not np.allclose(w[0], w[i]), "a single key must give distinct layers"


def test_fold_equals_loop_over_unstacked_and_blockseq_values_and_grads():
    stack = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=KEY)
    seq = nn.BlockSeq.init(Layers, Block)(Embed, Hidden, key=KEY)
    x = x_input()
    want = loop(stack.unstacked(), x)
    np.testing.assert_allclose(stack.fold(x).array, want.array, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(seq.fold(x).array, want.array, rtol=1e-5, atol=1e-6)

    loss_stacked = lambda m: m.fold(x).sum().scalar() ** 2
    g_stack = jit_grad(loss_stacked)(stack)
    g_seq = jit_grad(loss_stacked)(seq)
    restacked = [g_stack.get_layer(i) for i in range(Layers.size)]
    for got, want_block in zip(restacked, g_seq.blocks):
        assert tree_allclose(got, want_block, rtol=1e-4, atol=1e-5)


def test_scan_stacks_outputs_and_matches_blockseq():
    stack = nn.Stacked.init(Layers, ScanBlock)(Embed, Hidden, key=KEY)
    seq = nn.BlockSeq.init(Layers, ScanBlock)(Embed, Hidden, key=KEY)
    x = x_input()
    carry, outs = stack.scan(x)
    carry2, outs2 = seq.scan(x)
    assert outs.axes == (Layers, Batch)
    assert outs2.axes == (Layers, Batch)
    np.testing.assert_allclose(carry.array, carry2.array, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs.array, outs2.array, rtol=1e-5, atol=1e-5)


def test_shared_true_identical_members_without_axis():
    stack = nn.Stacked.init(Layers, Block, shared=True)(Embed, Hidden, key=KEY)
    assert stack.stacked.up.weight.axes == (Hidden, Embed)
    single = Block.init(Embed, Hidden, key=KEY)  # shared parameters use the unsplit key
    assert tree_allclose(stack.stacked, single)
    x = x_input()
    out = stack.vmap(x)
    assert out.axes == (Layers, Batch, Embed)
    for i in range(1, Layers.size):
        np.testing.assert_array_equal(out.array[0], out.array[i])
    np.testing.assert_allclose(
        stack.fold(x).array, loop([single] * Layers.size, x).array, rtol=1e-5
    )


@pytest.mark.parametrize(
    "shared",
    ["up", ["up", "norm.bias"], lambda b: (b.up, b.norm.bias), lambda b: b.up.weight],
    ids=["name", "dotted", "callable", "callable-leaf"],
)
def test_partial_shared_filter_shares_exactly_the_chosen_leaves(shared):
    stack = nn.Stacked.init(Layers, Block, shared=shared)(Embed, Hidden, key=KEY)
    single = Block.init(Embed, Hidden, key=KEY)
    expected = {".up.weight"}
    if not (callable(shared) and shared(single) is single.up.weight):
        expected.add(".up.bias")
    if isinstance(shared, list) or (callable(shared) and isinstance(shared(single), tuple)):
        expected.add(".norm.bias")
    for path, leaf in jax.tree_util.tree_flatten_with_path(
        stack.stacked, is_leaf=nx.is_named_array
    )[0]:
        name = jax.tree_util.keystr(path)
        assert (Layers.name not in leaf.axis_names) == (name in expected), name
    np.testing.assert_array_equal(stack.stacked.up.weight.array, single.up.weight.array)
    # per-layer leaves still differ between layers
    w = stack.stacked.down.weight.array
    assert not np.allclose(w[0], w[1])
    x = x_input()
    np.testing.assert_allclose(
        stack.fold(x).array, loop(stack.unstacked(), x).array, rtol=1e-5, atol=1e-6
    )


def test_presplit_keys_accepted_and_match_single_key():
    keys = jax.random.split(KEY, Layers.size)
    a = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=keys)
    b = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=KEY)
    assert tree_allclose(a, b)


def test_init_blocks_with_plain_arrays():
    stack = nn.Stacked.init(Layers, eqx.nn.Linear, shared="bias")(3, 3, key=KEY)
    assert stack.per_layer_arrays == frozenset({".weight"})
    assert stack.stacked.weight.shape == (4, 3, 3)
    assert stack.stacked.bias.shape == (3,)  # pyright: ignore[reportOptionalMemberAccess]
    x = jnp.arange(3.0)
    want = x
    for layer in stack.unstacked():
        want = layer(want)
    np.testing.assert_allclose(stack.fold(x), want, rtol=1e-5)
    seq = nn.BlockSeq(stack.unstacked(), Layers)
    g1 = jit_grad(lambda m: jnp.sum(m.fold(x) ** 2))(stack)
    g2 = jit_grad(lambda m: jnp.sum(m.fold(x) ** 2))(seq)
    np.testing.assert_allclose(
        g1.stacked.weight, jnp.stack([b.weight for b in g2.blocks]), rtol=1e-4
    )
    np.testing.assert_allclose(g1.stacked.bias, sum(b.bias for b in g2.blocks), rtol=1e-4)
    # a plain array argument is sliced along its first dimension (Haliax's rule)
    xs = jnp.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(stack.vmap(xs)[2], stack.get_layer(2)(xs[2]), rtol=1e-5)
    with pytest.raises(ValueError, match=r"Stacked.vmap: args\[0\] is a plain array of shape"):
        stack.vmap(x)
    assert "[layers:4, 3, 3]" in stack.explain()


def test_fold_compiles_to_one_scan_with_one_blocks_dots():
    Deep = nx.Axis("layers", 16)
    stack = nn.Stacked.init(Deep, Block)(Embed, Hidden, key=KEY)
    jaxpr = jax.make_jaxpr(lambda m, x: m.fold(x))(stack, x_input()).jaxpr

    def count(jaxpr, name):
        n = 0
        for eqn in jaxpr.eqns:
            n += eqn.primitive.name == name
            for sub in _subjaxprs(eqn):
                n += count(sub, name)
        return n

    assert [e.primitive.name for e in jaxpr.eqns].count("scan") == 1
    assert count(jaxpr, "scan") == 1
    assert count(jaxpr, "dot_general") == 2  # up and down, once


def _subjaxprs(eqn):
    for v in eqn.params.values():
        for item in v if isinstance(v, (list, tuple)) else [v]:
            if hasattr(item, "jaxpr") and hasattr(item.jaxpr, "eqns"):
                yield item.jaxpr
            elif hasattr(item, "eqns"):
                yield item


def test_arguments_with_layers_axis_are_sliced_per_layer():
    stack = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=KEY)
    scales = nx.named(jnp.array([0.0, 1.0, 2.0, 3.0]), Layers)
    x = x_input()
    want = x
    for i, block in enumerate(stack.unstacked()):
        want = block(want, scale=float(i))
    np.testing.assert_allclose(stack.fold(x, scale=scales).array, want.array, rtol=1e-5, atol=1e-6)
    seq = nn.BlockSeq(stack.unstacked(), Layers)
    np.testing.assert_allclose(seq.fold(x, scales).array, want.array, rtol=1e-5, atol=1e-6)


def test_vmap_ensemble_matches_each_member():
    stack = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=KEY)
    x = x_input()
    out = stack.vmap(x)
    assert out.axes[0] == Layers
    for i, block in enumerate(stack.unstacked()):
        np.testing.assert_allclose(out.array[i], block(x).array, rtol=1e-5, atol=1e-6)
    seq_out = nn.BlockSeq(stack.unstacked(), Layers).vmap(x)
    np.testing.assert_allclose(seq_out.array, out.array, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("policy", [True, "nested", nx.ScanCheckpointPolicy(nested=2)])
def test_gradient_checkpointing_keeps_values_and_grads(policy):
    plain = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=KEY)
    remat = nn.Stacked.init(Layers, Block, gradient_checkpointing=policy)(Embed, Hidden, key=KEY)
    x = x_input()
    loss = lambda m: (m.fold(x) ** 2).sum().scalar()
    assert np.allclose(eqx.filter_jit(loss)(plain), eqx.filter_jit(loss)(remat), rtol=1e-5)
    g_plain, g_remat = jit_grad(loss)(plain), jit_grad(loss)(remat)
    assert tree_allclose(g_plain.stacked, g_remat.stacked, rtol=1e-4, atol=1e-5)


def test_unroll_and_jit_and_fold_via():
    stack = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=KEY)
    x = x_input()
    want = stack.fold(x)
    np.testing.assert_allclose(stack.fold(x, unroll=2).array, want.array, rtol=1e-5)
    jitted = eqx.filter_jit(lambda m, x: m.fold(x))(stack, x)
    np.testing.assert_allclose(jitted.array, want.array, rtol=1e-5, atol=1e-6)
    via = stack.fold_via(lambda block, carry: block(carry) * 1.0)(x)
    np.testing.assert_allclose(via.array, want.array, rtol=1e-5)
    _, outs = stack.scan_via(lambda block, c: (block(c), block.up.weight.sum()))(x)
    assert outs.axes == (Layers,)
    norms = stack.vmap_via(lambda block: block.up.weight.sum())()
    np.testing.assert_allclose(norms.array, outs.array, rtol=1e-5)


@pytest.mark.parametrize("unroll", [True, False, 2])
def test_bool_unroll_in_scan_via_and_fold_matches_the_loop(unroll):
    stack = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=KEY)
    x = x_input()
    carry, outs = stack.scan_via(lambda block, c: (block(c), block.up.weight.sum()), unroll=unroll)(
        x
    )
    want_carry, want_outs = stack.scan_via(lambda block, c: (block(c), block.up.weight.sum()))(x)
    np.testing.assert_allclose(carry.array, want_carry.array, rtol=1e-5)
    np.testing.assert_allclose(outs.array, want_outs.array, rtol=1e-5)
    np.testing.assert_allclose(stack.fold(x, unroll=unroll).array, want_carry.array, rtol=1e-5)
    hlo = jax.jit(lambda m, x: m.fold(x, unroll=unroll).array).lower(stack, x).as_text()
    assert ("while" in hlo) == (unroll is not True)  # full unrolling leaves no loop


def test_block_without_key_and_get_layer():
    stack = nn.Stacked.init(Layers, nn.LayerNorm)(Embed)
    assert stack.stacked.weight.axes == (Layers, Embed)  # pyright: ignore[reportOptionalMemberAccess]
    assert stack.get_layer(-1).weight.axes == (Embed,)  # pyright: ignore[reportOptionalMemberAccess]
    with pytest.raises(IndexError, match="out of range"):
        stack.get_layer(4)


def test_wrong_block_structure_says_which_method():
    stack = nn.Stacked.init(Layers, ScanBlock)(Embed, Hidden, key=KEY)
    with pytest.raises(TypeError, match=r"pair \(carry, output\).*Use \.scan"):
        stack.fold(x_input())
    plain = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=KEY)
    with pytest.raises(TypeError, match=r"Use \.fold"):
        plain.scan(x_input())
    with pytest.raises(TypeError, match=r"Use \.scan"):
        nn.BlockSeq(stack.unstacked(), Layers).fold(x_input())
    changes = plain.fold_via(lambda block, x: x.sum("embed"))
    with pytest.raises(ValueError, match="structure and axes"):
        changes(x_input())


def test_init_errors():
    with pytest.raises(ValueError, match=r"one PRNG key .* or 4 keys"):
        nn.Stacked.init(Layers, Block)(Embed, Hidden, key=jax.random.split(KEY, 3))
    with pytest.raises(ValueError, match=r"shared='nope' names no parameter.*up\.weight"):
        nn.Stacked.init(Layers, Block, shared="nope")(Embed, Hidden, key=KEY)
    with pytest.raises(ValueError, match="selected no parameter"):
        nn.Stacked.init(Layers, Block, shared=lambda b: ())(Embed, Hidden, key=KEY)
    with pytest.raises(TypeError, match="shared must be"):
        nn.Stacked.init(Layers, Block, shared=3)(Embed, Hidden, key=KEY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a known policy"):
        nn.Stacked.init(Layers, Block, gradient_checkpointing="sometimes")
    with pytest.raises(ValueError, match="3 blocks were given"):
        nn.BlockSeq([Block.init(Embed, Hidden, key=KEY)] * 3, Layers)  # type: ignore[arg-type]


def test_explain_lists_per_layer_and_shared_leaves():
    stack = nn.Stacked.init(Layers, Block, shared="norm")(Embed, Hidden, key=KEY)
    text = stack.explain()
    assert "4 per-layer leaves" in text and "2 shared leaves" in text
    assert re.search(r"\.up\.weight +per-layer +\{layers:4, hidden:5, embed:3\} +f32", text)
    assert re.search(r"\.norm\.bias +shared +\{embed:3\} +f32$", text, re.MULTILINE)
    assert "mapping" not in text and "sharding" not in text  # no mesh, no mapping: no column
    with nx.partitioning.axis_mapping({"hidden": "model"}):
        assert "{layers:-, hidden:model, embed:-}" in stack.explain()


def test_scan_aware_tree_map_applies_per_layer():
    stack = nn.Stacked.init(Layers, Block, shared="norm")(Embed, Hidden, key=KEY)
    seen = []

    def record(x):
        seen.append(x.axis_names)
        return x * 2

    doubled = nx.tree_util.scan_aware_tree_map(record, stack)
    assert all("layers" not in names for names in seen)
    assert tree_allclose(doubled, jax.tree_util.tree_map(lambda x: x * 2, stack))


class ListBlock(eqx.Module):
    """A block whose sub-layers sit in a list, so key paths carry an index: `.layers[0]`."""

    layers: list

    @classmethod
    def init(cls, Embed, *, key):
        k1, k2 = jax.random.split(key)
        return cls([nn.Linear.init(Embed, Embed, key=k1), nn.Linear.init(Embed, Embed, key=k2)])

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def _shared_leaf_paths(stack):
    leaves = jax.tree_util.tree_flatten_with_path(stack.stacked, is_leaf=nx.is_named_array)[0]
    return {jax.tree_util.keystr(p) for p, leaf in leaves if Layers.name not in leaf.axis_names}


@pytest.mark.parametrize(
    "spelling, expected",
    [
        (".layers[0].weight", {".layers[0].weight"}),
        ("layers.0.weight", {".layers[0].weight"}),
        (".layers[1]", {".layers[1].weight", ".layers[1].bias"}),
        ("layers.1", {".layers[1].weight", ".layers[1].bias"}),
        ([".layers[0].bias", "layers.1.weight"], {".layers[0].bias", ".layers[1].weight"}),
    ],
)
def test_shared_accepts_the_path_spelling_explain_prints(spelling, expected):
    stack = nn.Stacked.init(Layers, ListBlock, shared=spelling)(Embed, key=KEY)
    assert _shared_leaf_paths(stack) == expected
    rows = stack.explain().splitlines()[2:]  # below the title and the column headers
    shared_rows = [line.split()[0] for line in rows if " shared " in line]
    assert set(shared_rows) == expected
    x = x_input()
    np.testing.assert_allclose(
        stack.fold(x).array, loop(stack.unstacked(), x).array, rtol=1e-5, atol=1e-6
    )


def test_shared_round_trips_every_path_explain_prints():
    per_layer = nn.Stacked.init(Layers, Block)(Embed, Hidden, key=KEY)
    rows = per_layer.explain().splitlines()[2:]  # below the title and the column headers
    printed = [line.split()[0] for line in rows]
    assert ".norm.bias" in printed and ".up.weight" in printed
    for path in printed:
        stack = nn.Stacked.init(Layers, Block, shared=path)(Embed, Hidden, key=KEY)
        assert _shared_leaf_paths(stack) == {path}
    stack = nn.Stacked.init(Layers, Block, shared=".norm")(Embed, Hidden, key=KEY)
    assert _shared_leaf_paths(stack) == {".norm.weight", ".norm.bias"}


def test_shared_unknown_path_names_the_spelling_given_and_the_parameters():
    with pytest.raises(ValueError) as info:
        nn.Stacked.init(Layers, ListBlock, shared=".layers[2].weight")(Embed, key=KEY)
    assert str(info.value) == (
        "Stacked.init: shared='.layers[2].weight' names no parameter of ListBlock. Its "
        "parameters are: layers.0.weight, layers.0.bias, layers.1.weight, layers.1.bias."
    )


def test_to_and_from_state_dict_methods_round_trip_stacked_and_blockseq():
    Layers, Embed = nx.Axis("layers", 3), nx.Axis("embed", 4)
    key = jax.random.key(0)
    stack = nn.Stacked.init(Layers, nn.Linear)(Embed, Embed, key=key)
    seq = nn.BlockSeq.init(Layers, nn.Linear)(Embed, Embed, key=key)
    state = stack.to_state_dict(prefix="h")
    assert sorted(state) == sorted(seq.to_state_dict(prefix="h"))
    assert sorted(state) == sorted(f"h.{i}.{n}" for i in range(3) for n in ("weight", "bias"))
    direct = nx.serialization.to_state_dict(stack, prefix="h")
    assert sorted(direct) == sorted(state)
    for k in state:
        np.testing.assert_array_equal(np.asarray(direct[k]), np.asarray(state[k]))
    zeros = jax.tree_util.tree_map(lambda a: np.zeros_like(np.asarray(a)) + 1.0, state)
    loaded = stack.from_state_dict(zeros, prefix="h")
    assert loaded.stacked.weight.axes == stack.stacked.weight.axes
    np.testing.assert_array_equal(loaded.stacked.weight.array, 1.0)
    x = nx.named(jnp.arange(4.0), Embed)
    back = stack.from_state_dict(stack.to_state_dict())
    assert_named_close(back.fold(x), np.asarray(stack.fold(x).array))
    seq_back = seq.from_state_dict(state, prefix="h")
    assert_named_close(seq_back.fold(x), np.asarray(stack.fold(x).array), rtol=1e-5)


@pytest.mark.parametrize("exc", [TypeError, ValueError])
@pytest.mark.parametrize("kind", [nn.Stacked, nn.BlockSeq])
def test_scan_of_a_block_returning_only_the_carry_is_both_type_and_value_error(kind, exc):
    Layers, Embed = nx.Axis("layers", 2), nx.Axis("embed", 3)
    stack = kind.init(Layers, nn.Linear)(Embed, Embed, key=jax.random.key(0))
    x = nx.named(jnp.ones(3), Embed)
    with pytest.raises(exc, match=r"\.scan: the block must return a pair"):
        stack.scan(x)
    with pytest.raises(exc, match=r"\.fold: the block returned a pair"):
        stack.fold_via(lambda block, c: (block(c), c))(x)


def test_a_block_instance_is_refused_with_the_fix():
    instance = nn.Linear.init(Embed, Hidden, key=KEY)
    for init in (nn.Stacked.init, nn.BlockSeq.init):
        with pytest.raises(TypeError, match=r"got an instance of Linear\. Pass the class"):
            init(Layers, instance)(Embed, Hidden, key=KEY)


def test_vmap_size_mismatch_names_the_argument_and_the_fix():
    stack = nn.Stacked.init(Layers, nn.Linear)(Embed, Hidden, key=KEY)
    wrong = nx.zeros((Layers.resize(Layers.size + 1), Embed))
    with pytest.raises(ValueError) as info:
        stack.vmap(wrong)
    message = str(info.value)
    assert message.startswith(f"Stacked.vmap: args[0] {{layers:{Layers.size + 1}, embed:")
    assert "give one slice per layer" in message and "rename that axis" in message
    assert "spec" not in message  # no advice about vmap specs Stacked.vmap does not take
