"""Eager per-op overhead and trace time of a jitted MLP: namedax versus raw jax.numpy."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp

import namedax as nx

from ._timing import eager_call_time, print_table, trace_time

Batch, Embed, Hidden = nx.Axis("batch", 32), nx.Axis("embed", 64), nx.Axis("hidden", 64)


def eager_ops() -> tuple[tuple[str, ...], list[tuple]]:
    """The header and rows (op, raw µs, namedax µs, ratio, peer ratios...) on 32x64 float32."""
    key1, key2, key3 = jax.random.split(jax.random.key(0), 3)
    a = jax.random.normal(key1, (32, 64))
    b = jax.random.normal(key2, (32, 64))
    w = jax.random.normal(key3, (64, 64))
    x, y = nx.named(a, (Batch, Embed)), nx.named(b, (Batch, Embed))
    wn = nx.named(w, (Embed, Hidden))
    axes = (Batch, Embed)
    cases = {
        "a + b": (lambda: a + b, lambda: x + y),
        "sum over embed": (lambda: jnp.sum(a, axis=1), lambda: x.sum(Embed)),
        "dot (contract embed)": (lambda: jnp.dot(a, w), lambda: nx.dot(x, wn, axis=Embed)),
        "where(x > 0, x, 0)": (lambda: jnp.where(a > 0, a, 0.0), lambda: nx.where(x > 0, x, 0.0)),
        "index x[batch=3]": (lambda: a[3], lambda: x["batch", 3]),
        "transpose": (lambda: a.T, lambda: x.rearrange(("embed", "batch"))),
    }
    peers = _available_peers(a, b, w)
    rows = []
    for name, (raw, named) in cases.items():
        t_raw, t_named = eager_call_time(raw), eager_call_time(named)
        row = [name, t_raw * 1e6, t_named * 1e6, t_named / t_raw]
        for peer in peers.values():
            row.append(eager_call_time(peer[name]) / t_raw if name in peer else "-")
        rows.append(tuple(row))
    wrap = eager_call_time(lambda: nx.NamedArray(a, axes))
    row = ["wrap an array (absolute µs)", "-", wrap * 1e6]
    row += ["-"] + [f"{eager_call_time(peer['wrap']) * 1e6:.3g} µs" for peer in peers.values()]
    rows.append(tuple(row))
    header = ("case", "jax.numpy µs", "namedax µs", "namedax / jax")
    return header + tuple(f"{name} / jax" for name in peers), rows


def _haliax_cases(a, b, w) -> dict:
    import haliax as hax  # pyright: ignore[reportMissingImports]

    B, E, H = hax.Axis("batch", 32), hax.Axis("embed", 64), hax.Axis("hidden", 64)
    x, y, wn = hax.named(a, (B, E)), hax.named(b, (B, E)), hax.named(w, (E, H))
    return {
        "a + b": lambda: x + y,
        "sum over embed": lambda: x.sum(E),
        "dot (contract embed)": lambda: hax.dot(x, wn, axis=E),
        "where(x > 0, x, 0)": lambda: hax.where(x > 0, x, 0.0),
        "index x[batch=3]": lambda: x["batch", 3],
        "transpose": lambda: x.rearrange(("embed", "batch")),
        "wrap": lambda: hax.NamedArray(a, (B, E)),
    }


def _penzai_cases(a, b, w) -> dict:
    from penzai import pz  # pyright: ignore[reportMissingImports]

    x, y = pz.nx.wrap(a).tag("batch", "embed"), pz.nx.wrap(b).tag("batch", "embed")
    wn = pz.nx.wrap(w).tag("embed", "hidden")
    return {
        "a + b": lambda: x + y,
        "sum over embed": lambda: pz.nx.nmap(jnp.sum)(x.untag("embed")),
        "dot (contract embed)": lambda: pz.nx.nmap(jnp.dot)(x.untag("embed"), wn.untag("embed")),
        "where(x > 0, x, 0)": lambda: pz.nx.nmap(jnp.where)(x > 0, x, 0.0),
        "index x[batch=3]": lambda: x[{"batch": 3}],
        "transpose": lambda: x.order_as("embed", "batch"),
        "wrap": lambda: pz.nx.wrap(a).tag("batch", "embed"),
    }


_PEERS = {"haliax": _haliax_cases, "penzai": _penzai_cases}


def _available_peers(a, b, w) -> dict[str, dict]:
    """The peer libraries installed beside namedax that import with this JAX, with their cases."""
    peers = {}
    for name, make in _PEERS.items():
        if importlib.util.find_spec(name) is None:
            continue
        try:
            peers[name] = make(a, b, w)
        except ImportError as e:  # e.g. a release that does not support this JAX
            print(f"({name} is installed but does not import here: {e})")
    return peers


def mlp_params(depth: int = 8) -> tuple[list, list]:
    """Weights of a `depth`-layer MLP, positional and named (alternating embed/hidden)."""
    keys = jax.random.split(jax.random.key(1), depth)
    positional, named = [], []
    for i, key in enumerate(keys):
        w = jax.random.normal(key, (64, 64)) / 8
        In, Out = (Embed, Hidden) if i % 2 == 0 else (Hidden, Embed)
        positional.append(w)
        named.append(nx.named(w, (In, Out)))
    return positional, named


def positional_mlp(params: list, x: jax.Array) -> jax.Array:
    for w in params:
        x = jnp.maximum(jnp.dot(x, w), 0.0)
    return x


def named_mlp(params: list, x: nx.NamedArray) -> nx.NamedArray:
    for w in params:
        In = w.axes[0]
        x = nx.maximum(nx.dot(x, w, axis=In), 0.0)
    return x


def trace_rows() -> list[tuple]:
    positional, named = mlp_params()
    a = jax.random.normal(jax.random.key(2), (32, 64))
    t_raw = trace_time(positional_mlp, positional, a)
    t_named = trace_time(named_mlp, named, nx.named(a, (Batch, Embed)))
    return [("8-layer MLP, jit trace", t_raw * 1e3, t_named * 1e3, t_named / t_raw)]


def main() -> None:
    header, rows = eager_ops()
    print_table("Eager time per call, 32x64 float32 (median)", header, rows)
    print_table(
        "Trace time of a jitted MLP (median)",
        ("case", "positional ms", "named ms", "named / positional"),
        trace_rows(),
    )
