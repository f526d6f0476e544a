"""isclose, allclose, array_equal and array_equiv compare by axis name, never by position."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C = nx.Axis("a", 2), nx.Axis("b", 3), nx.Axis("c", 4)
NAMES = ("a", "b", "c")
X = jax.random.normal(jax.random.key(0), (2, 3, 4))
NEAR = X + 1e-7
FAR = X.at[1, 2, 3].add(1.0)


@pytest.mark.parametrize("order", list(axis_orders((A, B, C))))
def test_isclose_in_every_axis_order(order):
    x = nx.named(X, (A, B, C))
    y = in_order(nx.named(FAR, (A, B, C)), order)
    got = nx.isclose(x, y)
    assert got.axes == x.axes
    assert_named_close(got, jnp.isclose(X, FAR), NAMES)
    got = nx.isclose(y, x)
    assert got.axes == y.axes
    assert_named_close(got, jnp.isclose(FAR, X), NAMES)


def test_isclose_broadcasts_operands_and_tolerances_by_name():
    x = nx.named(X, (A, B, C))
    b = nx.named(X[0, :, 0] + 0.1, B)
    atol = nx.named(jnp.array([0.0, 1.0, 1.0, 1.0]), C)
    got = nx.isclose(b, x, atol=atol)
    assert set(got.axis_names) == set(NAMES)
    want = jnp.isclose(X[0, :, 0][None, :, None] + 0.1, X, atol=atol.array[None, None, :])
    assert_named_close(got, want, NAMES)
    nan = nx.named(jnp.array([jnp.nan, 1.0]), "a")
    np.testing.assert_array_equal(nx.isclose(nan, nan, equal_nan=True).array, [True, True])
    assert_named_close(nx.isclose(x, 0.0, atol=1.0), jnp.isclose(X, 0.0, atol=1.0))


@pytest.mark.parametrize("order", list(axis_orders((A, B, C))))
def test_allclose_and_array_equal_ignore_the_layout(order):
    x = nx.named(X, (A, B, C))
    assert bool(nx.allclose(x, in_order(nx.named(NEAR, (A, B, C)), order)))
    assert not bool(nx.allclose(x, in_order(nx.named(FAR, (A, B, C)), order)))
    assert bool(nx.array_equal(x, in_order(x, order)))
    assert not bool(nx.array_equal(x, in_order(nx.named(NEAR, (A, B, C)), order)))
    assert bool(nx.array_equiv(in_order(x, order), x))


def test_array_equal_needs_the_same_axis_set():
    x = nx.named(X, (A, B, C))
    assert not bool(nx.array_equal(x, nx.named(X[0], (B, C))))  # fewer axes
    assert not bool(nx.array_equal(x, nx.named(X, ("a", "b", "z"))))  # another name
    assert not bool(nx.array_equal(nx.named(jnp.ones(2), "a"), nx.named(jnp.ones(3), "a")))
    nan = nx.named(jnp.array([jnp.nan]), "a")
    assert bool(nx.array_equal(nan, nan, equal_nan=True))
    assert not bool(nx.array_equal(nan, nan))
    assert bool(nx.array_equal(nx.named(jnp.array(2.0), ()), 2.0))


def test_array_equiv_broadcasts_by_name():
    row = nx.named(jnp.array([1, 2, 3]), B)
    tiled = nx.broadcast_axis(row, A)
    assert bool(nx.array_equiv(tiled, row))
    assert bool(nx.array_equiv(row, tiled))
    assert bool(nx.array_equiv(nx.named(jnp.full(3, 7), B), 7))
    assert not bool(nx.array_equiv(tiled, nx.named(jnp.array([1, 2, 4]), B)))
    assert not bool(nx.array_equiv(tiled, nx.named(jnp.array([1, 2]), nx.Axis("b", 2))))
    # axis sets that are not nested do not broadcast (Haliax's rule): never equivalent
    assert not bool(nx.array_equiv(nx.named(jnp.ones(2), A), nx.named(jnp.ones(4), C)))
    assert not bool(nx.array_equiv(tiled, nx.named(jnp.ones(4), C)))
    assert not bool(nx.array_equiv(tiled, 3))


def test_predicates_under_jit_and_errors():
    x = nx.named(X, (A, B, C))
    y = in_order(nx.named(NEAR, (A, B, C)), ("c", "b", "a"))
    assert bool(jax.jit(nx.allclose)(x, y))
    assert bool(jax.jit(nx.array_equal)(x, in_order(x, ("b", "c", "a"))))
    with pytest.raises(ValueError, match=r"isclose: axis 'b' has size 3 in a .* size 2 in b"):
        nx.isclose(x, nx.named(jnp.ones(2), "b"))
    with pytest.raises(TypeError, match=r"allclose: b is a plain ArrayImpl of shape \(2, 3, 4\)"):
        nx.allclose(x, X)
    with pytest.raises(TypeError, match=r"array_equal: b is a plain .* Wrap it with"):
        nx.array_equal(x, X)
    with pytest.raises(TypeError, match=r"array_equiv: a is a plain"):
        nx.array_equiv(X, x)
