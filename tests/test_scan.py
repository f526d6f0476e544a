"""scan / fold / map over a named axis, and the remat policies (compared with jax.lax.scan)."""

from __future__ import annotations

import contextlib
import functools
import io
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.ad_checkpoint import checkpoint_name, print_saved_residuals

import namedax as nx
from namedax.transforms._remat import ScanCheckpointPolicy
from tests.helpers import assert_named_close, axis_orders, in_order, tree_allclose

Layers, Embed, Out = nx.Axis("layers", 5), nx.Axis("embed", 3), nx.Axis("out", 2)
POLICIES = [
    False,
    True,
    "full",
    "nested",
    "offload",
    "save_all",
    ScanCheckpointPolicy(nested=3),
    ScanCheckpointPolicy(save_block_internals=["h"]),
    ScanCheckpointPolicy(save_inputs=True),
]


def _weights(*axes, seed=0):
    shape = tuple(a.size for a in axes)
    return nx.named(jax.random.normal(jax.random.key(seed), shape) * 0.5, axes)


def _step(h, w):
    """One layer on positional data: `w` is {embed, embed2} after slicing."""
    return jnp.tanh(w @ h)


def _named_step(h, w):
    w = w.rearrange(("embed2", "embed")) if hasattr(w, "rearrange") else w
    new = checkpoint_name(jnp.tanh(w.array @ h), "h")
    return new, new.sum()


@pytest.mark.parametrize("order", list(axis_orders((Layers, Embed, nx.Axis("embed2", 3)))))
def test_scan_matches_lax_scan_in_every_axis_order(order):
    w = _weights(Layers, Embed, nx.Axis("embed2", 3))
    ref_w = jnp.transpose(w.array, (0, 2, 1))  # layers, embed2, embed

    def ref_loss(h, ws):
        carry, ys = lax.scan(lambda c, w: (jnp.tanh(w @ c), jnp.tanh(w @ c).sum()), h, ws)
        return carry.sum() + ys.sum()

    def step(c, w):
        pos = w.array if w.axis_names == ("embed2", "embed") else w.array.T
        new = jnp.tanh(pos @ c)
        return new, nx.named(new, "embed2").sum()

    def loss(h, w):
        carry, ys = nx.scan(step, Layers)(h, w)
        assert ys.axes == (Layers,)
        return carry.sum() + ys.array.sum()

    h = jnp.linspace(-1.0, 1.0, 3)
    wo = in_order(w, order)
    np.testing.assert_allclose(loss(h, wo), ref_loss(h, ref_w), rtol=1e-5)
    g = jax.grad(loss, argnums=(0, 1))(h, wo)
    g_ref = jax.grad(ref_loss, argnums=(0, 1))(h, ref_w)
    np.testing.assert_allclose(g[0], g_ref[0], rtol=1e-5)
    assert g[1].axes == wo.axes
    assert_named_close(g[1], g_ref[1], ("layers", "embed2", "embed"))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("unroll", [1, 2, True])
def test_scan_reverse_and_unroll_match_lax(reverse, unroll):
    xs = jnp.arange(1.0, 6.0)
    x = nx.named(xs, Layers)
    carry, ys = nx.scan(
        lambda c, x: (c * 0.5 + x.scalar(), c), Layers, reverse=reverse, unroll=unroll
    )(jnp.zeros(()), x)
    ref_c, ref_ys = lax.scan(lambda c, x: (c * 0.5 + x, c), jnp.zeros(()), xs, reverse=reverse)
    np.testing.assert_allclose(carry, ref_c)
    np.testing.assert_allclose(ys, ref_ys)


def test_unscanned_named_arrays_and_non_arrays_are_closed_over():
    w = _weights(Layers, Embed)
    bias = _weights(Embed, seed=1)  # no layers axis: the same at every step
    seen = []

    def step(c, w, bias, scale, name):
        seen.append((w.axes, bias.axes, scale, name))
        return c + (w * bias).sum().scalar() * scale, None

    total, ys = nx.scan(step, Layers)(0.0, w, bias, 2.0, name="tag")
    assert ys is None
    assert seen[0] == ((Embed,), (Embed,), 2.0, "tag")
    np.testing.assert_allclose(total, 2.0 * (w.array * bias.array[None]).sum(), rtol=1e-5)


def test_plain_arrays_follow_is_scanned():
    xs = jnp.arange(5.0)
    table = jnp.arange(4.0)

    def step(c, x, t):
        return c + x * t.sum(), x

    # default: every plain array is scanned over its first dimension
    carry, ys = nx.scan(step, "layers")(0.0, xs, jnp.ones((5, 2)))
    np.testing.assert_allclose(carry, 2.0 * xs.sum())
    np.testing.assert_allclose(ys, xs)
    # a callable closes over what it rejects
    is_scanned = lambda leaf: leaf.shape == (5,)
    carry, _ = nx.scan(step, Layers, is_scanned=is_scanned)(0.0, xs, table)
    np.testing.assert_allclose(carry, xs.sum() * table.sum())


def test_is_scanned_false_closes_over_everything_and_needs_a_size():
    x = nx.named(jnp.arange(5.0), Layers)
    carry, _ = nx.scan(lambda c, x: (c + x.sum().scalar(), None), Layers, is_scanned=False)(0.0, x)
    np.testing.assert_allclose(carry, 5 * 10.0)
    with pytest.raises(
        ValueError, match=r"no argument has axis 'layers'.*Pass Axis\('layers', size\)"
    ):
        nx.scan(lambda c, x: (c, None), "layers", is_scanned=False)(0.0, x)


def test_kwargs_are_scanned_and_outputs_get_the_axis_in_front():
    w = _weights(Embed, Layers)

    def step(c, *, w):
        return c, {"w": w * 2, "plain": w.array, "static": "s"}

    _, ys = nx.scan(step, Layers)(0.0, w=w)
    assert ys["w"].axes == (Layers, Embed)
    assert ys["static"] == "s"
    assert ys["plain"].shape == (5, 3)
    assert_named_close(ys["w"], 2 * w.array.T, ("layers", "embed"))


def test_fold_and_map():
    w = _weights(Embed, Layers)
    h = jnp.ones(3)
    out = nx.fold(lambda h, w: h * w.array, Layers)(h, w)
    np.testing.assert_allclose(out, jnp.prod(w.array, axis=1), rtol=1e-5)
    mapped = nx.map(lambda w: w.sum(), Layers)(w)
    assert_named_close(mapped, w.array.sum(0), ("layers",))
    mapped = nx.map(lambda w: w, Layers, is_mapped=nx.is_named_array)(w)
    assert mapped.axes == (Layers, Embed)


def test_scan_composes_with_jit_and_grad():
    w = _weights(Layers, Embed, nx.Axis("embed2", 3))

    @jax.jit
    def loss(h, w):
        return nx.fold(lambda h, w: jnp.tanh(w.array.T @ h), Layers, remat="nested")(h, w).sum()

    def ref(h, w):
        return lax.scan(lambda h, w: (jnp.tanh(w.T @ h), None), h, w)[0].sum()

    h = jnp.linspace(-1.0, 1.0, 3)
    np.testing.assert_allclose(loss(h, w), ref(h, w.array), rtol=1e-5)
    assert tree_allclose(
        jax.grad(loss, argnums=1)(h, w).array, jax.grad(ref, argnums=1)(h, w.array)
    )


# --- errors --------------------------------------------------------------------------------


def test_length_mismatch_names_parameters_paths_and_sizes():
    a = _weights(Layers, Embed)
    b = _weights(nx.Axis("layers", 4), Embed)
    with pytest.raises(ValueError, match=r"axis 'layers': a has layers=5; b\['w'\] has layers=4"):
        nx.scan(lambda c, a, b: (c, None), "layers")(0.0, a, {"w": b})
    with pytest.raises(ValueError, match=r"x has leading dimension 3.*given as layers\(5\)"):
        nx.scan(lambda c, x: (c, None), Layers)(0.0, x=jnp.ones(3))


def test_length_mismatch_names_fields_and_var_positional_arguments():
    class Holder(eqx.Module):
        weights: jax.Array

    with pytest.raises(ValueError, match=r"^scan: .*holder\.weights has leading dimension 4"):
        nx.scan(lambda c, holder: (c, None), Layers)(0.0, Holder(jnp.ones((4, 2))))
    with pytest.raises(ValueError, match=r"^fold: .*xs\[1\] has leading dimension 2"):
        nx.fold(lambda c, *xs: c, Layers)(0.0, jnp.ones(5), jnp.ones(2))
    with pytest.raises(ValueError, match=r"^map: .*x has layers=5; y has leading dimension 1"):
        nx.map(lambda x, y: x, Layers)(_weights(Layers), jnp.ones((1, 3)))


def test_zero_d_plain_array_is_closed_over_by_default():
    # as in Haliax: a 0-d array has no dimension to scan, so every step sees it whole
    x = _weights(Layers, Embed)
    scale = jnp.float32(2.5)
    total, ys = nx.scan(lambda c, s, x: (c + s * x.sum().scalar(), s * x), Layers)(0.0, scale, x)
    np.testing.assert_allclose(total, 2.5 * x.array.sum(), rtol=1e-6)
    assert_named_close(ys, 2.5 * np.asarray(x.array), x.axis_names)
    step_lr = nx.fold(lambda c, lr, x: c - lr * x, Layers)(nx.zeros(Embed), np.float32(0.1), x)
    assert_named_close(step_lr, -0.1 * np.asarray(x.array).sum(0), rtol=1e-5)


def test_zero_d_plain_array_scanned_on_request_is_an_error():
    with pytest.raises(ValueError, match=r"^scan: x is a 0-d array.*is_scanned="):
        nx.scan(lambda c, x: (c, None), Layers, is_scanned=True)(0.0, jnp.ones(()))
    with pytest.raises(ValueError, match=r"^map: x is a 0-d array"):
        nx.map(lambda x: x, Layers, is_mapped=lambda leaf: True)(jnp.ones(()))


def test_per_step_keys_from_split_reach_each_step():
    keys = jax.random.split(jax.random.key(3), Layers.size)
    draws = nx.map(lambda k: jax.random.normal(k, (2,)), Layers)(keys)
    for i in range(Layers.size):
        np.testing.assert_array_equal(draws[i], jax.random.normal(keys[i], (2,)))


def test_fold_and_map_errors_name_themselves():
    with pytest.raises(ValueError, match=r"^fold: no argument has axis 'layers'"):
        nx.fold(lambda c, x: c, "layers")(0.0, _weights(Embed))
    with pytest.raises(ValueError, match=r"^map: no argument has axis 'layers'"):
        nx.map(lambda x: x, "layers")(_weights(Embed))
    with pytest.raises(TypeError, match=r"^fold: axis must be one Axis"):
        nx.fold(lambda c, x: c, 3)  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"^map: is_mapped must be a bool or a callable"):
        nx.map(lambda x: x, Layers, is_mapped=3)  # pyright: ignore[reportArgumentType]
    init = _weights(Embed)
    with pytest.raises(ValueError, match=r"^fold: .* returned a carry"):
        nx.fold(lambda c, x: {"c": c}, Layers)(init, _weights(Layers, Embed))
    with pytest.raises(ValueError, match=r"^map: an output NamedArray\{layers:5\} already has"):
        nx.map(lambda x: nx.zeros(Layers), Layers)(_weights(Layers, Embed))


def test_fold_body_returning_a_pair_points_at_scan():
    x = _weights(Layers, Embed)
    with pytest.raises(TypeError, match=r"^fold: .*returned a pair.*Use namedax\.scan"):
        nx.fold(lambda c, x: (c + x, x), Layers)(nx.zeros(Embed), x)
    # a carry that is itself a pair is fine
    pair = (nx.zeros(Embed), nx.zeros(Embed))
    out = nx.fold(lambda c, x: (c[0] + x, c[1] - x), Layers)(pair, x)
    assert_named_close(out[0], np.asarray(x.array).sum(0))
    assert_named_close(out[1], -np.asarray(x.array).sum(0))


def test_carry_axis_order_is_restored_by_name_and_other_changes_are_explained():
    x = _weights(Layers, Embed, Out)
    init = nx.named(jnp.zeros((3, 2)), (Embed, Out))
    swapped = nx.fold(lambda c, x: (c + x).rearrange(("out", "embed")), Layers)(init, x)
    assert swapped.axes == init.axes
    assert_named_close(swapped, np.asarray(x.array).sum(0), ("embed", "out"))
    carry, _ = nx.scan(lambda c, x: ((c + x).rearrange(("out", "embed")), None), Layers)(init, x)
    assert carry.axes == init.axes
    with pytest.raises(
        ValueError, match=r"returned a carry .*NamedArray\{embed:3\}.*initial carry"
    ):
        nx.fold(lambda c, x: (c + x).sum("out"), Layers)(init, x)


def test_bad_results_and_arguments():
    x = nx.named(jnp.ones(5), Layers)
    with pytest.raises(TypeError, match=r"must return a pair.*namedax.fold"):
        nx.scan(lambda c, x: c, Layers)(0.0, x)
    with pytest.raises(ValueError, match="already has axis 'layers'"):
        nx.scan(lambda c, x: (c, nx.named(jnp.ones(2), "layers")), Layers)(0.0, x)
    with pytest.raises(TypeError, match="one Axis or an axis name"):
        nx.scan(lambda c, x: (c, None), (Layers, Embed))  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="is_scanned must be a bool or a callable"):
        nx.scan(lambda c, x: (c, None), Layers, is_scanned="yes")  # pyright: ignore[reportArgumentType]


# --- remat ---------------------------------------------------------------------------------


def _residuals(fn, *args) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_saved_residuals(fn, *args)
    return out.getvalue().strip().splitlines()


def _carry_rows(lines: list[str], width: int) -> int:
    """How many carries of `width` floats the backward pass keeps (summed over residuals)."""
    rows = 0
    for line in lines:
        m = re.match(r"f32(?:<\w+>)?\[([\d,]*)\]", line)
        if m and "from the argument" not in line:
            dims = [int(d) for d in m.group(1).split(",") if d]
            if dims and dims[-1] == width and len(dims) == 2:
                rows += dims[0]
    return rows


def _deep_fold(remat, n=64):
    Deep = nx.Axis("layers", n)
    w = nx.named(jax.random.normal(jax.random.key(1), (n, 4, 4)) * 0.4, (Deep, "a", "b"))

    def loss(h, w):
        def layer(h, w):
            return jnp.tanh(checkpoint_name(w.array @ h, "h"))

        return nx.fold(layer, Deep, remat=remat)(h, w).sum()

    return loss, jnp.linspace(-1.0, 1.0, 4), w


def test_nested_remat_keeps_sqrt_n_carries():
    full = _carry_rows(_residuals(*_deep_fold("full")), 4)
    nested = _carry_rows(_residuals(*_deep_fold("nested")), 4)
    save_all = _carry_rows(_residuals(*_deep_fold(False)), 4)
    assert full == 64  # one carry per step
    assert nested <= 2 * 8  # outer carries only: sqrt(64)
    assert save_all > full  # internals too


def test_full_remat_does_not_copy_the_scanned_weights():
    # SPEC section 9: tagging the scanned inputs would save a copy of every layer's weights.
    lines = _residuals(*_deep_fold("full"))
    copies = [ln for ln in lines if "[64,4,4]" in ln and "from the argument" not in ln]
    assert copies == []


def test_offload_moves_carries_to_host():
    lines = _residuals(*_deep_fold("offload"))
    assert any("<host>[64,4]" in ln for ln in lines), lines


def test_save_block_internals_keeps_named_values():
    fn, h, w = _deep_fold(ScanCheckpointPolicy(save_block_internals=["h"]), n=8)
    lines = _residuals(fn, h, w)
    assert sum("[8,4]" in ln for ln in lines) == 2  # the carry and the tagged value


@functools.cache
def _reference_value_and_grad():
    ref_loss, h, w = _deep_fold(False, n=13)
    return jax.value_and_grad(ref_loss, argnums=(0, 1))(h, w)


@pytest.mark.parametrize("remat", POLICIES[1:], ids=str)
def test_gradients_identical_across_policies(remat):
    loss, h, w = _deep_fold(remat, n=13)  # prime: nested needs a remainder scan
    value, grads = jax.value_and_grad(loss, argnums=(0, 1))(h, w)
    ref_value, ref_grads = _reference_value_and_grad()
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    assert tree_allclose(grads, ref_grads, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("nested", [True, 2, 4])
def test_nested_with_remainder_matches_plain_scan(nested, reverse):
    n = 10
    xs = nx.named(jnp.arange(1.0, n + 1), nx.Axis("layers", n))
    policy = ScanCheckpointPolicy(nested=nested)

    def run(remat):
        return nx.scan(
            lambda c, x: (c * 0.9 + x.scalar(), c), "layers", remat=remat, reverse=reverse
        )(jnp.zeros(()), xs)

    got, ref = run(policy), run(False)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-6)


def test_policy_blocks_and_validation():
    assert ScanCheckpointPolicy(nested=True).blocks(64) == (8, 8, 0)
    assert ScanCheckpointPolicy(nested=True).blocks(12) == (4, 3, 0)
    assert ScanCheckpointPolicy(nested=True).blocks(1) is None
    assert ScanCheckpointPolicy().blocks(64) is None
    with pytest.raises(ValueError, match="more blocks than the 3 steps"):
        ScanCheckpointPolicy(nested=4).blocks(3)
    with pytest.raises(ValueError, match=r"save_carries must be True, False or 'offload'"):
        ScanCheckpointPolicy(save_carries="host")  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="nothing can be offloaded"):
        ScanCheckpointPolicy(save_block_internals=True, save_carries="offload")
    with pytest.raises(TypeError, match="list of checkpoint names"):
        ScanCheckpointPolicy(save_block_internals="h")
    with pytest.raises(ValueError, match="nested must be a bool or a number of blocks"):
        ScanCheckpointPolicy(nested=0)
    with pytest.raises(ValueError, match="remat='sqrt' is not a known policy"):
        nx.fold(lambda c, x: c, Layers, remat="sqrt")
    with pytest.raises(TypeError, match="remat must be a bool"):
        nx.fold(lambda c, x: c, Layers, remat=3)  # pyright: ignore[reportArgumentType]


def test_from_remat_aliases():
    from_remat = ScanCheckpointPolicy.from_remat
    assert (
        from_remat(False)
        == from_remat("save_all")
        == ScanCheckpointPolicy(save_block_internals=True)
    )
    assert from_remat(True) == from_remat("full") == ScanCheckpointPolicy()
    assert from_remat("nested").nested is True
    assert from_remat("offload").save_carries == "offload"  # CPU has pinned host memory
    policy = ScanCheckpointPolicy(save_block_internals=["a", "b"])
    assert policy.save_block_internals == ("a", "b")
    assert from_remat(policy) is policy


def test_wrong_return_form_is_both_type_and_value_error():
    # Haliax code catches ValueError here; namedax's rule says TypeError: it is both
    x = _weights(Layers, Embed)
    for exc in (TypeError, ValueError):
        with pytest.raises(exc, match=r"^scan: .* must return a pair \(carry, y\)"):
            nx.scan(lambda c, x: c + x, Layers)(nx.zeros(Embed), x)
        with pytest.raises(exc, match=r"^fold: .*returned a pair"):
            nx.fold(lambda c, x: (c + x, x), Layers)(nx.zeros(Embed), x)
