"""Explicit and mixed meshes ("sharding in types"): namedax supplies the out_sharding by name.

On a mesh with `AxisType.Explicit` axes every array's type carries its sharding and
JAX refuses to guess a result's layout where it is ambiguous (a contraction over
sharded axes, a reshape merging a sharded axis, a gather). namedax derives it from
the result's axis names and the current axis mapping. The tests check the values
against one device, the shardings in the types, the train step of a small
transformer (loss, gradients, AdamW update) on Auto, Explicit and mixed meshes, and
the error that replaces JAX's `ShardingTypeError`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import AxisType, PartitionSpec as P

import namedax as nx
from benchmarks import sharded_step as bench
from namedax.ops._out_sharding import ExplicitShardingError

Batch, Embed, Mlp = nx.Axis("batch", 8), nx.Axis("embed", 16), nx.Axis("mlp", 4)
FSDP = {"embed": "data", "mlp": "model"}
COMPUTE = {"batch": "data", "mlp": "model"}
KINDS = {
    "auto": (AxisType.Auto, AxisType.Auto),
    "explicit": (AxisType.Explicit, AxisType.Explicit),
    "mixed": (AxisType.Explicit, AxisType.Auto),
    "mixed-model-explicit": (AxisType.Auto, AxisType.Explicit),
}


def mesh(kind: str = "explicit") -> jax.sharding.Mesh:
    return jax.make_mesh((4, 2), ("data", "model"), axis_types=KINDS[kind])


def operands(m):
    x = nx.named(jax.random.normal(jax.random.key(0), (8, 16)), (Batch, Embed))
    w = nx.named(jax.random.normal(jax.random.key(1), (16, 4)), (Embed, Mlp))
    return nx.shard(x, COMPUTE, m), nx.shard(w, FSDP, m)


def test_fsdp_contraction_that_jax_refuses_gets_its_out_sharding_by_name():
    m = mesh()
    with jax.set_mesh(m):
        x, w = operands(m)
        x = nx.reshard(x, {"batch": "data", "embed": "model"})
        w = nx.reshard(w, {"embed": "model"})
        with pytest.raises(Exception, match="Contracting dimensions are sharded"):
            jnp.einsum("be,em->bm", x.array, w.array)  # JAX alone cannot tell
        with nx.axis_mapping(COMPUTE):
            y = nx.dot(x, w, axis=Embed)
            z = nx.einsum("b e, e m -> b m", x, w)
    expected = np.asarray(x.array) @ np.asarray(w.array)
    for out in (y, z):
        np.testing.assert_allclose(out.array, expected, rtol=1e-5)
        assert out.axes == (Batch, Mlp)
        assert jax.typeof(out.array).sharding.spec == P("data", "model")


def test_without_a_mapping_the_refusal_is_our_error_naming_the_fix():
    m = mesh()
    with jax.set_mesh(m):
        x, w = operands(m)
        x = nx.reshard(x, {"embed": "model"})
        w = nx.reshard(w, {"embed": "model"})
        with pytest.raises(ExplicitShardingError) as info:
            nx.dot(x, w, axis=Embed)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert message.startswith("dot: on this mesh with Explicit axes JAX cannot tell")
    assert "{batch:8, embed:16}, {embed:16, mlp:4}" in message
    assert "no axis mapping is in force" in message
    assert "nx.axis_mapping({...})" in message and "nx.reshard(x, {...})" in message
    assert "AxisType.Auto" in message


def test_reshard_by_name_changes_the_type_on_explicit_and_mixed_meshes():
    x = nx.named(jnp.arange(8.0 * 16).reshape(8, 16), (Batch, Embed))
    with jax.set_mesh(mesh("explicit")):
        y = nx.reshard(x, {"batch": "data"})
        z = jax.jit(lambda y: nx.reshard(y, {"embed": ("data", "model")}))(y)
        assert y.array.sharding.spec == P("data", None)  # pyright: ignore[reportAttributeAccessIssue]  # a NamedSharding
        assert jax.typeof(z.array).sharding.spec == P(None, ("data", "model"))
    with jax.set_mesh(mesh("mixed")):
        y = nx.reshard(x, {"batch": "data", "embed": "model"})
        w = jax.jit(lambda y: nx.reshard(y, {"batch": "data", "embed": "model"}) * 2)(y)
        assert y.array.sharding.spec == P("data", "model")  # pyright: ignore[reportAttributeAccessIssue]  # a NamedSharding
        assert jax.typeof(w.array).sharding.spec == P("data", None)  # 'model' is Auto
        assert w.array.sharding.spec == P("data", "model")  # ... and laid out as asked
    np.testing.assert_array_equal(w.array, 2 * x.array)
    with pytest.raises(ValueError, match=r"reshard: no axis mapping was given"):
        nx.reshard(x)


def test_reshape_that_merges_a_sharded_axis_and_a_gather_work_on_explicit_meshes():
    Pos, Flat = nx.Axis("position", 4), nx.Axis("flat", 32)
    x = nx.named(jnp.arange(8.0 * 4).reshape(8, 4), (Batch, Pos))
    table = nx.named(jnp.arange(16.0 * 4).reshape(16, 4), (Embed, Mlp))
    ids = nx.named(jnp.arange(8 * 4).reshape(8, 4) % 16, (Batch, Pos))
    with jax.set_mesh(mesh()), nx.axis_mapping({"batch": "data", "flat": "data"}):
        x, ids = nx.shard((nx.reshard(x, {"position": "data"}), ids), {"batch": "data"})

        @jax.jit
        def f(x, ids, table):
            return x.flatten_axes(("position", "batch"), Flat), table.take("embed", ids)

        flat, rows = f(x, ids, table)
    np.testing.assert_array_equal(flat.array, np.asarray(x.array).T.reshape(-1))
    np.testing.assert_array_equal(rows.array, np.asarray(table.array)[np.asarray(ids.array)])
    assert jax.typeof(flat.array).sharding.spec == P("data")
    assert rows.axes == (Batch, Pos, Mlp)


def _train_step(m: jax.sharding.Mesh | None):
    """Loss, gradients and one AdamW update of the tiny benchmark transformer."""
    cfg = bench.Config(batch=8, pos=8, embed=16, mlp=16, heads=2, head_dim=4, vocab=32, layers=1)
    model = bench.Llama.init(cfg, "unstacked", key=jax.random.key(0))
    ids = jax.random.randint(jax.random.key(1), (8, 8), 0, 32)
    ids, labels = (
        nx.named(ids, (cfg.Batch, cfg.Pos)),
        nx.named(jnp.roll(ids, -1, 1), (cfg.Batch, cfg.Pos)),
    )
    optimizer = optax.adamw(1e-2)

    def step(model, state, ids, labels):
        loss, grads = jax.value_and_grad(bench.named_loss)(model, ids, labels)
        updates, state = optimizer.update(grads, state, model)
        return loss, grads, optax.apply_updates(model, updates)

    if m is None:
        return jax.jit(step)(model, optimizer.init(model), ids, labels)  # pyright: ignore[reportArgumentType]  # any pytree
    with jax.set_mesh(m):
        model = nx.shard(model, bench.PARAMETER_MAPPING)
        ids, labels = nx.shard((ids, labels), bench.COMPUTE_MAPPING)
        with nx.axis_mapping(bench.COMPUTE_MAPPING):
            return jax.jit(step)(model, optimizer.init(model), ids, labels)  # pyright: ignore[reportArgumentType]  # any pytree


@pytest.fixture(scope="module")
def one_device():
    return _train_step(None)


@pytest.mark.parametrize("kind", list(KINDS))
def test_train_step_matches_one_device_on_every_mesh_kind(one_device, kind):
    loss, grads, updated = _train_step(mesh(kind))
    ref_loss, ref_grads, ref_updated = one_device
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    for ours, ref in ((grads, ref_grads), (updated, ref_updated)):
        pairs = zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True)
        for a, b in pairs:
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=1e-6)
    # the parameters stay where the parameter mapping put them (FSDP over data)
    weight = updated.blocks[0].mlp.up.weight
    assert weight.axis_names == ("mlp", "embed")
    assert weight.array.sharding.spec == P("model", "data")


def test_moe_linear_on_an_explicit_mesh_matches_one_device():
    Experts, In, Out = nx.Axis("experts", 2), nx.Axis("embed", 8), nx.Axis("mlp", 4)
    layer = eqx.filter_jit(nx.nn.MoELinear.init)(Experts, In, Out, key=jax.random.key(0))
    x = nx.named(jax.random.normal(jax.random.key(1), (8, 8)), (Batch, In))
    sizes = jnp.array([3, 5])

    def loss(layer, x):
        return (layer(x, sizes) ** 2).sum().scalar()

    ref = jax.value_and_grad(loss)(layer, x)
    with jax.set_mesh(mesh()), nx.axis_mapping(COMPUTE):
        x = nx.shard(x, COMPUTE)
        value, grad = jax.jit(jax.value_and_grad(loss))(nx.shard(layer, FSDP), x)
    np.testing.assert_allclose(value, ref[0], rtol=1e-5)
    np.testing.assert_allclose(grad.weight.array, ref[1].weight.array, rtol=1e-4, atol=1e-6)


def test_out_sharding_is_none_without_mapping_or_explicit_axes():
    from namedax.ops._out_sharding import out_sharding

    axes = (Batch, Mlp)
    assert out_sharding(axes, "t") is None
    with nx.axis_mapping(COMPUTE):
        assert out_sharding(axes, "t") is None  # no mesh
        with jax.set_mesh(mesh("auto")):
            assert out_sharding(axes, "t") is None  # Auto axes: the compiler decides
        with jax.set_mesh(mesh("mixed")):
            assert out_sharding(axes, "t") == P("data", None)  # only the Explicit axis
        with jax.set_mesh(mesh("explicit")):
            assert out_sharding(axes, "t") == P("data", "model")


AXISWISE = {
    "sum": (lambda x: x.sum("batch"), lambda a: a.sum(0)),
    "argmax": (lambda x: x.argmax("batch"), lambda a: a.argmax(0)),
    "std": (lambda x: x.std("batch"), lambda a: a.std(0)),
    "cumsum": (lambda x: nx.cumsum(x, "batch"), lambda a: np.cumsum(a, 0)),
    "sort": (lambda x: nx.sort(x, "batch"), lambda a: np.sort(a, 0)),
    "argsort": (lambda x: nx.argsort(x, "batch"), lambda a: np.argsort(a, 0, kind="stable")),
}


@pytest.mark.parametrize("name", list(AXISWISE))
def test_reductions_and_axis_wise_functions_over_a_sharded_axis(name):
    # JAX refuses cumsum/sort along an axis sharded on Explicit mesh axes; namedax gathers
    # that one axis first and lays the result out by the mapping.
    f, reference = AXISWISE[name]
    x = nx.named(jax.random.normal(jax.random.key(0), (8, 16)), (Batch, Embed))
    with jax.set_mesh(mesh()), nx.axis_mapping({"batch": "data", "embed": "model"}):
        out = jax.jit(f)(nx.shard(x))
    np.testing.assert_allclose(out.array, reference(np.asarray(x.array)), rtol=1e-5, atol=1e-6)
    expected = P("data", "model") if "batch" in out.axis_names else P("model")
    assert jax.typeof(out.array).sharding.spec == expected
