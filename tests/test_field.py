"""nx.field: an equinox.field that records axis names, and behaves as equinox.field otherwise."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import namedax as nx


class Table(eqx.Module):
    weights: jax.Array = nx.field(axis_names=("vocab", "embed"))
    bias: jax.Array = nx.field(axis_names=["embed"], metadata={"doc": "per embed"})
    scale: float = nx.field(static=True, default=2.0)
    plain: jax.Array = nx.field(converter=jnp.asarray, default=0.0)


def _fields():
    return {f.name: f for f in dataclasses.fields(Table)}


def test_axis_names_are_recorded_as_tuples_next_to_other_metadata():
    fields = _fields()
    assert fields["weights"].metadata["axis_names"] == ("vocab", "embed")
    assert fields["bias"].metadata["axis_names"] == ("embed",)  # a list is stored as a tuple
    assert fields["bias"].metadata["doc"] == "per embed"
    assert fields["scale"].metadata["axis_names"] is None
    assert fields["plain"].metadata["axis_names"] is None


def test_static_converter_and_default_behave_as_equinox_field():
    t = Table(jnp.ones((3, 2)), jnp.zeros(2))
    assert t.scale == 2.0
    assert isinstance(t.plain, jax.Array)  # the converter ran
    leaves = jax.tree_util.tree_leaves(t)
    assert len(leaves) == 3  # scale is static, not a leaf
    assert _fields()["scale"].metadata.get("static") is True
    doubled = jax.jit(lambda t: jax.tree_util.tree_map(lambda x: 2 * x, t))(t)
    assert doubled.scale == 2.0 and float(doubled.weights.sum()) == 12.0


def test_axis_names_let_a_walker_name_plain_array_fields():
    t = Table(jnp.arange(6.0).reshape(3, 2), jnp.zeros(2))
    named = {
        f.name: nx.named(getattr(t, f.name), f.metadata["axis_names"])
        for f in dataclasses.fields(t)
        if f.metadata.get("axis_names") is not None
    }
    assert named["weights"].axes == (nx.Axis("vocab", 3), nx.Axis("embed", 2))
    assert named["bias"].axes == (nx.Axis("embed", 2),)


def test_errors():
    with pytest.raises(
        ValueError, match=r"field: axis_names=\('x',\) cannot be combined with static=True"
    ):
        nx.field(static=True, axis_names=("x",))
    with pytest.raises(
        TypeError,
        match=r"field: axis_names must be a tuple of axis names, got 'batch'.*\('batch',\)",
    ):
        nx.field(axis_names="batch")
    with pytest.raises(
        TypeError, match=r"field: axis_names must be a tuple of axis names, got \('a', 3\)"
    ):
        nx.field(axis_names=("a", 3))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"field: metadata must be a mapping, got list"):
        nx.field(metadata=["x"])


def test_haliax_module_path_holds_the_same_function():
    from namedax.compat.haliax.field import field as haliax_field

    assert haliax_field is nx.field
