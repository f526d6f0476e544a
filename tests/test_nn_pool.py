"""max_pool, min_pool, mean_pool and pool against a numpy sliding-window reference."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from namedax import nn
from namedax.nn._pool import pool
from tests.helpers import assert_named_close, in_order

Batch, H, W, C = nx.Axis("batch", 2), nx.Axis("h", 7), nx.Axis("w", 6), nx.Axis("c", 3)


def explicit_pads(sizes, kernel, stride, padding, use_ceil):
    if padding == "SAME":
        pads = []
        for n, k, s in zip(sizes, kernel, stride):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        return pads
    pads = (
        [(0, 0)] * len(sizes)
        if padding == "VALID"
        else [(p, p) if isinstance(p, int) else p for p in padding]
    )
    if use_ceil:
        out = []
        for n, k, s, (lo, hi) in zip(sizes, kernel, stride, pads):
            size = math.ceil((n + lo + hi - k) / s) + 1
            out.append((lo, hi + (size - 1) * s + k - (n + lo + hi)))
        pads = out
    return pads


def reference(x, kernel, stride, pads, how, count_include_pad=False):
    """Pools the last len(kernel) dims of the numpy array `x`."""
    lead = x.ndim - len(kernel)
    full_pads = [(0, 0)] * lead + list(pads)
    windows = (1,) * lead + tuple(kernel)
    steps = (slice(None),) * lead + tuple(slice(None, None, s) for s in stride)
    reduce_dims = tuple(range(x.ndim, 2 * x.ndim))

    def slide(a, fill):
        padded = np.pad(a, full_pads, constant_values=fill)
        return np.lib.stride_tricks.sliding_window_view(padded, windows)[steps]

    if how == "max":
        return slide(x.astype(float), -np.inf).max(axis=reduce_dims)
    if how == "min":
        return slide(x.astype(float), np.inf).min(axis=reduce_dims)
    sums = slide(x.astype(float), 0).sum(axis=reduce_dims)
    if count_include_pad:
        return sums / np.prod(kernel)
    with np.errstate(invalid="ignore"):  # a window of padding only: 0 / 0, as in ours
        return sums / slide(np.ones_like(x, dtype=float), 0).sum(axis=reduce_dims)


@settings(max_examples=25, deadline=None)
@given(
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 4)),
    stride=st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 2))),
    padding=st.one_of(
        st.sampled_from(["SAME", "VALID", "same"]),
        st.tuples(
            st.tuples(st.integers(0, 1), st.integers(0, 2)),
            st.tuples(st.integers(0, 1), st.integers(0, 1)),
        ),
    ),
    use_ceil=st.booleans(),
    how=st.sampled_from(["max", "min", "mean", "mean_incl"]),
    order=st.permutations([Batch, H, W, C]),
)
def test_pools_match_the_sliding_window_reference_in_any_axis_order(
    kernel, stride, padding, use_ceil, how, order
):
    x = nx.named(jax.random.normal(jax.random.key(0), (2, 7, 6, 3)), (Batch, H, W, C))
    steps = (1, 1) if stride is None else (stride, stride) if isinstance(stride, int) else stride
    mode = padding.upper() if isinstance(padding, str) else padding
    pads = explicit_pads((7, 6), kernel, steps, mode, use_ceil and mode != "SAME")
    window = (H.resize(kernel[0]), W.resize(kernel[1]))
    xo = in_order(x, order)
    if how == "max":
        out = nn.max_pool(window, xo, stride, padding, use_ceil)
    elif how == "min":
        out = nn.min_pool(window, xo, stride=stride, padding=padding, use_ceil=use_ceil)
    else:
        out = nn.mean_pool(
            window, xo, stride, padding, use_ceil=use_ceil, count_include_pad=how == "mean_incl"
        )
    canonical = np.moveaxis(np.asarray(x.array), 3, 1)  # batch, c, h, w
    expected = reference(canonical, kernel, steps, pads, how[:4], how == "mean_incl")
    assert out.axis_names == tuple(a.name for a in order)
    assert_named_close(out, expected, ("batch", "c", "h", "w"), atol=1e-5)


def test_integer_inputs_keep_their_dtype_for_max_and_min_and_mean_is_float():
    T = nx.Axis("t", 10)
    x = nx.named(jnp.array([5, -3, 8, 0, 2, 9, -7, 4, 1, 6], jnp.int32), T)
    got = nn.max_pool(T.resize(3), x, stride=2, padding=1)
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(
        got.array, reference(np.asarray(x.array), (3,), (2,), [(1, 1)], "max")
    )
    got = nn.min_pool({"t": 4}, x, stride=3, padding="VALID", use_ceil=True)
    pads = explicit_pads((10,), (4,), (3,), "VALID", True)
    np.testing.assert_array_equal(
        got.array, reference(np.asarray(x.array), (4,), (3,), pads, "min")
    )
    mean = nn.mean_pool(T.resize(4), x, stride=4, padding="SAME")
    assert jnp.issubdtype(mean.dtype, jnp.floating)
    # SAME pads one on each side: windows (pad, 5, -3, 8), (0, 2, 9, -7), (4, 1, 6, pad).
    np.testing.assert_allclose(mean.array, [10 / 3, 1.0, 11 / 3], rtol=1e-6)
    b = nx.named(jnp.array([True, False, False, True]), T.resize(4))
    np.testing.assert_array_equal(nn.max_pool(T.resize(2), b).array, [True, False, True])


def test_general_pool_takes_namedax_and_jnp_reductions_and_custom_functions():
    T = nx.Axis("t", 6)
    x = nx.named(jnp.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0]), T)
    np.testing.assert_allclose(pool(T.resize(2), x, 0.0, nx.sum, stride=2).array, [4.0, 5.0, 14.0])
    np.testing.assert_allclose(
        pool(T.resize(2), x, 1.0, jnp.prod, stride=2).array, [3.0, 4.0, 45.0]
    )
    np.testing.assert_allclose(pool(T.resize(3), x, -jnp.inf, nx.max).array, [4, 4, 5, 9])
    np.testing.assert_allclose(
        pool(T.resize(3), x, 0.0, lambda a, b: a + 2 * b, stride=3).array,
        [0 + 2 * 3 + 2 * 1 + 2 * 4, 2 * 1 + 2 * 5 + 2 * 9],
    )


def test_pool_gradients_match_equinox_and_jit_composes():
    x = nx.named(jax.random.normal(jax.random.key(3), (2, 3, 7, 6)), (Batch, C, H, W))
    window = (H.resize(2), W.resize(3))
    ours = lambda a: (
        (nn.max_pool(window, nx.named(a, x.axes), stride=(2, 1), padding=1) ** 2).sum().scalar()
    )
    eqx_pool = eqx.nn.MaxPool2d((2, 3), (2, 1), padding=1)
    theirs = lambda a: (jax.vmap(eqx_pool)(a) ** 2).sum()
    np.testing.assert_allclose(
        jax.grad(ours)(x.array), jax.grad(theirs)(x.array), rtol=1e-5, atol=1e-6
    )
    ours_mean = lambda a: (
        (nn.mean_pool(window, nx.named(a, x.axes), stride=2, count_include_pad=True) ** 2)
        .sum()
        .scalar()
    )
    eqx_avg = eqx.nn.AvgPool2d((2, 3), 2)
    theirs_mean = lambda a: (jax.vmap(eqx_avg)(a) ** 2).sum()
    np.testing.assert_allclose(
        jax.grad(ours_mean)(x.array), jax.grad(theirs_mean)(x.array), rtol=1e-5, atol=1e-6
    )
    jitted = jax.jit(lambda v: nn.mean_pool(window, v, stride=2, padding="SAME"))(x)
    eager = nn.mean_pool(window, x, stride=2, padding="SAME")
    assert jitted.axes == eager.axes
    np.testing.assert_allclose(jitted.array, eager.array, rtol=1e-6)


def test_pool_errors_name_the_problem():
    x = nx.named(jnp.ones((2, 7)), (Batch, H))
    with pytest.raises(
        ValueError, match=r"max_pool: the input \{batch:2, h:7\} has no axis 'w' to pool over"
    ):
        nn.max_pool(W.resize(2), x)
    with pytest.raises(TypeError, match=r"max_pool: axis 'h' has no size"):
        nn.max_pool("h", x)  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(ValueError, match=r"stride=\(1, 2\) has 2 entries but there are 1"):
        nn.mean_pool(H.resize(2), x, stride=(1, 2))
    with pytest.raises(ValueError, match=r"padding='FULL' must be 'SAME', 'VALID'"):
        nn.min_pool(H.resize(2), x, padding="FULL")
    with pytest.raises(
        ValueError, match=r"the window h\(9\) does not fit the input's axis 'h' of size 7"
    ):
        nn.max_pool(H.resize(9), x)
    with pytest.raises(TypeError, match=r"mean_pool: inputs must be a NamedArray"):
        nn.mean_pool(H.resize(2), jnp.ones(7))  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(ValueError, match=r"Window .* repeats an axis name"):
        nn.max_pool((H.resize(2), H.resize(3)), x)
