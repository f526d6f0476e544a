"""Orbax checkpoints: sharded save, restore into the current mapping and mesh, other meshes,
abstract templates, Stacked kept stacked, step management, async saves, errors."""

from __future__ import annotations

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

import namedax as nx
from namedax import Axis
from namedax.serialization import Checkpoints

Embed, Hidden, Layers = Axis("embed", 8), Axis("hidden", 16), Axis("layers", 4)
KEY = jax.random.key(0)


class Block(eqx.Module):
    up: nx.nn.Linear
    down: nx.nn.Linear
    norm: nx.nn.LayerNorm
    scale: float = eqx.field(static=True, default=0.5)

    def __init__(self, *, key):
        k1, k2 = jax.random.split(key)
        self.up = nx.nn.Linear.init(Embed, Hidden, key=k1, dtype=jnp.bfloat16)
        self.down = nx.nn.Linear.init(Hidden, Embed, key=k2)
        self.norm = nx.nn.LayerNorm.init(Embed)


def make_model(key=KEY):
    keys = jax.random.split(key, Layers.size)
    return {"layers": nx.nn.Stacked.init(Layers, Block)(key=keys), "bias": jnp.arange(3.0)}


def mesh_of(shape, names, n=None):
    devices = np.array(jax.devices()[: n or int(np.prod(shape))]).reshape(shape)
    return jax.sharding.Mesh(devices, names)


MAPPING = {"hidden": "model", "embed": "data"}


def assert_identical(a, b):
    la, ta = jax.tree_util.tree_flatten(a, is_leaf=nx.is_named_array)
    lb, tb = jax.tree_util.tree_flatten(b, is_leaf=nx.is_named_array)
    assert ta == tb
    for x, y in zip(la, lb, strict=True):
        if isinstance(x, nx.NamedArray):
            assert x.axes == y.axes
            x, y = x.array, y.array
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), strict=True)


def assert_placed(tree, mesh, mapping):
    """Every NamedArray sits in the sharding its axis names give, shard by shard."""
    for leaf in jax.tree_util.tree_leaves(tree, is_leaf=nx.is_named_array):
        if not isinstance(leaf, nx.NamedArray):
            assert leaf.sharding.is_equivalent_to(NamedSharding(mesh, P()), leaf.ndim)
            continue
        spec = P(*(mapping.get(a.name) for a in leaf.axes))
        expected = NamedSharding(mesh, spec)
        assert leaf.array.sharding.is_equivalent_to(expected, leaf.array.ndim)
        shard_shape = expected.shard_shape(leaf.array.shape)
        assert all(s.data.shape == shard_shape for s in leaf.array.addressable_shards)


def place(tree, mesh, mapping):
    return nx.partitioning.shard(tree, mapping, mesh)


@pytest.mark.parametrize(
    ("save_mesh", "restore_mesh"),
    [
        ((4, 2), (2, 2)),  # 8 devices saved, 4 restored
        ((1, 4), (2, 4)),  # 4 devices saved, 8 restored
        ((2, 4), (8, 1)),  # same devices, another mesh shape
        ((8, 1), (1, 1)),  # onto a single device
    ],
)
def test_restore_onto_another_mesh_is_bit_exact(tmp_path, save_mesh, restore_mesh):
    saving = mesh_of(save_mesh, ("data", "model"))
    model = place(make_model(), saving, MAPPING)
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(0, model)
        restoring = mesh_of(restore_mesh, ("data", "model"))
        restored = ckpts.restore(make_model(jax.random.key(1)), mapping=MAPPING, mesh=restoring)
    assert_identical(restored, model)
    assert_placed(restored, restoring, MAPPING)


def test_restore_uses_the_current_axis_mapping_and_mesh(tmp_path):
    model = make_model()
    mesh = mesh_of((2, 4), ("data", "model"))
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(3, model)
        with jax.set_mesh(mesh), nx.partitioning.axis_mapping(MAPPING):
            restored = ckpts.restore(model)
    assert_identical(restored, model)
    assert_placed(restored, mesh, MAPPING)


def test_restore_into_an_abstract_model(tmp_path):
    model = make_model()
    abstract = eqx.filter_eval_shape(make_model)
    assert isinstance(abstract["layers"].stacked.up.weight.array, jax.ShapeDtypeStruct)
    mesh = mesh_of((4, 2), ("data", "model"))
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(0, model)
        restored = ckpts.restore(abstract, mapping=MAPPING, mesh=mesh)
    assert_identical(restored, model)
    assert_placed(restored, mesh, MAPPING)
    assert restored["layers"].stacked.scale == 0.5


def test_abstract_template_without_a_mesh_goes_to_one_device(tmp_path):
    model = make_model()
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(0, model)
        restored = ckpts.restore(eqx.filter_eval_shape(make_model))
    assert_identical(restored, model)
    weight = restored["layers"].stacked.up.weight.array
    assert weight.sharding.device_set == {jax.devices()[0]}


def test_stacked_stays_stacked_on_disk(tmp_path):
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(0, make_model())
        shapes = ckpts.saved_shapes()
    assert shapes["layers.stacked.up.weight"] == (Layers, Hidden, Embed)
    assert shapes["layers.stacked.norm.bias"] == (Layers, Embed)
    assert shapes["bias"] == (3,)
    assert not any(re.search(r"\.\d+\.", k) for k in shapes)


def test_keep_last_n_and_latest(tmp_path):
    models = [make_model(jax.random.key(i)) for i in range(4)]
    with Checkpoints(tmp_path, max_to_keep=2) as ckpts:
        assert ckpts.latest_step() is None
        for step, model in enumerate(models):
            ckpts.save(step * 10, model)
        assert ckpts.all_steps() == [20, 30]
        assert ckpts.latest_step() == 30
        assert_identical(ckpts.restore(models[0]), models[3])
        assert_identical(ckpts.restore(models[0], step=20), models[2])
        with pytest.raises(
            FileNotFoundError, match=r"step 0 is not in .*; it has steps \[20, 30\]"
        ):
            ckpts.restore(models[0], step=0)
    with Checkpoints(tmp_path) as reopened:  # steps survive the manager
        assert reopened.all_steps() == [20, 30]


def test_async_save_then_wait(tmp_path):
    mesh = mesh_of((8, 1), ("data", "model"))
    model = place(make_model(), mesh, MAPPING)
    with Checkpoints(tmp_path, async_save=True) as ckpts:
        ckpts.save(1, model)
        ckpts.wait_until_finished()
        assert ckpts.all_steps() == [1]
        assert_identical(ckpts.restore(model, mesh=mesh, mapping=MAPPING), model)


def test_optimizer_state_round_trip(tmp_path):
    model = eqx.filter(make_model(), eqx.is_inexact_array)
    optimizer = optax.adam(1e-3)
    state = optimizer.init(model)
    grads = jax.tree_util.tree_map(jnp.ones_like, model)
    _, state = optimizer.update(grads, state, model)
    mesh = mesh_of((4, 2), ("data", "model"))
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(0, {"model": model, "opt": state})
        restored = ckpts.restore(
            eqx.filter_eval_shape(lambda: {"model": model, "opt": state}),
            mapping=MAPPING,
            mesh=mesh,
        )
    assert_identical(restored, {"model": model, "opt": state})
    assert int(restored["opt"][0].count) == 1


def test_other_axes_are_an_error_naming_each_leaf(tmp_path):
    model = {"w": nx.zeros((Embed, Hidden)), "v": jnp.zeros(3)}
    other = {"w": nx.zeros((Embed, Axis("hidden", 4))), "v": jnp.zeros(2)}
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(0, model)
        message = (
            "Checkpoints.restore: the checkpoint .* does not match the template: "
            "v was saved as a plain array of shape (3,), the template has a plain array of shape (2,); "
            "w was saved as {embed:8, hidden:16}, the template has {embed:8, hidden:4}"
        )
        with pytest.raises(ValueError, match=re.escape(message).replace(re.escape(".*"), ".*")):
            ckpts.restore(other)
        with pytest.raises(ValueError, match="not in the checkpoint: x"):
            ckpts.restore({**model, "x": jnp.zeros(1)})
        with pytest.raises(ValueError, match="in the checkpoint but not the template: v"):
            ckpts.restore({"w": model["w"]})


def test_step_arguments_are_checked(tmp_path):
    with Checkpoints(tmp_path) as ckpts:
        with pytest.raises(FileNotFoundError, match="holds no complete checkpoint"):
            ckpts.restore({"a": jnp.zeros(1)})
        with pytest.raises(TypeError, match="step must be a non-negative int, got"):
            ckpts.save("1", {"a": jnp.zeros(1)})  # type: ignore[arg-type]
        ckpts.save(1, {"a": jnp.zeros(1)})
        with pytest.raises(ValueError, match=r"step 1 already exists .*force=True"):
            ckpts.save(1, {"a": jnp.ones(1)})
        ckpts.save(1, {"a": jnp.ones(1)}, force=True)
        assert float(ckpts.restore({"a": jnp.zeros(1)})["a"][0]) == 1.0
    with pytest.raises(ValueError, match="max_to_keep must be a positive int"):
        Checkpoints(tmp_path, max_to_keep=0)


# --- a restore trusts nothing in the step it reads ------------------------------------------


def _step_with_record(tmp_path, record):
    """A saved step whose record of axes is replaced by `record` (bytes)."""
    state = {"w": jnp.arange(6.0).reshape(2, 3), "i": jnp.arange(4, dtype=jnp.int32)}
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(0, state)
    (tmp_path / "0" / "axes" / "metadata").write_bytes(record)
    return state


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        (b"[1, 2", "its record of axes cannot be read (JSONDecodeError"),
        (b"[1, 2]", "its record of axes is "),
        (
            b'{"w": 5, "i": null}',
            "(leaf 'w'): its recorded named shape 5 is not a dict of 'axes' and 'shape'",
        ),
        (
            b'{"w": {"axes": null, "shape": [2, -3]}, "i": {"axes": null, "shape": [4]}}',
            "(leaf 'w'): its recorded named shape",
        ),
        (
            b'{"w": {"axes": [["a", 2], ["a", 3]], "shape": [2, 3]}, "i": {"axes": null, "shape": [4]}}',
            "axes that do not describe its shape with distinct names",
        ),
        (
            b'{"w": {"axes": [["a", 3]], "shape": [2, 3]}, "i": {"axes": null, "shape": [4]}}',
            "axes that do not describe its shape",
        ),
        (
            b'{"w": {"axes": null, "shape": [2, 3]}}',
            "(leaf 'i'): its arrays and its record of axes name different leaves",
        ),
        (
            b'{"w": {"axes": null, "shape": [3, 2]}, "i": {"axes": null, "shape": [4]}}',
            "(leaf 'w'): Orbax stored shape (2, 3), its record says [3, 2]",
        ),
    ],
)
def test_a_damaged_record_of_axes_is_refused_naming_the_step(tmp_path, record, detail):
    state = _step_with_record(tmp_path, record)
    pattern = (
        re.escape(f"Checkpoints.restore: the checkpoint {tmp_path / '0'} is corrupted")
        + ".*"
        + re.escape(detail)
    )
    with Checkpoints(tmp_path) as ckpts, pytest.raises(ValueError, match=pattern):
        ckpts.restore(state)


def test_a_restore_never_truncates_a_dtype(tmp_path):
    state = {"w": jnp.full(3, 1.5), "i": jnp.array([1, 2, 300], jnp.int32)}
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(0, state)
        with pytest.raises(
            ValueError,
            match=r"w: it holds float32 values and the template is int32: a float to integer cast truncates",
        ):
            ckpts.restore({**state, "w": jnp.zeros(3, jnp.int32)})  # before: restored [1, 1, 1]
        with pytest.raises(
            ValueError,
            match=r"i: it holds int32 values and the template is int8, which may not hold them all",
        ):
            ckpts.restore({**state, "i": jnp.zeros(3, jnp.int8)})
        restored = ckpts.restore({**state, "w": jnp.zeros(3, jnp.bfloat16)})  # same kind: fine
        assert restored["w"].dtype == jnp.bfloat16
        np.testing.assert_array_equal(np.asarray(restored["w"], np.float32), np.full(3, 1.5))


def test_damaged_array_files_are_refused_naming_the_step(tmp_path):
    state = {"w": jnp.arange(6.0)}
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(0, state)
    for data in (tmp_path / "0" / "arrays").rglob("*"):
        if data.is_file() and ("ocdbt" in str(data) or data.parent.name == "d"):
            data.write_bytes(b"\0" * 7)
    with (
        Checkpoints(tmp_path) as ckpts,
        pytest.raises(ValueError, match=re.escape(f"the checkpoint {tmp_path / '0'} is corrupted")),
    ):
        ckpts.restore(state)


def test_leaves_with_the_same_key_are_refused_naming_both_paths(tmp_path):
    tree = {"a.b": jnp.zeros(2), "a": {"b": jnp.ones(2)}}
    with Checkpoints(tmp_path) as ckpts:
        with pytest.raises(
            ValueError,
            match=re.escape("two leaves have the key 'a.b' (tree['a']['b'] and tree['a.b'])"),
        ):
            ckpts.save(0, tree)
        assert ckpts.all_steps() == []


def test_non_numeric_leaves_are_refused_before_anything_is_written(tmp_path):
    with Checkpoints(tmp_path) as ckpts:
        with pytest.raises(
            TypeError, match=r"the leaf 'o' has dtype object; a checkpoint holds numeric"
        ):
            ckpts.save(0, {"w": jnp.zeros(2), "o": np.array([{"x": 1}], dtype=object)})
        with pytest.raises(TypeError, match=r"the leaf 's' has dtype <U1"):
            ckpts.save(0, {"s": np.array(["a"])})
        assert ckpts.all_steps() == []
