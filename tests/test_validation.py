"""Validation of constructors and attributes: Axis, .real/.imag, Haliax's prevent_cse= keyword."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import nn


def test_axis_rejects_bools_empty_names_and_negative_sizes():
    with pytest.raises(TypeError, match=r"Axis 'a': size must be an int, got the bool True"):
        nx.Axis("a", True)
    with pytest.raises(TypeError, match=r"got the bool"):
        nx.Axis("a", np.bool_(False))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Axis name must be a non-empty str"):
        nx.Axis("", 3)
    with pytest.raises(ValueError, match=r"Axis 'a': size must be >= 0, got -1"):
        nx.Axis("a", -1)
    assert nx.Axis("a", np.int64(3)) == nx.Axis("a", 3)  # type: ignore[arg-type]


def test_real_and_imag_are_properties():
    c = nx.named(jnp.array([1 + 2j, 3 - 4j]), "k")
    np.testing.assert_array_equal(c.real.array, [1.0, 3.0])
    np.testing.assert_array_equal(c.imag.array, [2.0, -4.0])
    assert c.real.axes == c.axes


@pytest.mark.parametrize("cls", [nn.Stacked, nn.BlockSeq])
def test_init_takes_prevent_cse(cls):
    Layers, Embed = nx.Axis("layers", 2), nx.Axis("embed", 3)
    stack = cls.init(Layers, nn.Linear, gradient_checkpointing=True, prevent_cse=True)(
        Embed, Embed, key=jax.random.key(0)
    )
    policy = stack.gradient_checkpointing
    assert isinstance(policy, nx.ScanCheckpointPolicy) and policy.prevent_cse
    x = nx.ones(Embed)
    assert stack.fold(x).axes == x.axes


def test_item_assignment_points_at_at_set():
    x = nx.zeros({"a": 2, "b": 3})
    with pytest.raises(TypeError, match=r"is immutable.*x = x\.at\[\('a', 0\)\]\.set\(value\)"):
        x["a", 0] = 1.0  # pyright: ignore[reportIndexIssue]
