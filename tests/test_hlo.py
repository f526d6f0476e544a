"""Named code compiles to the code a JAX expert would write: same dots, same FLOPs."""

import re

import jax
import jax.numpy as jnp

import namedax as nx
from benchmarks.core import Batch, Embed, mlp_params, named_mlp, positional_mlp


def compiled_stats(fn, *args):
    compiled = jax.jit(fn).lower(*args).compile()
    hlo = compiled.as_text()
    assert hlo is not None
    dots = len(re.findall(r"= \S+ (?:dot|convolution)\(", hlo))
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    assert cost is not None
    return dots, cost["flops"], hlo


def test_named_mlp_has_the_same_dots_and_flops_as_positional():
    positional, named = mlp_params(depth=8)
    a = jax.random.normal(jax.random.key(0), (32, 64))
    dots_p, flops_p, _ = compiled_stats(positional_mlp, positional, a)
    dots_n, flops_n, hlo = compiled_stats(named_mlp, named, nx.named(a, (Batch, Embed)))
    assert dots_p == 8
    assert dots_n == dots_p
    assert flops_n == flops_p
    assert "transpose(" not in hlo  # layouts chosen so no transposes are needed


def test_elementwise_across_orders_compiles_to_one_fusion_without_copies():
    x = nx.named(jnp.ones((32, 64)), ("b", "e"))
    y = nx.named(jnp.ones((64, 32)), ("e", "b"))
    _, flops_n, _ = compiled_stats(lambda x, y: x + y, x, y)
    _, flops_p, _ = compiled_stats(lambda a, b: a + b.T, x.array, y.array)
    assert flops_n == flops_p
