"""Every generated elementwise function against jax.numpy, on inputs in every axis order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax.ops._elementwise import BINARY, UNARY
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C = nx.Axis("a", 2), nx.Axis("b", 3), nx.Axis("c", 4)


def sample(domain: str, shape: tuple[int, ...], seed: int) -> jax.Array:
    """Inputs on which a function of the given domain is defined and well conditioned."""
    key = jax.random.key(seed)
    if domain in ("int", "nonzero_int"):
        return jax.random.randint(key, shape, 1, 9)
    if domain == "bool":
        return jax.random.bernoulli(key, 0.5, shape)
    if domain == "complex":
        re, im = jax.random.normal(key, (2, *shape))
        return re + 1j * im
    if domain == "positive":
        return jax.random.uniform(key, shape, minval=0.5, maxval=2.0)
    if domain == "unit":
        return jax.random.uniform(key, shape, minval=-0.9, maxval=0.9)
    if domain == "above_one":
        return jax.random.uniform(key, shape, minval=1.1, maxval=3.0)
    return jax.random.normal(key, shape)


def flat(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_jnp_in_every_axis_order(name):
    entry = UNARY[name]
    x = sample(entry.domain, (2, 3, 4), seed=len(name))
    reference = flat(entry.reference(x))
    for order in axis_orders((A, B, C)):
        named = in_order(nx.named(x, (A, B, C)), order)
        result = flat(entry.named(named))
        assert len(result) == len(reference)
        for got, want in zip(result, reference):
            assert got.axes == named.axes
            assert_named_close(got, want, ("a", "b", "c"))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_matches_jnp_in_every_axis_order(name):
    entry = BINARY[name]
    x = sample(entry.domain, (2, 3, 4), seed=1)
    y = sample(entry.domain, (3, 4), seed=2)
    reference = flat(entry.reference(x, y[None]))
    reflected = flat(entry.reference(y[None], x))
    base_x, base_y = nx.named(x, (A, B, C)), nx.named(y, (B, C))
    # every order of each operand, against one order of the other
    pairs = [(in_order(base_x, o), base_y) for o in axis_orders((A, B, C))]
    pairs += [(base_x, in_order(base_y, o)) for o in axis_orders((B, C))]
    for nx_x, nx_y in pairs:
        for got, want in zip(flat(entry.named(nx_x, nx_y)), reference):
            assert got.axes == nx_x.axes  # the larger operand's order
            assert_named_close(got, want, ("a", "b", "c"))
        for got, want in zip(flat(entry.named(nx_y, nx_x)), reflected):
            assert got.axes == nx_x.axes
            assert_named_close(got, want, ("a", "b", "c"))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_with_python_scalar(name):
    entry = BINARY[name]
    x = sample(entry.domain, (2, 3), seed=3)
    scalar = {"bool": True, "int": 2, "nonzero_int": 2}.get(entry.domain, 1.5)
    named = nx.named(x, (A, B))
    for got, want in zip(flat(entry.named(named, scalar)), flat(entry.reference(x, scalar))):
        assert_named_close(got, want)
        assert got.dtype == want.dtype
    for got, want in zip(flat(entry.named(scalar, named)), flat(entry.reference(scalar, x))):
        assert_named_close(got, want)


def test_union_broadcasting_is_explicit_and_puts_left_axes_first():
    x = nx.named(jnp.arange(2.0), A)
    y = nx.named(jnp.arange(12.0).reshape(4, 3), (C, B))
    with pytest.raises(ValueError, match=r"^multiply: cannot broadcast x1 \{a:2\} with x2"):
        x * y
    out = nx.multiply(*nx.broadcast_arrays(x, y))
    assert out.axis_names == ("a", "c", "b")
    assert_named_close(out, np.arange(2.0)[:, None, None] * np.arange(12.0).reshape(4, 3))


def test_operators_are_the_named_functions():
    x = nx.named(jnp.array([1.0, 2.0]), A)
    y = nx.named(jnp.array([3.0, 5.0]), A)
    cases = {
        "+": (x + y, nx.add(x, y)),
        "-": (x - y, nx.subtract(x, y)),
        "*": (x * y, nx.multiply(x, y)),
        "/": (x / y, nx.true_divide(x, y)),
        "//": (y // x, nx.floor_divide(y, x)),
        "%": (y % x, nx.mod(y, x)),
        "**": (x**y, nx.power(x, y)),
        "<": (x < y, nx.less(x, y)),
        "==": (x == y, nx.equal(x, y)),
        "!=": (x != y, nx.not_equal(x, y)),
        "neg": (-x, nx.negative(x)),
        "abs": (abs(-x), nx.abs(-x)),
        "radd": (1.0 + x, nx.add(1.0, x)),
        "rsub": (1.0 - x, nx.subtract(1.0, x)),
        "rtruediv": (1.0 / x, nx.true_divide(1.0, x)),
        "rpow": (2.0**x, nx.power(2.0, x)),
    }
    for op, (got, want) in cases.items():
        np.testing.assert_array_equal(got.array, want.array, err_msg=op)
    assert nx.NamedArray.__add__ is nx.add


def test_bitwise_operators():
    i = nx.named(jnp.array([1, 6]), A)
    j = nx.named(jnp.array([3, 5]), A)
    np.testing.assert_array_equal((i & j).array, [1, 4])
    np.testing.assert_array_equal((i | j).array, [3, 7])
    np.testing.assert_array_equal((i ^ j).array, [2, 3])
    np.testing.assert_array_equal((~i).array, [-2, -7])
    np.testing.assert_array_equal((i << 1).array, [2, 12])
    np.testing.assert_array_equal((1 << i).array, [2, 64])


def test_size_mismatch_names_axis_sizes_and_operands():
    x = nx.named(jnp.ones((2, 3)), (A, B))
    y = nx.named(jnp.ones(4), "b")
    with pytest.raises(
        ValueError, match=r"add: axis 'b' has size 3 in x1 \{a:2, b:3\} but size 4 in x2 \{b:4\}"
    ):
        _ = x + y


def test_plain_array_operand_is_a_type_error():
    x = nx.named(jnp.ones((2, 3)), (A, B))
    with pytest.raises(
        TypeError, match=r"multiply: x2 is a plain ArrayImpl of shape \(2, 3\).*named\("
    ):
        _ = x * jnp.ones((2, 3))
    with pytest.raises(TypeError, match=r"add: x1 is a plain ndarray of shape \(3,\)"):
        _ = np.ones(3) + x


def test_zero_d_arrays_combine_with_any_named_array():
    x = nx.named(jnp.ones((2, 3)), (A, B))
    assert_named_close(x * jnp.asarray(3.0), 3 * np.ones((2, 3)))
    assert_named_close(np.float32(2.0) + x, 3 * np.ones((2, 3)))


def test_matmul_is_rejected_with_pointer_to_dot():
    x = nx.named(jnp.ones((2, 3)), (A, B))
    with pytest.raises(TypeError, match=r"@ operator.*namedax.dot"):
        _ = x @ x


def test_elementwise_under_jit_and_grad():
    x = nx.named(jnp.linspace(0.1, 1.0, 6).reshape(2, 3), (A, B))
    y = nx.named(jnp.linspace(1.0, 2.0, 3), B)

    def f(x, y):
        return nx.sin(x * y + nx.exp(y)).array.sum()

    grads = jax.jit(jax.grad(f, argnums=(0, 1)))(x, y)
    ref = jax.grad(lambda a, b: jnp.sum(jnp.sin(a * b + jnp.exp(b))), argnums=(0, 1))(
        x.array, y.array[None]
    )
    assert grads[0].axes == x.axes and grads[1].axes == y.axes
    assert_named_close(grads[0], ref[0])
    assert_named_close(grads[1], ref[1][0])
