"""shard_map as Haliax spells it: axis_mapping=, check_rep=, keyword arguments."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax.partitioning import shard_map

Batch, Embed = nx.Axis("batch", 8), nx.Axis("embed", 3)
MAPPING = {"batch": "data"}


@pytest.fixture
def mesh():
    return jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))


def _x():
    return nx.named(jnp.arange(24.0).reshape(8, 3), (Batch, Embed))


def test_axis_mapping_is_mapping(mesh):
    def local(x, scale):
        assert x.shape == {"batch": 1, "embed": 3}  # the device's block
        return x * scale

    a = shard_map(local, mesh, axis_mapping=MAPPING)(_x(), 2.0)
    b = shard_map(local, mesh, mapping=MAPPING)(_x(), 2.0)
    assert a.axes == (Batch, Embed) and b.axes == (Batch, Embed)
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_array_equal(a.array, 2.0 * _x().array)


def test_keyword_arguments_are_sharded_by_name_too(mesh):
    def local(x, *, bias, k):
        assert bias.shape == {"batch": 1}
        return x * k + bias

    bias = nx.named(jnp.arange(8.0), Batch)
    with jax.set_mesh(mesh):
        out = jax.jit(shard_map(local, axis_mapping=MAPPING, check_rep=False))(_x(), bias=bias, k=3)
    np.testing.assert_allclose(out.array, 3 * _x().array + jnp.arange(8.0)[:, None])


def test_check_rep_false_returns_unreduced_blocks_and_psum_reduces(mesh):
    def total(x):
        return nx.named(jax.lax.psum(x.array.sum(0), "data"), (Embed,))

    out = shard_map(total, mesh, axis_mapping=MAPPING, check_rep=False)(_x())
    np.testing.assert_allclose(out.array, _x().array.sum(0))
    decorated = shard_map(mesh=mesh, axis_mapping=MAPPING, check_rep=False)(total)
    np.testing.assert_allclose(decorated(_x()).array, _x().array.sum(0))


def test_spelling_errors(mesh):
    with pytest.raises(TypeError, match="both mapping= and axis_mapping="):
        shard_map(lambda x: x, mesh, mapping=MAPPING, axis_mapping=MAPPING)
    spec = jax.sharding.PartitionSpec("data", None)
    f = shard_map(lambda x, k=1: x, mesh, in_specs=(spec,), out_specs=spec, axis_mapping=MAPPING)
    with pytest.raises(TypeError, match=r"keyword arguments \['k'\] with explicit in_specs"):
        f(_x().array, k=2)
    np.testing.assert_array_equal(f(_x().array), _x().array)
