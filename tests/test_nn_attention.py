"""Dot-product attention against hand-written softmax attention; masks; score layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import nn
from tests.helpers import assert_named_close, axis_orders, in_order

Batch, QPos, KPos = nx.Axis("batch", 2), nx.Axis("position", 4), nx.Axis("key_position", 4)
Heads, Key = nx.Axis("heads", 3), nx.Axis("head_dim", 5)
ks = jax.random.split(jax.random.key(0), 3)
Q = jax.random.normal(ks[0], (2, 4, 3, 5))  # b q h d
K = jax.random.normal(ks[1], (2, 4, 3, 5))  # b k h d
V = jax.random.normal(ks[2], (2, 4, 3, 5))
CAUSAL = jnp.tril(jnp.ones((4, 4), bool))


def reference(q, k, v, mask=None, bias=None):
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(5.0)
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
    weights = jax.nn.softmax(scores, axis=-1)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v), weights


def named_qkv():
    return (
        nx.named(Q, (Batch, QPos, Heads, Key)),
        nx.named(K, (Batch, KPos, Heads, Key)),
        nx.named(V, (Batch, KPos, Heads, Key)),
    )


def test_attention_matches_reference_in_every_order():
    q, k, v = named_qkv()
    want, want_w = reference(Q, K, V, mask=CAUSAL[None, None])
    mask = nn.causal_mask(QPos, KPos)
    for order in list(axis_orders(q.axes))[::5]:
        for k_order in list(axis_orders(k.axes))[::7]:
            out = nn.dot_product_attention(
                KPos, Key, in_order(q, order), in_order(k, k_order), v, mask=mask
            )
            assert out.axes == (*[a for a in order if a != Key], Key)
            assert_named_close(out, want, ("batch", "position", "heads", "head_dim"), atol=1e-5)
    weights = nn.dot_product_attention_weights(Key, KPos, q, k, mask=mask)
    assert weights.axes == (Batch, Heads, QPos, KPos)  # dot_general's order: no transposes
    assert_named_close(weights, want_w, atol=1e-6)


def test_attention_bias_and_legacy_qpos_form_and_grads():
    q, k, v = named_qkv()
    bias_array = jax.random.normal(jax.random.key(5), (3, 4))  # per head and key position
    bias = nx.named(bias_array, (Heads, KPos))
    want, _ = reference(Q, K, V, bias=bias_array[None, :, None, :])
    out = nn.dot_product_attention(QPos, KPos, Key, q, k, v, bias=bias)
    assert_named_close(out, want, ("batch", "position", "heads", "head_dim"), atol=1e-5)

    def named_loss(q, k, v):
        qkv = (
            nx.named(q, (Batch, QPos, Heads, Key)),
            nx.named(k, (Batch, KPos, Heads, Key)),
            nx.named(v, (Batch, KPos, Heads, Key)),
        )
        return (
            nn.dot_product_attention(KPos, Key, *qkv, mask=nn.causal_mask(QPos, KPos)).array ** 2
        ).sum()

    def ref_loss(q, k, v):
        return (reference(q, k, v, mask=CAUSAL[None, None])[0] ** 2).sum()

    for got, want in zip(
        jax.grad(named_loss, (0, 1, 2))(Q, K, V), jax.grad(ref_loss, (0, 1, 2))(Q, K, V)
    ):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_score_layout_has_no_transposes_around_softmax():
    q, k, _ = named_qkv()
    jaxpr = jax.make_jaxpr(lambda q, k: nn.dot_product_attention_weights(Key, KPos, q, k))(q, k)
    names = [e.primitive.name for e in jaxpr.jaxpr.eqns]
    assert "transpose" not in names, names


def test_attention_errors():
    q, k, v = named_qkv()
    with pytest.raises(ValueError, match=r"query .* has the key position axis 'position'"):
        nn.dot_product_attention("position", Key, q, q, q)
    with pytest.raises(
        ValueError,
        match=r"value \{batch:2, key_position:4, heads:3, head_dim:5\} must have the KPos axis other\(4\)",
    ):
        nn.dot_product_attention(nx.Axis("other", 4), Key, q, k, v)
    with pytest.raises(ValueError, match=r"must have the QPos axis"):
        nn.dot_product_attention(nx.Axis("qq", 4), KPos, Key, q, k, v)
    with pytest.raises(ValueError, match="both named 'position'"):
        nn.causal_mask(QPos, QPos)


def test_masks():
    np.testing.assert_array_equal(nn.causal_mask(QPos, KPos).array, CAUSAL)
    shifted = nn.causal_mask(nx.Axis("position", 2), KPos, q_start=2)
    np.testing.assert_array_equal(shifted.array, CAUSAL[2:])
    offsets = nx.named(jnp.array([0, 1]), Batch)
    per_batch = nn.causal_mask(QPos, KPos, q_start=offsets)
    assert set(per_batch.axis_names) == {"batch", "position", "key_position"}
    prefix = nn.prefix_lm_mask(QPos, KPos, 2)
    np.testing.assert_array_equal(prefix.array, CAUSAL | (jnp.arange(4) < 2)[None, :])
    a = nx.named(jnp.array([True, False, True, True]), KPos)
    both = nn.combine_masks_and(nn.causal_mask(QPos, KPos), a)
    assert both is not None
    np.testing.assert_array_equal(both.array, CAUSAL & a.array[None, :])
    either = nn.combine_masks_or(nn.causal_mask(QPos, KPos), a)
    assert either is not None
    np.testing.assert_array_equal(either.array, CAUSAL | a.array[None, :])
    assert nn.combine_masks_or(None, a) is a
    np.testing.assert_array_equal(nn.mask_to_bias(a).array, [0.0, -1e9, 0.0, 0.0])


@pytest.mark.parametrize(
    "heads, bias_max, slopes",
    [
        (8, 8, [2.0**-e for e in range(1, 9)]),  # power of two: 2^(-8 (h+1) / 8)
        (2, 4, [2.0**-2, 2.0**-4]),
        (1, 8, [2.0**-8]),
        # 6 heads: the 4-head slopes, then every other 8-head slope (2^-1, 2^-3).
        (6, 8, [2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3]),
    ],
)
def test_alibi_bias_is_the_head_slope_times_the_key_position(heads, bias_max, slopes):
    H, K = nx.Axis("heads", heads), nx.Axis("key_position", 5)
    bias = nn.attention.alibi_attention_bias(H, K, bias_max=bias_max)
    assert bias.axes == (H, K) and bias.dtype == jnp.float32
    expected = np.array(slopes)[:, None] * np.arange(5)[None, :]
    np.testing.assert_allclose(bias.array, expected, rtol=1e-6)
    assert nn.alibi_attention_bias(H, K, dtype=jnp.bfloat16).dtype == jnp.bfloat16


def test_alibi_bias_gives_the_papers_distance_penalty_under_a_causal_mask():
    # ALiBi subtracts slope * (i - j) from query i's score for key j; per row that differs
    # from slope * j by a constant, so the attention weights agree.
    Hd = nx.Axis("heads", 3)
    bias = nn.alibi_attention_bias(Hd, KPos)
    slopes = np.asarray(bias.array[:, 1])
    q, k = Q[0], K[0]  # q h d / k h d
    scores = jnp.einsum("qhd,khd->hqk", q, k) / jnp.sqrt(5.0)
    i, j = np.arange(4)[:, None], np.arange(4)[None, :]
    penalised = scores - slopes[:, None, None] * (i - j)[None]
    expected = jax.nn.softmax(jnp.where(CAUSAL, penalised, -jnp.inf), axis=-1)
    weights = nn.dot_product_attention_weights(
        Key,
        KPos,
        nx.named(q, (QPos, Hd, Key)),
        nx.named(k, (KPos, Hd, Key)),
        mask=nn.causal_mask(QPos, KPos),
        bias=bias,
    )
    assert_named_close(weights, expected, ("heads", "position", "key_position"), atol=1e-5)


def test_alibi_and_forgetful_mask_errors_and_forgetful_mask_keeps_position_zero():
    with pytest.raises(TypeError, match=r"alibi_attention_bias: Heads must be an Axis"):
        nn.alibi_attention_bias("heads", KPos)  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(ValueError, match=r"alibi_attention_bias: bias_max must be > 0, got 0"):
        nn.alibi_attention_bias(Heads, KPos, bias_max=0)
    Long = nx.Axis("key_position", 2000)
    for sample in (False, True):
        mask = nn.forgetful_causal_mask(Long, 0.3, sample_prob=sample, key=jax.random.key(1))
        assert mask.axes == (Long,) and mask.dtype == jnp.bool_
        assert bool(mask.array[0])
        dropped = 1 - float(mask.array.mean())
        assert (0.25 < dropped < 0.35) if not sample else (0.0 <= dropped < 0.35)
    assert bool(nn.forgetful_causal_mask(Long, 0.0, key=jax.random.key(0)).array.all())
    only_first = nn.forgetful_causal_mask(Long, 1.0, key=jax.random.key(0)).array
    assert bool(only_first[0]) and int(only_first.sum()) == 1
    with pytest.raises(ValueError, match=r"forgetful_causal_mask: mask_prob must be in \[0, 1\]"):
        nn.forgetful_causal_mask(Long, 1.5, key=jax.random.key(0))
