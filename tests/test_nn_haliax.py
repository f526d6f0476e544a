"""Haliax's nn keywords and semantics: one_hot, Embedding, Linear(dot_general, reparam_cls),
LayerNormBase, MoELinear, loss reduction, relu_squared, and the new ScanCheckpointPolicy settings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import checkpoint_name

import namedax as nx
from namedax import nn
from namedax.transforms._remat import ScanCheckpointPolicy
from tests.helpers import axis_orders, in_order

KEY = jax.random.key(0)
Batch, Embed, Hidden = nx.Axis("batch", 2), nx.Axis("embed", 3), nx.Axis("hidden", 4)


@pytest.mark.parametrize("label", [-1, -4, 0, 3])
def test_one_hot_scalar_counts_from_the_end(label):
    Pos = nx.Axis("position", 4)
    want = np.zeros(4)
    want[label] = 1.0
    np.testing.assert_array_equal(nn.one_hot(label, Pos).array, want)
    np.testing.assert_array_equal(nn.one_hot(jnp.array(label), Pos).array, want)
    np.testing.assert_array_equal(jax.jit(lambda i: nn.one_hot(i, Pos).array)(label), want)


def test_one_hot_scalar_errors():
    Pos = nx.Axis("position", 4)
    with pytest.raises(ValueError, match=r"one_hot: label 4 is outside \[-4, 4\)"):
        nn.one_hot(4, Pos)
    with pytest.raises(TypeError, match="one_hot: x must be integer labels"):
        nn.one_hot(jnp.array(1.0), Pos)


def test_next_token_mask_drops_the_last_position():
    Pos = nx.Axis("position", 5)
    mask = 1 - nn.one_hot(-1, Pos)
    assert mask.array.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]


def test_embedding_looks_up_along_its_own_axis():
    Pos = nx.Axis("position", 6)
    table = nn.Embedding.init(Pos, Embed, key=KEY)
    for n in (6, 3):
        out = table.embed(nx.arange(Pos.resize(n)))
        assert out.axes == (Pos.resize(n), Embed)
        np.testing.assert_array_equal(out.array, table.weight.array[:n])
    with pytest.raises(ValueError, match="has axis 'embed'"):
        table.embed(nx.zeros((Embed,), dtype=jnp.int32))


def test_embedding_init_matches_haliax_scale():
    Vocab, Wide = nx.Axis("vocab", 512), nx.Axis("embed", 64)
    table = nn.Embedding.init(Vocab, Wide, key=KEY)
    want = jax.random.truncated_normal(KEY, -3.0, 3.0, (512, 64)) / 64
    np.testing.assert_allclose(table.weight.array, want, rtol=1e-6)
    scaled = nn.Embedding.init(Vocab, Wide, key=KEY, init_scale=2.0)
    np.testing.assert_allclose(scaled.weight.array, 2 * want, rtol=1e-6)
    legacy = nn.Embedding.init(Vocab, Wide, key=KEY, initializer_range=2.0)
    np.testing.assert_allclose(legacy.weight.array, 2 * want, rtol=1e-6)
    mup = nn.Embedding.init(Vocab, Wide, key=KEY, reparam_cls=nn.EmbeddingMup)
    x = nx.ones((Wide,))
    np.testing.assert_allclose(mup.unembed(x).array, mup.weight.array.sum(1) / 64, atol=1e-6)
    grown = table.resize_embeddings(520, key=jax.random.key(1))
    assert grown.Vocab.size == 520 and grown.weight.shape == {"vocab": 520, "embed": 64}


def test_cross_entropy_error_names_the_loss():
    logits = nx.ones((Batch, Hidden))
    with pytest.raises(ValueError, match=r"^cross_entropy_loss: no axis 'label'"):
        nn.cross_entropy_loss(logits, "label", nx.ones((Batch,)))


def test_linear_dot_general_and_reparam():
    calls = []

    def my_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
        calls.append(dimension_numbers)
        return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision, preferred_element_type)

    x = jax.random.normal(jax.random.key(1), (2, 3))
    for out_first in (True, False):
        plain = nn.Linear.init(Embed, Hidden, key=KEY, out_first=out_first)
        custom = nn.Linear.init(
            Embed, Hidden, key=KEY, out_first=out_first, dot_general=my_dot_general
        )
        for order in axis_orders((Batch, Embed)):
            xin = in_order(nx.named(x, (Batch, Embed)), order)
            got, want = custom(xin), plain(xin)
            assert got.axes == want.axes
            np.testing.assert_allclose(got.array, want.array, rtol=1e-6)
        grad = jax.grad(lambda layer: layer(nx.named(x, (Batch, Embed))).array.sum())(custom)
        w = custom.weight.rearrange((Embed.name, Hidden.name)).array
        ref = jax.grad(lambda w: (x @ w).sum())(w)
        np.testing.assert_allclose(grad.weight.rearrange(("embed", "hidden")).array, ref)
    assert calls
    mup = nn.Linear.init(Embed, Hidden, key=KEY, reparam_cls=nn.OutputLinearMup, use_bias=False)
    want = x @ mup.weight.rearrange(("embed", "hidden")).array / 3
    np.testing.assert_allclose(mup(nx.named(x, (Batch, Embed))).array, want, rtol=1e-6)
    assert nn.Linear.hidden_reparam() is nn.HiddenLinearMup
    assert nn.Linear.output_reparam(False) is nn.LinearStandardParam


def test_layer_norm_base_defaults_and_subclass():
    norm = nn.RmsNorm.init(Embed)
    assert norm.eps == 1e-5 and norm.bias is not None and norm.axis == Embed
    assert isinstance(norm, nn.LayerNormBase) and isinstance(
        nn.LayerNorm.init(Embed), nn.LayerNormBase
    )

    class CentreOnly(nn.LayerNormBase):
        def __call__(self, x, *, key=None):
            array, positions = self._input("CentreOnly", x)
            return self._affine("CentreOnly", array - array.mean(positions, keepdims=True), x)

    x = jax.random.normal(KEY, (2, 3))
    out = CentreOnly.init(Embed, use_bias=False)(nx.named(x, (Batch, Embed)))
    np.testing.assert_allclose(out.array, x - x.mean(1, keepdims=True), rtol=1e-6)


def _moe_reference(layer, x, sizes):
    w = layer.weight.rearrange(("experts", "embed", "hidden")).array
    expert = np.repeat(np.arange(len(sizes)), sizes)
    rows = [
        x[i] @ w[expert[i]] if i < len(expert) else np.zeros(w.shape[-1]) for i in range(len(x))
    ]
    return np.stack(rows) + np.asarray(layer.bias.array)[None]


@pytest.mark.parametrize("out_first", [False, True])
def test_moe_linear_matches_per_row_reference(out_first):
    Experts, Token = nx.Axis("experts", 3), nx.Axis("token", 6)
    layer = nn.MoELinear.init(Experts, Embed, Hidden, key=KEY, out_first=out_first)
    assert layer.out_first is out_first
    x = np.asarray(jax.random.normal(jax.random.key(1), (6, 3)))
    sizes = nx.named(jnp.array([2, 0, 3]), Experts)
    want = _moe_reference(layer, x, [2, 0, 3])
    for order in axis_orders((Token, Embed)):
        xin = in_order(nx.named(jnp.asarray(x), (Token, Embed)), order)
        got = jax.jit(lambda m, a, s: m(a, s))(layer, xin, sizes)
        assert got.axis_names == tuple("hidden" if a.name == "embed" else a.name for a in order)
        np.testing.assert_allclose(got.rearrange(("token", "hidden")).array, want, rtol=1e-5)
    grad = jax.grad(lambda m: m(nx.named(jnp.asarray(x), (Token, Embed)), sizes).array.sum())(layer)
    assert grad.weight.axes == layer.weight.axes
    with pytest.raises(ValueError, match="lacks the input axis embed"):
        layer(nx.ones((Token, Hidden)), sizes)
    with pytest.raises(ValueError, match="must have exactly the expert axis"):
        layer(nx.ones((Token, Embed)), nx.named(jnp.array([1, 2]), "e"))
    with pytest.raises(TypeError, match="group_sizes must be integers"):
        layer(nx.ones((Token, Embed)), nx.ones((Experts,)))


def test_maybe_reduce_loss_and_relu_squared():
    loss = nx.named(jnp.array([[1.0, 2.0], [3.0, 4.0]]), (Batch, "pos"))
    mask = nx.named(jnp.array([1.0, 0.0]), "pos")
    assert float(nn.maybe_reduce_loss(loss, nx.mean, None, mask).array) == 2.0
    assert nn.maybe_reduce_loss(loss, nx.sum, "pos", None).array.tolist() == [3.0, 7.0]
    assert nn.maybe_reduce_loss(loss, None, None, mask).array.tolist() == [[1.0, 0.0], [3.0, 0.0]]
    assert float(nn.reduce_loss(loss).array) == 2.5
    x = nx.named(jnp.array([-2.0, 0.5, 3.0]), "e")
    np.testing.assert_allclose(nn.relu_squared(x).array, [0.0, 0.25, 9.0])
    assert (
        float(
            jax.grad(lambda v: nn.relu_squared(nx.named(v, "e")).array.sum())(jnp.array([3.0]))[0]
        )
        == 6.0
    )


@pytest.mark.parametrize(
    "policy",
    [
        ScanCheckpointPolicy(disable=True),
        ScanCheckpointPolicy(simple=True),
        ScanCheckpointPolicy(simple=True, nested=2),
        ScanCheckpointPolicy(save_carries=False, save_block_internals=["h"]),
        ScanCheckpointPolicy(offload_block_internals=["h"]),
        "recompute",
    ],
)
def test_new_policies_keep_values_and_grads(policy):
    Layers = nx.Axis("layers", 4)
    ws = jax.random.normal(KEY, (4, 3))

    def run(remat):
        def loss(ws, x):
            def step(c, w):
                h = checkpoint_name(jnp.sin(c.array * w.array), "h")
                return nx.named(jnp.cos(h) + c.array, "e")

            out = nx.fold(step, Layers, remat=remat)(nx.named(x, "e"), nx.named(ws, (Layers, "e")))
            return out.array.sum()

        return jax.value_and_grad(loss)(ws, jnp.arange(3.0))

    (v, g), (v0, g0) = run(policy), run(False)
    np.testing.assert_allclose(v, v0, rtol=1e-6)
    np.testing.assert_allclose(g, g0, rtol=1e-6)


def test_policy_settings():
    assert not ScanCheckpointPolicy(disable=True, nested=True).rematerialises
    assert ScanCheckpointPolicy(disable=True, nested=True).blocks(16) is None
    assert (
        ScanCheckpointPolicy(simple=True).checkpoint_policy()
        is jax.checkpoint_policies.nothing_saveable
    )
    assert ScanCheckpointPolicy.from_bool_or_str("recompute") == ScanCheckpointPolicy()
    with pytest.raises(ValueError, match="nothing can be offloaded"):
        ScanCheckpointPolicy(save_block_internals=True, offload_block_internals=["h"])
    with pytest.raises(TypeError, match="offload_block_internals must be a list"):
        ScanCheckpointPolicy(offload_block_internals="h")  # pyright: ignore[reportArgumentType]
