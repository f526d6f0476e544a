"""HLO facts of the FSDP + TP train step: namedax.nn against the hand-sharded raw-JAX twin.

The benchmark model (`benchmarks/sharded_step.py`) at tiny sizes, compiled (and run
once, for the loss) on the `data:4 x model:2` mesh of 8 simulated CPU devices. The
collective bytes are read from the optimised HLO, so they are deterministic.

Margin: namedax's step may move at most `MARGIN` (2%) more collective bytes than the
twin's. Both programs compute the same math from the same parameters, and at these
sizes they compile to the same collectives; the margin only absorbs XLA grouping a
handful of small (bias- or scalar-sized) reductions of the loss and the optimiser
differently, which shifts a few hundred bytes either way, never an activation.
"""

from __future__ import annotations

import math

import pytest

from benchmarks import sharded_step as bench

MARGIN = 0.02
CFG = bench.Config(batch=8, pos=16, embed=32, mlp=64, heads=4, head_dim=8, vocab=64, layers=2)


@pytest.fixture(scope="module")
def steps():
    cache: dict[tuple[str, str, str], bench.Compiled] = {}

    def get(variant: str, side: str, kind: str = "auto") -> bench.Compiled:
        key = (variant, side, kind)
        if key not in cache:
            cache[key] = bench.compile_step(CFG, variant, side, kind)
        return cache[key]

    return get


def _activation_all_reduces(step: bench.Compiled) -> list:
    """All-reduces with an array at least as large as one device's residual-stream shard."""
    shard = CFG.batch // 4 * CFG.pos * CFG.embed
    return [
        shapes
        for kind, shapes in bench.collective_instructions(step.hlo)
        if kind == "all-reduce" and any(math.prod(dims) >= shard for _, dims in shapes)
    ]


@pytest.mark.parametrize("variant", ["unstacked", "stacked"])
def test_fsdp_tp_step_moves_no_more_bytes_than_the_twin(steps, variant):
    ours, twin = steps(variant, "namedax"), steps(variant, "twin")
    assert twin.collective_bytes > 0  # the step is really partitioned
    assert ours.collective_bytes <= twin.collective_bytes * (1 + MARGIN), (
        ours.collectives,
        twin.collectives,
    )


@pytest.mark.parametrize("variant", ["unstacked", "stacked"])
def test_no_all_reduce_of_a_full_activation_where_the_twin_has_none(steps, variant):
    ours, twin = steps(variant, "namedax"), steps(variant, "twin")
    assert len(_activation_all_reduces(ours)) <= len(_activation_all_reduces(twin))


def test_explicit_mesh_step_runs_matches_and_moves_no_more_than_the_twin(steps):
    ours, twin = steps("unstacked", "namedax", "explicit"), steps("unstacked", "twin")
    assert bench.losses_agree(ours, twin) < 1e-5
    assert ours.collective_bytes <= twin.collective_bytes * (1 + MARGIN)
    assert len(_activation_all_reduces(ours)) <= len(_activation_all_reduces(twin))


def test_the_twin_computes_the_same_loss(steps):
    assert bench.losses_agree(steps("stacked", "namedax"), steps("stacked", "twin")) < 1e-5


def test_collective_parsing_reads_kinds_shapes_and_async_results():
    hlo = "\n".join(
        [
            "  %ar = f32[2,16,32]{2,1,0} all-reduce(f32[2,16,32]{2,1,0} %x), to_apply=%add",
            "  ROOT %ag = (f32[4]{0}, bf16[8,2]{1,0}) all-gather(%a, %b), dimensions={0}",
            "  %s = (f32[4]{0}, f32[16]{0}) all-gather-start(f32[4]{0} %y), dimensions={0}",
            "  %d = f32[16]{0} all-gather-done(%s)",
            "  %n = f32[3]{0} add(%p, %q)",
        ]
    )
    assert bench.collective_instructions(hlo) == [
        ("all-reduce", [("f32", (2, 16, 32))]),
        ("all-gather", [("f32", (4,)), ("bf16", (8, 2))]),
        ("all-gather", [("f32", (16,))]),
    ]
    counts = bench.count_collectives(hlo)
    assert counts["all-reduce"] == (1, 4 * 2 * 16 * 32)
    assert counts["all-gather"] == (2, 4 * 4 + 2 * 16 + 4 * 16)
    assert counts["reduce-scatter"] == (0, 0)
