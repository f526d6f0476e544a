"""The polynomial family against jax.numpy: values, coefficient axes, grads, jit, vmap, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from tests.helpers import assert_named_close, in_order

C, D = nx.Axis("c", 4), nx.Axis("d", 2)
P = jnp.array([1.0, 0.5, -2.0, 1.0])
Q = jnp.array([2.0, -1.0])
p_named, q_named = nx.named(P, C), nx.named(Q, D)

COMBINATIONS = ["polyadd", "polysub", "polymul"]
coefficients = st.lists(st.floats(-4, 4, allow_nan=False, width=32), min_size=1, max_size=6).map(
    lambda v: jnp.asarray(v, dtype=jnp.float32)
)


def _axis_of(result):
    (axis,) = result.axes
    return axis


@pytest.mark.parametrize("fn", COMBINATIONS)
def test_combinations_take_the_first_named_coefficient_axis(fn):
    expected = getattr(jnp, fn)(P, Q)
    for a, b, name in [
        (p_named, q_named, "c"),
        (p_named, Q, "c"),
        (P, q_named, "d"),
        (P, Q, nx.DEFAULT_POLY_AXIS_NAME),
    ]:
        got = getattr(nx, fn)(a, b)
        assert _axis_of(got) == nx.Axis(name, expected.shape[0])
        assert_named_close(got, expected)
    # with the longer polynomial second the result takes its length, still p1's name
    got = getattr(nx, fn)(q_named, p_named)
    assert_named_close(got, getattr(jnp, fn)(Q, P))
    assert got.axes[0].name == "d"


@settings(max_examples=25, deadline=None)
@given(a=coefficients, b=coefficients, fn=st.sampled_from(COMBINATIONS))
def test_combinations_match_jnp_on_any_lengths(a, b, fn):
    got = getattr(nx, fn)(nx.named(a, "a"), nx.named(b, "b"))
    expected = getattr(jnp, fn)(a, b)
    assert got.axes == (nx.Axis("a", expected.shape[0]),)
    assert_named_close(got, expected, rtol=1e-4, atol=1e-4)


def test_scalars_are_constant_polynomials():
    assert_named_close(nx.polyadd(p_named, 3.0), P.at[-1].add(3.0))
    assert_named_close(nx.polymul(2.0, p_named), 2.0 * P)
    assert nx.polymul(2.0, p_named).axes == (C,)
    assert nx.polyval(3.0, 7.0) == 3.0
    assert nx.polyder(5.0).axes == (nx.Axis("degree", 0),)
    assert_named_close(nx.poly(2.0), jnp.array([1.0, -2.0]))


def test_poly_and_roots_round_trip():
    r = nx.named(jnp.array([1.0, 2.0, 3.0]), "r")
    p = nx.poly(r)
    assert p.axes == (nx.Axis("r", 4),)
    assert_named_close(p, jnp.poly(r.array))
    back = nx.roots(p)
    assert back.axes == (nx.Axis("r", 3),)
    np.testing.assert_allclose(np.sort(back.array.real), [1.0, 2.0, 3.0], rtol=1e-4)
    assert nx.poly(jnp.array([1.0, 2.0])).axes == (nx.Axis("degree", 3),)


def test_roots_strip_zeros_and_jit():
    p = nx.named(jnp.array([0.0, 1.0, -3.0, 2.0]), "c")
    assert nx.roots(p).axes == (nx.Axis("c", 2),)
    jitted = jax.jit(lambda p: nx.roots(p, strip_zeros=False))(p)
    assert jitted.axes == (nx.Axis("c", 3),)
    expected = jnp.roots(p.array, strip_zeros=False)
    np.testing.assert_array_equal(np.isnan(jitted.array), np.isnan(expected))


def test_polydiv_matches_jnp_and_names_both_results():
    q, r = nx.polydiv(p_named, q_named)
    eq, er = jnp.polydiv(P, Q)
    assert q.axes == (C.resize(eq.shape[0]),) and r.axes == (C.resize(er.shape[0]),)
    assert_named_close(q, eq)
    assert_named_close(r, er)
    # Haliax's keywords: p1, p2
    q2, _ = nx.polydiv(p1=P, p2=q_named)
    assert q2.axes[0].name == "d"
    # quotient * divisor + remainder is the dividend
    assert_named_close(nx.polyadd(nx.polymul(q, q_named), r), P, atol=1e-5)


@pytest.mark.parametrize("m", [0, 1, 2, 5])
def test_polyder_and_polyint_match_jnp(m):
    d = nx.polyder(p_named, m)
    assert d.axes == (C.resize(jnp.polyder(P, m).shape[0]),)
    assert_named_close(d, jnp.polyder(P, m))
    i = nx.polyint(p_named, m=m)
    assert i.axes == (C.resize(4 + m),)
    assert_named_close(i, jnp.polyint(P, m=m))


def test_polyint_constants():
    k = jnp.array([1.0, -2.0])
    expected = jnp.polyint(P, m=2, k=k)
    assert_named_close(nx.polyint(p_named, 2, k), expected)
    assert_named_close(nx.polyint(p_named, 2, nx.named(k, "k")), expected)
    assert_named_close(nx.polyint(p_named, 2, 3.0), jnp.polyint(P, m=2, k=3.0))
    assert_named_close(nx.polyint(p_named, 2, jnp.array([3.0])), jnp.polyint(P, m=2, k=3.0))
    # the derivative undoes the integral
    assert_named_close(nx.polyder(nx.polyint(p_named, 2, k), 2), P, atol=1e-5)


def test_polyval_keeps_the_points_axes_in_any_order():
    X, Y = nx.Axis("x", 3), nx.Axis("y", 5)
    pts = jax.random.normal(jax.random.key(0), (3, 5))
    x = nx.named(pts, (X, Y))
    for order in [(X, Y), (Y, X)]:
        got = nx.polyval(p_named, in_order(x, order))
        assert got.axes == order
        assert_named_close(got, jnp.polyval(P, pts), ("x", "y"), rtol=1e-4)
    plain = nx.polyval(p_named, pts)
    assert isinstance(plain, jax.Array)
    np.testing.assert_allclose(plain, jnp.polyval(P, pts), rtol=1e-5)
    assert nx.polyval(P, 2.0) == pytest.approx(float(jnp.polyval(P, 2.0)))


def test_gradients_match_jnp():
    x = nx.named(jnp.array([0.5, -1.0, 2.0]), "x")

    def named_loss(p, x):
        return nx.polyval(nx.polymul(p, q_named), x).sum().scalar()

    def plain_loss(p, x):
        return jnp.polyval(jnp.polymul(p, Q), x).sum()

    gp, gx = jax.grad(named_loss, argnums=(0, 1))(p_named, x)
    ep, ex = jax.grad(plain_loss, argnums=(0, 1))(P, x.array)
    assert gp.axes == (C,) and gx.axes == x.axes
    assert_named_close(gp, ep, rtol=1e-5)
    assert_named_close(gx, ex, rtol=1e-5)
    g = jax.grad(lambda p: nx.polyint(nx.polyder(p), k=1.0).sum().scalar())(p_named)
    assert_named_close(g, jax.grad(lambda p: jnp.polyint(jnp.polyder(p), k=1.0).sum())(P))


def test_everything_composes_with_jit():
    f = jax.jit(
        lambda p, q: (nx.polyadd(p, q), nx.polymul(p, q), nx.polydiv(p, q), nx.polyder(p, 2))
    )
    add, mul, (quo, rem), der = f(p_named, q_named)
    assert_named_close(add, jnp.polyadd(P, Q))
    assert_named_close(mul, jnp.polymul(P, Q))
    assert_named_close(quo, jnp.polydiv(P, Q)[0])
    assert_named_close(rem, jnp.polydiv(P, Q)[1], atol=1e-6)
    assert_named_close(der, jnp.polyder(P, 2))
    assert add.axes[0].name == mul.axes[0].name == "c"


def test_vmap_over_a_batch_axis_in_either_storage_order():
    B = nx.Axis("batch", 3)
    coeffs = jax.random.normal(jax.random.key(1), (3, 4))
    batched = nx.named(coeffs, (B, C))
    expected = jax.vmap(lambda p: jnp.polymul(p, Q))(coeffs)
    for order in [(B, C), (C, B)]:
        got = nx.vmap(lambda p: nx.polymul(p, q_named), B)(in_order(batched, order))
        assert got.axes == (B, nx.Axis("c", 5))
        assert_named_close(got, expected, ("batch", "c"), rtol=1e-5)
        roots = nx.vmap(lambda p: nx.roots(p, strip_zeros=False), B)(in_order(batched, order))
        assert roots.axes == (B, nx.Axis("c", 3))
        np.testing.assert_allclose(
            roots.array, jax.vmap(lambda p: jnp.roots(p, strip_zeros=False))(coeffs), rtol=1e-3
        )


def test_polyfit_recovers_the_polynomial_and_matches_jnp():
    S = nx.Axis("s", 8)
    x = nx.named(jnp.linspace(-2.0, 2.0, 8), S)
    y = nx.polyval(p_named, x)
    fit = nx.polyfit(x, y, 3)
    assert fit.axes == (nx.Axis("s", 4),)
    assert_named_close(fit, P, atol=1e-3)
    assert nx.polyfit(x.array, y, 3).axes[0].name == "s"  # y's axis when x is plain
    assert nx.polyfit(x.array, y.array, 3).axes[0].name == "degree"
    weights = jnp.linspace(0.5, 1.5, 8)
    assert_named_close(
        nx.polyfit(x, y, 2, w=nx.named(weights, S)),
        jnp.polyfit(x.array, y.array, 2, w=weights),
        rtol=1e-4,
        atol=1e-4,
    )
    coeffs, residuals, rank, singular, rcond = nx.polyfit(x, y, 2, full=True)
    expected = jnp.polyfit(x.array, y.array, 2, full=True)
    assert_named_close(coeffs, expected[0], rtol=1e-4, atol=1e-4)
    for got, want in zip((residuals, rank, singular, rcond), expected[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-4)
    noisy = y.array + 0.1 * jnp.sin(7 * x.array)
    c, cov = nx.polyfit(x, noisy, 2, cov=True)
    ec, ecov = jnp.polyfit(x.array, noisy, 2, cov=True)
    assert cov.axes == (nx.Axis("s", 3), nx.Axis("s_cov", 3))
    assert_named_close(c, ec, rtol=1e-4, atol=1e-4)
    assert_named_close(cov, ecov, rtol=1e-3, atol=1e-6)
    zero_d = nx.named(jnp.asarray(1e-3), ())
    assert_named_close(nx.polyfit(x, y, 3, rcond=zero_d), jnp.polyfit(x.array, y.array, 3, 1e-3))


def test_polyfit_under_jit():
    x = nx.named(jnp.linspace(0.0, 1.0, 6), "s")
    fit = jax.jit(lambda x, y: nx.polyfit(x, y, 1))(x, 3.0 * x.array - 1.0)
    assert_named_close(fit, jnp.array([3.0, -1.0]), atol=1e-4)
    with pytest.raises(TypeError, match=r"polyfit: rcond must be a concrete number"):
        jax.jit(lambda r: nx.polyfit(x, x, 1, rcond=r))(1e-3)


def test_trim_zeros():
    f = nx.named(jnp.array([0.0, 0.0, 1.0, 2.0, 0.0]), "c")
    for trim in ["fb", "f", "b", "BF"]:
        got = nx.trim_zeros(f, trim)
        expected = jnp.trim_zeros(f.array, trim)
        assert got.axes == (nx.Axis("c", expected.shape[0]),)
        assert_named_close(got, expected)
    assert nx.trim_zeros(f=jnp.zeros(3)).axes == (nx.Axis("degree", 0),)


def test_vander():
    X = nx.Axis("x", 3)
    x = nx.named(jnp.array([1.0, 2.0, 3.0]), X)
    v = nx.vander(x, nx.Axis("d", 4))
    assert v.axes == (X, nx.Axis("d", 4))
    assert_named_close(v, jnp.vander(x.array, N=4))
    square = nx.vander(x, "e")
    assert square.axes == (X, nx.Axis("e", 3))
    assert_named_close(square, jnp.vander(x.array))
    # evaluating through the Vandermonde matrix is polyval
    p = nx.named(P, "d")
    assert_named_close(nx.dot(v, p, axis="d"), jnp.polyval(P, x.array))


def test_wrong_shapes_are_value_errors_naming_the_op_and_axes():
    two_d = nx.named(jnp.ones((2, 3)), ("b", "c"))
    with pytest.raises(
        ValueError, match=r"polyadd: p2 must have one coefficient axis, got \{b:2, c:3\}.*nx\.vmap"
    ):
        nx.polyadd(p_named, two_d)
    with pytest.raises(ValueError, match=r"polyval: p must have one coefficient axis"):
        nx.polyval(two_d, 1.0)
    with pytest.raises(
        ValueError, match=r"polymul: p1 must be 1-d \(or a scalar\), got an array of shape \(2, 2\)"
    ):
        nx.polymul(jnp.ones((2, 2)), P)
    with pytest.raises(ValueError, match=r"roots: p must be 1-d, got an array of shape \(\)"):
        nx.roots(1.0)
    with pytest.raises(
        ValueError, match=r"polyfit: y must be as long as x: x is NamedArray\{s:3\}"
    ):
        nx.polyfit(nx.named(jnp.ones(3), "s"), jnp.ones(4), 1)
    with pytest.raises(ValueError, match=r"polyfit: w must be as long as x"):
        nx.polyfit(jnp.arange(3.0), jnp.ones(3), 1, w=jnp.ones(2))
    with pytest.raises(ValueError, match=r"polyfit: rcond must be a scalar, got NamedArray\{s:3\}"):
        nx.polyfit(jnp.arange(3.0), jnp.ones(3), 1, rcond=nx.named(jnp.ones(3), "s"))
    with pytest.raises(
        ValueError, match=r"polyint: k must hold one constant per integration \(m=2\)"
    ):
        nx.polyint(P, 2, jnp.ones(3))
    with pytest.raises(ValueError, match=r"polyder: m must be a non-negative int, got -1"):
        nx.polyder(P, -1)
    with pytest.raises(ValueError, match=r"polyfit: deg must be a non-negative int, got -2"):
        nx.polyfit(jnp.arange(3.0), jnp.ones(3), -2)
    with pytest.raises(ValueError, match=r"trim_zeros: trim must be made of 'f' .* got 'x'"):
        nx.trim_zeros(P, "x")
    with pytest.raises(ValueError, match=r"vander: degree x\(5\) has the name of x's axis \{x:3\}"):
        nx.vander(nx.named(jnp.ones(3), "x"), nx.Axis("x", 5))
    with pytest.raises(ValueError, match=r"vander: x must have one coefficient axis"):
        nx.vander(two_d, "d")


def test_wrong_kinds_are_type_errors():
    with pytest.raises(
        TypeError, match=r"poly: seq_of_zeros must be an array of coefficients, got str 'c'"
    ):
        nx.poly("c")
    with pytest.raises(
        TypeError, match=r"polyadd: p2 must be an array of coefficients, got NoneType"
    ):
        nx.polyadd(P, None)
    with pytest.raises(TypeError, match=r"polyint: m must be a non-negative int .* got float 1.5"):
        nx.polyint(P, 1.5)  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(TypeError, match=r"polyder: m must be a non-negative int, got True"):
        nx.polyder(P, True)
    with pytest.raises(TypeError, match=r"trim_zeros: trim must be a string"):
        nx.trim_zeros(P, 1)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"vander: x must be a 1-d NamedArray, got ArrayImpl of shape \(4,\)"
    ):
        nx.vander(P, "d")  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"vander: degree must be an axis name or an Axis, got int 3"
    ):
        nx.vander(p_named, 3)  # type: ignore[arg-type]


def test_haliax_module_path_and_star_names():
    import namedax.ops._poly as poly_module

    assert set(poly_module.__all__) == {
        "DEFAULT_POLY_AXIS_NAME",
        "poly",
        "polyadd",
        "polysub",
        "polymul",
        "polydiv",
        "polyint",
        "polyder",
        "polyval",
        "polyfit",
        "roots",
        "trim_zeros",
        "vander",
    }
    for name in poly_module.__all__:
        assert getattr(nx, name) is getattr(poly_module, name)
