"""vmap over named axes: the jax.vmap documentation examples by name, specs, errors."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jax import lax

import namedax as nx
import namedax.transforms._vmap as vmap_module
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C, D, K = nx.make_axes(a=2, b=3, c=4, d=5, k=6)


def _rand(*axes, seed=0):
    shape = tuple(a.size for a in axes)
    return nx.named(jax.random.normal(jax.random.key(seed), shape), axes)


def vv(x, y):
    """The documentation's vector dot: ([a], [a]) -> [], on NamedArrays holding only `a`."""
    assert x.axis_names == y.axis_names == ("a",)
    return nx.NamedArray(jnp.vdot(x.array, y.array), ())


# --- the examples of the jax.vmap docstring, by name ----------------------------------------


@pytest.mark.parametrize("order", list(axis_orders((B, A))))
def test_doc_matrix_vector_and_matrix_matrix_products(order):
    m = in_order(_rand(B, A), order)
    n = _rand(A, C, seed=1)
    mv = nx.vmap(vv, B)  # ([b,a], [a]) -> [b]
    mm = nx.vmap(mv, C)  # ([b,a], [a,c]) -> [c,b]   (c outermost: mapped last)
    v = _rand(A, seed=2)
    ref_mv = jax.vmap(vv_pos, (0, None), 0)
    ref_mm = jax.vmap(ref_mv, (None, 1), 1)
    assert_named_close(
        mv(m, v), ref_mv(m.array if m.axes == (B, A) else m.array.T, v.array), ("b",)
    )
    out = mm(m, n)
    assert out.axes == (C, B)
    assert_named_close(out, ref_mm(_pos(m, B, A), n.array), ("b", "c"))


def vv_pos(x, y):
    return jnp.vdot(x, y)


def _pos(x, *axes):
    return in_order(x, axes).array


def test_doc_variants_mv1_mv2_mm2():
    x, y = _rand(B, A), _rand(B, A, seed=1)
    mv1 = nx.vmap(vv, B)  # ([b,a], [b,a]) -> [b]
    assert_named_close(mv1(x, y), jax.vmap(vv_pos, (0, 0), 0)(x.array, y.array), ("b",))
    y_ab = in_order(y, (A, B))  # the mapped axis at another position: still by name
    assert_named_close(mv1(x, y_ab), jax.vmap(vv_pos, (0, 1), 0)(x.array, y_ab.array), ("b",))
    x3, y3 = _rand(B, C, A, seed=2), _rand(A, C, B, seed=3)
    mm2 = nx.vmap(nx.vmap(vv, B), C)  # ([b,c,a], [a,c,b]) -> [c,b]
    ref = jax.vmap(jax.vmap(vv_pos, (0, 1), 0), (1, 1), 0)(x3.array, y3.array)
    out = mm2(x3, y3)
    assert out.axes == (C, B)
    assert_named_close(out, ref, ("c", "b"))


def test_doc_container_with_the_axis_at_different_positions():
    def foo(tree_arg):
        x, (y, z) = tree_arg
        return jnp.dot(x, jnp.dot(y, z))

    kx = jax.random.normal(jax.random.key(0), (K.size, A.size, B.size))
    ky = jax.random.normal(jax.random.key(1), (B.size, K.size, C.size))
    kz = jax.random.normal(jax.random.key(2), (C.size, D.size, K.size))
    expected = jax.vmap(foo, in_axes=((0, (1, 2)),))((kx, (ky, kz)))
    # positional leaves with a nested prefix spec
    out = nx.vmap(foo, "k", args=((0, (1, 2)),))((kx, (ky, kz)))
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    # the same with NamedArrays: no spec, the axis is found by name
    tree = (nx.named(kx, (K, A, B)), (nx.named(ky, (B, K, C)), nx.named(kz, (C, D, K))))

    def named_foo(tree_arg):
        x, (y, z) = tree_arg
        return jnp.dot(x.array, jnp.dot(y.array, z.array))

    np.testing.assert_allclose(nx.vmap(named_foo, K)(tree), expected, rtol=1e-5)


def test_doc_dict_argument_with_per_entry_specs():
    dct = {"a": 0.0, "b": jnp.arange(5.0)}

    def foo(dct, x):
        return dct["a"] + dct["b"] + x

    expected = jax.vmap(foo, in_axes=({"a": None, "b": 0}, None))(dct, 1.0)
    out = nx.vmap(foo, "i", args=({"a": None, "b": 0}, None))(dct, 1.0)
    np.testing.assert_allclose(out, expected)
    # with jnp leaves the None must really stop the mapping
    dct2 = {"a": jnp.arange(3.0), "b": jnp.arange(5.0)}
    out = nx.vmap(lambda d, x: d["a"].sum() + d["b"] + x, "i", args=({"a": None, "b": 0},))(
        dct2, 1.0
    )
    np.testing.assert_allclose(out, jnp.arange(5.0) + 4.0)


def test_doc_mapped_and_unmapped_outputs():
    f = lambda x, y: (x + y, y * 2.0)
    out = nx.vmap(f, "i", args=(0, None))(jnp.arange(2.0), 4.0)
    ref = jax.vmap(f, in_axes=(0, None), out_axes=(0, None))(jnp.arange(2.0), 4.0)
    np.testing.assert_allclose(out[0], ref[0])
    assert out[1] == ref[1] == 8.0  # a non-array output is returned as it is
    # an unmapped array output is broadcast over the axis, like out_axes=0
    out = nx.vmap(f, "i", args=(0, None))(jnp.arange(2.0), jnp.asarray(4.0))
    ref = jax.vmap(f, in_axes=(0, None), out_axes=0)(jnp.arange(2.0), jnp.asarray(4.0))
    np.testing.assert_allclose(out[1], ref[1])
    # named: a NamedArray output that does not depend on the axis still gets it in front
    x, bias = _rand(B, A), _rand(A, seed=1)
    _, b2 = nx.vmap(lambda x, bias: (x + bias, bias * 2), B)(x, bias)
    assert b2.axes == (B, A)
    assert_named_close(b2, jnp.broadcast_to(2 * bias.array, (3, 2)), ("b", "a"))


def test_doc_psum_over_the_axis_name():
    xs = jnp.arange(3.0 * 4.0).reshape(3, 4)
    expected = jax.vmap(lambda x: lax.psum(x, "i"), axis_name="i")(xs)
    np.testing.assert_allclose(nx.vmap(lambda x: lax.psum(x, "i"), "i")(xs), expected)
    named = nx.named(xs, ("batch", "embed"))
    out = nx.vmap(lambda x: lax.psum(x.array, "batch"), "batch")(named)
    np.testing.assert_allclose(out, expected)
    # also through a transposed layout, and with the named result
    named_t = in_order(named, ("embed", "batch"))
    out = nx.vmap(lambda x: nx.named(lax.psum(x.array, "batch"), x.axes), "batch")(named_t)
    assert_named_close(out, expected, ("batch", "embed"))


def test_haliax_style_double():
    Batch = nx.Axis("batch", 4)

    def double(x):
        return x * 2

    x = nx.arange(Batch) if hasattr(nx, "arange") else nx.named(jnp.arange(4), Batch)
    out = nx.vmap(double, Batch)(x)
    assert out.axes == (Batch,)
    assert_named_close(out, jax.vmap(lambda v: v * 2)(jnp.arange(4)), ("batch",))


# --- specs ---------------------------------------------------------------------------------


def test_int_none_and_negative_specs_for_plain_arrays():
    x = jax.random.normal(jax.random.key(0), (2, 3))
    y = jnp.arange(3.0)
    f = lambda x, y: x * y
    np.testing.assert_allclose(nx.vmap(f, "i", args=(1, 0))(x, y), jax.vmap(f, (1, 0))(x, y))
    y2 = jnp.arange(2.0)
    np.testing.assert_allclose(
        nx.vmap(f, "i", args=(-1, None))(x, y2), jax.vmap(f, (-1, None))(x, y2)
    )
    np.testing.assert_allclose(nx.vmap(f, "i", default=None, args=(0,))(x, y), x * y[None])


def test_default_spec_forms():
    x = jax.random.normal(jax.random.key(0), (2, 3))
    f = lambda x: x.sum()
    np.testing.assert_allclose(nx.vmap(f, "i")(x), x.sum(1))  # arrays on dim 0
    np.testing.assert_allclose(nx.vmap(f, "i", default=1)(x), x.sum(0))
    np.testing.assert_allclose(nx.vmap(f, "i", default=lambda leaf: leaf.ndim - 1)(x), x.sum(0))
    out = nx.vmap(f, nx.Axis("i", 4), default=None)(x)  # nothing mapped: broadcast
    np.testing.assert_allclose(out, jnp.full(4, x.sum()))
    # 0-d arrays are not mapped by the default spec
    np.testing.assert_allclose(
        nx.vmap(lambda x, s: x * s, "i")(jnp.arange(3.0), jnp.asarray(2.0)), jnp.arange(3.0) * 2
    )


def test_callable_spec_inside_a_prefix():
    params = {"w": jnp.ones((4, 3)), "b": jnp.arange(3.0)}
    pick = lambda leaf: 0 if leaf.ndim == 2 else None
    out = nx.vmap(lambda p: p["w"] + p["b"], "i", args=(pick,))(params)
    np.testing.assert_allclose(out, params["w"] + params["b"][None])


def test_kwargs_specs_bind_by_parameter_name():
    def f(x, params, *, scale: float | jax.Array = 1.0):
        return (x * params).sum() * scale

    x = jax.random.normal(jax.random.key(0), (4, 3))
    params = jnp.arange(3.0)
    expected = jax.vmap(lambda x: f(x, params, scale=2.0))(x)
    # params given by position, its spec by name; scale is a keyword argument
    out = nx.vmap(f, "i", kwargs={"params": None})(x, params, scale=jnp.asarray(2.0))
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # and params given by keyword, its spec by position
    out = nx.vmap(f, "i", args=(0, None))(x, params=params, scale=2.0)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_var_positional_and_var_keyword_specs():
    def f(*xs, **kw):
        return sum(xs) + kw["extra"]

    x, one, extra = jnp.arange(3.0), jnp.ones(2), jnp.full(2, 0.5)
    out = nx.vmap(f, "i", args=(0, None), kwargs={"extra": None})(x, one[:1], extra=extra[:1])
    np.testing.assert_allclose(out, (x + 1.5)[:, None])
    with pytest.raises(ValueError, match=r"args\[1\] has size 2"):
        nx.vmap(f, "i", args=(0,), kwargs={"extra": None})(x, one, extra=extra)


def test_non_array_leaves_pass_through():
    def f(x, activation, name, n):
        assert name == "layer" and n == 3
        return {"y": activation(x.array), "name": name}

    x = _rand(B, A)
    out = nx.vmap(f, B)(x, jnp.tanh, "layer", 3)
    assert out["name"] == "layer"
    np.testing.assert_allclose(out["y"], jnp.tanh(x.array), rtol=1e-6)


# --- several axes, sizes -------------------------------------------------------------------


@pytest.mark.parametrize("order", list(axis_orders((A, B, C))))
def test_several_axes_first_given_outermost(order):
    x = in_order(_rand(A, B, C), order)
    v = _rand(C, seed=1)
    out = nx.vmap(lambda x, v: (x * v).sum(), (B, A))(x, v)
    assert out.axes == (B, A)
    assert_named_close(out, jnp.einsum("abc,c->ba", _pos(x, A, B, C), v.array), ("b", "a"))
    out = nx.vmap(lambda x: x, {"c": 4, "a": 2})(x)
    assert out.axes == (C, A, B)


def test_axis_created_from_a_size():
    bias = _rand(A)
    out = nx.vmap(lambda b: b * 2, nx.Axis("ensemble", 3))(bias)
    assert out.axes == (nx.Axis("ensemble", 3), A)
    assert_named_close(out, jnp.broadcast_to(bias.array * 2, (3, 2)), ("ensemble", "a"))
    key_out = nx.vmap(lambda: jnp.zeros(2), {"ensemble": 3})()
    assert key_out.shape == (3, 2)


def test_grad_and_jit_through_vmap():
    x, w = _rand(B, A), _rand(A, C, seed=1)

    def loss(w, x):
        per_example = nx.vmap(lambda x, w: jnp.tanh(x.array @ w.array).sum(), B)(x, w)
        return per_example.sum()

    def ref(w, x):
        return jax.vmap(lambda x: jnp.tanh(x @ w).sum())(x).sum()

    np.testing.assert_allclose(jax.jit(loss)(w, x), ref(w.array, x.array), rtol=1e-5)
    g = jax.grad(loss)(w, x)
    assert g.axes == w.axes
    assert_named_close(g, jax.grad(ref)(w.array, x.array), ("a", "c"), rtol=1e-5)


def test_spmd_axis_name_comes_from_the_axis_mapping(monkeypatch):
    seen = []
    real_vmap = jax.vmap

    def recording_vmap(*args, **kwargs):
        seen.append(kwargs.get("spmd_axis_name"))
        return real_vmap(*args, **kwargs)

    monkeypatch.setattr(vmap_module.jax, "vmap", recording_vmap)
    x = _rand(B, A)
    nx.vmap(lambda x: x * 2, B)(x)
    from namedax.core._mapping import axis_mapping

    with axis_mapping({"b": "data"}):
        nx.vmap(lambda x: x * 2, B)(x)
    assert seen == [None, "data"]


@settings(max_examples=20, deadline=None)
@given(st.permutations([0, 1, 2]), st.integers(0, 2))
def test_mapped_axis_found_wherever_it_sits(perm, which):
    axes = (A, B, C)
    x = in_order(_rand(*axes), [axes[i] for i in perm])
    mapped = axes[which]
    rest = tuple(a for a in axes if a != mapped)
    out = nx.vmap(lambda x: x.array.sum() if False else x, mapped)(x)
    assert out.axes[0] == mapped
    assert set(out.axes[1:]) == set(rest)
    assert_named_close(out, _pos(x, *axes), [a.name for a in axes])


# --- errors --------------------------------------------------------------------------------


def test_unknown_axis_without_size_says_to_pass_the_size():
    with pytest.raises(ValueError, match=r"no argument has axis 'z'.*Pass Axis\('z', size\)"):
        nx.vmap(lambda x: x, "z")(_rand(A))


def test_inconsistent_sizes_name_paths_and_sizes():
    x = _rand(B, A)
    w = nx.named(jnp.ones((4, 2)), ("b", "a"))
    with pytest.raises(
        ValueError,
        match=r"inconsistent sizes for axis 'b': args\[0\] has size 3; args\[1\]\['w'\] has size 4",
    ):
        nx.vmap(lambda x, p: x, "b")(x, {"w": w})
    with pytest.raises(ValueError, match=r"kwargs\['y'\] has size 5.*given as b\(3\)"):
        nx.vmap(lambda x, y: x, B)(x, y=jnp.ones(5))


def test_bad_specs():
    x = jnp.ones((2, 3))
    with pytest.raises(ValueError, match=r"spec for args\[0\] maps dimension 2 .*\[-2, 2\)"):
        nx.vmap(lambda x: x, "i", args=(2,))(x)
    with pytest.raises(TypeError, match=r"spec args\[0\] is str"):
        nx.vmap(lambda x: x, "i", args=("0",))
    with pytest.raises(TypeError, match="spec default is"):
        nx.vmap(lambda x: x, "i", default=1.5)  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"spec for args\[0\] gave str"):
        nx.vmap(lambda x: x, "i", default=lambda leaf: "0")(x)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"args\[1\] maps dimension 0 .*Python float"):
        nx.vmap(lambda x, y: x, "i", args=(0, 0))(x, 2.0)
    with pytest.raises(TypeError, match="do not fit the signature"):
        nx.vmap(lambda x: x, "i", kwargs={"nope": 0})
    with pytest.raises(ValueError, match="not a pytree prefix"):
        nx.vmap(lambda x: x, "i", args=({"a": 0},))([x])


def test_bad_axes_and_outputs():
    x = _rand(B, A)
    with pytest.raises(TypeError, match="axis must be an Axis"):
        nx.vmap(lambda x: x, 3)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="repeats a name"):
        nx.vmap(lambda x: x, (B, "b"))
    with pytest.raises(ValueError, match=r"already has the mapped axis 'b'.*rename"):
        nx.vmap(lambda x: nx.named(jnp.ones(3), "b"), B)(x)
    with pytest.raises(
        ValueError, match=r"axis 'b' has size 3 .* selected as b\(4\)|given as b\(4\)"
    ):
        nx.vmap(lambda x: x, nx.Axis("b", 4))(x)


def test_spec_prefix_mismatch_describes_arguments_instead_of_printing_them():
    big = nx.named(jnp.arange(4000.0).reshape(4, 1000), ("i", "j"))
    with pytest.raises(ValueError) as info:
        nx.vmap(lambda x: x, "i", args=({"a": 0},))([big])
    message = str(info.value)
    assert re.search(r"^vmap: the args/kwargs specs .* are not a pytree prefix", message)
    assert "NamedArray{i:4, j:1000}" in message and "Expected dict" in message
    assert "3999" not in message and len(message) < 400
