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
