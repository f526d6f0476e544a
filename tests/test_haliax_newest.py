"""Names of the newest Haliax (marin-haliax 0.2.227): testing, _src.fp8 of both generations,
ragged_dot and partitioning names, as `namedax.compat.haliax` provides them."""

import importlib
import importlib.util
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax.compat.haliax import nn as hnn, partitioning, quantization, testing
from namedax.compat.haliax._src import fp8

DIMS = (((1,), (0,)), ((), ()))


def test_testing_markers():
    mark = testing.skip_if_not_enough_devices(len(jax.devices()) + 1, "more")
    assert mark.args[0] is True
    assert mark.kwargs["reason"] == f"Not enough devices ({len(jax.devices())}): more"
    assert testing.skip_if_not_enough_devices(1).args[0] is False
    assert testing.has_torch() == (importlib.util.find_spec("torch") is not None)

    def test_something():
        pass

    marked = testing.skip_if_no_torch(test_something)
    assert marked is test_something
    (skip,) = marked.pytestmark
    assert (
        skip.args[0] is (not testing.has_torch()) and skip.kwargs["reason"] == "torch not installed"
    )


def test_partitioning_names():
    assert partitioning.ResourceAxis.CONTEXT == "context"
    assert partitioning.ResourceAxis.REPLICA_DCN == "replica_dcn"
    mesh = jax.make_mesh((8,), ("data",))
    assert isinstance(mesh, partitioning.MeshLike) and partitioning.Mesh is jax.sharding.Mesh
    assert isinstance(mesh.abstract_mesh, partitioning.MeshLike)
    assert partitioning.current_thread_local_mapping() is None
    with nx.axis_mapping({"batch": "data"}):
        assert partitioning.current_thread_local_mapping() == {"batch": "data"}


def test_nn_ragged_dot_is_the_function_and_the_module_holds_it():
    module = importlib.import_module("namedax.compat.haliax.nn.ragged_dot")

    assert hnn.ragged_dot is module.ragged_dot is nx.nn.ragged_dot
    importlib.import_module("namedax.compat.haliax.nn.dropout")  # likewise for nn.dropout
    assert hnn.dropout is nx.nn.dropout
    out = hnn.ragged_dot(
        jnp.ones((3, 2)), jnp.ones((2, 2, 4)), jnp.array([2, 1]), implementation="xla"
    )
    np.testing.assert_array_equal(out, 2 * np.ones((3, 4)))


def test_quantization_newest_names_are_namedax():
    assert issubclass(quantization.CustomGradientAccumulation, quantization.OverwriteWithGradient)
    assert issubclass(quantization.Fp8DotGeneralOp, quantization.CustomGradientAccumulation)
    assert quantization.accumulate_gradients is nx.nn.accumulate_gradients


def test_fp8_helpers_of_280f49f():
    x = jnp.array([0.3, -2.0, 5.0])
    qdq = fp8.quantize_dequantize(x, jnp.float8_e4m3fn, jnp.ones(1), jnp.float32)
    assert qdq.dtype == x.dtype
    np.testing.assert_allclose(qdq, x.astype(jnp.float8_e4m3fn).astype(jnp.float32))
    history = jnp.array([4.0, 0.0, 0.0])
    qx, scale, new_history = fp8.qdq_and_return(
        x, jnp.float8_e4m3fn, jnp.ones(1), history, jnp.float32
    )
    np.testing.assert_allclose(scale, [4.0 / 448.0], rtol=1e-6)
    np.testing.assert_array_equal(
        qx, fp8.quantize_dequantize(x, jnp.float8_e4m3fn, scale, jnp.float32)
    )
    assert new_history.tolist() == [5.0, 0.0, 4.0]
    # in_qdq: the input's gradient passes through, the state's "gradient" is its next value
    g_x, g_scale, g_hist = jax.grad(
        lambda x, s, h: jnp.sum(
            fp8.in_qdq(jnp.float32, x, s, h) * 2.0  # pyright: ignore[reportOperatorIssue]  # custom_vjp: typed object
        ),
        (0, 1, 2),
    )(x, jnp.ones(1), history)
    np.testing.assert_array_equal(g_x, 2.0 * np.ones(3))
    np.testing.assert_allclose(g_scale, scale)
    np.testing.assert_array_equal(g_hist, new_history)
    # out_qdq: identity forward, the gradient goes through e5m2
    y = jnp.array([1.0, 2.0])
    assert fp8.out_qdq(jnp.float32, y, jnp.ones(1), jnp.zeros(2)) is y
    g = jax.grad(lambda y, s, h: jnp.sum(fp8.out_qdq(jnp.float32, y, s, h) * 3.3), (0, 1, 2))  # pyright: ignore[reportOperatorIssue]  # custom_vjp: typed object
    g_y, _, g_hist = g(y, jnp.ones(1), jnp.zeros(2))
    np.testing.assert_array_equal(g_y, jnp.full(2, 3.3).astype(jnp.float8_e5m2).astype(jnp.float32))
    assert g_hist.tolist() == pytest.approx([3.3, 0.0])
    # dot_general_with_precision: value and derivative of dot_general
    a, b = jnp.arange(6.0).reshape(2, 3), jnp.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(fp8.dot_general_with_precision(a, b, DIMS), a @ b)
    _, tangent = jax.jvp(
        lambda a: fp8.dot_general_with_precision(a, b, DIMS), (a,), (jnp.ones_like(a),)
    )
    np.testing.assert_allclose(tangent, jnp.ones_like(a) @ b)


def test_fp8_helpers_of_the_newest_haliax():
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(3, 5)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(4, 5)), jnp.float32)
    exact = jax.vjp(lambda a, b: a @ b, a, b)[1](g)
    common: dict[str, Any] = dict(
        dimension_numbers=DIMS, precision=None, preferred_element_type=jnp.float32
    )
    np.testing.assert_allclose(
        fp8.dot_general_transpose_lhs(g, a, b, **common), exact[0], rtol=1e-5
    )
    np.testing.assert_allclose(
        fp8.dot_general_transpose_rhs(g, a, b, **common), exact[1], rtol=1e-5
    )
    swapped = fp8.dot_general_transpose_lhs(g.T, a, b, swap_ans=True, **common)
    np.testing.assert_allclose(swapped, exact[0], rtol=1e-5)

    history = jnp.array([2.0, 0.0])
    (q, scale), vjp = jax.vjp(  # pyright: ignore[reportGeneralTypeIssues]  # custom_vjp: typed object
        lambda s, h: fp8.in_q(jnp.float32, jnp.float8_e4m3fn, a, s, h), jnp.ones(1), history
    )
    assert q.dtype == jnp.float8_e4m3fn
    np.testing.assert_allclose(scale, [2.0 / 448.0], rtol=1e-6)
    g_scale, g_hist = vjp((jnp.zeros(q.shape, q.dtype), jnp.zeros(1)))
    np.testing.assert_allclose(g_scale, scale)
    assert g_hist.tolist() == pytest.approx([float(jnp.max(jnp.abs(a))), 2.0])

    state = dict(
        lhs_scale=jnp.ones(1),
        rhs_scale=jnp.ones(1),
        grad_scale=jnp.ones(1),
        lhs_amax_history=jnp.zeros(4),
        rhs_amax_history=jnp.zeros(4),
        grad_amax_history=jnp.zeros(4),
    )
    out = fp8.fp8_scaled_dot_general(a, b, DIMS, **state)
    np.testing.assert_allclose(out, a @ b, atol=0.15 * float(jnp.max(jnp.abs(a @ b))))
    # the direct pieces compose to the same product as fp8_scaled_dot_general
    q_a, s_a = fp8.in_q(jnp.float32, jnp.float8_e4m3fn, a, jnp.ones(1), jnp.zeros(4))  # pyright: ignore[reportGeneralTypeIssues]  # custom_vjp
    q_b, s_b = fp8.in_q(jnp.float32, jnp.float8_e4m3fn, b, jnp.ones(1), jnp.zeros(4))  # pyright: ignore[reportGeneralTypeIssues]  # custom_vjp
    raw = fp8.quantized_dot(a, q_a, s_a, b, q_b, s_b, jnp.ones(1), jnp.zeros(4), DIMS, jnp.float32)
    np.testing.assert_allclose(fp8.out_dq(jnp.float32, s_a, s_b, raw), out, rtol=1e-6)
    grads = jax.grad(
        lambda a, b: jnp.sum(
            fp8.quantized_dot(  # pyright: ignore[reportOperatorIssue]  # custom_vjp: typed object
                a, q_a, s_a, b, q_b, s_b, jnp.ones(1), jnp.zeros(4), DIMS, jnp.float32
            )
            * g
        ),
        (0, 1),
    )(a, b)
    for got, want in zip(grads, exact):
        assert float(jnp.linalg.norm(got - want)) < 0.15 * float(jnp.linalg.norm(want))
