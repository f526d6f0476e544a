"""Pipeline-parallel `Stacked`: the schedule's bubble and the step time against a plain fold.

A residual MLP stack of 8 layers runs on a `stage:4 x data:2` mesh of simulated CPU
devices (`XLA_FLAGS=--xla_force_host_platform_device_count=8`), one jitted training
step (loss and gradients) per call, the batch fixed and cut into `M` microbatches.

The bubble is read from the schedule the compiled loop follows (`Pipeline.schedule`:
which microbatch each stage holds at each tick): the idle share of its stage-ticks,
set beside `(S-1)/(M+S-1)`. The step time is compared with the plain fold of the same
stack on the same mesh (which gathers the stage-split weights to every device).
Simulated devices share the host's cores, so these step times show the cost of the
schedule's extra ticks and permutes, not the parallel speed-up real devices give.
"""

from __future__ import annotations

import statistics
import time

import equinox as eqx
import jax
import numpy as np
from jax.sharding import AxisType

import namedax as nx
from namedax import nn

from ._timing import print_table

Embed, Hidden, Batch = nx.Axis("embed", 128), nx.Axis("hidden", 512), nx.Axis("batch", 64)
Layers = nx.Axis("layers", 8)
STAGES = 4


class Block(eqx.Module):
    """A residual MLP block; examples are independent, as a microbatched schedule needs."""

    up: nn.Linear
    down: nn.Linear

    @staticmethod
    def init(*, key):
        k1, k2 = jax.random.split(key)
        return Block(nn.Linear.init(Embed, Hidden, key=k1), nn.Linear.init(Hidden, Embed, key=k2))

    def __call__(self, x):
        return x + self.down(nn.tanh(self.up(x)))


def step_time(apply, mesh, parameter_mapping, compute_mapping) -> float:
    """Median seconds of one jitted loss-and-gradient step of `apply(stack, x)`."""
    stack = nn.Stacked.init(Layers, Block)(key=jax.random.key(0))
    x = nx.named(jax.random.normal(jax.random.key(1), (Batch.size, Embed.size)), (Batch, Embed))
    loss = lambda s, x: (apply(s, x) ** 2).mean().scalar()
    with jax.set_mesh(mesh), nx.axis_mapping(compute_mapping):
        stack = nx.shard(stack, {**parameter_mapping, **compute_mapping})
        x = nx.shard(x, compute_mapping)
        step = eqx.filter_jit(eqx.filter_value_and_grad(loss))
        return median_time(lambda: step(stack, x))


def median_time(fn, calls: int = 15) -> float:
    """Median seconds of `fn()` (blocked on) after one warm-up call (which compiles)."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    if jax.device_count() < 8:
        print(
            "\n(pipeline benchmark skipped: it needs 8 devices; run with "
            "XLA_FLAGS=--xla_force_host_platform_device_count=8)"
        )
        return
    auto = (AxisType.Auto,) * 2
    staged = jax.make_mesh((STAGES, 2), ("stage", "data"), axis_types=auto)
    params, compute = {"layers": "stage"}, {"batch": "data"}
    plain = step_time(lambda s, x: s.fold(x), staged, params, compute)
    rows = []
    for m in (1, 2, 4, 8, 16):
        pipe = nn.Pipeline(mesh_axis="stage", microbatches=m, batch="batch")
        idle = float(np.mean(pipe.schedule(STAGES) < 0))
        t = step_time(pipe.fold, staged, params, compute)
        rows.append((m, pipe.bubble_fraction(STAGES), idle, t * 1e3, t / plain))
    print_table(
        f"Pipeline over {STAGES} stages, {Layers.size} layers, batch {Batch.size}: bubble and "
        f"training-step time (plain fold: {plain * 1e3:.3g} ms)",
        ("microbatches M", "(S-1)/(M+S-1)", "idle share of schedule", "step ms", "vs plain fold"),
        rows,
    )


if __name__ == "__main__":
    main()
