"""The cost of checking the NamedArray invariant where JAX rebuilds arrays.

A NamedArray is rebuilt from its leaf (`tree_unflatten`) on every jitted call's output,
in every `jax.tree.map` and many times while tracing. Each row times one such path
with NamedArrays and with the same plain arrays, so the ratio shows what naming (and
the shape check on rebuild) costs on top of JAX's own work.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import namedax as nx

from ._timing import eager_call_time, print_table, trace_time
from .core import mlp_params, named_mlp, positional_mlp

Batch, Embed = nx.Axis("batch", 32), nx.Axis("embed", 64)


def _model(n: int) -> tuple[list[jax.Array], list[nx.NamedArray]]:
    keys = jax.random.split(jax.random.key(0), n)
    plain = [jax.random.normal(k, (32, 64)) for k in keys]
    return plain, [nx.named(a, (Batch, Embed)) for a in plain]


def rebuild_rows() -> list[tuple]:
    """(case, plain µs, named µs, ratio) for the paths that rebuild NamedArrays from leaves."""
    plain, named = _model(64)
    plain_leaves, plain_def = jax.tree_util.tree_flatten(plain)
    named_leaves, named_def = jax.tree_util.tree_flatten(named)
    step = jax.jit(lambda x: x * 2.0)
    tree_step = jax.jit(lambda t: jax.tree.map(lambda a: a * 2.0, t))
    cases = {
        "tree_unflatten, 64 leaves": (
            lambda: jax.tree_util.tree_unflatten(plain_def, plain_leaves),
            lambda: jax.tree_util.tree_unflatten(named_def, named_leaves),
        ),
        "jax.tree.map(identity), 64 leaves": (
            lambda: jax.tree.map(lambda a: a, plain),
            lambda: jax.tree.map(lambda a: a, named),
        ),
        "jitted x * 2, one array": (lambda: step(plain[0]), lambda: step(named[0])),
        "jitted tree.map(x * 2), 64 leaves": (lambda: tree_step(plain), lambda: tree_step(named)),
    }
    rows = []
    for name, (raw, with_names) in cases.items():
        t_raw, t_named = eager_call_time(raw, calls=1000), eager_call_time(with_names, calls=1000)
        rows.append((name, t_raw * 1e6, t_named * 1e6, t_named / t_raw))
    return rows


def trace_rows() -> list[tuple]:
    """(case, plain ms, named ms, ratio) for tracing, where rebuilds happen per transform."""
    positional, named = mlp_params()
    a = jax.random.normal(jax.random.key(2), (32, 64))
    x = nx.named(a, (Batch, Embed))
    rows = []
    t_raw = trace_time(positional_mlp, positional, a)
    t_named = trace_time(named_mlp, named, x)
    rows.append(("8-layer MLP, jit trace", t_raw * 1e3, t_named * 1e3, t_named / t_raw))
    grad_raw = jax.grad(lambda p, v: positional_mlp(p, v).sum())
    grad_named = jax.grad(lambda p, v: named_mlp(p, v).sum().scalar())
    t_raw, t_named = trace_time(grad_raw, positional, a), trace_time(grad_named, named, x)
    rows.append(("8-layer MLP, jit(grad) trace", t_raw * 1e3, t_named * 1e3, t_named / t_raw))
    vm_raw = jax.vmap(lambda v: jnp.sum(v * v), in_axes=0)
    vm_named = nx.vmap(lambda v: (v * v).sum(), Batch)
    t_raw, t_named = trace_time(vm_raw, a), trace_time(vm_named, x)
    rows.append(("vmap over batch, jit trace", t_raw * 1e3, t_named * 1e3, t_named / t_raw))
    return rows


def main() -> None:
    print_table(
        "Rebuilding NamedArrays from leaves (median per call)",
        ("case", "plain µs", "named µs", "named / plain"),
        rebuild_rows(),
    )
    print_table(
        "Trace time with rebuilds inside transforms (median)",
        ("case", "plain ms", "named ms", "named / plain"),
        trace_rows(),
    )


if __name__ == "__main__":
    main()
