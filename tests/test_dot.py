"""`dot` against `jnp.einsum` on operands stored in every axis order; out_axes, jit, grad,
dtypes, the lowering, and every error message."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C, D = nx.Axis("a", 2), nx.Axis("b", 3), nx.Axis("c", 4), nx.Axis("d", 5)
X = jax.random.normal(jax.random.key(0), (2, 3, 4))  # (a, b, c)
Y = jax.random.normal(jax.random.key(1), (3, 4, 5))  # (b, c, d)
Z = jax.random.normal(jax.random.key(2), (5, 2))  # (d, a)


def nx_x(order=(A, B, C)):
    return in_order(nx.named(X, (A, B, C)), order)


def nx_y(order=(B, C, D)):
    return in_order(nx.named(Y, (B, C, D)), order)


# (axis, einsum equation over x=abc and y=bcd, result names)
CASES = {
    "one": ("c", "abc,bcd->abd", ("a", "b", "d")),
    "two": (("b", "c"), "abc,bcd->ad", ("a", "d")),
    "none_contracted": ((), "abc,bcd->abcd", ("a", "b", "c", "d")),
    "all": (None, "abc,bcd->", ()),
}
# Every order of each operand (the other in a fixed order): each layout is a new plan.
ORDER_PAIRS = [(o, (B, C, D)) for o in axis_orders((A, B, C))] + [
    ((C, A, B), o) for o in axis_orders((B, C, D))
]


@pytest.mark.parametrize("case", sorted(CASES))
def test_dot_matches_einsum_in_every_axis_order(case):
    axis, equation, names = CASES[case]
    want = jnp.einsum(equation, X, Y)
    for order_x, order_y in ORDER_PAIRS:
        x, y = nx_x(order_x), nx_y(order_y)
        got = nx.dot(x, y, axis=axis)
        first_seen = dict.fromkeys(ax.name for ax in (*x.axes, *y.axes))
        assert got.axis_names == tuple(n for n in first_seen if n in names)
        assert got.array.shape == tuple(ax.size for ax in got.axes)
        assert_named_close(got, want, names, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", [C, (C, B), ["b", C], {"c": 4}, {"b": 3, "c": 4}])
def test_axis_selectors(axis):
    names = {"a", "b", "c", "d"} - set(nx.axis_name(nx.axis_spec_to_tuple(axis)))
    equation = "abc,bcd->" + "".join(n for n in "abd" if n in names)
    got = nx.dot(nx_x((B, C, A)), nx_y(), axis=axis)
    assert set(got.axis_names) == names
    assert_named_close(got, jnp.einsum(equation, X, Y), tuple(sorted(names)), atol=1e-5)


def test_default_order_is_first_appearance():
    got = nx.dot(nx_x((C, A, B)), nx_y((D, B, C)), axis="c")
    assert got.axis_names == ("a", "b", "d")
    got = nx.dot(nx_y((D, B, C)), nx_x((C, A, B)), axis="c")
    assert got.axis_names == ("d", "b", "a")


@pytest.mark.parametrize(
    ("out_axes", "expected"),
    [
        (("d", "b", "a"), ("d", "b", "a")),
        ((..., "a"), ("b", "d", "a")),
        (("...", "a"), ("b", "d", "a")),
        (("d", ...), ("d", "a", "b")),
        ((D, "...", A), ("d", "b", "a")),
        (["b", ...], ("b", "a", "d")),
    ],
)
def test_out_axes_orders_the_result(out_axes, expected):
    want = jnp.einsum("abc,bcd->abd", X, Y)
    for order in [(A, B, C), (A, C, B)]:  # both see a, b, d in that order
        got = nx.dot(nx_x(order), nx_y(), axis="c", out_axes=out_axes)
        assert got.axis_names == expected
        assert_named_close(got, want, ("a", "b", "d"), atol=1e-5)


def test_three_operands_single_operand_and_method():
    z = nx.named(Z, (D, A))
    got = nx.dot(nx_x((B, C, A)), nx_y(), z, axis=("c", "d"))
    assert_named_close(got, jnp.einsum("abc,bcd,da->ab", X, Y, Z), ("a", "b"), atol=1e-5)
    assert_named_close(nx.dot(nx_x(), axis="b"), X.sum(1), ("a", "c"), atol=1e-5)
    method = nx_x((C, B, A)).dot(nx_y(), axis=C)
    assert_named_close(method, jnp.einsum("abc,bcd->abd", X, Y), ("a", "b", "d"), atol=1e-5)


def test_scalar_result_is_a_0d_named_array():
    got = nx.dot(nx_x(), nx_x((C, A, B)), axis=None)
    assert got.axes == () and got.array.shape == ()
    np.testing.assert_allclose(got.array, (X * X).sum(), rtol=1e-5)


def test_jit_and_grad_match_positional():
    def named_loss(x, y):
        return (nx.dot(x, y, axis="c") ** 2).sum().array

    def positional_loss(x, y):
        return (jnp.einsum("abc,bcd->abd", x, y) ** 2).sum()

    want_x, want_y = jax.grad(positional_loss, argnums=(0, 1))(X, Y)
    grad = jax.jit(jax.grad(named_loss, argnums=(0, 1)))
    for order in [(A, B, C), (C, A, B), (B, C, A)]:
        gx, gy = grad(nx_x(order), nx_y((D, C, B)))
        assert gx.axes == nx_x(order).axes
        assert_named_close(gx, want_x, ("a", "b", "c"), atol=1e-4)
        assert_named_close(gy, want_y, ("b", "c", "d"), atol=1e-4)


def test_two_operands_lower_to_one_dot_general():
    def count(fn, *args):
        hlo = jax.jit(fn).lower(*args).compile().as_text() or ""
        return hlo.count(" dot(")

    named = count(lambda x, y: nx.dot(x, y, axis=("c", "b")), nx_x((C, A, B)), nx_y())
    positional = count(lambda x, y: jnp.einsum("cab,bcd->ad", x, y), jnp.transpose(X, (2, 0, 1)), Y)
    assert named == positional == 1
    jaxpr = jax.make_jaxpr(lambda x, y: nx.dot(x, y, axis="c"))(nx_x(), nx_y())
    prims = [eqn.primitive.name for eqn in jaxpr.eqns]
    assert prims.count("dot_general") == 1 and "pjit" not in prims


def test_precision_and_preferred_element_type_are_passed_on():
    x = nx.named(jnp.arange(6, dtype=jnp.int8).reshape(2, 3), (A, B))
    y = nx.named(jnp.full((3,), 100, dtype=jnp.int8), B)
    got = nx.dot(x, y, axis=B, preferred_element_type=jnp.int32)
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(got.array, np.arange(6).reshape(2, 3).sum(1) * 100)
    hi = nx.dot(nx_x(), nx_y(), axis="c", precision=jax.lax.Precision.HIGHEST)
    assert_named_close(hi, jnp.einsum("abc,bcd->abd", X, Y, precision="highest"), ("a", "b", "d"))
    pair = nx.dot(nx_x(), nx_y(), axis="c", precision=["highest", "highest"])
    assert_named_close(pair, hi.array, hi.axis_names)
    bf = nx.dot(nx_x().astype(jnp.bfloat16), nx_y(), axis="c", preferred_element_type=jnp.float32)
    assert bf.dtype == jnp.float32


def test_matmul_operator_points_at_dot():
    with pytest.raises(TypeError, match=r"@ operator is not supported.*namedax.dot\(a, b, axis="):
        _ = nx_x() @ nx_y()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: nx.dot(nx_x(), nx_y()),
            TypeError,
            r"dot: the axes to contract must be given by keyword: dot\(x, y, axis=Embed\)",
        ),
        (
            lambda: nx.dot("c", nx_x(), nx_y(), axis="c"),  # type: ignore[arg-type]
            TypeError,
            r"dot: arrays\[0\] is str 'c', not a NamedArray \(the contracted axes go in axis=...",
        ),
        (
            lambda: nx.dot(nx_x(), X, axis="c"),  # type: ignore[arg-type]
            TypeError,
            r"dot: arrays\[1\] is ArrayImpl of shape \(2, 3, 4\), not a NamedArray",
        ),
        (lambda: nx.dot(axis="c"), TypeError, "give at least one NamedArray"),
        (
            lambda: nx.dot(nx_x(), nx.named(jnp.ones((5, 6)), ("c", "e")), axis="c"),
            ValueError,
            r"dot: axis 'c' has size 4 in arrays\[0\] \{a:2, b:3, c:4\} but size 5 in arrays\[1\] \{c:5, e:6\}",
        ),
        (
            lambda: nx.dot(nx_x(), nx_y(), axis="z"),
            ValueError,
            r"dot: cannot contract axis 'z': no array has it \(arrays\[0\] \{a:2, b:3, c:4\}, arrays\[1\] \{b:3, c:4, d:5\}\)",
        ),
        (
            lambda: nx.dot(nx_x(), nx_y(), axis=nx.Axis("c", 7)),
            ValueError,
            r"dot: axis 'c' was selected as c\(7\) but has size 4 in arrays\[0\]",
        ),
        (
            lambda: nx.dot(nx_x(), nx_y(), axis="c", out_axes=("c", ...)),
            ValueError,
            r"dot: out_axes names 'c', which is contracted away; the result has \{a:2, b:3, d:5\}",
        ),
        (
            lambda: nx.dot(nx_x(), nx_y(), axis="c", out_axes=("a", "d")),
            ValueError,
            r"dot \(out_axes\): the order \('a', 'd'\) leaves out \{b:3\} of \{a:2, b:3, d:5\}.*add '...'",
        ),
        (
            lambda: nx.dot(nx_x(), nx_y(), axis="c", out_axes=("e", ...)),
            ValueError,
            r"dot \(out_axes\): no axis 'e' in \{a:2, b:3, d:5\}",
        ),
        (
            lambda: nx.dot(nx_x(), nx_y(), axis="c", out_axes=("a", "a", ...)),
            ValueError,
            r"duplicate axis names \['a'\]",
        ),
    ],
)
def test_dot_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_repeated_calls_reuse_the_plan_and_stay_correct():
    x, y = nx_x((B, A, C)), nx_y()
    first = nx.dot(x, y, axis=["c"])
    second = nx.dot(x, y, axis=["c"])
    assert first.axes == second.axes
    np.testing.assert_array_equal(first.array, second.array)
    other = nx.dot(x, y, axis="b")  # same operands, another contraction
    assert set(other.axis_names) == {"a", "c", "d"}
