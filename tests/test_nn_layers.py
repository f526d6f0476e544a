"""Linear, Embedding, MLP, LayerNorm, RmsNorm and Dropout against positional references."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import nn
from tests.helpers import assert_named_close, axis_orders, in_order

Batch, Embed, Hidden, Heads = (
    nx.Axis("batch", 2),
    nx.Axis("embed", 3),
    nx.Axis("hidden", 4),
    nx.Axis("heads", 2),
)
KEY = jax.random.key(0)
X = jax.random.normal(jax.random.key(1), (2, 3))


def test_linear_matches_x_at_w_plus_b_in_every_order_with_grads():
    layer = nn.Linear.init(Embed, Hidden, key=KEY)
    assert layer.weight.axes == (Hidden, Embed) and layer.bias is not None
    W, b = layer.weight.array.T, layer.bias.array[None]
    for order in axis_orders((Batch, Embed)):
        out = layer(in_order(nx.named(X, (Batch, Embed)), order))
        assert out.axes == (Batch, Hidden)
        assert_named_close(out, X @ W + b, atol=1e-5)
    grad = eqx.filter_grad(lambda m: (m(nx.named(X, (Batch, Embed))) ** 2).sum().scalar())(layer)
    gW, gb = jax.grad(lambda W, b: ((X @ W + b) ** 2).sum(), argnums=(0, 1))(W, b)
    np.testing.assert_allclose(grad.weight.array.T, gW, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad.bias.array, gb[0], rtol=1e-5, atol=1e-5)


def test_linear_same_in_and_out_axis():
    layer = nn.Linear.init(Embed, Embed, key=KEY, use_bias=False)
    assert layer.weight.axes == (Embed, Embed.alias("embed_in"))
    x = nx.named(X, (Batch, Embed))
    out = layer(x)
    assert out.axes == (Batch, Embed)
    assert_named_close(out, X @ layer.weight.array.T, atol=1e-5)
    # applying it twice works, as in a residual stack
    assert_named_close(layer(out), X @ layer.weight.array.T @ layer.weight.array.T, atol=1e-5)
    with pytest.raises(ValueError, match="already has axis 'embed_in'"):
        layer(nx.named(jnp.ones((3, 3)), (Embed, Embed.alias("embed_in"))))


def test_linear_multi_axis_and_in_first_layout():
    layer = nn.Linear.init((Heads, Embed), Hidden, key=KEY, out_first=False)
    assert layer.weight.axes == (Heads, Embed, Hidden) and layer.bias is not None
    x = jax.random.normal(jax.random.key(2), (2, 2, 3))
    out = layer(nx.named(x, (Batch, Heads, Embed)))
    want = jnp.einsum("bhe,heo->bo", x, layer.weight.array) + layer.bias.array[None]
    assert_named_close(out, want, ("batch", "hidden"), atol=1e-5)
    fan_in_std = np.std(nn.Linear.init(nx.Axis("i", 400), nx.Axis("o", 400), key=KEY).weight.array)
    assert 0.8 / 20 < fan_in_std < 1.2 / 20  # std ~ init_scale / sqrt(fan_in)


def test_linear_errors_name_the_axes():
    layer = nn.Linear.init(Embed, Hidden, key=KEY)
    with pytest.raises(
        ValueError, match=r"axis 'embed' has size 5, but the layer expects embed\(3\)"
    ):
        layer(nx.named(jnp.ones((2, 5)), (Batch, "embed")))
    with pytest.raises(
        ValueError, match=r"lacks the input axis embed\(3\).*\{embed:3\} to \{hidden:4\}"
    ):
        layer(nx.named(jnp.ones((2, 5)), (Batch, "other")))
    with pytest.raises(ValueError, match="already has the output axis 'hidden'"):
        layer(nx.named(jnp.ones((3, 4)), (Embed, Hidden)))
    with pytest.raises(TypeError, match="must be a NamedArray"):
        layer(X)  # type: ignore[arg-type]


def test_embedding_embed_and_unembed():
    Vocab = nx.Axis("vocab", 7)
    table = nn.Embedding.init(Vocab, Embed, key=KEY)
    ids = jnp.array([[1, 6, 0], [3, 3, 2]])
    named_ids = nx.named(ids, (Batch, "position"))
    out = table.embed(named_ids)
    assert out.axes[-1] == Embed and set(out.axis_names) == {"batch", "position", "embed"}
    assert_named_close(out, table.weight.array[ids], ("batch", "position", "embed"))
    assert_named_close(table(named_ids), table.weight.array[ids], ("batch", "position", "embed"))
    x = nx.named(X, (Batch, Embed))
    assert_named_close(table.unembed(x), X @ table.weight.array.T, ("batch", "vocab"), atol=1e-6)
    g = jax.grad(
        lambda w: (
            eqx.tree_at(lambda t: t.weight, table, nx.named(w, (Vocab, Embed)))
            .embed(named_ids)
            .array
            ** 2
        ).sum()
    )(table.weight.array)
    np.testing.assert_allclose(
        g, jax.grad(lambda w: (w[ids] ** 2).sum())(table.weight.array), rtol=1e-6
    )
    with pytest.raises(TypeError, match="integer ids"):
        table.embed(x)


def test_mlp_matches_manual_composition():
    In, Out = nx.Axis("features", 3), nx.Axis("targets", 2)
    mlp = nn.MLP.init(In, Out, width=5, depth=2, activation=nn.gelu, key=KEY)
    assert len(mlp.layers) == 3
    assert mlp.layers[1].weight.axes == (nx.Axis("mlp2", 5), nx.Axis("mlp", 5))
    h = X
    for i, layer in enumerate(mlp.layers):
        assert layer.bias is not None
        h = h @ layer.weight.array.T + layer.bias.array[None]
        if i < 2:
            h = jax.nn.gelu(h)
    assert_named_close(mlp(nx.named(X, (Batch, In))), h, ("batch", "targets"), atol=1e-5)
    assert len(nn.MLP.init(In, Out, width=5, depth=0, key=KEY).layers) == 1


@pytest.mark.parametrize("depth", [0, 1, 2, 3, 4])
def test_mlp_hidden_axes_alternate_between_width_and_its_alias(depth):
    In, Out, M = nx.Axis("features", 3), nx.Axis("targets", 2), nx.Axis("hidden", 6)
    mlp = nn.MLP.init(In, Out, width=M, depth=depth, key=KEY)
    M2 = M.alias("hidden2")
    hidden = [M if n % 2 == 0 else M2 for n in range(depth)]
    assert [layer.In for layer in mlp.layers] == [In, *hidden]
    assert [layer.Out for layer in mlp.layers] == [*hidden, Out]
    assert mlp.In == In and mlp.Out == Out
    assert nn.MLP.init(In, Out, width=4, depth=1, key=KEY).layers[0].Out == nx.Axis(
        nx.nn._mlp.DEFAULT_WIDTH_NAME, 4
    )
    # No hidden weight needs the `_in` rename: each holds two distinct names.
    assert all(not a.name.endswith("_in") for layer in mlp.layers for a in layer.weight.axes)
    y = mlp(nx.named(X, (Batch, In)))
    assert y.axes == (Batch, Out)


def test_mlp_passes_dot_general_to_every_layer_and_rejects_bad_widths():
    In, Out = nx.Axis("features", 3), nx.Axis("targets", 2)
    calls = []

    def counting_dot_general(lhs, rhs, dims, **kw):
        calls.append(dims)
        return jax.lax.dot_general(lhs, rhs, dims, **kw)

    mlp = nn.MLP.init(In, Out, width=5, depth=2, key=KEY, dot_general=counting_dot_general)
    plain = nn.MLP.init(In, Out, width=5, depth=2, key=KEY)
    x = nx.named(X, (Batch, In))
    assert_named_close(mlp(x), plain(x).array, ("batch", "targets"), atol=1e-6)
    assert len(calls) == 3
    with pytest.raises(TypeError, match=r"MLP.init: width must be an int or an Axis"):
        nn.MLP.init(In, Out, width="wide", depth=1, key=KEY)  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(ValueError, match=r"MLP.init: depth must be an int >= 0"):
        nn.MLP.init(In, Out, width=5, depth=-1, key=KEY)


@pytest.mark.parametrize("norm_cls", [nn.LayerNorm, nn.RmsNorm])
def test_norms_match_formula_in_every_order_with_grads(norm_cls):
    norm = norm_cls.init(Embed, use_bias=True)
    norm = eqx.tree_at(
        lambda n: (n.weight, n.bias),
        norm,
        (nx.named(jnp.array([1.0, 2.0, 3.0]), Embed), nx.named(jnp.array([0.1, 0.2, 0.3]), Embed)),
    )

    def reference(x, w, b):
        if norm_cls is nn.LayerNorm:
            mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
            return (x - mean) / jnp.sqrt(var + 1e-5) * w[None] + b[None]
        return x / jnp.sqrt((x**2).mean(-1, keepdims=True) + 1e-5) * w[None] + b[None]  # Haliax eps

    want = reference(X, norm.weight.array, norm.bias.array)
    for order in axis_orders((Batch, Embed)):
        got = norm(in_order(nx.named(X, (Batch, Embed)), order))
        assert got.axes == order
        assert_named_close(got, want, ("batch", "embed"), atol=1e-5)
    grads = eqx.filter_grad(lambda n: (n(nx.named(X, (Batch, Embed))) ** 3).sum().scalar())(norm)
    gw, gb = jax.grad(lambda w, b: (reference(X, w, b) ** 3).sum(), argnums=(0, 1))(
        norm.weight.array, norm.bias.array
    )
    np.testing.assert_allclose(grads.weight.array, gw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads.bias.array, gb, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"no axis 'embed' in \{batch:2\}"):
        norm(nx.named(jnp.ones(2), Batch))


def test_layer_norm_over_several_axes_without_params():
    norm = nn.LayerNorm.init((Heads, Embed), use_weight=False, use_bias=False)
    x = jax.random.normal(KEY, (2, 2, 3))
    got = norm(nx.named(x, (nx.Axis("b", 2), Heads, Embed)))
    mean, var = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
    assert_named_close(got, (x - mean) / jnp.sqrt(var + 1e-5), atol=1e-5)


def test_dropout_rate_scaling_broadcast_and_inference():
    x = nx.ones((nx.Axis("batch", 200), nx.Axis("embed", 50)))
    drop = nn.Dropout(0.25)
    y = drop(x, key=KEY)
    values = np.unique(np.asarray(y.array))
    np.testing.assert_allclose(values, [0.0, 1 / 0.75], rtol=1e-6)
    assert abs(float((y.array == 0).mean()) - 0.25) < 0.03
    shared = nn.Dropout(0.5, broadcast_axes="batch")(x, key=KEY)
    assert bool((shared.array == shared.array[:1]).all())
    assert nn.Dropout(0.5, inference=True)(x) is x
    assert drop(x, inference=True) is x
    with pytest.raises(ValueError, match="PRNG key is needed"):
        drop(x)
    with pytest.raises(ValueError, match=r"pdrop must lie in \[0, 1\]"):
        nn.Dropout(1.5)
