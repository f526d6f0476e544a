"""Pipeline-parallel `Stacked`: `Pipeline.fold`/`scan` over a `stage` x `data` mesh of 8 devices.

Every result is compared with the plain (non-pipelined) `Stacked.fold`/`scan` on one
device: values and gradients, with data, FSDP and tensor mappings on the other mesh
axis and with the remat policies. The compiled HLO is checked for the collectives a
pipeline must (collective permutes) and must not (gathering layer weights) contain.
"""

from __future__ import annotations

import re
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType

import namedax as nx
from namedax import nn
from tests.helpers import tree_allclose

Batch, Embed, Hidden = nx.Axis("batch", 16), nx.Axis("embed", 8), nx.Axis("hidden", 16)
Layers = nx.Axis("layers", 8)
AUTO = (AxisType.Auto, AxisType.Auto)


def mesh(stages: int = 4) -> jax.sharding.Mesh:
    return jax.make_mesh((stages, 8 // stages), ("stage", "data"), axis_types=AUTO)


class Residual(eqx.Module):
    """`x + down(tanh(up(norm(x))))`: treats examples independently, as a pipeline needs."""

    norm: nn.LayerNorm
    up: nn.Linear
    down: nn.Linear

    @classmethod
    def init(cls, *, key) -> Residual:
        k1, k2 = jax.random.split(key)
        return cls(
            nn.LayerNorm.init(Embed),
            nn.Linear.init(Embed, Hidden, key=k1),
            nn.Linear.init(Hidden, Embed, key=k2),
        )

    def __call__(self, x, scale=None):
        h = self.down(nn.tanh(self.up(self.norm(x))))
        x = x + (h if scale is None else h * scale)
        return nx.partitioning.auto_sharded(x)


class WithOutput(Residual):
    def __call__(self, x, scale=None):
        y = super().__call__(x, scale)
        return y, (y * y).sum("embed")  # a per-example output of every layer


def stack(block=Residual, Layers=Layers, **kw) -> nn.Stacked:
    return nn.Stacked.init(Layers, block, **kw)(key=jax.random.key(0))


def batch(*axes: nx.Axis) -> nx.NamedArray:
    axes = axes or (Batch, Embed)
    return nx.named(jax.random.normal(jax.random.key(1), tuple(a.size for a in axes)), axes)


def loss_of(apply):
    return lambda s, x: (apply(s, x) ** 2).sum().scalar()


def value_and_grad(apply, s, x):
    return eqx.filter_jit(eqx.filter_value_and_grad(loss_of(apply)))(s, x)


def hlo(apply, s, x) -> str:
    params, static = eqx.partition(s, eqx.is_array)
    fn = lambda p, x: eqx.filter_grad(loss_of(apply))(eqx.combine(p, static), x)
    text = jax.jit(fn).lower(params, x).compile().as_text()
    assert text is not None
    return text


def count(text: str, op: str) -> int:
    return len(re.findall(rf"= \S+ {op}(?:-start)?\(", text))


PARAMS = {"layers": "stage"}
COMPUTE = {"batch": "data"}


def run_pipelined(s, x, microbatches, parameter_mapping=PARAMS, compute=COMPUTE, stages=4):
    pipe = nn.Pipeline(mesh_axis="stage", microbatches=microbatches, batch="batch")
    with jax.set_mesh(mesh(stages)), nx.axis_mapping(compute):
        s = nx.shard(s, {**parameter_mapping, **compute})
        x = nx.shard(x, compute)
        return value_and_grad(pipe.fold, s, x)


# --- values and gradients --------------------------------------------------------------------


@pytest.mark.parametrize(("stages", "microbatches"), [(4, 1), (4, 4), (2, 4), (8, 2)])
def test_fold_equals_plain_fold_values_and_gradients(stages, microbatches):
    s, x = stack(), batch()
    expected = value_and_grad(lambda s, x: s.fold(x), s, x)
    got = run_pipelined(s, x, microbatches, stages=stages)
    assert np.allclose(got[0], expected[0], rtol=1e-5)
    assert tree_allclose(got[1], expected[1], rtol=1e-4, atol=1e-5)


def test_fold_with_batch_not_first_and_extra_arguments():
    # The batch axis in the middle, a per-layer argument (sliced per layer and stage) and a
    # per-example argument (cut into microbatches with the carry).
    x = batch(Embed, Batch)
    scale = nx.named(
        jnp.linspace(0.5, 1.5, Layers.size * Batch.size).reshape(8, 16), (Layers, Batch)
    )
    s = stack()
    pipe = nn.Pipeline(microbatches=4)
    expected = s.fold(x, scale)
    with jax.set_mesh(mesh()):
        got = jax.jit(pipe.fold)(nx.shard(s, PARAMS), x, scale)
    assert got.axes == expected.axes
    np.testing.assert_allclose(got.array, expected.array, rtol=1e-5, atol=1e-5)
    per_example = nx.named(jnp.linspace(0.5, 1.5, 16), (Batch,))
    with jax.set_mesh(mesh()):
        got = jax.jit(pipe.fold)(nx.shard(s, PARAMS), x, scale=per_example)
    expected = s.fold(x, scale=per_example)
    np.testing.assert_allclose(got.array, expected.array, rtol=1e-5, atol=1e-5)


def test_scan_equals_plain_scan():
    s, x = stack(WithOutput), batch()
    pipe = nn.Pipeline(microbatches=2)
    carry0, outs0 = s.scan(x)
    with jax.set_mesh(mesh()):
        carry, outs = jax.jit(pipe.scan)(nx.shard(s, PARAMS), x)
    assert outs.axes == outs0.axes == (Layers, Batch)
    np.testing.assert_allclose(carry.array, carry0.array, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outs.array, outs0.array, rtol=1e-5, atol=1e-4)
    grad = lambda f: jax.grad(lambda s: f(s)[1].sum().scalar())(s)
    with jax.set_mesh(mesh()):
        g = jax.jit(lambda s: grad(lambda t: pipe.scan(t, x)))(nx.shard(s, PARAMS))
    assert tree_allclose(g, grad(lambda t: t.scan(x)), rtol=1e-4, atol=1e-4)


def test_stacked_fold_pipeline_keyword_delegates():
    s, x = stack(), batch()
    pipe = nn.Pipeline(microbatches=2)
    with jax.set_mesh(mesh()):
        got = jax.jit(lambda s, x: s.fold(x, pipeline=pipe))(nx.shard(s, PARAMS), x)
    np.testing.assert_allclose(got.array, s.fold(x).array, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("remat", [True, "nested", "save_all"])
def test_fold_composes_with_remat_policies(remat):
    s, x = stack(gradient_checkpointing=remat), batch()
    expected = value_and_grad(lambda s, x: s.fold(x), s, x)
    got = run_pipelined(s, x, 2)
    assert tree_allclose(got[1], expected[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "parameter_mapping",
    [{"layers": "stage", "embed": "data"}, {"layers": "stage", "hidden": "data"}],
    ids=["fsdp", "tensor"],
)
def test_fold_composes_with_fsdp_and_tensor_mapping(parameter_mapping):
    s, x = stack(), batch()
    expected = value_and_grad(lambda s, x: s.fold(x), s, x)
    got = run_pipelined(s, x, 4, parameter_mapping)
    assert np.allclose(got[0], expected[0], rtol=1e-5)
    assert tree_allclose(got[1], expected[1], rtol=1e-4, atol=1e-5)
    up = got[1].stacked.up.weight  # gradients come out split like the weights
    assert up.array.sharding.spec[up.axis_names.index("layers")] == "stage"


# --- where the weights live, what the compiled code does --------------------------------------


def test_each_device_holds_one_stage_of_the_parameters():
    s = stack()
    with jax.set_mesh(mesh()):
        sharded = nx.shard(s, PARAMS)
    leaves = jax.tree_util.tree_leaves(eqx.filter(sharded, eqx.is_array))
    total = sum(leaf.nbytes for leaf in leaves)
    for device in jax.devices():
        held = sum(
            shard.data.nbytes
            for leaf in leaves
            for shard in leaf.addressable_shards
            if shard.device == device
        )
        assert held * 4 == total


def test_compiled_step_permutes_activations_and_never_gathers_weights():
    s, x = stack(), batch()
    pipe = nn.Pipeline(microbatches=4)
    with jax.set_mesh(mesh()), nx.axis_mapping(COMPUTE):
        text = hlo(pipe.fold, nx.shard(s, PARAMS), nx.shard(x, COMPUTE))
        plain = hlo(lambda s, x: s.fold(x), nx.shard(s, PARAMS), nx.shard(x, COMPUTE))
    assert count(text, "collective-permute") >= 2  # forward and backward shifts
    assert count(text, "all-gather") == 0
    assert count(plain, "all-gather") > 0  # the plain fold gathers the stage-split weights
    assert count(plain, "collective-permute") == 0


def test_schedule_is_gpipe_and_bubble_matches_formula():
    pipe = nn.Pipeline(microbatches=6)
    table = pipe.schedule(stages=4)
    assert table.shape == (9, 4)
    for stage in range(4):  # every stage sees every microbatch once, in order
        assert list(table[table[:, stage] >= 0, stage]) == list(range(6))
    assert np.mean(table < 0) == pytest.approx(pipe.bubble_fraction(4)) == pytest.approx(3 / 9)


# --- errors ------------------------------------------------------------------------------------


def test_depth_not_divisible_by_stages():
    s = stack(Layers=nx.Axis("layers", 6))
    with (
        jax.set_mesh(mesh()),
        pytest.raises(
            ValueError,
            match=r"layers\(6\) layers \(6 layers\) cannot be split evenly over 4 stages",
        ),
    ):
        nn.Pipeline(microbatches=2).fold(s, batch())


def pattern_stack(Layers: nx.Axis) -> nn.Stacked:
    return nn.Stacked.init(Layers, nn.Pattern(Residual, WithScale))(key=jax.random.key(0))


class WithScale(Residual):
    def __call__(self, x, scale=None):
        return super().__call__(x, 0.5)


def test_pattern_depth_counts_repeats_not_layers():
    # 8 layers of a 2-block pattern are 4 repeats: 4 stages hold one repeat each, 8 cannot.
    s, x = pattern_stack(Layers), batch()
    expected = value_and_grad(lambda s, x: s.fold(x), s, x)
    got = run_pipelined(s, x, 2, stages=4)
    assert np.allclose(got[0], expected[0], rtol=1e-5)
    assert tree_allclose(got[1], expected[1], rtol=1e-4, atol=1e-5)
    message = r"layers\(8\) layers \(4 repeats of its 2-block pattern\) cannot be split.* 8 stages"
    with jax.set_mesh(mesh(8)), pytest.raises(ValueError, match=message):
        nn.Pipeline(microbatches=2).fold(s, x)


def test_batch_not_divisible_by_microbatches():
    with jax.set_mesh(mesh()), pytest.raises(ValueError, match=r"batch:16.*3 equal microbatches"):
        nn.Pipeline(microbatches=3).fold(stack(), batch())


def test_missing_mesh_axis():
    other = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
    with jax.set_mesh(other), pytest.raises(ValueError, match=r"no axis 'stage'.*\['data'\]"):
        nn.Pipeline(microbatches=2).fold(stack(), batch())


def test_missing_batch_axis_and_bad_arguments():
    with jax.set_mesh(mesh()):
        with pytest.raises(ValueError, match=r"carry \{embed:8\} has no batch axis 'batch'"):
            nn.Pipeline(microbatches=2).fold(stack(), batch(Embed))
        with pytest.raises(TypeError, match=r"expected a namedax\.nn\.Stacked"):
            not_a_stack: Any = nn.Linear.init(Embed, Embed, key=jax.random.key(0))
            nn.Pipeline(microbatches=2).fold(not_a_stack, batch())
        with pytest.raises(ValueError, match=r"output.*batch axis"):
            nn.Pipeline(microbatches=2).scan(stack(_ScalarOut), batch())
    with pytest.raises(ValueError, match="microbatches must be >= 1"):
        nn.Pipeline(microbatches=0)
    with pytest.raises(TypeError, match="microbatches must be an int"):
        nn.Pipeline(microbatches=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no device mesh"):
        nn.Pipeline(microbatches=2).fold(stack(), batch())


class _ScalarOut(Residual):
    def __call__(self, x, scale=None):
        y = super().__call__(x, scale)
        return y, (y * y).sum()  # not per example: cannot be reassembled


class Noisy(eqx.Module):
    """A layer whose output shows its dropout mask: `x + mask` (dropout of ones)."""

    lin: nn.Linear

    @classmethod
    def init(cls, *, key) -> Noisy:
        return cls(nn.Linear.init(Embed, Embed, key=key))

    def __call__(self, x, *, key):
        mask = nn.dropout(nx.ones_like(x), 0.5, inference=False, key=key)
        return self.lin(x) * 0.1 + mask


def _noisy_stack() -> Any:
    stack = nn.Stacked.init(Layers, Noisy)(key=jax.random.key(3))
    with jax.set_mesh(mesh()):
        return nx.shard(stack, {"layers": "stage"})


def test_one_microbatch_with_a_key_is_exactly_the_plain_fold():
    stack, x, key = _noisy_stack(), nx.ones((Batch, Embed)), jax.random.key(5)
    pipe = nn.Pipeline(microbatches=1, mesh=mesh())
    got = pipe.fold(stack, x, key=key)
    assert tree_allclose(got, stack.fold(x, key=key), atol=1e-5)


def test_each_microbatch_draws_its_own_key_stream_split_per_layer():
    stack, x, key, m = _noisy_stack(), nx.ones((Batch, Embed)), jax.random.key(5), 4
    got = nn.Pipeline(microbatches=m, mesh=mesh()).fold(stack, x, key=key)
    layer_keys = jax.random.split(key, Layers.size)  # as the plain fold splits one key
    for j in range(m):
        # microbatch j holds the examples j, j+m, ...; its layer i draws split(key_i, m)[j]
        keys = jax.vmap(lambda k, j=j: jax.random.split(k, m)[j])(layer_keys)
        want = stack.fold(x["batch", j::m], key=keys)
        assert tree_allclose(got["batch", j::m], want, atol=1e-5)
    # no two microbatches share masks
    first, second = got["batch", 0::m].array, got["batch", 1::m].array
    assert not np.allclose(first, second)


def test_pre_split_per_layer_keys_follow_the_same_rule():
    stack, x, key, m = _noisy_stack(), nx.ones((Batch, Embed)), jax.random.key(5), 2
    layer_keys = jax.random.split(key, Layers.size)
    pipe = nn.Pipeline(microbatches=m, mesh=mesh())
    assert tree_allclose(pipe.fold(stack, x, key=layer_keys), pipe.fold(stack, x, key=key))


def test_a_batch_axis_of_another_size_is_refused():
    stack, x = _noisy_stack(), nx.ones((Batch, Embed))
    pipe = nn.Pipeline(microbatches=2, batch=nx.Axis("batch", 99), mesh=mesh())
    with pytest.raises(
        ValueError, match=r"has batch:16, but the pipeline was given batch=batch\(99\)"
    ):
        pipe.fold(stack, x, key=jax.random.key(0))


def test_argument_errors_name_the_whole_stack_not_a_stage():
    stack, x = _noisy_stack(), nx.ones((Batch, Embed))
    pipe = nn.Pipeline(microbatches=2, mesh=mesh())
    with pytest.raises(ValueError, match=r"must then have size 8 for layers\(8\)"):
        pipe.fold(stack, x, key=jax.random.split(jax.random.key(0), 2))
