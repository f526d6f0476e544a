"""namedax's sharding compiles to the collectives of the same sharding written by hand.

One training step (loss and gradients) of a two-layer MLP is written twice: with
NamedArrays, axis mappings and `fsdp` / `named_jit`, and with plain arrays, positional
`PartitionSpec`s, `jax.jit(in_shardings=, out_shardings=)` and
`with_sharding_constraint`. Both are compiled on 8 simulated devices and the optimised
HLO must hold the same collectives (kind and count) moving the same number of bytes;
the values and gradients must agree too.
"""

from __future__ import annotations

import collections
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

import namedax as nx

Batch, Inp, Embed, Out = (
    nx.Axis("batch", 32),
    nx.Axis("inp", 16),
    nx.Axis("embed", 64),
    nx.Axis("out", 16),
)

COLLECTIVES = ("all-gather", "all-reduce", "reduce-scatter", "collective-permute", "all-to-all")
_OP = re.compile(r"=\s+(.+?)\s+(" + "|".join(COLLECTIVES) + r")(-start)?\(")
_SHAPE = re.compile(r"\b(pred|[subf]\d+|bf16)\[([\d,]*)\]")
_BYTES = {"pred": 1, "bf16": 2}


def _itemsize(dtype: str) -> int:
    return _BYTES[dtype] if dtype in _BYTES else int(dtype[1:]) // 8


def collectives(hlo: str) -> dict[str, tuple[int, int]]:
    """`{kind: (count, bytes of their results)}` of the collectives in optimised HLO text."""
    found: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for result, kind, start in _OP.findall(hlo):
        shapes = _SHAPE.findall(result)
        if start:  # an async start returns (operand, result, ...): count the result only
            shapes = shapes[1:2]
        size = sum(
            _itemsize(dt) * int(np.prod([int(d) for d in dims.split(",") if d]))
            for dt, dims in shapes
        )
        found[kind][0] += 1
        found[kind][1] += size
    return {k: (c, b) for k, (c, b) in found.items()}


def mesh(shape: tuple[int, ...], names: tuple[str, ...]) -> jax.sharding.Mesh:
    return jax.make_mesh(shape, names, axis_types=(AxisType.Auto,) * len(names))


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k1, (Batch.size, Inp.size))
    w1 = jax.random.normal(k2, (Inp.size, Embed.size)) / 4
    w2 = jax.random.normal(k3, (Embed.size, Out.size)) / 8
    return np.asarray(x), np.asarray(w1), np.asarray(w2)


# --- the step, with names -----------------------------------------------------------------


def named_loss(params: dict[str, nx.NamedArray], x: nx.NamedArray) -> jax.Array:
    x = nx.shard(x)  # the compute mapping in force places the batch
    h = nx.shard(nx.tanh(nx.dot(x, params["w1"], axis=Inp)))
    y = nx.dot(h, params["w2"], axis=Embed)
    return (y * y).mean().scalar()


def named_step(params, x):
    return jax.value_and_grad(named_loss)(params, x)


def named_inputs():
    x, w1, w2 = data()
    params = {"w1": nx.named(w1, (Inp, Embed)), "w2": nx.named(w2, (Embed, Out))}
    return params, nx.named(x, (Batch, Inp))


# --- the step, by hand ----------------------------------------------------------------------


def hand_step(compute_x: P, compute_h: P):
    def loss(params, x):
        x = jax.lax.with_sharding_constraint(x, compute_x)
        h = jax.lax.with_sharding_constraint(jnp.tanh(x @ params["w1"]), compute_h)
        y = h @ params["w2"]
        return (y * y).mean()

    return lambda params, x: jax.value_and_grad(loss)(params, x)


def compiled(fn, *args) -> str:
    text = fn.lower(*args).compile().as_text()
    assert text is not None
    return text


def compare(named_hlo: str, hand_hlo: str, expected_kinds: set[str]) -> None:
    got, want = collectives(named_hlo), collectives(hand_hlo)
    assert got == want, f"namedax {got} != by hand {want}"
    assert set(got) >= expected_kinds, got  # the comparison is not vacuous


# --- FSDP -------------------------------------------------------------------------------------


def test_fsdp_step_has_the_collectives_of_hand_written_fsdp():
    m = mesh((8,), ("data",))
    parameter_mapping, compute_mapping = {"embed": "data"}, {"batch": "data"}
    params, x = named_inputs()
    with jax.set_mesh(m):
        params = nx.shard(params, parameter_mapping)
        step = nx.fsdp(named_step, parameter_mapping, compute_mapping)
        named_hlo = compiled(step, params, x)
        (loss, grads) = step(params, x)

        w1_spec, w2_spec = P(None, "data"), P("data", None)
        param_shardings = {"w1": NamedSharding(m, w1_spec), "w2": NamedSharding(m, w2_spec)}
        hand = jax.jit(
            hand_step(P("data", None), P("data", None)),
            in_shardings=(param_shardings, NamedSharding(m, P())),
            out_shardings=(NamedSharding(m, P()), param_shardings),
        )
        raw = {k: v.array for k, v in params.items()}
        hand_hlo = compiled(hand, raw, x.array)
        hand_loss, hand_grads = hand(raw, x.array)
    compare(named_hlo, hand_hlo, {"all-gather"})
    np.testing.assert_allclose(loss, hand_loss, rtol=1e-6)
    for k in grads:
        assert grads[k].array.sharding.is_equivalent_to(param_shardings[k], 2)
        np.testing.assert_allclose(grads[k].array, hand_grads[k], rtol=1e-5, atol=1e-7)


# --- tensor parallel -------------------------------------------------------------------------


def test_tensor_parallel_step_has_the_collectives_of_hand_written_megatron():
    # w1 column-parallel (embed split over model), w2 row-parallel; batch over data.
    m = mesh((4, 2), ("data", "model"))
    mapping = {"batch": "data", "embed": "model"}
    params, x = named_inputs()
    with jax.set_mesh(m):
        params = nx.shard(params, mapping)
        x = nx.shard(x, mapping)
        step = nx.named_jit(named_step, axis_resources=mapping)
        named_hlo = compiled(step, params, x)
        loss, grads = step(params, x)

        param_shardings = {
            "w1": NamedSharding(m, P(None, "model")),
            "w2": NamedSharding(m, P("model", None)),
        }
        hand = jax.jit(
            hand_step(P("data", None), P("data", "model")),
            in_shardings=(param_shardings, NamedSharding(m, P("data", None))),
            out_shardings=(NamedSharding(m, P()), param_shardings),
        )
        raw = {k: v.array for k, v in params.items()}
        hand_hlo = compiled(hand, raw, x.array)
        hand_loss, hand_grads = hand(raw, x.array)
    compare(named_hlo, hand_hlo, {"all-reduce"})
    np.testing.assert_allclose(loss, hand_loss, rtol=1e-6)
    for k in grads:
        assert grads[k].array.sharding.is_equivalent_to(param_shardings[k], 2)
        np.testing.assert_allclose(grads[k].array, hand_grads[k], rtol=1e-5, atol=1e-7)


# --- the HLO reader itself -------------------------------------------------------------------


def test_collectives_reader_counts_kinds_and_result_bytes():
    hlo = """
      %ag = f32[8,64]{1,0} all-gather(f32[1,64]{1,0} %p), dimensions={0}
      %ar = (f32[4]{0}, bf16[2,2]{1,0}) all-reduce(f32[4]{0} %a, bf16[2,2]{1,0} %b), to_apply=%sum
      %ags = (f32[1,64]{1,0}, f32[8,64]{1,0}) all-gather-start(f32[1,64]{1,0} %q)
      %cp = s32[3]{0} collective-permute(s32[3]{0} %c), source_target_pairs={{0,1}}
      %add = f32[4]{0} add(f32[4]{0} %a, f32[4]{0} %a)
    """
    assert collectives(hlo) == {
        "all-gather": (2, 2 * 8 * 64 * 4),
        "all-reduce": (1, 4 * 4 + 4 * 2),
        "collective-permute": (1, 12),
    }


@pytest.mark.parametrize("kind", COLLECTIVES)
def test_collectives_reader_sees_every_kind(kind):
    assert collectives(f"%x = f32[2]{{0}} {kind}(f32[2]{{0}} %y)") == {kind: (1, 8)}
