"""nn.ragged_dot: grouped matmul against a per-group loop, gradients, kernels, errors, ar=."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from namedax import nn


def _loop(lhs, rhs, sizes):
    out = np.zeros((lhs.shape[0], rhs.shape[2]), np.float64)
    start = 0
    for e, n in enumerate(np.asarray(sizes)):
        out[start : start + n] = np.asarray(lhs[start : start + n], np.float64) @ np.asarray(rhs[e])
        start += n
    return out


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(0, 5), min_size=1, max_size=4), spare=st.integers(0, 3))
def test_matches_a_loop_over_groups(sizes, spare):
    tokens = sum(sizes) + spare  # rows past the groups come out zero
    rng = np.random.default_rng(len(sizes) * 100 + tokens)
    lhs = jnp.asarray(rng.normal(size=(max(tokens, 1), 3)), jnp.float32)
    rhs = jnp.asarray(rng.normal(size=(len(sizes), 3, 2)), jnp.float32)
    out = jax.jit(nn.ragged_dot)(lhs, rhs, jnp.array(sizes))
    assert out.shape == (lhs.shape[0], 2) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _loop(lhs, rhs, sizes), rtol=1e-5, atol=1e-5)


def test_gradients_match_the_loop():
    rng = np.random.default_rng(0)
    lhs = jnp.asarray(rng.normal(size=(6, 3)), jnp.float32)
    rhs = jnp.asarray(rng.normal(size=(3, 3, 2)), jnp.float32)
    sizes = jnp.array([2, 0, 4])

    def dense(lhs, rhs):  # the same product written with a per-row gather of expert weights
        expert = jnp.repeat(jnp.arange(3), sizes, total_repeat_length=6)
        return jnp.einsum("ti,tio->to", lhs, rhs[expert])

    def loss(f):
        return lambda a, b: jnp.sum(jnp.sin(f(a, b)))

    got = jax.grad(loss(lambda a, b: nn.ragged_dot(a, b, sizes)), (0, 1))(lhs, rhs)
    want = jax.grad(loss(dense), (0, 1))(lhs, rhs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel", ["megablox", "triton", "triton_group_grid", "triton_tile_map"])
def test_accelerator_kernels_fall_back_to_xla_with_a_warning(kernel):
    lhs, rhs, sizes = jnp.ones((4, 3)), jnp.ones((2, 3, 5)), jnp.array([1, 3])
    with pytest.warns(RuntimeWarning, match=f"the '{kernel}' kernel is not part of namedax"):
        out = nn.ragged_dot(lhs, rhs, sizes, implementation=kernel)
    np.testing.assert_array_equal(out, nn.ragged_dot(lhs, rhs, sizes, implementation="xla"))


def test_errors():
    lhs, rhs, sizes = jnp.ones((4, 3)), jnp.ones((2, 3, 5)), jnp.array([1, 3])
    with pytest.raises(TypeError, match="implementation must be one of"):
        nn.ragged_dot(lhs, rhs, sizes, implementation="cuda")  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(ValueError, match=r"got lhs_ \(4, 2\), rhs_ \(2, 3, 5\)"):
        nn.ragged_dot(jnp.ones((4, 2)), rhs, sizes)
    with pytest.raises(ValueError, match=r"group_sizes_ \(3,\)"):
        nn.ragged_dot(lhs, rhs, jnp.array([1, 1, 2]))
    with pytest.raises(TypeError, match="integer array"):
        nn.ragged_dot(lhs, rhs, jnp.array([1.0, 3.0]))
    with pytest.raises(TypeError, match="rhs_ must be an array"):
        nn.ragged_dot(lhs, [[1.0]], sizes)  # pyright: ignore[reportArgumentType]  # the error is the point


def test_ar_sums_over_the_model_axis_inside_shard_map():
    mesh = jax.make_mesh((2,), ("model",), axis_types=(jax.sharding.AxisType.Auto,))
    rng = np.random.default_rng(1)
    lhs = jnp.asarray(rng.normal(size=(4, 6)), jnp.float32)
    rhs = jnp.asarray(rng.normal(size=(2, 6, 3)), jnp.float32)
    sizes = jnp.array([3, 1])
    P = jax.sharding.PartitionSpec
    f = jax.shard_map(
        lambda a, b, s: nn.ragged_dot(a, b, s, ar=True),
        mesh=mesh,
        in_specs=(P(None, "model"), P(None, "model", None), P()),
        out_specs=P(),
    )
    np.testing.assert_allclose(f(lhs, rhs, sizes), _loop(lhs, rhs, sizes), rtol=1e-5, atol=1e-5)
