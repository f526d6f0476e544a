"""Layers are built with `Layer.init(...)`: the Equinox-style class call is a TypeError naming it."""

from __future__ import annotations

import dataclasses

import jax
import pytest

import namedax as nx
from namedax import nn

E, H, Out = nx.Axis("embed", 3), nx.Axis("hidden", 4), nx.Axis("out", 2)
KEY = jax.random.key(0)

CASES = {
    "Linear": (lambda: nn.Linear(E, H, key=KEY), "Linear.init(In, Out, key=jax.random.key(0))"),  # pyright: ignore[reportCallIssue]  # the error is the point
    "Embedding": (
        lambda: nn.Embedding(E, H, key=KEY),  # pyright: ignore[reportCallIssue]  # the error is the point
        "Embedding.init(Vocab, Embed, key=jax.random.key(0))",
    ),
    "MLP": (
        lambda: nn.MLP(E, H, 4, 2, key=KEY),  # pyright: ignore[reportCallIssue]  # the error is the point
        "MLP.init(Input, Output, width, depth, key=jax.random.key(0))",
    ),
    "MoELinear": (
        lambda: nn.MoELinear(E, H, Out, key=KEY),  # pyright: ignore[reportCallIssue]  # the error is the point
        "MoELinear.init(Experts, In, Out, key=jax.random.key(0))",
    ),
    "LayerNorm": (lambda: nn.LayerNorm(E), "LayerNorm.init(axis, ...)"),  # pyright: ignore[reportCallIssue]  # the error is the point
    "RmsNorm": (lambda: nn.RmsNorm(E, eps=1e-6), "RmsNorm.init(axis, ...)"),  # pyright: ignore[reportCallIssue]  # the error is the point
    "Conv": (
        lambda: nn.Conv(("x",), E, H, 3, key=KEY),  # pyright: ignore[reportCallIssue]  # the error is the point
        "Conv.init(Spatial, In, Out, kernel_size, key=jax.random.key(0))",
    ),
    "ConvTranspose": (
        lambda: nn.ConvTranspose(("x",), E, H, 3, key=KEY),  # pyright: ignore[reportCallIssue]  # the error is the point
        "ConvTranspose.init(Spatial, In, Out, kernel_size, key=jax.random.key(0))",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_equinox_style_construction_names_init(name):
    build, example = CASES[name]
    with pytest.raises(TypeError) as info:
        build()
    message = str(info.value)
    assert message.startswith(f"{name}(...) takes the layer's fields (")
    assert "as JAX and dataclasses.replace call it; build a new layer with" in message
    assert message.endswith(f"e.g. {example}.")


def test_linear_message_lists_fields_and_init_signature():
    with pytest.raises(TypeError) as info:
        nn.Linear(E, H)  # pyright: ignore[reportCallIssue]  # axes where the weight and bias belong, no key
    assert str(info.value) == (
        "Linear(...) takes the layer's fields (weight, bias, In, Out, dot_general, "
        "_reparam_cls), as JAX and dataclasses.replace call it; build a new layer with "
        "Linear.init(In, Out, *, key, ...), e.g. Linear.init(In, Out, key=jax.random.key(0))."
    )


def test_field_construction_still_works_for_jax_and_replace():
    layer = nn.Linear.init(E, H, key=KEY)
    rebuilt = nn.Linear(layer.weight, layer.bias, layer.In, layer.Out)
    assert rebuilt.weight is layer.weight
    assert dataclasses.replace(layer, bias=None).bias is None
    assert jax.tree.map(lambda x: x, layer).weight.axes == layer.weight.axes
    norm = nn.LayerNorm.init(E)
    assert nn.LayerNorm(norm.axis, norm.weight, norm.bias, norm.eps, norm.dtype).axis == E
