"""Partitioning named axes onto a mesh of 8 simulated CPU devices.

The same small transformer-like model runs data-parallel, FSDP and tensor-parallel by
changing only the axis mapping; the tests check the shardings JAX actually gives the
arrays and jitted outputs, and that loss and gradients equal the unsharded run.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import cast

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

import namedax as nx
from namedax import Axis, NamedArray, named
from namedax.partitioning import (
    ResourceAxis,
    auto_sharded,
    axis_mapping,
    current_axis_mapping,
    fsdp,
    infer_resource_partitions,
    named_jit,
    physical_axis_name,
    physical_axis_size,
    pspec_for,
    pspec_for_axis,
    round_axis_for_partitioning,
    set_mesh,
    shard,
    shard_map,
    shard_with_axis_mapping,
)

from .helpers import axis_orders, in_order, tree_allclose

Batch, Pos, KeyPos, Embed = Axis("batch", 8), Axis("pos", 4), Axis("key_pos", 4), Axis("embed", 8)
Heads, HeadDim, Mlp = Axis("heads", 2), Axis("head_dim", 4), Axis("mlp", 16)


def auto_mesh(shape, names):
    return jax.make_mesh(shape, names, axis_types=(AxisType.Auto,) * len(names))


MESH_8 = auto_mesh((8,), ("data",))
MESH_4x2 = auto_mesh((4, 2), ("data", "model"))


def spec_of(x) -> tuple:
    """The array's actual sharding spec, one entry per dimension (JAX drops trailing Nones)."""
    array = x.array if isinstance(x, NamedArray) else x
    spec = tuple(cast(NamedSharding, array.sharding).spec)
    return spec + (None,) * (array.ndim - len(spec))


def expected_spec(x: NamedArray, mapping) -> tuple:
    return tuple(mapping.get(a.name) for a in x.axes)


def local_shape(x: NamedArray, mapping, mesh) -> tuple[int, ...]:
    sizes = dict(mesh.shape)
    return tuple(a.size // sizes[mapping[a.name]] if a.name in mapping else a.size for a in x.axes)


def test_eight_simulated_devices():
    assert len(jax.devices()) == 8


# --- a small transformer-like model built from namedax ops -------------------------------


class Block(eqx.Module):
    wq: NamedArray
    wk: NamedArray
    wv: NamedArray
    wo: NamedArray
    w1: NamedArray
    w2: NamedArray
    readout: NamedArray

    @staticmethod
    def init(rng: np.random.Generator) -> Block:
        shapes = {
            "wq": (Embed, Heads, HeadDim),
            "wk": (Embed, Heads, HeadDim),
            "wv": (Embed, Heads, HeadDim),
            "wo": (Heads, HeadDim, Embed),
            "w1": (Embed, Mlp),
            "w2": (Mlp, Embed),
            "readout": (Embed,),
        }
        return Block(**{name: _normal(rng, axes, 0.3) for name, axes in shapes.items()})

    def __call__(self, x: NamedArray) -> NamedArray:
        q = nx.dot(x, self.wq, axis="embed")
        k = nx.rename(nx.dot(x, self.wk, axis="embed"), {"pos": "key_pos"})
        v = nx.rename(nx.dot(x, self.wv, axis="embed"), {"pos": "key_pos"})
        scores = nx.dot(q, k, axis="head_dim") * 0.5
        scores = scores - nx.max(scores, axis="key_pos")
        weights = nx.exp(scores)
        weights = weights / nx.sum(weights, axis="key_pos")
        x = x + nx.dot(nx.dot(weights, v, axis="key_pos"), self.wo, axis=("heads", "head_dim"))
        x = auto_sharded(x)
        hidden = nx.tanh(nx.dot(x, self.w1, axis="embed"))
        x = x + nx.dot(hidden, self.w2, axis="mlp")
        return nx.dot(x, self.readout, axis="embed")

    @named_jit
    def loss_and_grad(self, x: NamedArray, y: NamedArray):
        return grad_step(self, x, y)


def loss_fn(model: Block, x: NamedArray, y: NamedArray):
    return nx.mean((model(x) - y) ** 2, axis=None).scalar()


def grad_step(model, x, y):
    return eqx.filter_value_and_grad(loss_fn)(model, x, y)


def _normal(rng: np.random.Generator, axes: tuple[Axis, ...], scale: float = 1.0) -> NamedArray:
    # NumPy, not jax.random: no per-shape compilation, which dominates on a busy machine
    values = scale * rng.standard_normal(tuple(a.size for a in axes), dtype=np.float32)
    return named(jnp.asarray(values), axes)


def make_data():
    rng = np.random.default_rng(0)
    return Block.init(rng), _normal(rng, (Batch, Pos, Embed)), _normal(rng, (Batch, Pos))


STRATEGIES = {
    # name: (mesh, parameter mapping, compute mapping)
    "data_parallel": (MESH_8, {}, {"batch": "data"}),
    "fsdp": (MESH_8, {"embed": "data"}, {"batch": "data"}),
    "tensor_parallel": (
        MESH_4x2,
        {"heads": "model", "mlp": "model"},
        {"batch": "data", "heads": "model", "mlp": "model"},
    ),
}
COLLECTIVE = {"data_parallel": "all-reduce", "fsdp": "all-gather", "tensor_parallel": "all-reduce"}


@pytest.fixture(scope="module")
def reference():
    model, x, y = make_data()
    loss, grads = jax.jit(grad_step)(model, x, y)
    return model, x, y, loss, grads


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_model_partitioned_like_the_mapping_with_unsharded_results(strategy, reference):
    model, x, y, ref_loss, ref_grads = reference
    mesh, param_map, compute_map = STRATEGIES[strategy]
    with jax.set_mesh(mesh):
        sharded_model = shard(model, param_map)
        x_s, y_s = shard((x, y), compute_map)
        step = fsdp(grad_step, param_map, compute_map)
        loss, grads = step(sharded_model, x_s, y_s)
        predict = named_jit(lambda m, x: m(x), axis_resources=compute_map)
        prediction = predict(sharded_model, x_s)
        hlo = step.lower(sharded_model, x_s, y_s).compile().as_text()

    # parameters and gradients live where the parameter mapping says, in shards of the right size
    for param, grad in zip(jax.tree.leaves(sharded_model, is_leaf=nx.is_named_array),
                           jax.tree.leaves(grads, is_leaf=nx.is_named_array)):  # fmt: skip
        assert spec_of(param) == expected_spec(param, param_map)
        assert spec_of(grad) == expected_spec(param, param_map)
        shards = param.array.addressable_shards
        assert len(shards) == 8
        assert {s.data.shape for s in shards} == {local_shape(param, param_map, mesh)}
    # inputs and activations follow the compute mapping; the loss is replicated
    assert spec_of(x_s) == ("data", None, None)
    assert {s.data.shape for s in x_s.array.addressable_shards} == {
        local_shape(x, compute_map, mesh)
    }
    assert spec_of(prediction) == ("data", None)
    assert loss.sharding.is_fully_replicated
    assert hlo is not None and COLLECTIVE[strategy] in hlo
    # same numbers as on one device
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(prediction.array, model(x).array, rtol=1e-5, atol=1e-6)
    assert tree_allclose(grads, ref_grads, rtol=1e-4, atol=1e-6)


def test_fsdp_weights_are_gathered_inside_the_step():
    model, x, y = make_data()
    with jax.set_mesh(MESH_8):
        step = fsdp({"embed": "data"}, {"batch": "data"})(grad_step)  # decorator form
        text = step.lower(shard(model, {"embed": "data"}), x, y).as_text()
    assert (
        "sharding_constraint" in text
        or "sdy.sharding_constraint" in text
        or "mhlo.sharding" in text
    )


# --- shard ---------------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(axis_orders((Batch, Embed, Mlp))))
def test_shard_outside_jit_places_each_axis_on_its_mesh_axis(order):
    x = in_order(named(jnp.arange(8 * 8 * 16.0).reshape(8, 8, 16), (Batch, Embed, Mlp)), order)
    mapping = {"batch": "data", "mlp": "model"}
    y = shard(x, mapping, MESH_4x2)
    assert y.axes == x.axes
    assert spec_of(y) == expected_spec(x, mapping)
    assert {s.data.shape for s in y.array.addressable_shards} == {local_shape(x, mapping, MESH_4x2)}
    np.testing.assert_array_equal(y.array, x.array)


def test_shard_tuple_of_mesh_axes_partitions_over_their_product():
    x = named(jnp.zeros((8, 4)), (Batch, Pos))
    y = shard(x, {"batch": ("data", "model")}, MESH_4x2)
    assert spec_of(y) == (("data", "model"), None)
    assert {s.data.shape for s in y.array.addressable_shards} == {(1, 4)}


def test_shard_inside_jit_adds_a_constraint():
    x = named(jnp.ones((8, 8)), (Batch, Embed))

    @jax.jit
    def f(x):
        return shard(x * 2, {"embed": "data"}, MESH_8)

    out = f(x)
    assert spec_of(out) == (None, "data")
    assert "sharding_constraint" in jax.jit(f).lower(x).as_text()


def test_shard_under_grad_and_with_context_mesh():
    x = named(jnp.arange(8.0 * 8).reshape(8, 8), (Batch, Embed))
    with jax.set_mesh(MESH_8), axis_mapping({"batch": "data"}):
        g = jax.grad(lambda x: (shard(x) ** 2).sum().scalar())(x)
    np.testing.assert_allclose(g.array, 2 * x.array)


def test_shard_inside_named_vmap_maps_the_vmapped_axis_too():
    x = named(jnp.ones((8, 4)), (Batch, Pos))
    with jax.set_mesh(MESH_4x2), axis_mapping({"batch": "data", "pos": "model"}):
        out = jax.jit(lambda x: nx.vmap(lambda row: shard(row * 2), Batch)(x))(x)
    assert out.axes == x.axes
    assert spec_of(out) == ("data", "model")  # `batch` through vmap's spmd_axis_name


def test_shard_on_explicit_mesh_uses_reshard_inside_jit():
    mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,))
    x = named(jnp.ones((8, 8)), (Batch, Embed))
    with jax.set_mesh(mesh):
        x = shard(x, {"batch": "data"})
        out = jax.jit(lambda x: shard(x * 3, {"embed": "data"}))(x)
    assert spec_of(out) == (None, "data")
    np.testing.assert_allclose(out.array, 3.0)


def test_shard_leaves_plain_arrays_and_other_leaves_alone():
    plain = jnp.ones((8, 8))
    tree = {"plain": plain, "n": 3, "s": "text", "x": named(jnp.ones((8,)), (Batch,))}
    out = shard(tree, {"batch": "data"}, MESH_8)
    assert out["plain"] is plain and out["n"] == 3 and out["s"] == "text"
    assert spec_of(out["x"]) == ("data",)


def test_shard_without_a_mapping_is_a_no_op():
    x = named(jnp.ones((8,)), (Batch,))
    assert current_axis_mapping() is None
    assert shard(x) is x
    assert auto_sharded(x) is x


def test_auto_sharded_needs_mapping_and_mesh():
    x = named(jnp.ones((8,)), (Batch,))
    with axis_mapping({"batch": "data"}):
        assert auto_sharded(x) is x  # no mesh set: nothing to do
        assert spec_of(auto_sharded(x, MESH_8)) == ("data",)
        with jax.set_mesh(MESH_8):
            assert spec_of(auto_sharded(x)) == ("data",)


# --- errors --------------------------------------------------------------------------------


def test_error_axis_not_divisible_by_mesh_axis():
    x = named(jnp.ones((8, 6)), (Batch, Axis("embed", 6)))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "shard: axis 'embed' (size 6) of NamedArray{batch:8, embed:6} is mapped to mesh axis "
            "'data' (size 4), but 6 is not divisible by 4. Make the axis size a multiple of 4"
        ),
    ):
        shard({"w": x}, {"embed": "data"}, MESH_4x2)
    with pytest.raises(ValueError, match=re.escape("(argument path: tree['w'])")):
        shard({"w": x}, {"embed": "data"}, MESH_4x2)


def test_error_mapping_to_a_missing_mesh_axis_lists_the_mesh_axes():
    x = named(jnp.ones((8, 8)), (Batch, Embed))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "shard: axis 'embed' (size 8) of NamedArray{batch:8, embed:8} is mapped to mesh "
            "axis 'tensor', but the mesh has no such axis; its axes are {data:4, model:2}."
        ),
    ):
        shard(x, {"embed": "tensor"}, MESH_4x2)


def test_error_two_axes_on_one_mesh_axis():
    x = named(jnp.ones((8, 8)), (Batch, Embed))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "shard: axes 'batch' (size 8) and 'embed' (size 8) of NamedArray{batch:8, embed:8} "
            "are both mapped to mesh axis 'data' (size 8); a mesh axis can partition only one "
            "axis of an array. Map one of them to None"
        ),
    ):
        shard(x, {"batch": "data", "embed": "data"}, MESH_8)
    with pytest.raises(ValueError, match="both mapped to mesh axis 'model'"):
        shard(x, {"batch": ("data", "model"), "embed": "model"}, MESH_4x2)


def test_error_bad_mapping_value_and_missing_mesh():
    x = named(jnp.ones((8,)), (Batch,))
    with pytest.raises(TypeError, match=r"sends 'batch' to 3; each value must be a mesh axis name"):
        shard(x, {"batch": 3}, MESH_8)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"shard: no device mesh is set; pass mesh=.*jax.set_mesh"):
        shard(x, {"batch": "data"})
    with pytest.raises(TypeError, match=r"shard: mesh must be a jax\.sharding\.Mesh"):
        shard(x, {"batch": "data"}, mesh={"data": 8})  # type: ignore[arg-type]


# --- specs and sizes ---------------------------------------------------------------------


def test_pspec_for_named_plain_and_other_leaves():
    tree = {
        "x": named(jnp.ones((8, 4)), (Batch, Pos)),
        "plain": jnp.ones(3),
        "scalar": jnp.ones(()),
        "n": 1.5,
        "name": "x",
    }
    specs = pspec_for(tree, {"pos": "model"})
    assert specs == {
        "x": P(None, "model"),
        "plain": P(None),
        "scalar": P(),
        "n": P(),
        "name": None,
    }
    with axis_mapping({"batch": ("data", "model")}):
        assert pspec_for(tree["x"]) == P(("data", "model"), None)
    with pytest.raises(
        ValueError, match="pspec_for: no axis mapping was given and none is in force"
    ):
        pspec_for(tree)


def test_pspec_for_preserve_existing_shardings_keeps_placed_arrays():
    placed = shard(named(jnp.ones((8, 4)), (Batch, Pos)), {"batch": "data"}, MESH_8)
    single = jnp.ones(3)  # a plain array on one device is still given a (replicated) spec
    committed = jax.device_put(jnp.ones(8), NamedSharding(MESH_8, P("data")))
    tree = {"x": placed, "single": single, "committed": committed, "scalar": jnp.ones(())}
    kept = pspec_for(tree, {"batch": "data"}, preserve_existing_shardings=True)
    assert kept == {"x": None, "single": P(None), "committed": None, "scalar": P()}
    fresh = pspec_for(tree, {"batch": "data"}, preserve_existing_shardings=False)
    assert fresh == {"x": P("data", None), "single": P(None), "committed": P(None), "scalar": P()}
    abstract = jax.eval_shape(lambda: placed)  # no sharding of its own yet: always a spec
    assert pspec_for(abstract, {"batch": "data"}, preserve_existing_shardings=True) == P(
        "data", None
    )
    shardings = infer_resource_partitions(
        tree, {"batch": "pos"}, preserve_existing_shardings=True, mesh=MESH_8
    )
    assert shardings["x"] == placed.array.sharding and shardings["committed"] == committed.sharding


class _Table(eqx.Module):
    weights: jax.Array = nx.field(axis_names=("batch", "pos"))
    bias: jax.Array  # pyright: ignore[reportGeneralTypeIssues]  # nx.field gives no default
    inner: eqx.Module | None = None


def test_pspec_for_names_plain_array_fields_declared_with_axis_names():
    inner = _Table(jnp.ones((8, 4)), jnp.ones(4))
    table = _Table(jnp.ones((8, 4)), jnp.ones(4), inner)
    specs = pspec_for(table, {"batch": "data", "pos": "model"})
    assert isinstance(specs, _Table) and isinstance(specs.inner, _Table)
    assert specs.weights == specs.inner.weights == P("data", "model")
    assert specs.bias == P(None)
    with jax.set_mesh(MESH_4x2):
        shardings = infer_resource_partitions(table, {"batch": "data", "pos": "model"})
    assert shardings.inner.weights == NamedSharding(MESH_4x2, P("data", "model"))
    wrong = _Table(jnp.ones(8), jnp.ones(4))
    message = r"pspec_for: field _Table\.weights declares axis_names=\('batch', 'pos'\) \(2 axes\)"
    with pytest.raises(ValueError, match=message + r" but holds an array of shape \(8,\)"):
        pspec_for(wrong, {"batch": "data"})


def test_resource_axis_set_mesh_and_shard_with_axis_mapping():
    assert (ResourceAxis.DATA, ResourceAxis.MODEL, ResourceAxis.REPLICA) == (
        "data",
        "model",
        "replica",
    )
    assert list(ResourceAxis) == ["model", "data", "replica", "replica_dcn", "context"]
    assert "data" in ResourceAxis
    assert "batch" not in ResourceAxis
    mesh = jax.make_mesh(
        (4, 2), (ResourceAxis.DATA, ResourceAxis.MODEL), axis_types=(AxisType.Auto,) * 2
    )
    x = named(jnp.ones((8, 4)), (Batch, Pos))
    mapping = {"batch": ResourceAxis.DATA, "pos": ResourceAxis.MODEL}
    with set_mesh(mesh):
        y = shard_with_axis_mapping(x, mapping)
        z = jax.jit(lambda a: shard_with_axis_mapping(a * 2, mapping))(x)
    assert y.array.sharding == NamedSharding(mesh, P("data", "model"))
    assert z.array.sharding.is_equivalent_to(NamedSharding(mesh, P("data", "model")), 2)
    np.testing.assert_array_equal(np.asarray(z.array), 2 * np.ones((8, 4)))
    with pytest.raises(TypeError, match=r"shard_with_axis_mapping: mapping must be a"):
        shard_with_axis_mapping(x, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"set_mesh: expected a jax\.sharding\.Mesh"):
        set_mesh({"data": 8})  # type: ignore[arg-type]


def test_legacy_mesh_context_is_the_mesh():
    mesh = jax.sharding.Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
    x = named(jnp.ones((8, 4)), (Batch, Pos))
    with pytest.warns(DeprecationWarning, match="with mesh"), mesh:  # JAX deprecates it
        y = shard(x, {"batch": "data", "pos": "model"})
        with pytest.raises(ValueError, match="4 is not divisible by 8"):
            pspec_for(x, {"pos": ("data", "model")})
    assert y.array.sharding == NamedSharding(mesh, P("data", "model"))


def test_pspec_for_checks_against_the_context_mesh():
    x = named(jnp.ones((8, 6)), (Batch, Axis("embed", 6)))
    assert pspec_for(x, {"embed": "data"}) == P(None, "data")  # no mesh: names only
    with jax.set_mesh(MESH_8), pytest.raises(ValueError, match="6 is not divisible by 8"):
        pspec_for(x, {"embed": "data"})


@settings(max_examples=30, deadline=None)
@given(
    perm=st.permutations(range(3)),
    targets=st.lists(
        st.sampled_from([None, "data", "model", ("data", "model")]), min_size=3, max_size=3
    ),
)
def test_specs_follow_names_in_any_order(perm, targets):
    axes = tuple((Batch, Embed, Mlp)[i] for i in perm)
    mapping = {a.name: t for a, t in zip((Batch, Embed, Mlp), targets)}
    used = [m for t in targets if t is not None for m in ((t,) if isinstance(t, str) else t)]
    x = named(jnp.zeros(tuple(a.size for a in axes)), axes)
    if len(used) != len(set(used)):
        with pytest.raises(ValueError, match="are both mapped to mesh axis"):
            pspec_for(x, mapping)
        return
    assert tuple(pspec_for(x, mapping)) == tuple(mapping[a.name] for a in axes)
    y = shard(x, mapping, MESH_4x2)
    sizes = {"data": 4, "model": 2, ("data", "model"): 8, None: 1}
    assert {s.data.shape for s in y.array.addressable_shards} == {
        tuple(a.size // sizes[mapping[a.name]] for a in axes)
    }


def test_infer_resource_partitions_and_pspec_for_axis():
    x = named(jnp.ones((8, 4)), (Batch, Pos))
    shardings = infer_resource_partitions(
        {"x": x, "p": jnp.ones(2)}, {"batch": "data"}, mesh=MESH_8
    )
    assert shardings["x"] == NamedSharding(MESH_8, P("data", None))
    assert shardings["p"] == NamedSharding(MESH_8, P())
    assert pspec_for_axis((Batch, "pos"), {"pos": "model"}) == P(None, "model")


def test_physical_axis_name_size_and_rounding():
    mapping = {"batch": ("data", "model"), "embed": "model"}
    assert physical_axis_name(Batch, mapping) == ("data", "model")
    assert physical_axis_size(Batch, mapping, MESH_4x2) == 8
    assert physical_axis_size("embed", mapping, MESH_4x2) == 2
    assert physical_axis_size("pos", mapping, MESH_4x2) is None
    with jax.set_mesh(MESH_4x2), axis_mapping(mapping):
        assert physical_axis_size("batch") == 8
        assert round_axis_for_partitioning(Axis("batch", 13)) == Axis("batch", 16)
        assert round_axis_for_partitioning(Axis("pos", 13)) == Axis("pos", 13)
    with pytest.raises(ValueError, match=r"mesh has no such axis; its axes are \{data:8\}"):
        physical_axis_size("embed", mapping, MESH_8)
    with pytest.raises(ValueError, match="physical_axis_size: no device mesh is set"):
        physical_axis_size("embed", mapping)


# --- named_jit -----------------------------------------------------------------------------


def test_named_jit_sets_the_mapping_inside_and_shards_outputs():
    seen = []

    def f(x):
        seen.append(current_axis_mapping())
        return x + 1

    x = named(jnp.zeros((8, 8)), (Batch, Embed))
    with jax.set_mesh(MESH_8):
        out = named_jit(f, {"embed": "data"})(x)
        out2 = named_jit(f, {"embed": "data"}, out_axis_resources={"batch": "data"})(x)
    assert seen[0] == {"embed": "data"}
    assert spec_of(out) == (None, "data")
    assert spec_of(out2) == ("data", None)
    np.testing.assert_allclose(out.array, 1.0)


def test_named_jit_in_axis_resources_constrains_inputs():
    x = named(jnp.ones((8, 8)), (Batch, Embed))
    with jax.set_mesh(MESH_8):
        text = named_jit(lambda x: x * 2, in_axis_resources={"batch": "data"}).lower(x).as_text()
    assert "sharding_constraint" in text and "data" in text


def test_named_jit_uses_the_mapping_in_force_at_call_time():
    x = named(jnp.ones((8, 8)), (Batch, Embed))
    f = named_jit(lambda x: x * 2)
    with jax.set_mesh(MESH_8):
        with axis_mapping({"batch": "data"}):
            a = f(x)
        with axis_mapping({"embed": "data"}):
            b = f(x)
    assert spec_of(a) == ("data", None)
    assert spec_of(b) == (None, "data")


def test_named_jit_static_arguments_and_outputs():
    traces = []

    @named_jit
    def f(x, n, *, label):
        traces.append(n)
        return {"y": x * n, "label": label, "n": n}

    x = named(jnp.ones((8,)), (Batch,))
    out = f(x, 2, label="a")
    assert out["label"] == "a" and out["n"] == 2 and isinstance(out["y"], NamedArray)
    np.testing.assert_allclose(out["y"].array, 2.0)
    f(x, 2, label="a")
    f(x, 3, label="a")
    assert traces == [2, 3]  # cached for equal static values, retraced for new ones
    with pytest.raises(
        TypeError, match="named_jit: every non-array argument is static and must be hashable"
    ):
        f(x, 2, label=UnhashableThing())


class UnhashableThing:
    __hash__ = None  # type: ignore[assignment]


def test_named_jit_donates_arguments():
    x = named(jnp.ones((8,)), (Batch,))
    y = named(jnp.ones((8,)), (Batch,))
    f = named_jit(lambda x, y: (x + 1, y + 1), donate_args=(True, False))
    f(x, y)
    assert x.array.is_deleted() and not y.array.is_deleted()
    g = named_jit(lambda x, *, y: x + y, donate_kwargs={"y": True})
    z = named(jnp.ones((8,)), (Batch,))
    g(named(jnp.ones((8,)), (Batch,)), y=z)
    assert z.array.is_deleted()
    with pytest.raises(ValueError, match="donate_args has 3 entries but the call has 2 positional"):
        named_jit(lambda a, b: a, donate_args=(True, True, True))(y, y)


def test_named_jit_on_a_module_and_grad(reference):
    model, x, y, ref_loss, ref_grads = reference
    loss, grads = model.loss_and_grad(x, y)  # named_jit as a method decorator
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    assert tree_allclose(grads, ref_grads, rtol=1e-5)


def test_named_jit_lowers_abstract_arguments():
    model, x, y = make_data()
    abstract = eqx.filter_eval_shape(lambda: (model, x, y))
    with jax.set_mesh(MESH_8):
        lowered = fsdp(grad_step, {"embed": "data"}, {"batch": "data"}).lower(*abstract)
    text = lowered.as_text()
    assert "tensor<8x4x8xf32>" in text  # x was traced from its abstract shape
    assert "sharding_constraint" in text


def test_named_jit_without_mesh_but_with_mapping_explains():
    x = named(jnp.ones((8,)), (Batch,))
    with pytest.raises(ValueError, match="named_jit: no device mesh is set"):
        named_jit(lambda x: x, {"batch": "data"})(x)


# --- shard_map -----------------------------------------------------------------------------


def test_shard_map_gives_local_sizes_and_global_results():
    x = named(jnp.arange(8.0 * 8).reshape(8, 8), (Batch, Embed))
    seen = []

    def local(x):
        seen.append(x.shape)
        total = named(jax.lax.psum(x.array.sum(0), "data"), (x.axes[1],))
        return x * 2, total

    with axis_mapping({"batch": "data"}):
        doubled, total = shard_map(local, MESH_8)(x)
    assert seen[-1] == {"batch": 1, "embed": 8}
    assert doubled.axes == x.axes and spec_of(doubled) == ("data", None)
    np.testing.assert_allclose(doubled.array, 2 * x.array)
    assert total.axes == (Embed,)
    np.testing.assert_allclose(total.array, x.array.sum(0))


@pytest.mark.parametrize("order", list(axis_orders((Batch, Mlp))))
def test_shard_map_two_mesh_axes_any_order_under_jit_and_grad(order):
    x = in_order(named(jnp.arange(8.0 * 16).reshape(8, 16), (Batch, Mlp)), order)
    mapping = {"batch": "data", "mlp": "model"}

    def local_sq(x):
        assert x.shape == {"batch": 2, "mlp": 8} or x.shape == {"mlp": 8, "batch": 2}
        return x**2

    f = shard_map(local_sq, MESH_4x2, mapping=mapping)
    out = jax.jit(f)(x)
    assert out.axes == x.axes and spec_of(out) == expected_spec(x, mapping)
    np.testing.assert_allclose(out.array, x.array**2)
    g = jax.grad(lambda x: f(x).sum().scalar())(x)
    np.testing.assert_allclose(g.array, 2 * x.array)


def test_shard_map_explicit_specs_and_static_arguments():
    x = named(jnp.ones((8, 4)), (Batch, Pos))

    @shard_map(mesh=MESH_8, in_specs=(P("data"), None), out_specs=P("data"))
    def scale(x, factor):
        return x * factor

    out = scale(x, 3.0)
    assert out.axes == x.axes
    np.testing.assert_allclose(out.array, 3.0)


def test_shard_map_errors():
    x = named(jnp.ones((8, 6)), (Batch, Axis("embed", 6)))
    with pytest.raises(
        ValueError, match="shard_map: no axis mapping to derive partition specs from"
    ):
        shard_map(lambda x: x, MESH_8)(x)
    with pytest.raises(ValueError, match=r"shard_map: axis 'embed' \(size 6\).*not divisible by 8"):
        shard_map(lambda x: x, MESH_8, mapping={"embed": "data"})(x)
    with pytest.raises(TypeError, match="shard_map: expected a callable"):
        shard_map(3, MESH_8)  # type: ignore[arg-type]


# --- the FSDP training example -----------------------------------------------------------


def test_fsdp_training_example_runs_and_learns():
    path = Path(__file__).resolve().parent.parent / "examples" / "fsdp_train.py"
    spec = importlib.util.spec_from_file_location("fsdp_train", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    losses = example.main(steps=4)
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


# --- layers constrain their outputs by name ------------------------------------------------


def _primitive_names(jaxpr) -> list[str]:
    """Every primitive of a jaxpr, inner jaxprs (inlined jits, scans) included."""
    names = []
    for eqn in jaxpr.eqns:
        names.append(eqn.primitive.name)
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns"):
                names += _primitive_names(inner)
    return names


def _layer_calls():
    key = jax.random.split(jax.random.key(0), 4)
    x = named(jnp.ones((8, 4, 8)), (Batch, Pos, Embed))
    ids = named(jnp.zeros((8, 4), jnp.int32), (Batch, Pos))
    q = named(jnp.ones((8, 4, 2, 4)), (Batch, Pos, Heads, HeadDim))
    k = q.rename({"pos": "key_pos"})
    Chan = Axis("chan", 2)
    conv = nx.nn.Conv.init(("pos",), Embed, Chan, 3, key=key[3], padding=1)
    return {
        "Linear": (nx.nn.Linear.init(Embed, Mlp, key=key[0]), x),
        "Embedding": (nx.nn.Embedding.init(Axis("vocab", 4), Embed, key=key[1]), ids),
        "RmsNorm": (nx.nn.RmsNorm.init(Embed), x),
        "Conv": (conv, x),
        "attention": (
            lambda q, k: nx.nn.attention.dot_product_attention(KeyPos, HeadDim, q, k, k),
            q,
            k,
        ),
    }


@pytest.mark.parametrize("name", ["Linear", "Embedding", "RmsNorm", "Conv", "attention"])
def test_layer_constraints_are_free_without_mapping_or_mesh(name):
    layer, *args = _layer_calls()[name]
    for mapping in (None, {"batch": "data", "mlp": "model"}):  # the second: no mesh set
        with axis_mapping(mapping) if mapping else _nothing():
            prims = _primitive_names(jax.make_jaxpr(layer)(*args).jaxpr)
        assert "sharding_constraint" not in prims, (name, mapping)


@pytest.mark.parametrize("name", ["Linear", "Embedding", "RmsNorm", "Conv", "attention"])
def test_layer_outputs_follow_the_axis_mapping(name):
    layer, *args = _layer_calls()[name]
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    mapping = {"batch": "data", "mlp": "model", "heads": "model"}
    with jax.set_mesh(mesh), axis_mapping(mapping):
        prims = _primitive_names(jax.make_jaxpr(layer)(*args).jaxpr)
        out = eqx.filter_jit(lambda f, *a: f(*a))(layer, *args)  # inputs replicated: layout
    assert "sharding_constraint" in prims  # comes from the layer's constraint
    expected = NamedSharding(mesh, pspec_for(out, mapping))
    assert out.array.sharding.is_equivalent_to(expected, out.ndim)
    assert out.array.sharding.spec[0] == "data"


def test_attention_keeps_scores_and_output_on_the_head_and_batch_shards():
    _, q, k = _layer_calls()["attention"]
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    with jax.set_mesh(mesh), axis_mapping({"batch": "data", "heads": "model"}):
        jaxpr = jax.make_jaxpr(
            lambda q, k: nx.nn.attention.dot_product_attention(KeyPos, HeadDim, q, k, k)
        )(q, k)
    specs = [
        e.params["sharding"].spec
        for e in jaxpr.jaxpr.eqns
        if e.primitive.name == "sharding_constraint"
    ]
    assert P("data", "model", None, None) in specs  # scores (batch, heads, pos, key_pos)
    assert P("data", None, "model", None) in specs  # output (batch, pos, heads, head_dim)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("kind", [AxisType.Auto, AxisType.Explicit])
def test_layers_inside_shard_map_see_local_sizes_and_skip_the_manual_axes(kind):
    # Inside shard_map `batch` is local (2 rows of 8): the mapping's 'data' is manual
    # there, so the layer's output constraint must leave it out instead of refusing 2 % 4.
    layer = nx.nn.Linear.init(Embed, Mlp, key=jax.random.key(0))
    x = _normal(np.random.default_rng(0), (Batch, Embed))
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(kind,) * 2)
    with jax.set_mesh(mesh), axis_mapping({"batch": "data"}):
        out = jax.jit(lambda x: shard_map(lambda x: layer(x), mesh)(x))(shard(x))
    np.testing.assert_allclose(out.array, layer(x).array, rtol=1e-5)
    assert out.array.sharding.spec[0] == "data"
