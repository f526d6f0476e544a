"""`namedax.vmap` over a per-example function versus `jax.vmap` on positional arrays."""

from __future__ import annotations

import jax
import jax.numpy as jnp

import namedax as nx

from ._timing import eager_call_time, print_table, trace_time

Batch, Embed, Hidden = nx.Axis("batch", 32), nx.Axis("embed", 64), nx.Axis("hidden", 64)


def main() -> None:
    w = jax.random.normal(jax.random.key(0), (64, 64)) / 8
    a = jax.random.normal(jax.random.key(1), (32, 64))
    wn, x = nx.named(w, (Embed, Hidden)), nx.named(a, (Batch, Embed))

    def per_example_positional(v):
        return jnp.sum(jnp.tanh(jnp.dot(v, w)))

    def per_example_named(v):
        return nx.tanh(nx.dot(v, wn, axis=Embed)).sum()

    raw = jax.vmap(per_example_positional)
    named = nx.vmap(per_example_named, Batch)
    rows = []
    t_raw, t_named = trace_time(raw, a), trace_time(named, x)
    rows.append(("vmap, jit trace (ms)", t_raw * 1e3, t_named * 1e3, t_named / t_raw))
    t_raw = eager_call_time(lambda: raw(a), calls=200, group=10)
    t_named = eager_call_time(lambda: named(x), calls=200, group=10)
    rows.append(("vmap, eager call (ms)", t_raw * 1e3, t_named * 1e3, t_named / t_raw))
    print_table(
        "vmap over a per-example function, 32 examples (median)",
        ("case", "jax.vmap", "namedax.vmap", "namedax / jax"),
        rows,
    )
