"""Stacked.explain: mapping and actual sharding columns, flagged differences, HTML form."""

from __future__ import annotations

import re

import equinox as eqx
import jax
import pytest

import namedax as nx
from namedax import Axis, nn

Layers, Embed, Hidden = Axis("layers", 4), Axis("embed", 8), Axis("hidden", 16)
KEY = jax.random.key(0)


class Block(eqx.Module):
    up: nn.Linear
    norm: nn.LayerNorm

    @staticmethod
    def init(*, key):
        return Block(nn.Linear.init(Embed, Hidden, key=key), nn.LayerNorm.init(Embed))


def make_stack():
    return nn.Stacked.init(Layers, Block, shared="norm")(key=KEY)


@pytest.fixture
def mesh():
    return jax.make_mesh((2, 4), ("stage", "model"))


def rows(text):
    return {line.split()[0]: line for line in text.splitlines()[2:]}


def test_without_mesh_or_mapping_there_is_no_placement_column():
    text = make_stack().explain()
    assert text.splitlines()[1].split() == ["leaf", "kind", "named", "shape", "dtype"]


def test_mapping_column_without_a_mesh():
    text = make_stack().explain({"hidden": "model"})
    assert text.splitlines()[1].split()[-1] == "mapping"
    assert rows(text)[".up.weight"].endswith("{layers:-, hidden:model, embed:-}")
    with nx.partitioning.axis_mapping({"layers": "stage"}):
        assert rows(make_stack().explain())[".norm.weight"].endswith("{embed:-}")
        assert "{layers:stage, hidden:-" in make_stack().explain()


def test_sharding_column_reads_the_arrays(mesh):
    mapping = {"layers": "stage", "hidden": "model"}
    with nx.partitioning.axis_mapping(mapping):
        stack = nx.partitioning.shard(make_stack(), mesh=mesh)
        text = stack.explain()
    assert text.splitlines()[1].split()[-2:] == ["mapping", "sharding"]
    up = rows(text)[".up.weight"]
    assert up.count("{layers:stage, hidden:model, embed:-}") == 2  # asked and actual agree
    assert "≠" not in text
    # The actual sharding is what the arrays hold: check it against jax directly.
    spec = stack.stacked.up.weight.array.sharding.spec  # type: ignore[attr-defined]
    assert tuple(spec)[:2] == ("stage", "model")


def test_differences_between_mapping_and_sharding_are_flagged(mesh):
    with nx.partitioning.axis_mapping({"layers": "stage"}):
        stack = nx.partitioning.shard(make_stack(), mesh=mesh)
    text = stack.explain({"layers": "stage", "hidden": "model"})
    up = rows(text)[".up.weight"]
    assert re.search(
        r"\{layers:stage, hidden:model, embed:-\} +\{layers:stage, hidden:-, embed:-\} ≠$", up
    )
    assert not rows(text)[".norm.weight"].endswith("≠")  # replicated as asked
    bias = rows(text)[".up.bias"]
    assert bias.endswith("≠")


def test_single_device_leaf_beside_sharded_ones(mesh):
    stack = make_stack()
    sharded = eqx.tree_at(
        lambda s: s.stacked.up.weight,
        stack,
        nx.partitioning.shard(stack.stacked.up.weight, {"hidden": "model"}, mesh=mesh),
    )
    text = sharded.explain({"hidden": "model"})
    assert rows(text)[".up.weight"].endswith("{layers:-, hidden:model, embed:-}")
    assert "single device ≠" in rows(text)[".up.bias"]
    assert rows(text)[".norm.bias"].endswith("single device")  # replicated, as asked


def test_explain_is_a_string_with_an_html_table(mesh):
    with nx.partitioning.axis_mapping({"layers": "stage"}):
        stack = nx.partitioning.shard(make_stack(), mesh=mesh)
    text = stack.explain({"layers": "stage", "hidden": "model"})
    assert isinstance(text, str) and text.startswith("Stacked Block over layers(4)")
    page = text._repr_html_()  # type: ignore[attr-defined]
    assert page.count("<tr>") == 1 + 4  # header and one row per leaf
    assert "<th>mapping</th><th>sharding</th>" in page
    assert "<code>.up.weight</code>" in page
    assert "class='namedax-differs'" in page
    assert "{layers:stage, hidden:model, embed:-}" in page
