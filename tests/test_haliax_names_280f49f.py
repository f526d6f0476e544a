"""Haliax 280f49f names that namedax provides under `namedax.compat.haliax` (behaviour tests)."""

import equinox as eqx
import jax
import jax.ad_checkpoint
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import DictKey, GetAttrKey, SequenceKey

import namedax as nx
from namedax import Axis, named
from namedax.compat import haliax as hx
from namedax.compat.haliax import axis as hax_axis, core, jax_utils, tree_util, wrap
from namedax.compat.haliax._src import compile_utils, rearrange, scan, state_dict
from namedax.compat.haliax.nn import attention, linear, scan as nn_scan


def test_shape_checks_can_be_switched_off_for_a_block():
    assert core.are_shape_checks_enabled()
    with pytest.raises(ValueError, match="does not match axes"):
        nx.NamedArray(jnp.zeros((2, 3)), (Axis("a", 3), Axis("b", 2)))
    with core.enable_shape_checks(False) as previous:
        assert previous is True and not core.are_shape_checks_enabled()
        loose = nx.NamedArray(jnp.zeros((2, 3)), (Axis("a", 3), Axis("b", 2)))
        with pytest.raises(ValueError, match="duplicate axis names"):  # other rules still hold
            nx.NamedArray(jnp.zeros((2, 2)), (Axis("a", 2), Axis("a", 2)))
    assert core.are_shape_checks_enabled() and loose.array.shape == (2, 3)
    assert hx.enable_shape_checks is core.enable_shape_checks


def test_check_shape():
    assert core.check_shape((2, 3), ("a", Axis("b", 3))) == (Axis("a", 2), Axis("b", 3))
    with pytest.raises(ValueError, match="Shape mismatch"):
        core.check_shape((2, 3), (Axis("a", 2), Axis("b", 4)))
    with pytest.raises(ValueError, match="Shape mismatch"):
        core.check_shape((2,), ("a", "b"))


def test_flatten_all_axes_but_round_trips_and_restores_order():
    x = named(jnp.arange(24.0).reshape(2, 3, 4), ("b", "s", "e"))
    flat, restore = core.flatten_all_axes_but(x, "bs", ("b", "s"), reorder_to_front=True)
    assert flat.axis_names == ("bs", "e")
    np.testing.assert_array_equal(flat.array, x.array.reshape(6, 4))
    back = restore(flat)
    assert back.axes == x.axes and bool((back == x).all())
    projected = nx.dot(flat, nx.ones({"e": 4, "o": 5}), axis="e")  # e replaced by o
    out = restore(projected)
    assert out.axis_names == ("b", "s", "o")
    np.testing.assert_allclose(out.array, np.einsum("bse,eo->bso", x.array, np.ones((4, 5))))


def test_broadcast_order_and_named_array_axes():
    a, b = nx.zeros({"x": 2}), nx.zeros({"x": 2, "y": 3})
    assert core._broadcast_order(a, b) == b.axes
    with pytest.raises(ValueError, match="Cannot broadcast"):
        core._broadcast_order(nx.zeros({"x": 2}), nx.zeros({"y": 3}))
    assert core._broadcast_order(nx.zeros({"x": 2}), nx.zeros({"y": 3}), require_subset=False)
    spec = core.NamedArrayAxes(("a",), ("b",), subset=True)
    assert repr(spec) == "NamedArray[a ... b]"
    assert repr(core.NamedArrayAxes(("a", "b"), ordered=False)) == "NamedArray[{a, b}]"


def test_axis_helpers():
    assert hax_axis.is_axis_compatible("a", Axis("a", 3))
    assert not hax_axis.is_axis_compatible(Axis("a", 2), Axis("b", 2))
    assert hax_axis.unsize_axes((Axis("a", 2), Axis("b", 3)), "a") == ("a", Axis("b", 3))
    assert hax_axis.unsize_axes({"a": 2, "b": 3}, "b") == {"a": 2, "b": None}
    assert hax_axis.unsize_axes(Axis("a", 2)) == "a"
    with pytest.raises(ValueError, match="'c' is not in the axis spec"):
        hax_axis.unsize_axes({"a": 2}, "c")


def test_wrap_helpers_match_jnp():
    x = named(jnp.arange(12.0).reshape(3, 4), ("a", "b"))
    np.testing.assert_array_equal(wrap.wrap_reduction_call(jnp.sum, x, "a").array, x.array.sum(0))
    where = named(jnp.array([True, False, True, False]), "b")
    got = wrap.wrap_reduction_call(jnp.max, x, "b", where=where, initial=-1.0)
    np.testing.assert_array_equal(got.array, x.array[:, ::2].max(1))
    assert wrap.wrap_reduction_call(jnp.sum, x, None).axes == ()
    with pytest.raises(ValueError, match="where= is not supported"):
        wrap.wrap_reduction_call(jnp.argmax, x, "a", where=where, supports_where=False)
    cum = wrap.wrap_axiswise_call(jnp.cumsum, x, "b", single_axis_only=True)
    np.testing.assert_array_equal(cum.array, jnp.cumsum(x.array, axis=1))
    sub = wrap.wrap_elemwise_binary(jnp.subtract)(x, x["a", 0])
    np.testing.assert_array_equal(sub.array, x.array - x.array[0][None, :])
    assert wrap.wrap_elemwise_unary(jnp.abs, -x).axes == x.axes
    assert wrap.unwrap_namedarrays(x, 2)[0] is x.array


def test_hashable_partition_round_trips():
    tree = {"w": jnp.ones(2), "n": 3, "s": "text"}
    dynamic, static = tree_util.hashable_partition(tree, eqx.is_array)
    hash(static)
    back = tree_util.hashable_combine(dynamic, static)
    assert back["n"] == 3 and back["s"] == "text" and back["w"] is tree["w"]


def test_multilevel_scan_matches_lax_scan_with_gradients():
    def step(c, x):
        c = jnp.sin(c) + x
        return c, c * x

    xs = jnp.linspace(0.0, 1.0, 12)

    def total(f, xs):
        c, ys = f(xs)
        return c + ys.sum()

    plain = lambda xs: jax.lax.scan(step, 0.5, xs)
    nested = lambda xs: jax_utils.multilevel_scan(step, 0.5, xs, outer_size=3, length=12)
    np.testing.assert_allclose(total(nested, xs), total(plain, xs), rtol=1e-6)
    np.testing.assert_allclose(
        jax.grad(lambda xs: total(nested, xs))(xs),
        jax.grad(lambda xs: total(plain, xs))(xs),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="divisible"):
        jax_utils.multilevel_scan(step, 0.5, xs, outer_size=5, length=12)


def test_single_process_multihost_helpers_and_small_utils():
    out = jax_utils.broadcast_one_to_all({"a": jnp.arange(3), "b": np.float32(2.0)})
    assert isinstance(out["a"], np.ndarray) and out["a"].tolist() == [0, 1, 2]
    jax_utils.assert_equal({"x": np.arange(2)})
    jax_utils.sync_global_devices("step 1")
    assert jax.tree_util.tree_leaves(jax_utils.Static((1, 2))) == []
    assert jax_utils.is_pallas_dslice(jax.ds(0, 2)) and not jax_utils.is_pallas_dslice(nx.ds(0, 2))
    assert jax_utils.is_on_mac_metal() is False
    with pytest.warns(DeprecationWarning, match="eqx.filter_eval_shape"):
        shape = jax_utils.filter_eval_shape(lambda x: x * 2, jnp.ones(3))
    assert shape.shape == (3,)
    with pytest.warns(DeprecationWarning, match="eqx.combine"):
        assert jax_utils.combine({"a": None}, {"a": 1}) == {"a": 1}


def test_scan_and_rearrange_internals():
    assert [scan.find_closest_divisible_int_to_sqrt(n) for n in (1, 12, 16, 7, 18)] == [
        1,
        3,
        4,
        1,
        3,
    ]
    with pytest.raises(ValueError):
        scan.find_closest_divisible_int_to_sqrt(0)
    x = nx.zeros({"a": 1, "b": 2, "c": 3})
    assert rearrange.axis_spec_rearrange(x, (..., "a")).axis_names == ("b", "c", "a")
    with pytest.raises(ValueError, match="No axes specified"):
        rearrange.axis_spec_rearrange(x, ())


def test_state_dict_internals():
    path = (GetAttrKey("layers"), SequenceKey(1), DictKey("w"))
    assert state_dict.format_path_for_state_dict(None, path) == "layers.1.w"
    assert state_dict.format_path_for_state_dict("m", path) == "m.layers.1.w"
    layer = nx.nn.Linear.init(Axis("i", 2), Axis("o", 3), key=jax.random.key(0))
    sd = state_dict.default_eqx_module_to_state_dict(layer, "p")
    assert set(sd) == {"p.weight", "p.bias"} and sd["p.weight"].shape == (3, 2)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, layer)
    back = state_dict.default_eqx_module_from_state_dict(zeros, sd, "p")
    assert bool((back.weight == layer.weight).all())


def test_gmm_sharded_is_a_grouped_matmul():
    lhs = jax.random.normal(jax.random.key(1), (5, 3))
    rhs = jax.random.normal(jax.random.key(2), (2, 3, 4))
    sizes = jnp.array([2, 3], dtype=jnp.int32)
    want = jnp.concatenate([lhs[:2] @ rhs[0], lhs[2:] @ rhs[1]])
    np.testing.assert_allclose(linear.gmm_sharded(lhs, rhs, sizes), want, rtol=1e-5, atol=1e-5)


def test_dropout_mask_fix_compile_cache_and_protocols():
    mask = attention.dropout_mask({"q": 64, "k": 64}, 0.25, key=jax.random.key(0))
    assert mask.dtype == jnp.bool_ and 0.65 < float(mask.array.mean()) < 0.85
    same = nx.random.bernoulli(jax.random.key(0), {"q": 64, "k": 64}, 0.75)
    assert bool((mask == same).all())
    np.testing.assert_array_equal(hx.fix(named(jnp.array([-1.5, 1.5]), "a")).array, [-1.0, 1.0])
    calls = []

    @compile_utils.compile_cache
    def build(names, n):
        calls.append(names)
        return n * 2

    def user():
        pass

    assert build(user, 3) == 6 and build(user, 3) == 6 and len(calls) == 1
    compile_utils.clear_caches()
    assert nn_scan.ModuleInit and nn_scan.FoldFunction and nn_scan.ScanFunction
    assert nn_scan.VmapFunction


def test_scan_checkpoint_policy_mk_and_checkpoint():
    from namedax.transforms._remat import ScanCheckpointPolicy

    policy = ScanCheckpointPolicy(save_inputs=True)
    assert ScanCheckpointPolicy._mk(policy) is policy
    assert ScanCheckpointPolicy._mk(True) == ScanCheckpointPolicy.from_remat(True)
    assert ScanCheckpointPolicy._mk("nested").nested is True

    def block(x):
        x = jax.ad_checkpoint.checkpoint_name(x, "my_input")
        return jnp.sin(jnp.sin(x)).sum()

    x = jnp.linspace(0.0, 1.0, 4)
    for p in (policy, ScanCheckpointPolicy(), ScanCheckpointPolicy._mk(False)):
        wrapped = p.checkpoint("my_carry", "my_input", block)
        np.testing.assert_allclose(jax.grad(wrapped)(x), jax.grad(block)(x), rtol=1e-6)
    assert ScanCheckpointPolicy._mk(False).checkpoint("c", "x", block) is block
    text = str(jax.make_jaxpr(jax.grad(policy.checkpoint("c", "my_input", block)))(x))
    assert "remat" in text or "checkpoint" in text
