"""`nx.grad` and `nx.value_and_grad`: jax.grad for losses that end in a 0-d NamedArray."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import Axis

Batch, Embed, Out = Axis("batch", 4), Axis("embed", 3), Axis("out", 2)
KEYS = jax.random.split(jax.random.key(0), 4)
X = jax.random.normal(KEYS[0], (4, 3))
W = jax.random.normal(KEYS[1], (3, 2))


def named_loss(w: nx.NamedArray, x: nx.NamedArray) -> nx.NamedArray:
    return nx.tanh(nx.dot(x, w, axis=Embed)).mean()


def positional_loss(w: jax.Array, x: jax.Array) -> jax.Array:
    return jnp.tanh(x @ w).mean()


def test_grad_matches_jax_grad_on_the_positional_arrays():
    w, x = nx.named(W, (Embed, Out)), nx.named(X, (Batch, Embed))
    got = nx.grad(named_loss)(w, x)
    assert got.axes == (Embed, Out)
    np.testing.assert_allclose(got.array, jax.grad(positional_loss)(W, X), rtol=1e-6)
    # The weight stored in the other axis order: its gradient keeps that order.
    wt = nx.named(W.T, (Out, Embed))
    got_t = nx.grad(named_loss)(wt, x)
    assert got_t.axes == (Out, Embed)
    np.testing.assert_allclose(got_t.array, jax.grad(positional_loss)(W, X).T, rtol=1e-6)


def test_argnums_and_pytrees_of_arguments():
    w, x = nx.named(W, (Embed, Out)), nx.named(X, (Batch, Embed))
    gw, gx = nx.grad(named_loss, argnums=(0, 1))(w, x)
    ew, ex = jax.grad(positional_loss, argnums=(0, 1))(W, X)
    np.testing.assert_allclose(gw.array, ew, rtol=1e-6)
    np.testing.assert_allclose(gx.array, ex, rtol=1e-6)
    assert gx.axes == (Batch, Embed)

    params = {"w": w, "scale": jnp.float32(2.0)}
    g = nx.grad(lambda p, x: named_loss(p["w"], x) * p["scale"])(params, x)
    expected = jax.grad(lambda p, x: positional_loss(p["w"], x) * p["scale"])(
        {"w": W, "scale": jnp.float32(2.0)}, X
    )
    np.testing.assert_allclose(g["w"].array, expected["w"], rtol=1e-6)
    np.testing.assert_allclose(g["scale"], expected["scale"], rtol=1e-6)


def test_has_aux_passes_the_aux_through():
    w, x = nx.named(W, (Embed, Out)), nx.named(X, (Batch, Embed))

    def loss_and_logits(w, x):
        logits = nx.dot(x, w, axis=Embed)
        return nx.tanh(logits).mean(), logits

    g, logits = nx.grad(loss_and_logits, has_aux=True)(w, x)
    np.testing.assert_allclose(g.array, jax.grad(positional_loss)(W, X), rtol=1e-6)
    assert logits.axes == (Batch, Out)
    np.testing.assert_allclose(logits.array, X @ W, rtol=1e-6)

    (value, aux), g2 = nx.value_and_grad(loss_and_logits, has_aux=True)(w, x)
    assert isinstance(value, nx.NamedArray) and value.axes == ()
    np.testing.assert_allclose(value.array, positional_loss(W, X), rtol=1e-6)
    np.testing.assert_allclose(g2.array, g.array, rtol=1e-6)
    assert aux.axes == (Batch, Out)


def test_value_and_grad_returns_the_value_as_the_function_did():
    w, x = nx.named(W, (Embed, Out)), nx.named(X, (Batch, Embed))
    value, g = nx.value_and_grad(named_loss)(w, x)
    ev, eg = jax.value_and_grad(positional_loss)(W, X)
    assert isinstance(value, nx.NamedArray) and value.axes == ()
    np.testing.assert_allclose(value.array, ev, rtol=1e-6)
    np.testing.assert_allclose(g.array, eg, rtol=1e-6)
    # A plain scalar output stays plain, as in jax.value_and_grad.
    plain, g_plain = nx.value_and_grad(lambda w, x: named_loss(w, x).scalar())(w, x)
    assert isinstance(plain, jax.Array) and plain.shape == ()
    np.testing.assert_allclose(g_plain.array, eg, rtol=1e-6)


def test_plain_scalar_output_behaves_as_jax_grad():
    assert nx.grad(lambda a: jnp.sin(a))(1.0) == pytest.approx(float(jnp.cos(1.0)))
    assert nx.grad(lambda a, b: a * b, argnums=1)(3.0, 5.0) == pytest.approx(3.0)


def test_composes_with_jit_and_vmap():
    w, x = nx.named(W, (Embed, Out)), nx.named(X, (Batch, Embed))

    def example_loss(w, x):  # one example: x has only `embed`
        return nx.tanh(nx.dot(x, w, axis=Embed)).sum()

    per_example = nx.vmap(nx.grad(example_loss), Batch, args=(None,))(w, x)
    assert per_example.axes == (Batch, Embed, Out)
    expected = jax.vmap(jax.grad(lambda w, x: jnp.tanh(x @ w).sum()), in_axes=(None, 0))(W, X)
    np.testing.assert_allclose(per_example.array, expected, rtol=1e-5)

    jitted = jax.jit(nx.value_and_grad(named_loss))
    value, g = jitted(w, x)
    assert value.axes == ()
    np.testing.assert_allclose(g.array, jax.grad(positional_loss)(W, X), rtol=1e-5)


def test_second_derivative_of_a_scalar_function():
    def cube(a):
        return nx.named(a**3, ())

    assert nx.grad(nx.grad(cube))(2.0) == pytest.approx(12.0)


def test_an_output_with_axes_is_refused_with_its_axes_and_the_fix():
    x = nx.named(X, (Batch, Embed))

    def per_example_loss(x):
        return (x * x).sum(Embed)

    with pytest.raises(ValueError) as info:
        nx.grad(per_example_loss)(x)
    message = str(info.value)
    assert message.startswith("grad: ")
    assert "per_example_loss" in message
    assert "{batch:4}" in message
    assert "loss.mean()" in message and "loss.sum(('batch',))" in message

    with pytest.raises(ValueError, match=r"value_and_grad: .* axes \{batch:4, embed:3\}"):
        nx.value_and_grad(lambda x: x * 2)(x)


def test_has_aux_without_a_pair_is_a_type_error():
    x = nx.named(X, (Batch, Embed))
    with pytest.raises(TypeError, match=r"grad: with has_aux=True, .* must return a pair"):
        nx.grad(lambda x: x.sum(), has_aux=True)(x)


def test_jax_grad_refuses_a_0d_named_array_which_is_why_these_exist():
    x = nx.named(X, (Batch, Embed))
    with pytest.raises(TypeError, match="scalar-output"):
        jax.grad(lambda x: (x * x).sum())(x)
    # ... and `.scalar()` is the way to use jax.grad itself.
    np.testing.assert_allclose(jax.grad(lambda x: (x * x).sum().scalar())(x).array, 2 * X)
