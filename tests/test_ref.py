"""`nx.new_ref` / `nx.NamedRef`: reads, writes, views, and refs under jit, scan and grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from namedax import Axis, named

X, Y = Axis("x", 6), Axis("y", 3)


def base():
    return named(jnp.arange(18.0).reshape(6, 3), (X, Y))


def test_reads_match_named_indexing():
    x = base()
    ref = nx.new_ref(x)
    for index in ({"x": 2}, {"x": slice(1, 5, 2)}, {"x": -1, "y": 0}, {"y": nx.ds(1, 2)}):
        got, want = ref[index], x[index]
        assert got.axes == want.axes
        np.testing.assert_array_equal(got.array, want.array)
    assert ref.shape == x.shape and ref.axes == x.axes and ref.dtype == x.dtype
    np.testing.assert_array_equal(ref.value().array, x.array)


def test_writes_are_aligned_by_name_and_broadcast():
    ref = nx.new_ref(base())
    ref[{"x": slice(0, 2)}] = named(jnp.array([10.0, 20.0]), Axis("x", 2))  # broadcast over y
    ref["y", 0] = 0.0
    want = base().array.at[0:2].set(jnp.array([10.0, 20.0])[:, None]).at[:, 0].set(0.0)
    np.testing.assert_array_equal(ref.value().array, want)
    # a (y, x)-ordered value is aligned by name
    block = named(jnp.arange(6.0).reshape(3, 2), (Y, Axis("x", 2)))
    ref[{"x": slice(4, 6)}] = block
    np.testing.assert_array_equal(ref.value().array[4:6], block.array.T)


def test_wrong_dtype_and_wrong_axes_are_value_errors():
    ref = nx.new_ref(base())
    with pytest.raises(ValueError, match=r"dtype int32 .* holds float32"):
        ref["x", 0] = named(jnp.ones(3, jnp.int32), Y)
    with pytest.raises(ValueError, match="'z' that the region lacks"):
        ref["x", 0] = nx.ones(Axis("z", 3))
    with pytest.raises(TypeError, match="expected a NamedArray"):
        nx.new_ref(jnp.zeros(3))  # pyright: ignore[reportArgumentType]  # the error is the point


def test_views_compose_with_the_staged_index():
    ref = nx.new_ref(base())
    view = ref.slice({"x": slice(1, 5)})  # x 1..4
    assert view.axes == (Axis("x", 4), Y)
    inner = view.slice({"x": nx.ds(1, 2)})  # x 2..3
    inner[{"y": 1}] = -1.0
    strided = ref.slice({"x": slice(0, 6, 2)}).slice({"x": slice(1, 3)})  # x 2, 4
    np.testing.assert_array_equal(strided[{"y": 0}].array, np.asarray(base().array)[[2, 4], 0])
    want = base().array.at[2:4, 1].set(-1.0)
    np.testing.assert_array_equal(ref.value().array, want)
    np.testing.assert_array_equal(view.value().array, want[1:5])
    assert view.unsliced().axes == ref.axes
    fixed = view.slice({"x": 0})
    with pytest.raises(ValueError, match="already fixed"):
        fixed.slice({"x": 0})


def test_array_index_views_and_swap():
    ref = nx.new_ref(base())
    picked = ref.slice({"x": [0, 5]})
    assert picked.axes == (Axis("x", 2), Y)
    previous = picked.swap({"y": 2}, named(jnp.array([7.0, 8.0]), Axis("x", 2)))
    np.testing.assert_array_equal(previous.array, np.asarray(base().array)[[0, 5], 2])
    np.testing.assert_array_equal(np.asarray(ref.value().array)[[0, 5], 2], [7.0, 8.0])
    sel = named(jnp.array([4, 1]), "sel")
    gathered = ref.slice({"x": sel})
    assert gathered.axes == (Axis("sel", 2), Y)
    np.testing.assert_array_equal(gathered.value().array, np.asarray(ref.value().array)[[4, 1]])


def test_ref_under_jit_scan_and_grad():
    ref = nx.new_ref(nx.zeros(X))

    @jax.jit
    def fill(ref):
        def body(carry, i):
            ref.slice({"x": i})[...] = (i * i).astype(jnp.float32)
            return carry, i

        return nx.scan(body, X)(None, jnp.arange(6))[1]

    fill(ref)
    np.testing.assert_array_equal(ref.value().array, np.arange(6.0) ** 2)

    def loss(w):
        acc = nx.new_ref(nx.zeros(X))

        def body(carry, i):
            acc.slice({"x": i})[...] = jnp.sin(w * i)
            return carry, None

        nx.scan(body, X)(None, jnp.arange(6))
        return acc[...].sum().array

    grad = jax.grad(loss)(0.5)
    np.testing.assert_allclose(grad, np.sum(np.cos(0.5 * np.arange(6)) * np.arange(6)), rtol=1e-5)


def test_ref_is_a_pytree_of_its_jax_ref():
    ref = nx.new_ref(nx.zeros(X))
    leaves, tree = jax.tree_util.tree_flatten(ref)
    assert leaves == [ref._ref]
    view = ref.slice({"x": jnp.array([1, 2])})
    rebuilt = jax.tree_util.tree_unflatten(*reversed(jax.tree_util.tree_flatten(view)))
    assert rebuilt.axes == view.axes
    assert isinstance(jax.tree_util.tree_unflatten(tree, leaves), nx.NamedRef)


@settings(max_examples=40, deadline=None)
@given(
    outer=st.tuples(st.integers(0, 5), st.integers(0, 6), st.integers(1, 3)),
    inner=st.tuples(st.integers(-4, 4), st.integers(-4, 6), st.integers(1, 2)),
)
def test_composed_slices_match_numpy(outer, inner):
    x = np.arange(6.0)
    ref = nx.new_ref(named(jnp.asarray(x), X))
    view = ref.slice({"x": slice(*outer)}).slice({"x": slice(*inner)})
    np.testing.assert_array_equal(view.value().array, x[slice(*outer)][slice(*inner)])
