"""Every indexing path places a start by the same rule, checked against one positional reference.

The rule: a negative start counts from the end; a static start must then fit (else a
`ValueError`), a traced start is clamped so that the window fits. The reference is
`lax.dynamic_slice_in_dim` / `lax.dynamic_update_slice_in_dim` on the positional
array, which apply that rule to a traced start. Each path is run eagerly with a
static start and under `jit` with a traced one, on arrays stored in every axis order.
"""

import builtins

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from jax import lax

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

B, C = nx.Axis("b", 3), nx.Axis("c", 5)
X = np.arange(15, dtype=np.float32).reshape(3, 5) + 1.0
ORDERS = list(axis_orders((B, C)))
SIZE = 2
UPDATE = np.full((3, SIZE), -7.0, np.float32)


def x_in(order):
    return in_order(nx.named(jnp.asarray(X), (B, C)), order)


def update_named():
    return nx.named(jnp.asarray(UPDATE), (B, nx.Axis("c", SIZE)))


def fits(start: int, size: int, n: int = 5) -> bool:
    begin = start + n if start < 0 else start
    return 0 <= begin <= n - size


# path name -> (named function of (x, start), positional reference of (X, start), window size)
def _window_ref(x, s):
    return lax.dynamic_slice_in_dim(x, s, SIZE, axis=1)


def _set_ref(x, s):
    return lax.dynamic_update_slice_in_dim(x, jnp.asarray(UPDATE), s, axis=1)


def _combine_ref(op):
    def ref(x, s):
        region = lax.dynamic_slice_in_dim(x, s, SIZE, axis=1)
        return lax.dynamic_update_slice_in_dim(x, op(region), s, axis=1)

    return ref


WINDOW_PATHS = {
    "getitem": (lambda x, s: x["c", nx.ds(s, SIZE)], _window_ref, ("b", "c")),
    "getitem+strided": (
        lambda x, s: x["c", nx.ds(s, SIZE), "b", ::-1],
        lambda x, s: _window_ref(x, s)[::-1],
        ("b", "c"),
    ),
    "getitem+advanced": (
        lambda x, s: x["c", nx.ds(s, SIZE), "b", nx.named(jnp.array([2, 0]), "k")],
        lambda x, s: _window_ref(x, s)[jnp.array([2, 0])],
        ("k", "c"),
    ),
    "at.get": (lambda x, s: x.at["c", nx.ds(s, SIZE)].get(), _window_ref, ("b", "c")),
    "at.get+strided": (
        lambda x, s: x.at["c", nx.ds(s, SIZE), "b", ::2].get(),
        lambda x, s: _window_ref(x, s)[::2],
        ("b", "c"),
    ),
    "slice": (lambda x, s: nx.slice(x, "c", start=s, length=SIZE), _window_ref, ("b", "c")),
    "slice dict": (
        lambda x, s: nx.slice(x, start={"c": s}, length={nx.Axis("c", 5): SIZE}),
        _window_ref,
        ("b", "c"),
    ),
    "at.set": (lambda x, s: x.at["c", nx.ds(s, SIZE)].set(update_named()), _set_ref, ("b", "c")),
    "at.set+strided": (
        lambda x, s: x.at["c", nx.ds(s, SIZE), "b", ::1].set(update_named()),
        _set_ref,
        ("b", "c"),
    ),
    "at.add": (
        lambda x, s: x.at["c", nx.ds(s, SIZE)].add(10.0),
        _combine_ref(lambda r: r + 10.0),
        ("b", "c"),
    ),
    "at.mul": (
        lambda x, s: x.at["c", nx.ds(s, SIZE)].mul(3.0),
        _combine_ref(lambda r: r * 3.0),
        ("b", "c"),
    ),
    "at.min": (
        lambda x, s: x.at["c", nx.ds(s, SIZE)].min(4.0),
        _combine_ref(lambda r: jnp.minimum(r, 4.0)),
        ("b", "c"),
    ),
    "at.max": (
        lambda x, s: x.at["c", nx.ds(s, SIZE)].max(9.0),
        _combine_ref(lambda r: jnp.maximum(r, 9.0)),
        ("b", "c"),
    ),
    "at.apply": (
        lambda x, s: x.at["c", nx.ds(s, SIZE)].apply(jnp.negative),
        _combine_ref(jnp.negative),
        ("b", "c"),
    ),
    "updated_slice": (
        lambda x, s: nx.updated_slice(x, {"c": s}, update_named()),
        _set_ref,
        ("b", "c"),
    ),
}


def _int_ref(x, s):
    return lax.dynamic_index_in_dim(x, s, axis=1, keepdims=False)


INT_PATHS = {
    "getitem int": (lambda x, s: x["c", s], _int_ref, ("b",)),
    "getitem int+strided": (
        lambda x, s: x["c", s, "b", ::-1],
        lambda x, s: _int_ref(x, s)[::-1],
        ("b",),
    ),
    "at.get int": (lambda x, s: x.at["c", s].get(), _int_ref, ("b",)),
    "take": (lambda x, s: nx.take(x, "c", s), _int_ref, ("b",)),
    "at.set int": (
        lambda x, s: x.at["c", s].set(-1.0),
        lambda x, s: lax.dynamic_update_slice_in_dim(x, jnp.full((3, 1), -1.0), s, axis=1),
        ("b", "c"),
    ),
    "updated_slice int": (
        lambda x, s: nx.updated_slice(x, {"c": s}, nx.named(jnp.full(3, -1.0), "b")),
        lambda x, s: lax.dynamic_update_slice_in_dim(x, jnp.full((3, 1), -1.0), s, axis=1),
        ("b", "c"),
    ),
}

PATHS = {**WINDOW_PATHS, **INT_PATHS}
STARTS = [0, 1, 3, 4, -1, -2, -5, -6, 5, 9, -100]


def window_size(path: str) -> int:
    return SIZE if path in WINDOW_PATHS else 1


def expected(path: str, start):
    _, ref, _ = PATHS[path]
    return np.asarray(jax.jit(ref)(jnp.asarray(X), start))


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("order", ORDERS)
def test_traced_starts_count_from_the_end_then_clamp_on_every_path(path, order):
    fn, _, names = PATHS[path]
    run = jax.jit(fn)
    for start in STARTS:
        assert_named_close(run(x_in(order), start), expected(path, start), names)


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("order", ORDERS)
def test_static_starts_that_fit_match_the_reference_and_others_raise(path, order):
    fn, _, names = PATHS[path]
    for start in STARTS:
        if fits(start, window_size(path)):
            assert_named_close(fn(x_in(order), start), expected(path, start), names)
        else:
            with pytest.raises(ValueError, match=r"(out of range|does not fit).*'c' of size 5"):
                fn(x_in(order), start)


def test_read_and_write_with_one_traced_index_touch_the_same_elements():
    y = nx.named(jnp.arange(10.0).reshape(2, 5), ("b", "c"))
    read = jax.jit(lambda y, s: y["c", nx.ds(s, 2)])(y, -1)
    got = jax.jit(lambda y, s: y.at["c", nx.ds(s, 2)].get())(y, -1)
    np.testing.assert_array_equal(read.array, got.array)
    np.testing.assert_array_equal(read.array, [[3.0, 4.0], [8.0, 9.0]])
    written = jax.jit(lambda y, s: y.at["c", nx.ds(s, 2)].set(0.0))(y, -1)
    np.testing.assert_array_equal(written.array[:, 3:], 0.0)
    np.testing.assert_array_equal(written.array[:, :3], y.array[:, :3])


def test_slice_dict_keys_name_one_axis_however_they_are_spelled():
    x = nx.named(jnp.arange(10), "a")
    out = nx.slice(x, start={"a": 2}, length={nx.Axis("a", 10): 3})
    np.testing.assert_array_equal(out.array, [2, 3, 4])
    out = nx.slice(x, start={nx.Axis("a", 10): 5}, length={"a": 2})
    np.testing.assert_array_equal(out.array, [5, 6])
    with pytest.raises(ValueError, match="the start of axis 'a' is given twice"):
        nx.slice(x, start={"a": 1, nx.Axis("a", 10): 2}, length={"a": 2})


def test_slice_dict_length_may_be_a_new_axis():
    x = nx.named(jnp.arange(12).reshape(3, 4), ("a", "b"))
    out = nx.slice(x, start={"b": 1}, length={"b": nx.Axis("w", 2)})
    assert out.axes == (nx.Axis("a", 3), nx.Axis("w", 2))
    np.testing.assert_array_equal(out.array, np.arange(12).reshape(3, 4)[:, 1:3])


def test_dslice_takes_the_size_of_an_axis():
    assert nx.ds(3, nx.Axis("w", 4)).size == 4
    x = nx.named(jnp.arange(10), "pos")
    np.testing.assert_array_equal(x["pos", nx.ds(-4, nx.Axis("w", 4))].array, [6, 7, 8, 9])


def test_ragged_updated_slice_writes_one_start_per_example():
    cache = nx.zeros({"batch": 3, "seq": 5}, dtype=jnp.int32)
    lengths = nx.named(jnp.array([0, 1, 2]), "batch")
    one = nx.updated_slice(cache, {"seq": lengths}, nx.named(jnp.array([7, 8, 9]), "batch"))
    expect = np.zeros((3, 5), np.int32)
    expect[0, 0], expect[1, 1], expect[2, 2] = 7, 8, 9
    np.testing.assert_array_equal(one.array, expect)
    # a block per example, the cache stored seq-first, under jit
    kv = nx.named(jnp.array([[1, 2], [3, 4], [5, 6]]), ("batch", nx.Axis("seq", 2)))
    run = jax.jit(lambda c, n: nx.updated_slice(c, {"seq": n}, kv))
    out = run(cache.rearrange(("seq", "batch")), nx.named(jnp.array([1, 3, -2]), "batch"))
    expect = np.zeros((3, 5), np.int32)
    expect[0, 1:3], expect[1, 3:5], expect[2, 3:5] = [1, 2], [3, 4], [5, 6]
    assert_named_close(out, expect, ("batch", "seq"))


def test_ragged_updated_slice_errors_name_the_axes():
    cache = nx.zeros({"batch": 2, "seq": 5}, dtype=jnp.int32)
    kv = nx.named(jnp.zeros((2, 2), jnp.int32), ("batch", "new"))
    lengths = nx.named(jnp.array([1, 3]), "batch")
    with pytest.raises(ValueError, match=r"update \{batch:2, new:2\} has axes \{new:2\} that are"):
        nx.updated_slice(cache, {"seq": lengths}, kv)
    with pytest.raises(ValueError, match=r"ragged start \{other:2\} has axes \{other:2\}"):
        nx.updated_slice(cache, {"seq": nx.named(jnp.array([1, 3]), "other")}, kv["new", 0])


def test_gradient_flows_through_a_traced_window_write():
    x = nx.named(jnp.asarray(X), (B, C))

    def loss(x, s):
        return (x.at["c", nx.ds(s, 2)].set(0.0) * x).sum().array

    grad = jax.jit(jax.grad(loss))(x, -1)
    expect = np.where(np.arange(5) >= 3, 0.0, 2 * X)
    np.testing.assert_allclose(grad.array, expect)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(list(PATHS)),
    st.integers(-12, 12),
    st.sampled_from(ORDERS),
    st.booleans(),
)
def test_every_path_matches_the_reference(path, start, order, traced):
    fn, _, names = PATHS[path]
    if traced:
        assert_named_close(jax.jit(fn)(x_in(order), start), expected(path, start), names)
    elif fits(start, window_size(path)):
        assert_named_close(fn(x_in(order), start), expected(path, start), names)
    else:
        with pytest.raises(ValueError):
            fn(x_in(order), start)


def test_vmapped_traced_starts_follow_the_rule():
    x = nx.named(jnp.asarray(X), (B, C))
    starts = jnp.array([-1, 7, 2])
    got = jax.vmap(lambda s: x["c", nx.ds(s, 2)].array)(starts)
    want = jax.vmap(lambda s: _window_ref(jnp.asarray(X), s))(starts)
    np.testing.assert_array_equal(got, want)
    assert builtins.all(got[0].ravel() == X[:, 3:5].ravel())
