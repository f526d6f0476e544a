"""where (three- and one-argument forms), nonzero and clip against jax.numpy, in every axis order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C = nx.Axis("a", 2), nx.Axis("b", 3), nx.Axis("c", 4)
NAMES = ("a", "b", "c")
KEYS = jax.random.split(jax.random.key(0), 4)
COND = jax.random.bernoulli(KEYS[0], 0.5, (2, 3, 4))
X = jax.random.normal(KEYS[1], (2, 3, 4))
Y = jax.random.normal(KEYS[2], (2, 3, 4))


def full(name_subset, array):
    """The (a, b, c) array `array` restricted to `name_subset` (index 0 on the others)."""
    index = tuple(slice(None) if n in name_subset else 0 for n in NAMES)
    return array[index]


def named_subset(names, array, order):
    """`array` restricted to `names`, as a NamedArray stored in `order`."""
    base = nx.named(full(names, array), tuple(n for n in NAMES if n in names))
    return in_order(base, order)


def expand(names, array):
    """A positional (a, b, c)-broadcastable view of `full(names, array)`."""
    sub = full(names, array)
    return sub.reshape(tuple(s if n in names else 1 for n, s in zip(NAMES, (2, 3, 4))))


def folds_nested(name_sets):
    """Whether broadcasting folds from left to right with each pair's axis sets nested."""
    acc = set(name_sets[0])
    for names in name_sets[1:]:
        if not (names <= acc or acc <= names):
            return False
        acc |= names
    return True


@pytest.mark.parametrize("order", list(axis_orders((A, B, C))))
def test_where_aligns_operands_by_name(order):
    cond = in_order(nx.named(COND, (A, B, C)), order)
    x = nx.named(X[0], (B, C))  # missing a
    got = nx.where(cond, x, -1.0)
    assert got.axes == cond.axes
    assert_named_close(got, jnp.where(COND, X[0][None], -1.0), NAMES)
    got = nx.where(cond, 0.0, in_order(nx.named(Y, (A, B, C)), order[::-1]))
    assert got.axes == cond.axes  # same axis set: the left operand's order
    assert_named_close(got, jnp.where(COND, 0.0, Y), NAMES)


@settings(max_examples=20, deadline=None)
@given(
    names=st.lists(st.sets(st.sampled_from(NAMES), min_size=1), min_size=3, max_size=3),
    data=st.data(),
)
def test_where_with_any_axis_subsets_and_orders(names, data):
    orders = [data.draw(st.permutations(sorted(n))) for n in names]
    cond, x, y = (
        named_subset(n, arr, o) for n, arr, o in zip(names, (COND, X, Y), orders, strict=True)
    )
    if not folds_nested(names):  # not nested: refused, as in Haliax
        with pytest.raises(ValueError, match=r"^where: cannot broadcast"):
            nx.where(cond, x, y)
        cond, x, y = nx.broadcast_arrays(cond, x, y)
    got = nx.where(cond, x, y)
    union = set().union(*names)
    assert set(got.axis_names) == union
    want = jnp.where(*(expand(n, arr) for n, arr in zip(names, (COND, X, Y), strict=True)))
    want = full(union, jnp.broadcast_to(want, (2, 3, 4)))
    assert_named_close(got, want, tuple(n for n in NAMES if n in union))


def test_where_union_scalar_plain_and_jit():
    cond = nx.named(COND[:, 0, 0], A)
    x = nx.named(X[0, :, 0], B)
    with pytest.raises(
        ValueError, match=r"^where: cannot broadcast condition \{a:2\} with x \{b:3\}"
    ):
        nx.where(cond, x, 0.0)
    outer_cond, outer_x = nx.broadcast_arrays(cond, x)
    got = nx.where(outer_cond, outer_x, 0.0)
    assert got.axes == (A, B)
    assert_named_close(got, jnp.where(COND[:, 0, 0][:, None], X[0, :, 0][None], 0.0))
    got = nx.where(True, x, 0.0)
    assert got.axes == (B,)
    assert_named_close(got, X[0, :, 0])
    plain = nx.where(False, 1.0, 2.0)  # no operand named: a plain result
    assert not isinstance(plain, nx.NamedArray)
    assert float(plain) == 2.0
    jitted = jax.jit(lambda c, a: nx.where(c, a, 0.0))(outer_cond, outer_x)
    assert jitted.axes == (A, B)
    assert_named_close(jitted, jnp.where(COND[:, 0, 0][:, None], X[0, :, 0][None], 0.0))


def test_where_gradient_flows_to_the_selected_operand():
    cond = nx.named(COND, (A, B, C))
    x = in_order(nx.named(X, (A, B, C)), ("c", "a", "b"))
    grad = jax.grad(lambda x: nx.where(cond, x * 2.0, 0.0).sum().scalar())(x)
    assert grad.axes == x.axes
    assert_named_close(grad, jnp.where(COND, 2.0, 0.0), NAMES)


def test_where_errors():
    x = nx.named(X, (A, B, C))
    with pytest.raises(TypeError, match=r"where: got x without y\. Pass both"):
        nx.where(x > 0, x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"where: got y without x"):
        nx.where(x > 0, y=x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"where: axis 'b' has size 3 in condition .* size 5 in x"):
        nx.where(x > 0, nx.named(jnp.ones(5), "b"), 0.0)
    with pytest.raises(TypeError, match=r"where: y is a plain ArrayImpl of shape \(3,\).*named"):
        nx.where(x > 0, x, jnp.ones(3))
    with pytest.raises(
        TypeError, match=r"size, new_axis and fill_value belong to the one-argument"
    ):
        nx.where(x > 0, x, 0.0, size=A)  # type: ignore[arg-type]


# --- one-argument where and nonzero ------------------------------------------------------------
HIT = nx.Axis("hit", 30)  # more than the number of true elements: every position is returned


def positions(indices, names):
    return {tuple(int(i[k]) for i in indices) for k in range(indices[0].shape[0])}


@pytest.mark.parametrize("fn", ["where", "nonzero"])
def test_positions_match_jnp_in_every_axis_order(fn):
    base = nx.named(COND, (A, B, C))
    reference = None
    for order in axis_orders((A, B, C)):
        cond = in_order(base, order)
        got = nx.where(cond, size=HIT) if fn == "where" else nx.nonzero(cond, size=HIT)
        want = jnp.nonzero(cond.array, size=30)
        assert len(got) == 3
        for g, w in zip(got, want, strict=True):
            assert g.axes == (HIT,)
            np.testing.assert_array_equal(g.array, w)
        # the same set of positions, read by axis name, whatever the layout
        by_name = dict(zip(cond.axis_names, (np.asarray(g.array) for g in got), strict=True))
        found = {tuple(by_name[n][k] for n in NAMES) for k in range(int(COND.sum()))}
        reference = reference or found
        assert found == reference == set(zip(*np.nonzero(np.asarray(COND)), strict=True))


def test_positions_padding_new_axis_and_jit():
    cond = nx.named(jnp.array([[False, True], [True, False]]), ("r", "c"))
    rows, cols = nx.where(cond, new_axis=nx.Axis("hit", 3), fill_value=-1)
    np.testing.assert_array_equal(rows.array, [0, 1, -1])
    np.testing.assert_array_equal(cols.array, [1, 0, -1])
    rows, _ = nx.nonzero(cond, size=nx.Axis("hit", 1))
    np.testing.assert_array_equal(rows.array, [0])
    jitted = jax.jit(lambda c: nx.nonzero(c, size=nx.Axis("hit", 2)))(cond)
    np.testing.assert_array_equal(jitted[1].array, [1, 0])


def test_positions_errors():
    cond = nx.named(COND, (A, B, C))
    with pytest.raises(TypeError, match=r"where: .* needs a sized axis: pass size=Axis\(name, n\)"):
        nx.where(cond)
    with pytest.raises(TypeError, match=r"nonzero: .*got str 'hit'"):
        nx.nonzero(cond, size="hit")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pass the result axis as size= or as new_axis=, not both"):
        nx.nonzero(cond, size=HIT, new_axis=HIT)
    with pytest.raises(ValueError, match=r"nonzero: the condition has no axes"):
        nx.nonzero(nx.named(jnp.array(True), ()), size=HIT)
    with pytest.raises(TypeError, match=r"nonzero: expected a NamedArray condition"):
        nx.nonzero(COND, size=HIT)  # type: ignore[arg-type]


# --- clip -------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", list(axis_orders((A, B, C))))
def test_clip_with_named_bounds(order):
    x = in_order(nx.named(X, (A, B, C)), order)
    lo = nx.named(-jnp.abs(Y[0, :, 0]), B)
    hi = in_order(nx.named(jnp.abs(Y[:, 0, :]), (A, C)), ("c", "a"))
    got = nx.clip(x, lo, hi)
    assert got.axes == x.axes
    want = jnp.clip(X, -jnp.abs(Y[0, :, 0])[None, :, None], jnp.abs(Y[:, 0, :])[:, None, :])
    assert_named_close(got, want, NAMES)
    assert_named_close(x.clip(-0.5, 0.5), jnp.clip(X, -0.5, 0.5), NAMES)
    assert_named_close(nx.clip(x, None, 0.1), jnp.clip(X, max=0.1), NAMES)


def test_clip_union_grad_and_errors():
    x = nx.named(X[:, 0, 0], A)
    hi = nx.named(jnp.array([0.0, 0.5, 10.0]), B)
    with pytest.raises(ValueError, match=r"^clip: cannot broadcast a \{a:2\} with a_max \{b:3\}"):
        nx.clip(x, None, hi)
    got = nx.clip(nx.broadcast_arrays(x, hi)[0], None, hi)
    assert got.axes == (A, B)
    assert_named_close(got, jnp.minimum(X[:, 0, 0][:, None], hi.array[None]))
    grad = jax.grad(lambda x: nx.clip(x, -0.5, 0.5).sum().scalar())(x)
    assert_named_close(grad, (jnp.abs(X[:, 0, 0]) < 0.5).astype(jnp.float32))
    with pytest.raises(ValueError, match=r"clip: axis 'a' has size 2 in a \{a:2\} but size 3"):
        nx.clip(x, nx.named(jnp.zeros(3), "a"), None)
    with pytest.raises(TypeError, match=r"clip: a_max is a plain ArrayImpl"):
        nx.clip(x, None, jnp.ones(2))
