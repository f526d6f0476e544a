"""Activations, softmax/logsumexp/standardize and losses against jax.nn, in every axis order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import nn
from namedax.nn._activations import ACTIVATIONS
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C = nx.Axis("a", 2), nx.Axis("b", 3), nx.Axis("c", 4)
X = jax.random.normal(jax.random.key(0), (2, 3, 4))
BASE = nx.named(X, (A, B, C))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_jax_nn_in_every_axis_order(name):
    named_fn, reference = ACTIVATIONS[name]
    want = reference(X)
    for order in axis_orders((A, B, C)):
        got = named_fn(in_order(BASE, order))
        assert got.axes == order
        assert_named_close(got, want, ("a", "b", "c"))
    grad = jax.grad(lambda x: named_fn(nx.named(x, (A, B, C))).array.sum())(X)
    np.testing.assert_allclose(
        grad, jax.grad(lambda x: reference(x).sum())(X), rtol=1e-5, atol=1e-6
    )


def test_activation_keyword_parameters_pass_through():
    assert_named_close(nn.gelu(BASE, approximate=False), jax.nn.gelu(X, approximate=False))
    assert_named_close(nn.leaky_relu(BASE, negative_slope=0.3), jax.nn.leaky_relu(X, 0.3))
    assert_named_close(nn.elu(BASE, alpha=2.0), jax.nn.elu(X, 2.0))


def test_glu_splits_named_axis():
    for order in axis_orders((A, B, C)):
        got = nn.glu(in_order(BASE, order), "c")
        assert got.shape["c"] == 2
        assert_named_close(got, jax.nn.glu(X, axis=2), ("a", "b", "c"))
    with pytest.raises(ValueError, match="odd size 3"):
        nn.glu(BASE, "b")


@pytest.mark.parametrize("axis", ["c", ("a", "c"), None])
@pytest.mark.parametrize("fn", [nn.softmax, nn.log_softmax])
def test_softmax_family_matches_jax_nn(fn, axis):
    positions = {"c": 2, ("a", "c"): (0, 2), None: None}[axis]
    want = getattr(jax.nn, fn.__name__)(X, axis=positions)
    for order in axis_orders((A, B, C)):
        got = fn(in_order(BASE, order), axis)
        assert got.axes == order
        assert_named_close(got, want, ("a", "b", "c"))


@pytest.mark.parametrize("axis", ["c", ("c", "a"), None])
def test_logsumexp_removes_axes(axis):
    positions = {"c": 2, ("c", "a"): (0, 2), None: None}[axis]
    want = jax.nn.logsumexp(X, axis=positions)
    kept = [n for n in "abc" if axis is not None and n not in axis]
    for order in axis_orders((A, B, C)):
        got = nn.logsumexp(in_order(BASE, order), axis)
        assert set(got.axis_names) == set(kept)
        assert_named_close(got, want, kept)


def test_standardize_with_where_and_precomputed_stats():
    mask = nx.named(X[0] > -0.5, (B, C))
    want = jax.nn.standardize(X, axis=2, where=jnp.broadcast_to(X[0] > -0.5, X.shape))
    for order in axis_orders((A, B, C)):
        got = nn.standardize(in_order(BASE, order), "c", where=mask)
        assert_named_close(got, want, ("a", "b", "c"), atol=1e-5)
    mean = nx.named(X.mean(axis=2), (A, B))
    got = nn.standardize(BASE, "c", mean=mean, variance=nx.named(jnp.ones((2, 3)), (A, B)))
    assert_named_close(got, (X - X.mean(axis=2, keepdims=True)) / jnp.sqrt(1.0 + 1e-5))
    with pytest.raises(ValueError, match=r"mean \{z:2\} has axes \{z:2\} that x"):
        nn.standardize(BASE, "c", mean=nx.named(jnp.ones(2), "z"))


def test_softmax_errors_name_the_axes():
    with pytest.raises(ValueError, match=r"softmax: no axis 'z' in \{a:2, b:3, c:4\}"):
        nn.softmax(BASE, "z")
    with pytest.raises(TypeError, match="expected a NamedArray"):
        nn.softmax(X, "c")  # type: ignore[arg-type]


def test_one_hot():
    labels = nx.named(jnp.array([[0, 2, 1], [1, 1, 0]]), (A, B))
    Class = nx.Axis("class", 3)
    got = nn.one_hot(labels, Class)
    assert got.axes == (A, B, Class)
    np.testing.assert_array_equal(got.array, jax.nn.one_hot(labels.array, 3))
    assert nn.one_hot(1, Class).array.tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(TypeError, match="integer labels"):
        nn.one_hot(BASE, Class)


def test_cross_entropy_ids_probs_where_and_grads():
    Label = nx.Axis("c", 4)
    ids_array = jnp.array([[0, 3, 1], [2, 2, 0]])
    ids = nx.named(ids_array, (A, B))
    log_probs = jax.nn.log_softmax(X, axis=2)
    per_elem = -jnp.take_along_axis(log_probs, ids_array[..., None], axis=2)[..., 0]
    for order in axis_orders((A, B, C)):
        logits = in_order(BASE, order)
        assert_named_close(
            nn.cross_entropy_loss(logits, Label, ids, reduction=None), per_elem, "ab", atol=1e-5
        )
        probs = nn.one_hot(ids, Label)
        np.testing.assert_allclose(
            nn.cross_entropy_loss(logits, Label, probs).array, per_elem.mean(), rtol=1e-5
        )
    mask = nx.named(jnp.array([True, False, True]), B)
    masked = nn.cross_entropy_loss(BASE, Label, ids, where=mask)
    np.testing.assert_allclose(masked.array, per_elem[:, [0, 2]].mean(), rtol=1e-5)
    summed = nn.cross_entropy_loss(BASE, Label, ids, reduction=nx.sum, reduction_axis="b")
    assert_named_close(summed, per_elem.sum(axis=1), ("a",), atol=1e-5)
    zeroed = nn.cross_entropy_loss(BASE, Label, ids, reduction=None, where=mask)
    assert_named_close(zeroed, per_elem * jnp.array([[1.0, 0.0, 1.0]]), ("a", "b"), atol=1e-5)

    def named_loss(x):
        return nn.cross_entropy_loss(nx.named(x, (A, B, C)), Label, ids).scalar()

    np.testing.assert_allclose(
        jax.grad(named_loss)(X),
        jax.grad(
            lambda x: (
                -jnp.take_along_axis(jax.nn.log_softmax(x, 2), ids_array[..., None], 2)
            ).mean()
        )(X),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(
        TypeError, match="neither probabilities over the label axis 'c' nor integer"
    ):
        nn.cross_entropy_loss(BASE, Label, nx.named(jnp.ones((2, 3)), (A, B)))


def test_binary_cross_entropy_matches_formula_and_aligns_by_name():
    targets = jax.random.uniform(jax.random.key(3), (2, 3, 4))
    want = -(targets * jax.nn.log_sigmoid(X) + (1 - targets) * jax.nn.log_sigmoid(-X))
    for order in axis_orders((A, B, C)):
        got = nn.binary_cross_entropy_loss(
            BASE, in_order(nx.named(targets, (A, B, C)), order), reduction=None
        )
        assert_named_close(got, want, ("a", "b", "c"), atol=1e-5)
    np.testing.assert_allclose(
        nn.binary_cross_entropy_loss(BASE, nx.named(targets, (A, B, C))).array,
        want.mean(),
        rtol=1e-5,
    )
