"""The Haliax names added for issue 9: fft family, jax_utils, haxtyping, types."""

import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax.compat.haliax import haxtyping
from namedax.compat.haliax.jax_utils import (
    broadcast_prefix,
    ensure_scalar,
    is_jax_array_like,
    is_scalarish,
    maybe_rng_split,
    named_call,
    shaped_rng_split,
    tree_checkpoint_name,
)

X, Y, Z = nx.Axis("x", 4), nx.Axis("y", 6), nx.Axis("z", 8)
VALUES = jnp.asarray(np.random.default_rng(0).normal(size=(4, 6, 8)), jnp.float32)


def stored(order):
    """VALUES with axes (x, y, z), stored in `order`."""
    perm = [("x", "y", "z").index(a.name) for a in order]
    return nx.named(jnp.transpose(VALUES, perm), order), perm


@pytest.mark.parametrize("order", list(itertools.permutations((X, Y, Z))))
@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft"])
def test_nd_transforms_match_jnp_in_every_storage_order(order, name):
    a, perm = stored(order)
    got = getattr(nx, name)(a, axis=("y", "z"))
    raw = jnp.transpose(VALUES, perm)
    positions = (a.axis_names.index("y"), a.axis_names.index("z"))
    if name == "irfft":
        want = jnp.fft.irfftn(raw, s=(6, 14), axes=positions)
    else:
        want = getattr(jnp.fft, name + "n")(raw, axes=positions)
    np.testing.assert_allclose(got.array, want, rtol=1e-4, atol=1e-4)
    assert got.axis_names == a.axis_names


def test_single_axis_lengths_and_axis_objects():
    a = nx.named(VALUES[0, 0], Z)
    np.testing.assert_allclose(nx.fft(a, axis=Z.resize(16)).array, jnp.fft.fft(VALUES[0, 0], 16))
    assert nx.rfft(a).shape == {"z": 5}
    assert nx.irfft(nx.rfft(a)).shape == {"z": 8}
    assert nx.hfft(nx.rfft(a)).shape == {"z": 8}
    assert nx.ihfft(a).shape == {"z": 5}
    renamed = nx.fft(a, axis={"z": nx.Axis("freq", 8)})
    assert renamed.axis_names == ("freq",)
    np.testing.assert_allclose(nx.fftfreq(Z).array, jnp.fft.fftfreq(8))
    assert nx.rfftfreq(Z).shape == {"z": 5}
    b = nx.named(VALUES, (X, Y, Z))
    np.testing.assert_array_equal(nx.fftshift(b, "y").array, jnp.fft.fftshift(VALUES, axes=(1,)))
    np.testing.assert_array_equal(nx.ifftshift(nx.fftshift(b)).array, VALUES)


def test_fft_gradient_and_jit():
    a = nx.named(VALUES, (X, Y, Z))
    grad = jax.grad(lambda v: jnp.abs(nx.fft(nx.named(v, (X, Y, Z)), "y").array).sum())(VALUES)
    want = jax.grad(lambda v: jnp.abs(jnp.fft.fft(v, axis=1)).sum())(VALUES)
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-4)
    jitted = jax.jit(lambda a: nx.rfft(a, axis={"x": None, "z": 10}))(a)
    np.testing.assert_allclose(
        jitted.array, jnp.fft.rfftn(VALUES, s=(4, 10), axes=(0, 2)), rtol=1e-4, atol=1e-4
    )


def test_fft_errors():
    a = nx.named(VALUES, (X, Y, Z))
    with pytest.raises(ValueError, match=r"fft: no axis 'w' in \{x:4, y:6, z:8\}"):
        nx.fft(a, axis="w")
    with pytest.raises(ValueError, match=r"hfft: transforms one axis only, got 2 axes"):
        nx.hfft(a, axis=("x", "y"))
    with pytest.raises(TypeError, match=r"fft: a must be a NamedArray"):
        nx.fft(VALUES)  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(TypeError, match=r"the length of axis 'y' must be None, a positive int"):
        nx.fft(a, axis={"y": 0})


def test_rng_splits():
    key = jax.random.key(3)
    assert maybe_rng_split(None, 2) == [None, None]
    np.testing.assert_array_equal(
        jax.random.key_data(maybe_rng_split(key, 3)), jax.random.key_data(jax.random.split(key, 3))
    )
    assert maybe_rng_split(key, 1).shape == (1,)
    keys = shaped_rng_split(key, (2, 3))
    assert keys.shape == (2, 3)
    np.testing.assert_array_equal(
        jax.random.key_data(keys).reshape(6, -1), jax.random.key_data(jax.random.split(key, 6))
    )


def test_named_call_scopes_and_names():
    class Block:
        def __call__(self, x):
            return x * 2

    wrapped = named_call(Block().__call__)
    text = str(jax.jit(wrapped).lower(1.0).as_text(debug_info=True))
    assert "Block" in text
    assert named_call(name="custom")(lambda x: x + 1)(1) == 2
    with pytest.raises(TypeError, match=r"named_call: expected a callable"):
        named_call(3)  # pyright: ignore[reportCallIssue, reportArgumentType]


def test_tree_checkpoint_name_tags_arrays_only():
    tree = {"h": nx.ones(X), "n": 3}
    jaxpr = jax.make_jaxpr(lambda t: tree_checkpoint_name(t, "hid"))(tree)
    assert any(e.primitive.name == "name" for e in jaxpr.eqns)
    assert tree_checkpoint_name(tree, "hid")["n"] == 3


def test_small_predicates():
    assert is_jax_array_like(nx.ones(X)) and not is_jax_array_like([1])
    assert is_scalarish(jnp.float32(1)) and not is_scalarish(nx.ones(X))
    assert ensure_scalar(2) == 2
    with pytest.raises(TypeError, match=r"value must be a scalar NamedArray"):
        ensure_scalar(nx.ones(X))
    assert broadcast_prefix([1, 2], [(0, 0), 0]) == [(1, 1), 2]


def test_haxtyping_shorthands_check_dtype_and_axes():
    short: Any = haxtyping  # for static checkers each shorthand is the annotated array type
    f32, bf16, i32, Int, Float = short.f32, short.bf16, short.i32, short.Int, short.Float
    x = nx.zeros((X, Y))
    assert isinstance(x, f32["x y"]) and not isinstance(x, f32["y x"])
    assert not isinstance(x, bf16["x y"]) and not isinstance(x, i32["x y"])
    assert isinstance(x.astype(jnp.int32), Int["x ..."]) and x.matches_axes(Float["{y x}"])
    assert isinstance(jnp.zeros((2, 3)), f32[jax.Array, "b c"])
