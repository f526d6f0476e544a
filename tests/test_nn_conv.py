"""Conv and ConvTranspose against a tap-by-tap jnp convolution and against Equinox."""

import itertools
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from namedax import nn
from tests.helpers import assert_named_close, axis_orders, in_order

Batch, Chan, Feat = nx.Axis("batch", 2), nx.Axis("chan", 4), nx.Axis("feat", 6)
H, W = nx.Axis("h", 7), nx.Axis("w", 6)
KEY = jax.random.key(0)


def same_pads(sizes, kernel, stride, dilation, lower=False):
    pads = []
    for n, k, s, d in zip(sizes, kernel, stride, dilation):
        reach = d * (k - 1) + 1
        total = max((math.ceil(n / s) - 1) * s + reach - n, 0)
        lo = total - total // 2 if lower else total // 2
        pads.append((lo, total - lo))
    return pads


def reference_conv(x, w, stride, pads, dilation, groups):
    """Cross-correlation of `x` (N, C, *S) with `w` (O, C // groups, *K), one tap at a time."""
    n = x.shape[0]
    o, cg = w.shape[:2]
    kernel = w.shape[2:]
    x = jnp.pad(x, [(0, 0), (0, 0), *pads])
    outs = [
        (x.shape[2 + i] - dilation[i] * (k - 1) - 1) // stride[i] + 1 for i, k in enumerate(kernel)
    ]
    xg = x.reshape(n, groups, cg, *x.shape[2:])
    wg = w.reshape(groups, o // groups, cg, *kernel)
    out: Any = 0.0  # a float until the first tap adds an array
    for tap in itertools.product(*map(range, kernel)):
        window = tuple(
            slice(t * d, t * d + (m - 1) * s + 1, s)
            for t, d, m, s in zip(tap, dilation, outs, stride)
        )
        patch = xg[(slice(None),) * 3 + window]
        out = out + jnp.einsum("ngc...,goc->ngo...", patch, wg[(slice(None),) * 3 + tap])
    return out.reshape(n, o, *outs)


def conv_inputs(*axes, seed=1):
    return nx.named(jax.random.normal(jax.random.key(seed), tuple(a.size for a in axes)), axes)


def canonical_pads(padding, sizes, layer):
    if padding in ("SAME", "SAME_LOWER"):
        return same_pads(
            sizes, layer.kernel_size, layer.stride, layer.dilation, padding == "SAME_LOWER"
        )
    if padding == "VALID":
        return [(0, 0)] * len(sizes)
    return list(layer.padding)


@settings(max_examples=12, deadline=None)
@given(
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.one_of(
        st.sampled_from(["SAME", "SAME_LOWER", "VALID", "same"]),
        st.integers(0, 2),
        st.tuples(st.integers(0, 2), st.integers(0, 2)),
        st.tuples(
            st.tuples(st.integers(0, 2), st.integers(0, 2)),
            st.tuples(st.integers(0, 2), st.integers(0, 2)),
        ),
    ),
    groups=st.sampled_from([1, 2]),
    order=st.permutations([Batch, Chan, H, W]),
)
def test_conv_matches_the_tap_by_tap_reference_in_any_axis_order(
    kernel, stride, dilation, padding, groups, order
):
    layer = nn.Conv.init(
        (H, W),
        Chan,
        Feat,
        kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        key=KEY,
    )
    assert layer.weight.axes == (
        Feat,
        Chan.resize(4 // groups),
        H.resize(kernel[0]),
        W.resize(kernel[1]),
    )
    x = conv_inputs(Batch, Chan, H, W)
    pads = canonical_pads(padding.upper() if isinstance(padding, str) else padding, (7, 6), layer)
    expected = reference_conv(x.array, layer.weight.array, stride, pads, dilation, groups)
    assert layer.bias is not None
    expected = expected + layer.bias.array[None, :, None, None]
    out = layer(in_order(x, order))
    # Same order as the input, with chan replaced by feat.
    assert out.axis_names == tuple("feat" if a.name == "chan" else a.name for a in order)
    assert_named_close(out, expected, ("batch", "feat", "h", "w"), atol=1e-5)


@pytest.mark.parametrize("spatial", [("t",), ("d", "h", "w")])
def test_conv_in_one_and_three_dimensions(spatial):
    sizes = {"t": 9, "d": 4, "h": 5, "w": 3}
    axes = [nx.Axis(n, sizes[n]) for n in spatial]
    layer = nn.Conv.init(spatial, Chan, Feat, 2, stride=2, padding=1, key=KEY)
    x = conv_inputs(Batch, Chan, *axes)
    n = len(spatial)
    assert layer.bias is not None
    expected = reference_conv(
        x.array, layer.weight.array, (2,) * n, [(1, 1)] * n, (1,) * n, 1
    ) + layer.bias.array.reshape(1, -1, *([1] * n))
    for order in list(axis_orders([Batch, Chan, *axes]))[::7]:
        assert_named_close(
            layer(in_order(x, order)), expected, ("batch", "feat", *spatial), atol=1e-5
        )


def test_conv_with_no_batch_axis_and_with_several_batch_axes():
    layer = nn.Conv.init(("h", "w"), Chan, Feat, 3, padding=(1, 0), key=KEY)
    Extra = nx.Axis("extra", 3)
    x = conv_inputs(Batch, Extra, Chan, H, W)
    flat = x.array.reshape(6, 4, 7, 6)
    expected = reference_conv(flat, layer.weight.array, (1, 1), [(1, 1), (0, 0)], (1, 1), 1)
    assert layer.bias is not None
    expected = (expected + layer.bias.array[None, :, None, None]).reshape(2, 3, 6, 7, 4)
    names = ("batch", "extra", "feat", "h", "w")
    assert_named_close(layer(x), expected, names, atol=1e-5)
    # Batch axes split around the others.
    assert_named_close(layer(in_order(x, (Batch, H, Chan, W, Extra))), expected, names, atol=1e-5)
    single = layer(in_order(x, (Chan, H, W, Batch, Extra))[{"batch": 0, "extra": 1}])
    assert single.axis_names == ("feat", "h", "w")
    np.testing.assert_allclose(single.array, expected[0, 1], atol=1e-5)


def test_conv_parameters_and_outputs_equal_equinox_for_the_same_key():
    for groups, padding in [(1, 0), (2, "SAME"), (1, ((1, 2), (0, 1)))]:
        ours = nn.Conv.init(
            ("h", "w"), Chan, Feat, 3, stride=(2, 1), padding=padding, groups=groups, key=KEY
        )
        theirs = eqx.nn.Conv(2, 4, 6, 3, stride=(2, 1), padding=padding, groups=groups, key=KEY)
        np.testing.assert_array_equal(ours.weight.array, theirs.weight)
        assert ours.bias is not None and theirs.bias is not None
        np.testing.assert_array_equal(ours.bias.array, theirs.bias.reshape(-1))
        x = conv_inputs(Chan, H, W)
        np.testing.assert_allclose(ours(x).array, theirs(x.array), atol=1e-6)
    assert nn.Conv.init(("h",), Chan, Feat, 3, use_bias=False, key=KEY).bias is None
    assert (
        nn.Conv.init(("h",), Chan, Feat, 3, dtype=jnp.bfloat16, key=KEY).weight.dtype
        == jnp.bfloat16
    )


def test_conv_gradients_and_jit_match_the_reference():
    layer = nn.Conv.init(
        ("h", "w"), Chan, Feat, (2, 3), stride=(1, 2), dilation=(2, 1), groups=2, key=KEY
    )
    x = conv_inputs(W, Batch, H, Chan)

    def named_loss(layer, x):
        return (layer(x) ** 2).sum().scalar()

    def ref_loss(w, b, xa):
        out = reference_conv(xa, w, (1, 2), [(0, 0), (0, 0)], (2, 1), 2)
        return ((out + b[None, :, None, None]) ** 2).sum()

    g_layer, g_x = eqx.filter_grad(lambda args: named_loss(*args))((layer, x))
    canonical = in_order(x, (Batch, Chan, H, W)).array
    assert layer.bias is not None
    gw, gb, gxa = jax.grad(ref_loss, argnums=(0, 1, 2))(
        layer.weight.array, layer.bias.array, canonical
    )
    np.testing.assert_allclose(g_layer.weight.array, gw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(g_layer.bias.array, gb, rtol=1e-4, atol=1e-4)
    assert_named_close(g_x, gxa, ("batch", "chan", "h", "w"), rtol=1e-4, atol=1e-4)
    jitted = eqx.filter_jit(lambda m, v: m(v))(layer, x)
    eager = layer(x)
    assert jitted.axes == eager.axes
    np.testing.assert_allclose(jitted.array, eager.array, atol=1e-6)
    # jax.vmap over a positional leading dimension composes with the named call.
    stacked = jnp.stack([x.array, 2 * x.array])
    vm = jax.vmap(lambda a: layer(nx.named(a, x.axes)).array)(stacked)
    np.testing.assert_allclose(vm[1], layer(nx.named(2 * x.array, x.axes)).array, atol=1e-5)


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=3, dilation=2, output_padding=1, stride=2),
        dict(kernel_size=(2, 3), stride=(2, 1), padding=1),
        dict(kernel_size=3, stride=2, padding="SAME", output_padding=1),
        dict(kernel_size=2, stride=3, padding="SAME_LOWER"),
        dict(kernel_size=3, stride=1, padding="VALID", groups=2),
        dict(kernel_size=3, stride=2, padding=((0, 1), (2, 0))),
    ],
)
def test_conv_transpose_equals_equinox_in_any_axis_order(kw):
    ours = nn.ConvTranspose.init(("h", "w"), Chan, Feat, key=KEY, **kw)
    kernel = kw.pop("kernel_size")
    theirs = eqx.nn.ConvTranspose(2, 4, 6, kernel, key=KEY, **kw)
    np.testing.assert_array_equal(ours.weight.array, theirs.weight)
    x = conv_inputs(Batch, Chan, H, W)
    expected = jax.vmap(theirs)(x.array)
    for order in list(axis_orders([Batch, Chan, H, W]))[::5]:
        out = ours(in_order(x, order))
        assert out.axis_names == tuple("feat" if a.name == "chan" else a.name for a in order)
        assert_named_close(out, expected, ("batch", "feat", "h", "w"), atol=1e-5)


def test_conv_transpose_is_the_adjoint_of_conv():
    # <conv_w(x), y> == <x, conv_transpose_w'(y)>, w' the kernel flipped with channels swapped.
    stride, padding, kernel = (2, 3), ((1, 0), (2, 1)), (3, 4)
    conv = nn.Conv.init(
        ("h", "w"), Chan, Feat, kernel, stride=stride, padding=padding, use_bias=False, key=KEY
    )
    x = conv_inputs(Batch, Chan, H, W)
    y_shape = conv(x)
    y = nx.named(jax.random.normal(jax.random.key(5), y_shape.array.shape), y_shape.axes)
    # Pick output_padding so the transposed output has x's spatial sizes.
    out_pad = tuple(
        n - ((m - 1) * s - lo - hi + k)
        for n, m, s, (lo, hi), k in zip(
            (7, 6), (y.shape["h"], y.shape["w"]), stride, padding, kernel
        )
    )
    tconv = nn.ConvTranspose.init(
        ("h", "w"),
        Feat,
        Chan,
        kernel,
        stride=stride,
        padding=padding,
        output_padding=out_pad,
        use_bias=False,
        key=KEY,
    )
    flipped = jnp.flip(jnp.swapaxes(conv.weight.array, 0, 1), (2, 3))
    tconv = eqx.tree_at(lambda m: m.weight, tconv, nx.named(flipped, tconv.weight.axes))
    back = tconv(y)
    assert back.shape == x.shape
    lhs = (conv(x) * y).sum().scalar()
    rhs = (back * x).sum().scalar()
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)


def test_conv_transpose_gradients_match_jax_vjp_of_equinox():
    ours = nn.ConvTranspose.init(("h", "w"), Chan, Feat, 3, stride=2, padding=1, key=KEY)
    theirs = eqx.nn.ConvTranspose(2, 4, 6, 3, stride=2, padding=1, key=KEY)
    x = conv_inputs(H, Chan, W)
    g = jax.grad(lambda a: (ours(nx.named(a, x.axes)) ** 2).sum().scalar())(x.array)
    ref = jax.grad(lambda a: (theirs(a) ** 2).sum())(in_order(x, (Chan, H, W)).array)
    assert_named_close(nx.named(g, x.axes), ref, ("chan", "h", "w"), rtol=1e-4, atol=1e-4)


def test_conv_errors_name_the_problem():
    layer = nn.Conv.init(("h", "w"), Chan, Feat, 3, key=KEY)
    with pytest.raises(
        ValueError,
        match=r"Conv: the input \{batch:2, h:7, w:6\} lacks the input-channel axis chan\(4\)",
    ):
        layer(conv_inputs(Batch, H, W))
    with pytest.raises(
        ValueError, match=r"channel axis 'chan' has size 3, but the layer expects chan\(4\)"
    ):
        layer(conv_inputs(Chan.resize(3), H, W))
    with pytest.raises(ValueError, match=r"lacks the spatial axis 'w'"):
        layer(conv_inputs(Chan, H))
    with pytest.raises(ValueError, match=r"already has the output-channel axis 'feat'"):
        layer(conv_inputs(Feat, Chan, H, W))
    with pytest.raises(ValueError, match=r"spatial axis 'h' of size 2 is too small"):
        layer(conv_inputs(Chan, H.resize(2), W))
    with pytest.raises(TypeError, match=r"Conv: inputs must be a NamedArray"):
        layer(jnp.ones((4, 7, 6)))  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(ValueError, match=r"groups=3 must divide both channel sizes"):
        nn.Conv.init(("h",), Chan, Feat, 3, groups=3, key=KEY)
    with pytest.raises(
        ValueError, match=r"kernel_size=\(3, 3, 3\) has 3 entries but there are 2 spatial axes"
    ):
        nn.Conv.init(("h", "w"), Chan, Feat, (3, 3, 3), key=KEY)
    with pytest.raises(ValueError, match=r"every entry of stride=0 must be >= 1"):
        nn.Conv.init(("h",), Chan, Feat, 3, stride=0, key=KEY)
    with pytest.raises(ValueError, match=r"padding='FULL' is not one of"):
        nn.Conv.init(("h",), Chan, Feat, 3, padding="FULL", key=KEY)
    with pytest.raises(
        TypeError, match=r"each padding entry must be an int or a \(low, high\) pair"
    ):
        nn.Conv.init(("h", "w"), Chan, Feat, 3, padding=((1, 2, 3), 1), key=KEY)  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(ValueError, match=r"In chan\(4\) and Out chan\(6\) share the name 'chan'"):
        nn.Conv.init(("h",), Chan, Chan.resize(6), 3, key=KEY)
    with pytest.raises(ValueError, match=r"Spatial must name at least one axis"):
        nn.Conv.init((), Chan, Feat, 3, key=KEY)
    with pytest.raises(ValueError, match=r"spatial axis 'chan' is also a channel axis"):
        nn.Conv.init(("chan",), Chan, Feat, 3, key=KEY)
    with pytest.raises(TypeError, match=r"Conv.init: In must be an Axis"):
        nn.Conv.init(("h",), "chan", Feat, 3, key=KEY)  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(
        ValueError, match=r"ConvTranspose.init: every entry of output_padding=-1 must be >= 0"
    ):
        nn.ConvTranspose.init(("h",), Chan, Feat, 3, output_padding=-1, key=KEY)
    with pytest.raises(
        ValueError, match=r"ConvTranspose: the input .* lacks the input-channel axis"
    ):
        nn.ConvTranspose.init(("h",), Chan, Feat, 3, key=KEY)(conv_inputs(Feat.resize(2), H))
