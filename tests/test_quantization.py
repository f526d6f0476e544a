"""fp8 and int8 linear layers: products, delayed scaling, gradients, HLO dtypes, training on CPU."""

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax

import namedax as nx
from namedax import nn
from namedax.nn._fp8 import delayed_scale, fp8_dot_general, operand_cotangent
from namedax.nn._int8 import int8_product, int8_quantize

Batch, In, Hidden, Out = (
    nx.Axis("batch", 32),
    nx.Axis("in", 16),
    nx.Axis("hidden", 32),
    nx.Axis("out", 4),
)
E4M3_MAX, E5M2_MAX = 448.0, 57344.0

DIMS = [  # (lhs shape, rhs shape, dimension numbers)
    ((2, 3), (3, 4), (((1,), (0,)), ((), ()))),
    ((3, 2), (4, 3), (((0,), (1,)), ((), ()))),
    ((3, 5, 4, 6), (5, 4, 3, 7), (((0, 2), (2, 1)), ((1,), (0,)))),
    ((2, 3, 4), (4, 5), (((2,), (0,)), ((), ()))),
    ((6, 2, 3), (6, 3, 5), (((2,), (1,)), ((0,), (0,)))),
]


def _params(model):
    """The trainable part: inexact arrays that are not gradient-carried state."""
    return nn.partition_for_grad_overwrite(eqx.filter(model, eqx.is_inexact_array))[1]


def _data():
    x = nx.random.normal(jax.random.key(1), (Batch, In))
    w = jax.random.normal(jax.random.key(2), (In.size, Out.size))
    return x, nx.named(jnp.tanh(x.array @ w), (Batch, Out))


def _loss(model, x, y):
    return nx.mean((model(x) - y) ** 2).array


def _train(model, steps=60, lr=1e-2):
    x, y = _data()
    opt = optax.adam(lr)
    state = opt.init(_params(model))

    @eqx.filter_jit
    def step(model, state):
        loss, grads = eqx.filter_value_and_grad(_loss)(model, x, y)
        overwrites, grads = nn.partition_for_grad_overwrite(grads)
        updates, state = opt.update(grads, state, _params(model))
        return nn.apply_updates(model, updates, overwrites), state, loss

    losses = []
    for _ in range(steps):
        model, state, loss = step(model, state)
        losses.append(float(loss))
    return model, losses


def _mlp():
    return nn.MLP.init(In, Out, width=Hidden, depth=2, key=jax.random.key(0))


@pytest.mark.parametrize("lhs_shape, rhs_shape, dims", DIMS)
def test_operand_cotangent_matches_jax_vjp(lhs_shape, rhs_shape, dims):
    rng = np.random.default_rng(0)
    x, w = jnp.asarray(rng.normal(size=lhs_shape)), jnp.asarray(rng.normal(size=rhs_shape))
    out, vjp = jax.vjp(lambda a, b: lax.dot_general(a, b, dims), x, w)
    g = jnp.asarray(rng.normal(size=out.shape))
    gx, gw = vjp(g)
    np.testing.assert_allclose(
        operand_cotangent(g, w, dims, x.ndim, True, lax.dot_general), gx, rtol=1e-5
    )
    np.testing.assert_allclose(
        operand_cotangent(g, x, dims, w.ndim, False, lax.dot_general), gw, rtol=1e-5
    )


@pytest.mark.parametrize("lhs_shape, rhs_shape, dims", DIMS)
def test_int8_product_and_gradients_track_the_exact_ones(lhs_shape, rhs_shape, dims):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=lhs_shape), jnp.float32)
    w = jnp.asarray(rng.normal(size=rhs_shape), jnp.float32)
    exact = lax.dot_general(x, w, dims)
    approx = int8_product(x, w, dims)
    assert approx.shape == exact.shape and approx.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(approx - exact))) < 0.03 * float(jnp.max(jnp.abs(exact))) + 1e-3
    from namedax.nn._int8 import int8_dot_general

    f_q = lambda a, b: jnp.sum(jnp.sin(int8_dot_general(a, b, dims, jnp.float32)))
    f = lambda a, b: jnp.sum(jnp.sin(lax.dot_general(a, b, dims)))
    for got, want in zip(jax.grad(f_q, (0, 1))(x, w), jax.grad(f, (0, 1))(x, w)):
        assert got.shape == want.shape
        assert float(jnp.linalg.norm(got - want)) < 0.05 * float(jnp.linalg.norm(want))


def test_int8_quantize_is_per_slice_and_bounded():
    x = jnp.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [100.0, 1.0, -50.0]])
    q, scale = int8_quantize(x, (1,))
    assert q.dtype == jnp.int8 and scale.shape == (3, 1)
    np.testing.assert_array_equal(jnp.max(jnp.abs(q.astype(int)), axis=1), [127, 0, 127])
    assert float(scale[1, 0]) == 1.0  # an all-zero slice keeps scale one
    np.testing.assert_allclose(q * scale, x, atol=float(jnp.max(scale)) / 2 + 1e-6)


def test_fp8_forward_is_close_and_keeps_dtype_and_shape():
    exact = nn.Linear.init(In, Out, key=jax.random.key(0), init_scale=0.1)
    fp8 = dataclasses.replace(exact, dot_general=nn.Fp8DotGeneralOp.init())
    x = nx.random.normal(jax.random.key(3), (Batch, In))
    y, y8 = exact(x), fp8(x)
    assert y8.axes == y.axes and y8.dtype == y.dtype
    np.testing.assert_allclose(y8.array, y.array, atol=2e-2, rtol=5e-2)


def test_fp8_delayed_scaling_state_follows_the_rule():
    """Scales come from the history before this step; histories add this step's amax."""
    layer = nn.Linear.init(In, Out, key=jax.random.key(0), dot_general=nn.Fp8DotGeneralOp.init(8))

    @eqx.filter_jit
    def step(layer, x, dy):
        grads = eqx.filter_grad(lambda m: nx.sum(m(x) * dy).array)(layer)
        overwrites, grads = nn.partition_for_grad_overwrite(grads)
        return nn.apply_updates(layer, jax.tree.map(lambda g: -1e-3 * g, grads), overwrites)

    hist = {k: np.zeros(8, np.float32) for k in "xkg"}
    scale = {k: 1.0 for k in "xkg"}
    tops = {"x": E4M3_MAX, "k": E4M3_MAX, "g": E5M2_MAX}
    for i in range(4):
        x = nx.random.normal(jax.random.key(10 + i), (Batch, In)) * (i + 1)
        dy = nx.random.normal(jax.random.key(20 + i), (Batch, Out)) * 10.0**-i
        amax = {
            "x": np.abs(x.array).max(),
            "k": np.abs(layer.weight.array).max(),
            "g": np.abs(dy.array).max(),
        }
        for k in "xkg":  # the rule, written independently of the implementation
            past = hist[k].max()
            scale[k] = past / tops[k] if past > 0 else scale[k]
            hist[k] = np.concatenate([[amax[k]], np.roll(hist[k], -1)[1:]])
        layer = step(layer, x, dy)
        op = layer.dot_general
        for k, got_scale, got_hist in [
            ("x", op.input_scale, op.input_amax_history),
            ("k", op.kernel_scale, op.kernel_amax_history),
            ("g", op.output_grad_scale, op.output_grad_amax_history),
        ]:
            np.testing.assert_allclose(got_scale, [scale[k]], rtol=1e-6, err_msg=f"step {i} {k}")
            np.testing.assert_allclose(got_hist, hist[k], rtol=1e-6, err_msg=f"step {i} {k}")


def test_delayed_scale_keeps_the_old_scale_without_a_usable_amax():
    old = jnp.array(0.5)
    for amax in (0.0, jnp.inf, jnp.nan):
        assert float(delayed_scale(jnp.array(amax), old, jnp.array(E4M3_MAX))) == 0.5
    assert float(delayed_scale(jnp.array(896.0), old, jnp.array(E4M3_MAX), margin=1)) == 4.0


@pytest.mark.parametrize(
    "kind, forward, backward",
    [("fp8", "f8E4M3FN", "f8E5M2"), ("int8", "xi8>", "xi8>")],
)
def test_hlo_has_quantised_dots_forward_and_backward(kind, forward, backward):
    model = nn.quantize_linear_layers(_mlp(), nn.QuantizationConfig(**{kind: True}))  # pyright: ignore[reportArgumentType]  # kind: fp8/int8
    x, y = _data()
    hlo = jax.jit(lambda m: jax.grad(_loss)(m, x, y)).lower(model).as_text()
    dots = [line for line in hlo.splitlines() if "stablehlo.dot_general" in line]
    assert dots and all(forward in d or backward in d for d in dots), dots
    assert any(backward in d for d in dots)
    plain = jax.jit(lambda m: jax.grad(_loss)(m, x, y)).lower(_mlp()).as_text()
    assert "f8E" not in plain and "xi8>" not in plain


@functools.cache
def _unquantised_losses():
    return _train(_mlp())[1]


@pytest.mark.parametrize("kind, floor", [("fp8", 0.01), ("int8", 1e-3)])
def test_quantised_mlp_trains_on_cpu_and_loss_decreases(kind, floor):
    """fp8 (3 mantissa bits) levels off higher than int8, which follows the exact run."""
    exact = _unquantised_losses()
    config = nn.QuantizationConfig(**{kind: True})  # pyright: ignore[reportArgumentType]  # kind: fp8/int8
    model, losses = _train(nn.quantize_linear_layers(_mlp(), config))
    assert losses[-1] < floor * losses[0], losses
    assert abs(losses[0] - exact[0]) < 0.05 * exact[0]
    if kind == "int8":
        assert losses[-1] < 3 * exact[-1] + 1e-3, (losses[-1], exact[-1])
    op_type = nn.Fp8DotGeneralOp if kind == "fp8" else nn.Int8DotGeneralOp
    assert all(isinstance(layer.dot_general, op_type) for layer in model.layers)


@pytest.mark.parametrize("kind, tolerance", [("fp8", 0.25), ("int8", 0.05)])
def test_quantised_gradients_match_the_unquantised_model(kind, tolerance):
    x, y = _data()
    mlp = _mlp()
    model = nn.quantize_linear_layers(mlp, nn.QuantizationConfig(**{kind: True}))  # pyright: ignore[reportArgumentType]  # kind: fp8/int8
    if kind == "fp8":  # one step to fill the amax histories (delayed scaling), weights unchanged
        grads = eqx.filter_grad(_loss)(model, x, y)
        overwrites, rest = nn.partition_for_grad_overwrite(grads)
        model = nn.apply_updates(model, jax.tree.map(jnp.zeros_like, rest), overwrites)
    got = eqx.filter_grad(_loss)(model, x, y)
    want = eqx.filter_grad(_loss)(mlp, x, y)
    for g, w in zip(got.layers, want.layers):
        for a, b in [(g.weight, w.weight), (g.bias, w.bias)]:
            err = float(jnp.linalg.norm(a.array - b.array) / jnp.linalg.norm(b.array))
            assert err < tolerance, (kind, err)
            cosine = jnp.vdot(a.array, b.array) / (
                jnp.linalg.norm(a.array) * jnp.linalg.norm(b.array)
            )
            assert float(cosine) > 1 - tolerance**2, (kind, float(cosine))


def test_quantize_linear_layers_targets():
    mlp = _mlp()
    is_fp8 = lambda m: [isinstance(layer.dot_general, nn.Fp8DotGeneralOp) for layer in m.layers]
    assert is_fp8(nn.quantize_linear_layers(mlp, nn.QuantizationConfig(fp8=True))) == [True] * 3
    regex = nn.QuantizationConfig(targets="layers.0", fp8=True)
    assert is_fp8(nn.quantize_linear_layers(mlp, regex)) == [True, False, False]
    names = nn.QuantizationConfig(targets=["0", "2"], fp8=True)
    assert is_fp8(nn.quantize_linear_layers(mlp, names)) == [True, False, True]
    with pytest.warns(UserWarning, match="nothing is quantised"):
        assert nn.quantize_linear_layers(mlp, nn.QuantizationConfig()) is mlp
    with pytest.raises(ValueError, match="choose one"):
        nn.QuantizationConfig(fp8=True, int8=True)


class _Block(eqx.Module):
    up: nn.Linear
    down: nn.Linear

    @staticmethod
    def init(*, key):
        k1, k2 = jax.random.split(key)
        return _Block(nn.Linear.init(In, Hidden, key=k1), nn.Linear.init(Hidden, In, key=k2))

    def __call__(self, x):
        return x + 0.1 * self.down(nn.relu(self.up(x)))


def test_stacked_layers_get_one_state_per_layer_and_train():
    Layers = nx.Axis("layers", 3)
    stack = nn.Stacked.init(Layers, _Block)(key=jax.random.key(0))
    q = nn.quantize_linear_layers(stack, nn.QuantizationConfig(fp8=True, amax_history_length=16))
    op = q.stacked.up.dot_general
    assert isinstance(op, nn.Fp8DotGeneralOp)
    assert op.input_scale.shape == (3, 1) and op.input_amax_history.shape == (3, 16)
    only_up = nn.quantize_linear_layers(stack, nn.QuantizationConfig(targets=["up"], fp8=True))
    assert isinstance(only_up.stacked.up.dot_general, nn.Fp8DotGeneralOp)
    assert only_up.stacked.down.dot_general is None

    x = nx.random.normal(jax.random.key(1), (Batch, In))
    np.testing.assert_allclose(q.fold(x).array, stack.fold(x).array, atol=0.05)

    def loss(m):
        return nx.mean(m.fold(x) ** 2).array

    grads = eqx.filter_grad(loss)(q)
    overwrites, rest = nn.partition_for_grad_overwrite(grads)
    q2 = nn.apply_updates(q, jax.tree.map(jnp.zeros_like, rest), overwrites)
    op2 = q2.stacked.up.dot_general
    assert isinstance(op2, nn.Fp8DotGeneralOp)
    hist = np.asarray(op2.input_amax_history)
    assert hist.shape == (3, 16) and (hist[:, 0] > 0).all()
    # each layer records its own input: the first layer sees x itself
    assert hist[0, 0] == pytest.approx(float(jnp.max(jnp.abs(x.array))), rel=1e-6)
    assert len({round(float(v), 5) for v in hist[:, 0]}) == 3


def test_accumulate_gradients_sums_params_and_combines_fp8_state():
    op = nn.Fp8DotGeneralOp.init(4)
    a = {
        "w": jnp.ones(2),
        "op": dataclasses.replace(op, input_amax_history=jnp.array([3.0, 0, 0, 0])),
    }
    b = {
        "w": 2 * jnp.ones(2),
        "op": dataclasses.replace(op, input_amax_history=jnp.array([5.0, 0, 0, 0])),
    }
    zero = jax.tree.map(jnp.zeros_like, a)
    total = nn.accumulate_gradients(nn.accumulate_gradients(zero, a), b)
    assert total["w"].tolist() == [3.0, 3.0]
    assert total["op"].input_amax_history.tolist() == [5.0, 0, 0, 0]
    assert total["op"].input_scale.tolist() == [1.0]  # the latest copy, not a sum
    with pytest.raises(TypeError, match="Fp8DotGeneralOp meets"):
        nn.accumulate_gradients(a, {"w": jnp.ones(2), "op": nn.Int8DotGeneralOp.init()})


def test_custom_gradient_accumulation_must_define_accumulate():
    class State(nn.CustomGradientAccumulation):
        v: jax.Array

    with pytest.raises(NotImplementedError, match="must define accumulate"):
        nn.accumulate_gradients({"s": State(jnp.zeros(1))}, {"s": State(jnp.ones(1))})


def test_op_argument_errors():
    with pytest.raises(TypeError, match="float8_e4m3fn or float8_e5m2"):
        nn.Fp8DotGeneralOp.init(fwd_dtype=jnp.bfloat16)
    with pytest.raises(ValueError, match="amax_history_length"):
        nn.Fp8DotGeneralOp.init(0)
    dims = (((1,), (0,)), ((), ()))
    for op in (nn.Fp8DotGeneralOp.init(), nn.Int8DotGeneralOp.init()):
        with pytest.raises(TypeError, match="unexpected keyword arguments"):
            op(jnp.ones((2, 3)), jnp.ones((3, 4)), dims, out_sharding=None)
        with pytest.warns(UserWarning, match="precision"):
            op(jnp.ones((2, 3)), jnp.ones((3, 4)), dims, lax.Precision.HIGHEST)
        out = op(jnp.ones((2, 3)), jnp.ones((3, 4)), dims, preferred_element_type=jnp.bfloat16)
        assert out.dtype == jnp.bfloat16


def test_fp8_dot_general_under_vmap_and_with_bf16_compute():
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(5, 2, 3)), jnp.bfloat16)
    w = jnp.asarray(rng.normal(size=(3, 4)), jnp.bfloat16)
    s, h = jnp.ones(1), jnp.zeros(4)
    dims = (((1,), (0,)), ((), ()))
    f = jax.vmap(lambda a: fp8_dot_general(a, w, s, s, s, h, h, h, dims, jnp.dtype(jnp.bfloat16)))
    out = f(x)
    assert out.dtype == jnp.bfloat16 and out.shape == (5, 2, 4)
    np.testing.assert_allclose(
        out.astype(jnp.float32),
        jnp.einsum("bij,jk->bik", x, w).astype(jnp.float32),
        rtol=0.15,
        atol=0.1,
    )


@pytest.mark.parametrize("kind", ["fp8", "int8"])
def test_gradients_under_an_explicit_mesh_with_a_sharded_batch(kind):
    """The weight gradient contracts the sharded batch: the op asks JAX for its sharding."""
    mesh = jax.make_mesh((2,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,))
    model = nn.quantize_linear_layers(_mlp(), nn.QuantizationConfig(**{kind: True}))  # pyright: ignore[reportArgumentType]  # kind: fp8/int8
    x, y = _data()
    want = eqx.filter_jit(eqx.filter_grad(_loss))(model, x, y)
    spec = jax.sharding.PartitionSpec("data", None)
    with jax.set_mesh(mesh):
        xs = nx.named(jax.device_put(x.array, jax.sharding.NamedSharding(mesh, spec)), x.axes)
        ys = nx.named(jax.device_put(y.array, jax.sharding.NamedSharding(mesh, spec)), y.axes)
        got = eqx.filter_jit(eqx.filter_grad(_loss))(model, xs, ys)
    for g, w in zip(got.layers, want.layers):
        np.testing.assert_allclose(g.weight.array, w.weight.array, rtol=1e-4, atol=1e-6)
