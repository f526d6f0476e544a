"""What Haliax users write (issue 20 item 5): resolve_axis forms, concrete jax.Array scalars
where ints go, shard without a mesh, and torch-compatible state dicts of jax.Arrays."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import Axis, named


def test_resolve_axis_with_tuples_and_partial_shape_dicts():
    x = nx.zeros({"batch": 2, "feature": 3})
    assert x.resolve_axis(("feature", "batch")) == (Axis("feature", 3), Axis("batch", 2))
    assert x.resolve_axis(["batch"]) == (Axis("batch", 2),)
    assert x.resolve_axis({"batch": None, "feature": None}) == {"batch": 2, "feature": 3}
    assert x.resolve_axis({"feature": 3}) == {"feature": 3}
    with pytest.raises(ValueError, match="'feature' has size 3"):
        x.resolve_axis({"feature": 4})
    with pytest.raises(ValueError, match="no axis 'missing'"):
        x.resolve_axis(("batch", "missing"))


def test_concrete_jax_scalars_work_where_ints_do():
    x = named(jnp.arange(10), "pos")
    n = jax.jit(lambda: jnp.int32(3))()  # concrete, not traced
    np.testing.assert_array_equal(x["pos", -n:].array, np.arange(10)[-3:])
    np.testing.assert_array_equal(x["pos", n : n + 2].array, [3, 4])
    np.testing.assert_array_equal(x["pos", :: jnp.int32(4)].array, [0, 4, 8])
    np.testing.assert_array_equal(x["pos", nx.ds(n, 2)].array, [3, 4])
    assert int(x["pos", n].array) == 3
    assert nx.zeros({"a": n}).shape == {"a": 3} and nx.ds(0, n).size == 3
    with pytest.raises(ValueError, match="out of range"):  # checked like an int
        x["pos", jnp.int32(10)]
    with pytest.raises(TypeError, match="non-static bound"):  # traced bounds still refused
        jax.jit(lambda x, i: x["pos", i:])(x, 2)


def test_haliax_shard_without_a_mesh_warns_and_returns_its_input():
    from namedax.compat import haliax as hax

    x = nx.zeros({"batch": 4, "feature": 2})
    with nx.axis_mapping({"batch": "data"}):
        with pytest.warns(RuntimeWarning, match="No mesh found. Not sharding"):
            assert hax.shard(x) is x
        with pytest.raises(ValueError, match="no device mesh is set"):  # namedax's own shard
            nx.shard(x)
    with pytest.warns(RuntimeWarning, match="No resource mapping found"):
        assert hax.partitioning.shard(x) is x
    mesh = jax.make_mesh((4, 2), ("data", "model"))
    with jax.set_mesh(mesh), nx.axis_mapping({"batch": "data"}):
        y = hax.shard(x)
    assert y.array.sharding.spec == jax.sharding.PartitionSpec("data", None)
    assert jax.jit(lambda v: hax.shard(v, {"batch": "data"}))(x).axes == x.axes  # no warning


def test_dropout_masks_by_name_and_the_recipe_for_haliaxs_mask():
    x = named(jnp.arange(1.0, 49.0).reshape(6, 8), ("embed", "batch"))  # not in name order
    key, pdrop = jax.random.key(0), 0.5
    ours = nx.nn.dropout(x, pdrop, inference=False, key=key)
    moved = nx.nn.dropout(x.rearrange(("batch", "embed")), pdrop, inference=False, key=key)
    assert bool((ours == moved).all())  # the same mask at every named position
    keep = nx.random.bernoulli(key, x.axes, 1 - pdrop)  # the migration page's recipe
    np.testing.assert_array_equal(keep.array, jax.random.bernoulli(key, 1 - pdrop, (6, 8)))
    haliax_style = nx.where(keep, x / (1 - pdrop), 0)
    assert not bool((haliax_style == ours).all())  # hence the documented difference
    in_name_order = x.rearrange(("batch", "embed"))  # stored in name order: the masks agree
    keep_sorted = nx.random.bernoulli(key, in_name_order.axes, 1 - pdrop)
    same = nx.where(keep_sorted, in_name_order / (1 - pdrop), 0)
    assert bool((same == moved).all())
