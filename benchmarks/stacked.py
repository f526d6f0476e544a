"""Compile time of a `Stacked` fold against an unrolled loop, as depth grows."""

from __future__ import annotations

import equinox as eqx
import jax

import namedax as nx
from namedax import nn

from ._timing import compile_time, print_table

Embed, Hidden, Batch = nx.Axis("embed", 64), nx.Axis("hidden", 128), nx.Axis("batch", 8)


class Block(eqx.Module):
    """A residual MLP block."""

    up: nn.Linear
    down: nn.Linear

    @staticmethod
    def init(*, key):
        k1, k2 = jax.random.split(key)
        return Block(nn.Linear.init(Embed, Hidden, key=k1), nn.Linear.init(Hidden, Embed, key=k2))

    def __call__(self, x):
        return x + self.down(nn.relu(self.up(x)))


def main() -> None:
    x = nx.named(jax.random.normal(jax.random.key(0), (8, 64)), (Batch, Embed))
    rows = []
    for depth in (4, 16, 64):
        Layers = nx.Axis("layers", depth)
        stack = nn.Stacked.init(Layers, Block)(key=jax.random.key(depth))
        layers = stack.unstacked()

        def unrolled(layers, x):
            for layer in layers:
                x = layer(x)
            return x

        t_fold = compile_time(lambda s, x: s.fold(x), stack, x)
        t_loop = compile_time(unrolled, layers, x)
        rows.append((depth, t_fold * 1e3, t_loop * 1e3))
    base_fold, base_loop = rows[0][1], rows[0][2]
    rows = [(d, f, f / base_fold, u, u / base_loop) for d, f, u in rows]
    print_table(
        "Compile time (lower + compile) of a residual MLP stack",
        ("depth", "Stacked.fold ms", "vs depth 4", "unrolled ms", "vs depth 4"),
        rows,
    )
