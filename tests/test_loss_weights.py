"""Weighted losses: `weight=` on reduce_loss, maybe_reduce_loss and the two cross-entropies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from namedax import nn

Batch, Pos, Label = nx.Axis("batch", 3), nx.Axis("pos", 4), nx.Axis("label", 5)


def _loss_and_weight(seed, zero_rows=()):
    rng = np.random.default_rng(seed)
    loss = nx.named(jnp.asarray(rng.uniform(0, 3, (3, 4)), jnp.float32), (Batch, Pos))
    w = rng.uniform(0, 2, (3, 4)).astype(np.float32)
    w[list(zero_rows)] = 0.0
    return loss, nx.named(jnp.asarray(w), (Batch, Pos))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), order=st.booleans())
def test_weighted_mean_is_sum_wl_over_sum_w_in_any_axis_order(seed, order):
    loss, w = _loss_and_weight(seed)
    if order:  # the weight's axis order does not matter: it aligns by name
        w = w.rearrange(("pos", "batch"))
    got = nn.reduce_loss(loss, weight=w)
    wl = w.rearrange(("batch", "pos")).array
    np.testing.assert_allclose(got.array, (wl * loss.array).sum() / wl.sum(), rtol=1e-5)
    per_batch = nn.reduce_loss(loss, nx.mean, Pos, weight=w)
    assert per_batch.axes == (Batch,)
    want = (wl * loss.array).sum(1) / wl.sum(1)
    np.testing.assert_allclose(per_batch.array, want, rtol=1e-5)


def test_zero_total_weight_gives_zero_and_a_finite_gradient():
    loss, w = _loss_and_weight(0, zero_rows=(1,))
    per_batch = nn.reduce_loss(loss, nx.mean, Pos, weight=w)
    assert float(per_batch.array[1]) == 0.0 and float(per_batch.array[0]) > 0
    zero = nx.zeros((Batch, Pos))
    assert float(nn.reduce_loss(loss, weight=zero).array) == 0.0

    def f(x):
        return nn.reduce_loss(nx.named(x, (Batch, Pos)), weight=zero).array

    grad = jax.grad(f)(loss.array)
    assert np.isfinite(np.asarray(grad)).all() and not np.asarray(grad).any()


def test_where_folds_into_the_weight():
    loss, w = _loss_and_weight(1)
    mask = nx.named(jnp.array([True, False, True]), Batch)  # broadcast by name
    got = nn.reduce_loss(loss, where=mask, weight=w)
    m = np.array([1.0, 0.0, 1.0])[:, None]
    wl = w.array * m
    np.testing.assert_allclose(got.array, (wl * loss.array).sum() / wl.sum(), rtol=1e-5)
    unreduced = nn.reduce_loss(loss, None, where=mask, weight=w)
    np.testing.assert_allclose(unreduced.array, loss.array * wl, rtol=1e-6)


def test_other_reductions_reduce_the_weighted_loss_and_a_row_weight_broadcasts():
    loss, _ = _loss_and_weight(2)
    row = nx.named(jnp.array([0.5, 1.0, 2.0]), Batch)
    got = nn.reduce_loss(loss, nx.sum, weight=row)
    np.testing.assert_allclose(got.array, (loss.array * row.array[:, None]).sum(), rtol=1e-5)
    got_max = nn.reduce_loss(loss, nx.max, Batch, weight=row)
    np.testing.assert_allclose(got_max.array, (loss.array * row.array[:, None]).max(0), rtol=1e-6)
    axis_none = nn.maybe_reduce_loss(loss, nx.mean, (), None, row)  # axis=() only weights
    np.testing.assert_allclose(axis_none.array, loss.array * row.array[:, None], rtol=1e-6)


def test_maybe_reduce_loss_takes_weight_as_fifth_positional_argument():
    loss, w = _loss_and_weight(3)
    a = nn.maybe_reduce_loss(loss, nx.mean, None, None, w)
    b = nn.maybe_reduce_loss(loss, nx.mean, None, where=None, weight=w)
    # jnp.mean also means weighted mean (it is not typed as a namedax Reduction)
    c = nn.maybe_reduce_loss(loss, jnp.mean, None, None, w)  # pyright: ignore[reportArgumentType]
    np.testing.assert_allclose(a.array, b.array)
    np.testing.assert_allclose(a.array, c.array, rtol=1e-6)
    assert float(nn.maybe_reduce_loss(loss, nx.mean, None, None, None).array) == pytest.approx(
        float(loss.array.mean())
    )


def test_cross_entropy_losses_take_weights():
    rng = np.random.default_rng(4)
    logits = nx.named(jnp.asarray(rng.normal(size=(3, 4, 5)), jnp.float32), (Batch, Pos, Label))
    ids = nx.named(jnp.asarray(rng.integers(0, 5, (3, 4))), (Batch, Pos))
    _, w = _loss_and_weight(4)
    per_elem = jax.nn.logsumexp(logits.array, -1) - jnp.take_along_axis(
        logits.array, ids.array[..., None], -1
    ).squeeze(-1)
    want = (w.array * per_elem).sum() / w.array.sum()
    got = nn.cross_entropy_loss(logits, Label, nn.one_hot(ids, Label), weight=w)
    np.testing.assert_allclose(got.array, want, rtol=1e-5)
    got_ids = nn.cross_entropy_loss(logits, Label, ids, weight=w)
    np.testing.assert_allclose(got_ids.array, want, rtol=1e-5)

    targets = nx.named(jnp.asarray(rng.uniform(size=(3, 4)), jnp.float32), (Batch, Pos))
    x = logits.array[..., 0]
    bce = jax.nn.softplus(x) - x * targets.array
    got_bce = nn.binary_cross_entropy_loss(logits[Label, 0], targets, weight=w)
    np.testing.assert_allclose(got_bce.array, (w.array * bce).sum() / w.array.sum(), rtol=1e-5)

    def f(lg):
        return nn.cross_entropy_loss(nx.named(lg, (Batch, Pos, Label)), Label, ids, weight=w).array

    grad = jax.grad(f)(logits.array)
    ref = jax.grad(
        lambda lg: (
            (
                w.array
                * (
                    jax.nn.logsumexp(lg, -1)
                    - jnp.take_along_axis(lg, ids.array[..., None], -1).squeeze(-1)
                )
            ).sum()
            / w.array.sum()
        )
    )(logits.array)
    np.testing.assert_allclose(grad, ref, rtol=1e-5, atol=1e-7)


def test_weight_errors():
    loss, _ = _loss_and_weight(5)
    with pytest.raises(TypeError, match="reduce_loss: weight must be a NamedArray"):
        nn.maybe_reduce_loss(loss, nx.mean, None, None, jnp.ones((3, 4)))  # pyright: ignore[reportArgumentType]  # the error is the point
    extra = nx.ones((Batch, Label))
    with pytest.raises(ValueError, match=r"weight .* has axes \{label:5\}.*lacks"):
        nn.reduce_loss(loss, weight=extra)
