"""unique*, searchsorted, bincount and top_k: static result axes, inputs in every axis order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

A, B = nx.Axis("a", 3), nx.Axis("b", 4)
V = nx.Axis("value", 7)
INTS = jnp.array([[3, 1, 4, 1], [5, 9, 2, 6], [5, 3, 5, 1]])
ORDERS = list(axis_orders((A, B)))


@pytest.mark.parametrize("order", ORDERS)
def test_unique_of_all_elements_in_every_axis_order(order):
    x = in_order(nx.named(INTS, (A, B)), order)
    values, index, inverse, counts = nx.unique(
        x, V, return_index=True, return_inverse=True, return_counts=True
    )
    want_values, want_counts = jnp.unique(INTS, return_counts=True, size=7)
    assert values.axes == index.axes == counts.axes == (V,)
    np.testing.assert_array_equal(values.array, want_values)
    np.testing.assert_array_equal(counts.array, want_counts)
    # flat indices into x's own layout, and an inverse that rebuilds x by name
    np.testing.assert_array_equal(x.array.ravel()[index.array], values.array)
    assert inverse.axes == x.axes
    np.testing.assert_array_equal(values.array[inverse.array], x.array)


def test_unique_fill_value_truncation_and_jit():
    x = nx.named(INTS, (A, B))
    got = nx.unique(x, nx.Axis("value", 10), fill_value=-1)
    np.testing.assert_array_equal(got.array, [1, 2, 3, 4, 5, 6, 9, -1, -1, -1])
    got = nx.unique(x, nx.Axis("value", 3))
    np.testing.assert_array_equal(got.array, [1, 2, 3])
    jitted = jax.jit(lambda x: nx.unique_values(x, V))(x)
    np.testing.assert_array_equal(jitted.array, jnp.unique(INTS, size=7))


def test_unique_slices_along_an_axis():
    rows = jnp.array([[1, 2], [3, 4], [1, 2]])
    Rows = nx.Axis("row", 3)
    for order in (("row", "col"), ("col", "row")):
        x = in_order(nx.named(rows, (Rows, nx.Axis("col", 2))), order)
        U = nx.Axis("uniq", 2)
        values, inverse, counts = nx.unique(
            x, U, axis="row", return_inverse=True, return_counts=True
        )
        assert values.axis_names == tuple("uniq" if n == "row" else n for n in order)
        assert_named_close(values, jnp.array([[1, 2], [3, 4]]), ("uniq", "col"))
        assert inverse.axes == (Rows,)
        np.testing.assert_array_equal(inverse.array, [0, 1, 0])
        np.testing.assert_array_equal(counts.array, [2, 1])
    same = nx.unique(nx.named(rows, ("row", "col")), nx.Axis("row", 2), axis="row")
    assert same.axis_names == ("row", "col")


def test_unique_shortcuts_return_named_tuples():
    x = nx.named(jnp.array([5, 2, 5, 7]), "a")
    U = nx.Axis("value", 3)
    result = nx.unique_all(x, U)
    np.testing.assert_array_equal(result.values.array, [2, 5, 7])
    np.testing.assert_array_equal(result.indices.array, [1, 0, 3])
    np.testing.assert_array_equal(result.inverse_indices.array, [1, 0, 1, 2])
    np.testing.assert_array_equal(result.counts.array, [1, 2, 1])
    _, counts = nx.unique_counts(x, U)
    np.testing.assert_array_equal(counts.array, [1, 2, 1])
    assert nx.unique_inverse(x, U).inverse_indices.axis_names == ("a",)
    np.testing.assert_array_equal(nx.unique_values(x, U).array, [2, 5, 7])


def test_unique_errors():
    x = nx.named(INTS, (A, B))
    with pytest.raises(TypeError, match=r"unique: size must be an Axis\(name, size\).*got str"):
        nx.unique(x, "value")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unique: no axis 'c' in \{a:3, b:4\}"):
        nx.unique(x, V, axis="c")
    with pytest.raises(ValueError, match=r"repeats the names \['b'\]"):
        nx.unique(x, nx.Axis("b", 2), axis="a")
    with pytest.raises(TypeError, match=r"unique: array must be a NamedArray"):
        nx.unique(INTS, V)  # type: ignore[arg-type]


# --- searchsorted -----------------------------------------------------------------------------
EDGES = jnp.array([0.0, 1.0, 1.0, 2.5, 4.0])
QUERY = jax.random.uniform(jax.random.key(0), (3, 4), minval=-1.0, maxval=5.0).at[0, 0].set(1.0)


@pytest.mark.parametrize("order", ORDERS)
def test_searchsorted_keeps_the_axes_of_v(order):
    a = nx.named(EDGES, "edge")
    v = in_order(nx.named(QUERY, (A, B)), order)
    for side in ("left", "right"):
        got = nx.searchsorted(a, v, side=side)
        assert got.axes == v.axes
        assert_named_close(got, jnp.searchsorted(EDGES, QUERY, side=side), ("a", "b"))


def test_searchsorted_scalar_sorter_and_errors():
    a = nx.named(EDGES, "edge")
    assert nx.searchsorted(a, 1.5).axes == ()
    assert int(nx.searchsorted(a, 1.5).array) == 3
    shuffled = jnp.array([4.0, 0.0, 2.5, 1.0, 1.0])
    sorter = jnp.argsort(shuffled)
    v = nx.named(QUERY, (A, B))
    want = jnp.searchsorted(shuffled, QUERY, sorter=sorter)
    for s in (sorter, nx.named(sorter, "edge")):
        got = nx.searchsorted(nx.named(shuffled, "edge"), v, sorter=s)
        assert_named_close(got, want)
    with pytest.raises(
        ValueError, match=r"searchsorted: a must have exactly one axis.*\{a:3, b:4\}"
    ):
        nx.searchsorted(v, 1.0)
    with pytest.raises(TypeError, match=r"searchsorted: v is a plain ArrayImpl"):
        nx.searchsorted(a, QUERY)
    with pytest.raises(ValueError, match=r"searchsorted: sorter \{a:3\} must lie along exactly"):
        nx.searchsorted(a, v, sorter=nx.named(jnp.arange(3), "a"))
    with pytest.raises(ValueError, match=r"sorter of shape \(3,\) must be 1-d of size 5"):
        nx.searchsorted(a, v, sorter=jnp.arange(3))


# --- bincount ---------------------------------------------------------------------------------
Bin = nx.Axis("bin", 10)


@pytest.mark.parametrize("order", ORDERS)
def test_bincount_counts_every_element_with_weights_by_name(order):
    x = in_order(nx.named(INTS, (A, B)), order)
    got = nx.bincount(x, Bin)
    assert got.axes == (Bin,)
    np.testing.assert_array_equal(got.array, jnp.bincount(INTS.ravel(), length=10))
    weights = jnp.array([1.0, 10.0, 100.0, 1000.0])  # along b only
    got = nx.bincount(x, Bin, nx.named(weights, B))
    want = jnp.bincount(INTS.ravel(), jnp.broadcast_to(weights, (3, 4)).ravel(), length=10)
    np.testing.assert_allclose(got.array, want)
    got = nx.bincount(x, Bin, weights=in_order(nx.named(INTS * 1.0, (A, B)), order[::-1]))
    np.testing.assert_allclose(got.array, jnp.bincount(INTS.ravel(), INTS.ravel() * 1.0, length=10))
    np.testing.assert_allclose(
        nx.bincount(x, Bin, 0.5).array, jnp.bincount(INTS.ravel(), length=10) / 2
    )


def test_bincount_drops_values_beyond_the_length_and_errors():
    x = nx.named(INTS, (A, B))
    np.testing.assert_array_equal(nx.bincount(x, nx.Axis("bin", 3)).array, [0, 3, 1])
    with pytest.raises(TypeError, match=r"bincount: length must be an Axis\(name, size\)"):
        nx.bincount(x, 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"bincount: weights \{c:2\} has axis c\(2\) but x has"):
        nx.bincount(x, Bin, nx.named(jnp.ones(2), "c"))
    with pytest.raises(TypeError, match=r"bincount: weights is a plain ArrayImpl"):
        nx.bincount(x, Bin, jnp.ones((3, 4)))


# --- top_k ------------------------------------------------------------------------------------
X = jax.random.normal(jax.random.key(1), (3, 4))


@pytest.mark.parametrize("order", ORDERS)
def test_top_k_in_every_axis_order(order):
    x = in_order(nx.named(X, (A, B)), order)
    values, indices = nx.top_k(x, "b", 2)
    want_values, want_indices = jax.lax.top_k(X, 2)
    position = x.axis_names.index("b")
    assert values.axes == indices.axes
    assert values.axes[position] == nx.Axis("b", 2)
    assert_named_close(values, want_values, ("a", "b"))
    assert_named_close(indices, want_indices, ("a", "b"))
    values, indices = nx.top_k(x, A, 3, new_axis="best")
    assert values.axes[x.axis_names.index("a")] == nx.Axis("best", 3)
    assert_named_close(values, jax.lax.top_k(X.T, 3)[0], ("b", "best"))
    assert_named_close(indices, jax.lax.top_k(X.T, 3)[1], ("b", "best"))


def test_top_k_gradient_and_errors():
    x = nx.named(X, (A, B))
    grad = jax.grad(lambda x: nx.top_k(x, "b", 1)[0].sum().scalar())(x)
    assert_named_close(grad, jax.nn.one_hot(jnp.argmax(X, 1), 4))
    assert nx.top_k(x, "b", 2, new_axis=nx.Axis("k", 2))[0].axis_names == ("a", "k")
    with pytest.raises(ValueError, match=r"top_k: k=5 but axis b\(4\) of \{a:3, b:4\} has only 4"):
        nx.top_k(x, "b", 5)
    with pytest.raises(
        ValueError, match=r"top_k: the new axis k\(3\) does not match k, which is 2"
    ):
        nx.top_k(x, "b", 2, new_axis=nx.Axis("k", 3))
    with pytest.raises(ValueError, match=r"top_k: duplicate axis names \['a'\]"):
        nx.top_k(x, "b", 2, new_axis="a")
    with pytest.raises(ValueError, match=r"top_k: no axis 'c'"):
        nx.top_k(x, "c", 1)
