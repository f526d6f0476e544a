"""nmap: positional functions lifted over every named axis, compared with jax.numpy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

Batch, Embed, Out = nx.make_axes(batch=3, embed=4, out=2)


def _rand(*axes, seed=0):
    shape = tuple(a.size for a in axes)
    return nx.named(jax.random.normal(jax.random.key(seed), shape), axes)


def _pos(x, *names):
    return in_order(x, names).array


BINARY = {
    "add": (jnp.add, np.add),
    "multiply": (jnp.multiply, np.multiply),
    "arctan2": (jnp.arctan2, np.arctan2),
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("order", list(axis_orders((Batch, Embed))))
def test_elementwise_functions_map_jointly_by_name(name, order):
    fn, ref = BINARY[name]
    x = in_order(_rand(Batch, Embed), order)
    y = _rand(Embed, Out, seed=1)
    out = nx.nmap(fn)(x, y)
    # mapped axes in order of first appearance
    assert out.axis_names == (*x.axis_names, "out")
    expected = ref(np.asarray(_pos(x, "batch", "embed"))[:, :, None], np.asarray(y.array)[None])
    assert_named_close(out, expected, ("batch", "embed", "out"), rtol=1e-5)


@pytest.mark.parametrize("order", list(axis_orders((Batch, Embed, Out))))
def test_exposed_axis_is_passed_positionally(order):
    x = in_order(_rand(Batch, Embed, Out), order)
    out = nx.nmap(jnp.linalg.norm, axes="embed")(x)
    assert set(out.axis_names) == {"batch", "out"}
    assert_named_close(
        out, jnp.linalg.norm(_pos(x, "batch", "out", "embed"), axis=-1), ("batch", "out"), rtol=1e-5
    )
    soft = nx.nmap(jax.nn.softmax, axes="embed")(x)  # same dims back: named with the exposed axis
    assert soft.axis_names[-1] == "embed"
    assert_named_close(
        soft,
        jax.nn.softmax(_pos(x, "batch", "out", "embed"), axis=-1),
        ("batch", "out", "embed"),
        rtol=1e-5,
    )


@pytest.mark.parametrize("order", list(axis_orders((Batch, Embed, Out))))
def test_several_exposed_axes_arrive_in_the_given_order(order):
    x = in_order(_rand(Batch, Embed, Out), order)
    first_col = nx.nmap(lambda m: m[:, 0], axes=("embed", "out"), out_axes="embed")(x)
    assert_named_close(first_col, _pos(x, "batch", "embed", "out")[:, :, 0], ("batch", "embed"))
    transposed = nx.nmap(lambda m: m.T, axes=("out", "embed"), out_axes=("embed", "out"))(x)
    assert_named_close(transposed, _pos(x, "batch", "embed", "out"), ("batch", "embed", "out"))


def test_dot_lowers_to_the_same_hlo_as_positional_code():
    x, w = _rand(Batch, Embed), _rand(Out, Embed, seed=1)
    named = jax.jit(nx.nmap(jnp.dot, axes="embed")).lower(x, w).compile().as_text() or ""
    positional = (
        jax.jit(lambda x, w: jnp.dot(x, w.T)).lower(x.array, w.array).compile().as_text() or ""
    )
    for op in (" dot(", "transpose(", "copy("):
        assert named.count(op) == positional.count(op), op
    out = nx.nmap(jnp.dot, axes="embed")(x, w)
    assert out.axes == (Batch, Out)
    assert_named_close(out, x.array @ w.array.T, ("batch", "out"), rtol=1e-5)


def test_out_axes_forms():
    x = _rand(Batch, Embed)

    def two(v):
        return v[:2], jnp.stack([v, v])

    a, b = nx.nmap(two, axes="embed", out_axes=(("half",), ("copy", "embed")))(x)
    assert a.axes == (Batch, nx.Axis("half", 2))
    assert b.axes == (Batch, nx.Axis("copy", 2), Embed)
    assert_named_close(b, jnp.stack([x.array, x.array], 1), ("batch", "copy", "embed"))
    d = nx.nmap(lambda v: {"p": v[:2], "q": v[2:]}, axes="embed", out_axes="part")(x)
    assert d["p"].axes == d["q"].axes == (Batch, nx.Axis("part", 2))
    sized = nx.nmap(lambda v: v[:2], axes="embed", out_axes=nx.Axis("half", 2))(x)
    assert sized.axes[-1] == nx.Axis("half", 2)
    mixed = nx.nmap(lambda v: (v.sum(), "label"), axes="embed")(x)
    assert mixed[0].axes == (Batch,) and mixed[1] == "label"


def test_plain_arrays_and_kwargs():
    x = _rand(Batch, Embed)
    table = jnp.arange(4.0)  # plain: passed whole to every call
    out = nx.nmap(lambda v, t, *, scale: (v * t).sum() * scale, axes="embed")(x, table, scale=2.0)
    assert_named_close(out, 2.0 * (x.array * table[None]).sum(1), ("batch",), rtol=1e-5)
    out = nx.nmap(lambda v, *, other: v + other)(x, other=_rand(Embed, seed=3))
    assert out.axes == (Batch, Embed)


def test_axis_names_are_bound_for_collectives_and_grad_jit_work():
    x = _rand(Batch, Embed)
    centred = nx.nmap(lambda v: v - lax.pmean(v, "batch"))(x)
    assert_named_close(
        centred, x.array - x.array.mean(0, keepdims=True), ("batch", "embed"), rtol=1e-5
    )

    def loss(x):
        return nx.nmap(jnp.linalg.norm, axes="embed")(x).array.sum()

    g = jax.jit(jax.grad(loss))(x)
    assert g.axes == x.axes
    ref = jax.grad(lambda a: jnp.linalg.norm(a, axis=1).sum())(x.array)
    assert_named_close(g, ref, ("batch", "embed"), rtol=1e-5)


def test_size_mismatch_lists_every_argument():
    x = _rand(Batch, Embed)
    y = nx.named(jnp.ones((5, 2)), ("batch", "out"))
    with pytest.raises(ValueError) as info:
        nx.nmap(jnp.add)(x, {"y": y})
    msg = str(info.value)
    assert "axis 'batch' has different sizes among the arguments (3 and 5)" in msg
    assert "args[0] is {batch:3, embed:4}; args[1]['y'] is {batch:5, out:2}" in msg


def test_errors_name_the_fix():
    x = _rand(Batch, Embed)
    with pytest.raises(ValueError, match=r"returned an array of shape \(2,\).*out_axes="):
        nx.nmap(lambda v: v[:2], axes="embed")(x)
    with pytest.raises(ValueError, match=r"out_axes gives 2 names .* shape \(4,\)"):
        nx.nmap(lambda v: v, axes="embed", out_axes=("a", "b"))(x)
    with pytest.raises(ValueError, match=r"exposes 'nope', but no argument has that axis"):
        nx.nmap(jnp.sum, axes="nope")(x)
    with pytest.raises(ValueError, match=r"exposes embed\(5\).*embed\(4\)"):
        nx.nmap(jnp.sum, axes=nx.Axis("embed", 5))(x)
    with pytest.raises(ValueError, match=r"\['batch'\] are mapped axes"):
        nx.nmap(lambda v: v, axes="embed", out_axes="batch")(x)
    with pytest.raises(ValueError, match="does not mirror the output"):
        nx.nmap(lambda v: (v, v), axes="embed", out_axes=[("a",)])(x)
    with pytest.raises(ValueError, match="repeats a name"):
        nx.nmap(jnp.sum, axes=("embed", "embed"))
    with pytest.raises(ValueError, match=r"out_axes names out\(3\) but the output has size 4"):
        nx.nmap(lambda v: v, axes="embed", out_axes=nx.Axis("out", 3))(x)
