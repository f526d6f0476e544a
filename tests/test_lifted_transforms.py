"""The cheatsheet of `flax.linen` lifted transforms, one test per row.

Flax needs "lifted" versions of JAX transforms because its modules hide their
variables. namedax modules are Equinox modules: pytrees whose leaves are the
parameters, so plain JAX (or Equinox) transforms apply to them directly, and the
axis-aware ones (`nx.vmap`, `nx.scan`, `Stacked`) cover what involves an axis.

| flax.linen           | namedax / JAX equivalent                                            |
| -------------------- | ------------------------------------------------------------------- |
| `nn.vmap`            | `nx.vmap(fn, Batch)`; ensembles: `Stacked.init(...)` + `.vmap`      |
| `nn.scan`            | `Stacked.fold` / `Stacked.scan`, or `nx.scan(f, Layers)`            |
| `nn.jit`             | `jax.jit` / `eqx.filter_jit` on the module                          |
| `nn.remat`           | `jax.checkpoint` / `eqx.filter_checkpoint`                          |
| `nn.remat_scan`      | `Stacked.init(..., gradient_checkpointing="nested")`                |
| `nn.map_variables`   | transform the module's leaves (`jax.tree_util.tree_map`, `eqx.tree_at`) inside the loss |
| `nn.jvp`             | `jax.jvp` / `eqx.filter_jvp` with a module of tangents              |
| `nn.vjp`             | `jax.vjp` / `eqx.filter_vjp`                                        |
| `nn.custom_vjp`      | `jax.custom_vjp` / `eqx.filter_custom_vjp`                          |
| `nn.while_loop`      | `jax.lax.while_loop` with the module in the carry or closed over    |
| `nn.cond`            | `jax.lax.cond` with modules as operands                             |
| `nn.switch`          | `jax.lax.switch` with modules as operands                           |

Each test runs the equivalent on small `namedax.nn` modules and checks values (and
gradients where the row is about them) against the same computation on positional
arrays.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import Axis

from .helpers import assert_named_close, in_order

Batch, Embed, Hidden, Layers = (
    Axis("batch", 2),
    Axis("embed", 3),
    Axis("hidden", 4),
    Axis("layers", 3),
)
KEY = jax.random.key(0)


def _x(*axes, seed=1):
    return nx.named(jax.random.normal(jax.random.key(seed), tuple(a.size for a in axes)), axes)


def _linear(seed=0, In=Embed, Out=Embed):
    layer = nx.nn.Linear.init(In, Out, key=jax.random.key(seed))
    return eqx.tree_at(lambda m: m.bias, layer, _x(Out, seed=seed + 100))  # a nonzero bias


def _wb(layer):
    """(weight laid out (out, in), bias) of a Linear as positional arrays."""
    names = layer.weight.axis_names
    out_names = layer.bias.axis_names
    in_names = tuple(n for n in names if n not in out_names)
    return in_order(layer.weight, out_names + in_names).array, layer.bias.array


def _stack(**kw):
    return nx.nn.Stacked.init(Layers, nx.nn.Linear, **kw)(Embed, Embed, key=KEY)


def _stack_wb(stack):
    """Per-layer (weights (layers, out, in), biases (layers, out)) of a stack of Linear."""
    w = in_order(stack.stacked.weight, ("layers", "embed", "embed_in")).array
    return w, stack.stacked.bias.array


def _positional_fold(w, b, x):
    for i in range(w.shape[0]):
        x = jnp.tanh(w[i] @ x + b[i])
    return x


def _tanh_block(block, x):
    return nx.tanh(block(x))


# --- nn.vmap -----------------------------------------------------------------------------


def test_vmap_maps_a_module_over_a_named_batch_axis():
    layer, x = _linear(), _x(Embed, Batch)  # batch deliberately not in front
    out = nx.vmap(lambda v: layer(v), Batch)(x)
    w, b = _wb(layer)
    assert_named_close(
        out, jax.vmap(lambda v: w @ v + b)(in_order(x, (Batch, Embed)).array), ("batch", "embed")
    )


def test_vmap_over_an_ensemble_is_stacked_vmap():
    stack, x = _stack(), _x(Embed)
    out = stack.vmap(x)  # every member on the same input
    w, b = _stack_wb(stack)
    assert_named_close(out, jnp.einsum("loi,i->lo", w, x.array) + b, ("layers", "embed"))


def test_vmap_with_shared_params_is_a_stack_with_shared_true():
    stack, x = _stack(shared=True), _x(Embed)
    assert Layers.name not in stack.stacked.weight.axis_names  # built once, no Layers axis
    out = stack.vmap(x)
    w, b = _wb(stack.stacked)
    assert_named_close(
        out, jnp.broadcast_to(w @ x.array + b, (Layers.size, Embed.size)), ("layers", "embed")
    )


# --- nn.scan -----------------------------------------------------------------------------


def test_scan_over_layers_is_stacked_fold_and_scan():
    stack, x = _stack(), _x(Embed)
    w, b = _stack_wb(stack)
    assert_named_close(stack.fold_via(_tanh_block)(x), _positional_fold(w, b, x.array))
    carry, sums = stack.scan_via(lambda block, h: (_tanh_block(block, h), h.sum()))(x)
    hs, h = [], x.array
    for i in range(Layers.size):
        hs.append(h.sum())
        h = jnp.tanh(w[i] @ h + b[i])
    assert_named_close(carry, h)
    assert_named_close(sums, jnp.stack(hs), ("layers",))


def test_scan_over_a_sequence_is_nx_scan():
    Pos = Axis("pos", 5)
    layer, xs = _linear(), _x(Embed, Pos)  # the scanned axis is found by name
    carry, ys = nx.scan(lambda h, x: (nx.tanh(layer(h) + x), h.sum()), Pos)(nx.zeros(Embed), xs)
    w, b = _wb(layer)
    h, outs = jnp.zeros(3), []
    for t in range(Pos.size):
        outs.append(h.sum())
        h = jnp.tanh(w @ h + b + xs.array[:, t])
    assert_named_close(carry, h)
    assert_named_close(ys, jnp.stack(outs), ("pos",))


# --- nn.jit ------------------------------------------------------------------------------


def test_jit_is_jax_jit_or_eqx_filter_jit_on_the_module():
    mlp = nx.nn.MLP.init(Embed, Hidden, width=5, depth=2, key=KEY)
    x = _x(Batch, Embed)
    eager = mlp(x)
    assert_named_close(eqx.filter_jit(lambda m, v: m(v))(mlp, x), eager.array, eager.axis_names)
    assert_named_close(jax.jit(lambda m, v: m(v))(mlp, x), eager.array, eager.axis_names)


# --- nn.remat ----------------------------------------------------------------------------


def test_remat_is_jax_checkpoint_with_the_same_gradients():
    layer, x = _linear(), _x(Embed)

    def loss(m, v):
        return nx.sum(nx.tanh(m(v)) ** 2).scalar()

    remat_loss = jax.checkpoint(loss)
    assert "remat" in str(jax.make_jaxpr(jax.grad(remat_loss))(layer, x))
    g, g_remat = jax.grad(loss)(layer, x), jax.grad(remat_loss)(layer, x)
    w, b = _wb(layer)
    gw, gb = jax.grad(lambda w, b: jnp.sum(jnp.tanh(w @ x.array + b) ** 2), argnums=(0, 1))(w, b)
    for grads in (g, g_remat, eqx.filter_grad(eqx.filter_checkpoint(loss))(layer, x)):
        assert_named_close(grads.weight, gw, ("embed", "embed_in"))
        assert_named_close(grads.bias, gb)


# --- nn.remat_scan -----------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["nested", True])
def test_remat_scan_is_a_stack_with_gradient_checkpointing(policy):
    stack, x = _stack(gradient_checkpointing=policy), _x(Embed)

    def loss(s):
        return nx.sum(s.fold_via(_tanh_block)(x) ** 2).scalar()

    grads = eqx.filter_grad(loss)(stack)
    w, b = _stack_wb(stack)
    gw, gb = jax.grad(lambda w, b: jnp.sum(_positional_fold(w, b, x.array) ** 2), argnums=(0, 1))(
        w, b
    )
    assert_named_close(grads.stacked.weight, gw, ("layers", "embed", "embed_in"), atol=1e-5)
    assert_named_close(grads.stacked.bias, gb, ("layers", "embed"), atol=1e-5)


# --- nn.map_variables --------------------------------------------------------------------


def test_map_variables_is_a_tree_transformation_inside_the_loss():
    layer, x = _linear(), _x(Embed)

    def weight_normalised(m):  # what map_variables would apply to the "params" collection
        norm = nx.sqrt(nx.sum(m.weight**2, axis="embed_in"))
        return eqx.tree_at(lambda t: t.weight, m, m.weight / norm)

    def loss(m):
        return nx.sum(weight_normalised(m)(x)).scalar()

    w, b = _wb(layer)

    def positional(w, b):
        return jnp.sum((w / jnp.linalg.norm(w, axis=1, keepdims=True)) @ x.array + b)

    np.testing.assert_allclose(loss(layer), positional(w, b), rtol=1e-6)
    grads = jax.grad(loss)(layer)
    assert_named_close(grads.weight, jax.grad(positional)(w, b), ("embed", "embed_in"))
    halved = jax.tree_util.tree_map(lambda p: p / 2, layer)  # e.g. a cast or a rescale
    assert_named_close(halved(x), (w / 2) @ x.array + b / 2)


# --- nn.jvp / nn.vjp ---------------------------------------------------------------------


def test_jvp_takes_a_module_of_tangents():
    layer, x = _linear(), _x(Embed)
    tangent = jax.tree_util.tree_map(jnp.ones_like, layer)
    out, dout = jax.jvp(lambda m: m(x), (layer,), (tangent,))
    w, b = _wb(layer)
    ref, dref = jax.jvp(lambda w, b: w @ x.array + b, (w, b), (jnp.ones_like(w), jnp.ones_like(b)))
    assert_named_close(out, ref)
    assert_named_close(dout, dref)
    out2, dout2 = eqx.filter_jvp(lambda m: m(x), (layer,), (tangent,))
    assert_named_close(out2, ref)
    assert_named_close(dout2, dref)


def test_vjp_returns_a_module_of_cotangents():
    layer, x = _linear(), _x(Embed)
    out, pullback = jax.vjp(lambda m, v: m(v), layer, x)
    cot = _x(Embed, seed=7)
    d_layer, d_x = pullback(cot)
    w, b = _wb(layer)
    ref, ref_pullback = jax.vjp(lambda w, b, v: w @ v + b, w, b, x.array)
    assert_named_close(out, ref)
    dw, db, dv = ref_pullback(cot.array)
    assert_named_close(d_layer.weight, dw, ("embed", "embed_in"))
    assert_named_close(d_layer.bias, db)
    assert_named_close(d_x, dv)
    _, eqx_pullback = eqx.filter_vjp(lambda m: m(x), layer)
    assert_named_close(eqx_pullback(cot)[0].weight, dw, ("embed", "embed_in"))


# --- nn.custom_vjp -----------------------------------------------------------------------


@jax.custom_vjp
def _clip_gradient(x):
    return x


def _clip_fwd(x):
    return x, None


def _clip_bwd(_, g):
    return (nx.clip(g, -1.0, 1.0),)  # the cotangent arrives as a NamedArray


_clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def test_custom_vjp_on_named_arrays():
    layer, x = _linear(), _x(Embed)

    def loss(m):
        return nx.sum(5.0 * _clip_gradient(m(x))).scalar()

    grads = jax.jit(jax.grad(loss))(layer)
    w, b = _wb(layer)
    assert_named_close(grads.bias, jnp.ones(3))  # 5 clipped to 1
    assert_named_close(grads.weight, jnp.outer(jnp.ones(3), x.array), ("embed", "embed_in"))
    assert jax.grad(lambda b: jnp.sum(5.0 * (w @ x.array + b)))(b)[0] == 5.0  # unclipped


def test_custom_vjp_through_equinox_takes_the_module_as_an_argument():
    @eqx.filter_custom_vjp
    def scaled_grad(m, v):
        return m(v)

    def fwd(perturbed, m, v):
        del perturbed
        return m(v), None

    def bwd(residuals, g, perturbed, m, v):
        del residuals, perturbed, v
        return jax.tree_util.tree_map(lambda p: jnp.full_like(p, 2.0), m)  # a made-up gradient

    scaled_grad.def_fwd(fwd)
    scaled_grad.def_bwd(bwd)
    layer, x = _linear(), _x(Embed)
    assert_named_close(scaled_grad(layer, x), _wb(layer)[0] @ x.array + _wb(layer)[1])
    grads = eqx.filter_grad(lambda m: nx.sum(scaled_grad(m, x)).scalar())(layer)
    assert_named_close(grads.bias, jnp.full(3, 2.0))


# --- nn.while_loop / nn.cond / nn.switch -------------------------------------------------


def test_while_loop_carries_named_arrays_and_closes_over_the_module():
    layer, x = _linear(), _x(Embed)

    def cond(c):
        i, h = c
        return (i < 10) & (nx.sum(h * h).scalar() < 50.0)

    i, h = jax.jit(
        lambda x: jax.lax.while_loop(cond, lambda c: (c[0] + 1, layer(c[1]) * 1.5), (0, x))
    )(x)
    w, b = _wb(layer)
    ri, rh = 0, x.array
    while ri < 10 and float(jnp.sum(rh * rh)) < 50.0:
        ri, rh = ri + 1, (w @ rh + b) * 1.5
    assert int(i) == ri
    assert_named_close(h, rh, atol=1e-5)


def test_while_loop_can_carry_the_module():
    layer, x = _linear(), _x(Embed)
    _, _, h = jax.lax.while_loop(
        lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1], c[1](c[2])), (0, layer, x)
    )
    w, b = _wb(layer)
    assert_named_close(h, w @ (w @ (w @ x.array + b) + b) + b, atol=1e-5)


@pytest.mark.parametrize("pred", [True, False])
def test_cond_takes_modules_as_operands(pred):
    a, b_layer, x = _linear(0), _linear(1), _x(Embed)
    out = jax.jit(
        lambda p, m1, m2, v: jax.lax.cond(
            p, lambda m1, m2, v: m1(v), lambda m1, m2, v: m2(v), m1, m2, v
        )
    )(pred, a, b_layer, x)
    w, b = _wb(a if pred else b_layer)
    assert_named_close(out, w @ x.array + b)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_switch_takes_modules_as_operands(index):
    layers, x = [_linear(i) for i in range(3)], _x(Embed)
    branches = [lambda ms, v, i=i: nx.tanh(ms[i](v)) for i in range(3)]
    out = jax.jit(lambda i, ms, v: jax.lax.switch(i, branches, ms, v))(index, layers, x)
    w, b = _wb(layers[index])
    assert_named_close(out, jnp.tanh(w @ x.array + b))
    grads = jax.grad(lambda ms: nx.sum(jax.lax.switch(index, branches, ms, x)).scalar())(layers)
    assert float(nx.sum(grads[index].bias ** 2).scalar()) > 0
    assert all(float(nx.sum(grads[j].bias ** 2).scalar()) == 0 for j in range(3) if j != index)
