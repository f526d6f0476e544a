"""A sharded train step of a Llama-style model: namedax.nn against a hand-sharded raw-JAX twin.

The model (token embedding, `Layers` blocks of RMSNorm + multi-head causal attention
+ RMSNorm + SwiGLU MLP, final norm, LM head) is written once with `namedax.nn`, in
three variants: `unstacked` (a Python loop over blocks), `stacked` (`nn.Stacked`, one
scanned block) and `moe` (unstacked, the MLP replaced by top-1 routed experts with
`nn.MoELinear`). The step is loss, gradients and an AdamW update, on 8 simulated CPU
devices (`XLA_FLAGS=--xla_force_host_platform_device_count=8`) in a `data:4 x
model:2` mesh: parameters FSDP over `data` (`embed -> data`) and tensor-parallel over
`model` (`mlp`, `heads`, `experts_mlp -> model`), activations batch-parallel
(`batch -> data`). namedax runs it under the compute mapping; its layers constrain
their outputs by name and nothing else is annotated.

The twin is the same math on positional arrays, written by hand as a careful JAX user
would shard it: the same parameter placement, and `with_sharding_constraint` on the
residual stream, q/k/v, the attention output, the MLP hidden and the logits. It
starts from the very same parameter values, so the two losses agree.

For each compiled step the benchmark reads from the optimised HLO the collectives
(all-reduce, all-gather, reduce-scatter, all-to-all, collective-permute) and the bytes
of their results (per device: the shapes are the partitioned ones; a scanned body
counts once, as in the twin's scan), `compiled.memory_analysis()`'s temp bytes, and
times the step (median of several calls; simulated devices share the host's cores,
so the time ratio is what compares, not the times).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

import namedax as nx
from namedax import nn

from ._timing import print_table

COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")
PARAMETER_MAPPING = {"embed": "data", "mlp": "model", "heads": "model", "experts_mlp": "model"}
COMPUTE_MAPPING = {"batch": "data", "mlp": "model", "heads": "model", "experts_mlp": "model"}
VARIANTS = ("unstacked", "stacked", "moe")


@dataclasses.dataclass(frozen=True)
class Config:
    """The model's sizes; the axes are built from them."""

    batch: int = 32
    pos: int = 128
    embed: int = 256
    mlp: int = 512
    heads: int = 8
    head_dim: int = 32
    vocab: int = 512
    layers: int = 4
    experts: int = 4

    def __getattr__(self, name: str) -> nx.Axis:  # Batch, Pos, ... as axes
        sizes = {
            "Batch": ("batch", self.batch),
            "Pos": ("position", self.pos),
            "KPos": ("key_position", self.pos),
            "Embed": ("embed", self.embed),
            "Mlp": ("mlp", self.mlp),
            "ExpertMlp": ("experts_mlp", self.mlp // 2),
            "Heads": ("heads", self.heads),
            "HeadDim": ("head_dim", self.head_dim),
            "Vocab": ("vocab", self.vocab),
            "Layers": ("layers", self.layers),
            "Experts": ("experts", self.experts),
            "Token": ("token", self.batch * self.pos),
        }
        if name not in sizes:
            raise AttributeError(name)
        return nx.Axis(*sizes[name])


# --- the model, with namedax.nn ------------------------------------------------------------


class Attention(eqx.Module):
    """Multi-head causal self-attention: q/k/v/o projections over `(heads, head_dim)`."""

    q: nn.Linear
    k: nn.Linear
    v: nn.Linear
    o: nn.Linear
    cfg: Config = eqx.field(static=True)

    @staticmethod
    def init(cfg: Config, *, key: Any) -> Attention:
        c, ks = cfg, jax.random.split(key, 4)
        qkv = [nn.Linear.init(c.Embed, (c.Heads, c.HeadDim), key=k, use_bias=False) for k in ks[:3]]
        o = nn.Linear.init((c.Heads, c.HeadDim), c.Embed, key=ks[3], use_bias=False)
        return Attention(*qkv, o, cfg)

    def __call__(self, x: nx.NamedArray, mask: nx.NamedArray) -> nx.NamedArray:
        c = self.cfg
        k = self.k(x).rename({"position": "key_position"})
        v = self.v(x).rename({"position": "key_position"})
        out = nn.attention.dot_product_attention(c.KPos, c.HeadDim, self.q(x), k, v, mask=mask)
        return self.o(out)


class SwiGLU(eqx.Module):
    """`down(silu(gate(x)) * up(x))`."""

    gate: nn.Linear
    up: nn.Linear
    down: nn.Linear

    @staticmethod
    def init(cfg: Config, *, key: Any) -> SwiGLU:
        k1, k2, k3 = jax.random.split(key, 3)
        return SwiGLU(
            nn.Linear.init(cfg.Embed, cfg.Mlp, key=k1, use_bias=False),
            nn.Linear.init(cfg.Embed, cfg.Mlp, key=k2, use_bias=False),
            nn.Linear.init(cfg.Mlp, cfg.Embed, key=k3, use_bias=False),
        )

    def __call__(self, x: nx.NamedArray) -> nx.NamedArray:
        return self.down(nn.silu(self.gate(x)) * self.up(x))


class MoE(eqx.Module):
    """Top-1 routed SwiGLU experts: tokens sorted by expert, `MoELinear` per run."""

    router: nn.Linear
    gate: nn.MoELinear
    up: nn.MoELinear
    down: nn.MoELinear
    cfg: Config = eqx.field(static=True)

    @staticmethod
    def init(cfg: Config, *, key: Any) -> MoE:
        c, ks = cfg, jax.random.split(key, 4)
        return MoE(
            nn.Linear.init(c.Embed, c.Experts, key=ks[0], use_bias=False),
            nn.MoELinear.init(c.Experts, c.Embed, c.ExpertMlp, key=ks[1], use_bias=False),
            nn.MoELinear.init(c.Experts, c.Embed, c.ExpertMlp, key=ks[2], use_bias=False),
            nn.MoELinear.init(c.Experts, c.ExpertMlp, c.Embed, key=ks[3], use_bias=False),
            cfg,
        )

    def __call__(self, x: nx.NamedArray) -> nx.NamedArray:
        c = self.cfg
        tokens = x.flatten_axes(("batch", "position"), c.Token)
        probs = nn.softmax(self.router(tokens), axis="experts")
        expert = probs.argmax("experts")
        order = nx.named(jnp.argsort(expert.array), c.Token)
        sizes = nx.named(jnp.bincount(expert.array, length=c.experts), c.Experts)
        xs = tokens.take("token", order)
        h = nn.silu(self.gate(xs, sizes)) * self.up(xs, sizes)
        out = self.down(h, sizes) * probs.max("experts").take("token", order)
        back = nx.named(jnp.argsort(order.array), c.Token)
        return out.take("token", back).unflatten_axis("token", (c.Batch, c.Pos))


class Block(eqx.Module):
    """Pre-norm transformer block: `x + attn(norm(x))`, then `x + mlp(norm(x))`."""

    ln1: nn.RmsNorm
    attn: Attention
    ln2: nn.RmsNorm
    mlp: SwiGLU | MoE

    @staticmethod
    def init(cfg: Config, moe: bool = False, *, key: Any) -> Block:
        k1, k2 = jax.random.split(key)
        norm = functools.partial(nn.RmsNorm.init, cfg.Embed, use_bias=False)
        mlp = MoE.init(cfg, key=k2) if moe else SwiGLU.init(cfg, key=k2)
        return Block(norm(), Attention.init(cfg, key=k1), norm(), mlp)

    def __call__(self, x: nx.NamedArray, mask: nx.NamedArray) -> nx.NamedArray:
        x = x + self.attn(self.ln1(x), mask)
        return x + self.mlp(self.ln2(x))


class Llama(eqx.Module):
    """Embedding, the blocks (a tuple, or `nn.Stacked`), final norm and LM head."""

    embed: nn.Embedding
    blocks: Any
    norm: nn.RmsNorm
    head: nn.Linear
    cfg: Config = eqx.field(static=True)

    @staticmethod
    def init(cfg: Config, variant: str, *, key: Any) -> Llama:
        c, (k1, k2, k3) = cfg, jax.random.split(key, 3)
        if variant == "stacked":
            blocks: Any = nn.Stacked.init(c.Layers, Block)(cfg, key=k2)
        else:
            keys = jax.random.split(k2, c.layers)
            blocks = tuple(Block.init(cfg, variant == "moe", key=k) for k in keys)
        return Llama(
            nn.Embedding.init(c.Vocab, c.Embed, key=k1),
            blocks,
            nn.RmsNorm.init(c.Embed, use_bias=False),
            nn.Linear.init(c.Embed, c.Vocab, key=k3, use_bias=False),
            cfg,
        )

    def __call__(self, ids: nx.NamedArray) -> nx.NamedArray:
        mask = nn.attention.causal_mask(self.cfg.Pos, self.cfg.KPos)
        x = self.embed(ids)
        if isinstance(self.blocks, nn.Stacked):
            x = self.blocks.fold(x, mask)
        else:
            for block in self.blocks:
                x = block(x, mask)
        return self.head(self.norm(x))


def named_loss(model: Llama, ids: nx.NamedArray, labels: nx.NamedArray) -> jax.Array:
    """Mean next-token cross-entropy against one-hot targets (as Levanter computes it)."""
    targets = nn.one_hot(labels, model.cfg.Vocab)
    return nn.cross_entropy_loss(model(ids), "vocab", targets).scalar()


# --- the twin: the same math on positional arrays, sharded by hand ---------------------------


def _wsc(x: jax.Array, *spec: Any) -> jax.Array:
    return jax.lax.with_sharding_constraint(x, P(*spec))


def _rms(x: jax.Array, w: jax.Array, eps: float = 1e-5) -> jax.Array:
    var = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
    return x * jax.lax.rsqrt(var + eps) * w[None, None, :]


def _twin_attention(p: Attention, x: jax.Array, mask: jax.Array) -> jax.Array:
    heads = ("data", None, "model", None)  # batch, position, heads, head_dim
    q = _wsc(jnp.einsum("bpe,hde->bphd", x, p.q.weight.array), *heads)
    k = _wsc(jnp.einsum("bpe,hde->bphd", x, p.k.weight.array), *heads)
    v = _wsc(jnp.einsum("bpe,hde->bphd", x, p.v.weight.array), *heads)
    q = q * (1.0 / math.sqrt(q.shape[-1]))
    scores = _wsc(jnp.einsum("bqhd,bkhd->bhqk", q, k), "data", "model", None, None)
    scores = jnp.where(mask[None, None], scores, jnp.finfo(scores.dtype).min)
    weights = jax.nn.softmax(scores, axis=-1)
    out = _wsc(jnp.einsum("bhqk,bkhd->bqhd", weights, v), *heads)
    return _wsc(jnp.einsum("bqhd,ehd->bqe", out, p.o.weight.array), "data", None, None)


def _twin_swiglu(p: SwiGLU, x: jax.Array) -> jax.Array:
    gate = _wsc(jnp.einsum("bpe,me->bpm", x, p.gate.weight.array), "data", None, "model")
    up = _wsc(jnp.einsum("bpe,me->bpm", x, p.up.weight.array), "data", None, "model")
    out = jnp.einsum("bpm,em->bpe", jax.nn.silu(gate) * up, p.down.weight.array)
    return _wsc(out, "data", None, None)


def _ragged(x: jax.Array, w: jax.Array, sizes: jax.Array) -> jax.Array:
    """`x (rows, in) . w (experts, in, out)` per run of rows."""
    numbers = jax.lax.RaggedDotDimensionNumbers(
        dot_dimension_numbers=(((1,), (1,)), ((), ())),
        lhs_ragged_dimensions=(0,),
        rhs_group_dimensions=(0,),
    )
    return jax.lax.ragged_dot_general(x, w, sizes, numbers)


def _twin_moe(p: MoE, x: jax.Array) -> jax.Array:
    b, s, e = x.shape
    tokens = x.reshape(b * s, e)
    probs = jax.nn.softmax(jnp.einsum("te,xe->tx", tokens, p.router.weight.array), axis=-1)
    expert = jnp.argmax(probs, axis=-1)
    order = jnp.argsort(expert)
    sizes = jnp.bincount(expert, length=probs.shape[-1])
    xs = tokens[order]
    h = jax.nn.silu(_ragged(xs, p.gate.weight.array, sizes)) * _ragged(xs, p.up.weight.array, sizes)
    h = _wsc(h, None, "model")
    out = _ragged(h, p.down.weight.array, sizes) * jnp.max(probs, axis=-1)[order][:, None]
    return _wsc(out[jnp.argsort(order)].reshape(b, s, e), "data", None, None)


def _twin_block(p: Block, x: jax.Array, mask: jax.Array) -> jax.Array:
    x = x + _twin_attention(p.attn, _rms(x, p.ln1.weight.array), mask)
    h = _rms(x, p.ln2.weight.array)
    mlp = _twin_moe(p.mlp, h) if isinstance(p.mlp, MoE) else _twin_swiglu(p.mlp, h)
    return _wsc(x + mlp, "data", None, None)


def twin_loss(model: Llama, ids: jax.Array, labels: jax.Array) -> jax.Array:
    """`named_loss` by hand: positional einsums and hand-placed sharding constraints."""
    pos = ids.shape[1]
    mask = jnp.tril(jnp.ones((pos, pos), bool))
    x = _wsc(model.embed.weight.array[ids], "data", None, None)
    if isinstance(model.blocks, nn.Stacked):
        stacked = model.blocks.stacked

        def body(x: jax.Array, layer: Any) -> tuple[jax.Array, None]:
            return _twin_block(layer, x, mask), None

        x, _ = jax.lax.scan(body, x, _unname(stacked))
    else:
        for block in model.blocks:
            x = _twin_block(block, x, mask)
    h = _rms(x, model.norm.weight.array)
    logits = _wsc(jnp.einsum("bpe,ve->bpv", h, model.head.weight.array), "data", None, None)
    targets = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    return -jnp.mean(jnp.sum(targets * jax.nn.log_softmax(logits, axis=-1), axis=-1))


def _unname(tree: Any) -> Any:
    """The stacked block with every NamedArray's leading `layers` axis as a plain dimension.

    The scan slices the arrays; wrapping them back needs only the per-layer axes, so the
    twin reads `.array` of per-layer NamedArrays rebuilt around the slices.
    """
    return jax.tree_util.tree_map(
        lambda x: _PerLayer(x.array, x.axes[1:]) if isinstance(x, nx.NamedArray) else x,
        tree,
        is_leaf=lambda x: isinstance(x, nx.NamedArray),
    )


@jax.tree_util.register_pytree_node_class
class _PerLayer:
    """A plain array with the per-layer axes alongside (what `.array` reads in the twin)."""

    def __init__(self, array: Any, axes: Any):
        self.array, self.axes = array, axes

    def tree_flatten(self) -> tuple[tuple[Any], Any]:
        return (self.array,), self.axes

    @classmethod
    def tree_unflatten(cls, axes: Any, children: tuple[Any]) -> _PerLayer:
        return cls(children[0], axes)


# --- the step, compiled, and what its HLO moves ---------------------------------------------


def make_mesh(kind: str = "auto") -> jax.sharding.Mesh:
    """The `data:4 x model:2` mesh with Auto, Explicit or mixed (data Explicit) axes."""
    types = {
        "auto": (AxisType.Auto,) * 2,
        "explicit": (AxisType.Explicit,) * 2,
        "mixed": (AxisType.Explicit, AxisType.Auto),
    }[kind]
    return jax.make_mesh((4, 2), ("data", "model"), axis_types=types)


def _step(loss: Callable[..., jax.Array], optimizer: Any) -> Callable[..., Any]:
    def step(model: Any, opt_state: Any, ids: Any, labels: Any) -> Any:
        value, grads = jax.value_and_grad(loss)(model, ids, labels)
        updates, opt_state = optimizer.update(grads, opt_state, model)
        return value, optax.apply_updates(model, updates), opt_state

    return step


@dataclasses.dataclass
class Compiled:
    """One compiled train step, its inputs and the figures read from it."""

    name: str
    compiled: Any
    args: tuple[Any, ...]
    collectives: dict[str, tuple[int, int]]  # kind -> (count, bytes)
    temp_bytes: int
    hlo: str

    @property
    def collective_bytes(self) -> int:
        return sum(b for _, b in self.collectives.values())

    def run(self) -> Any:
        return self.compiled(*self.args)


def compile_step(
    cfg: Config, variant: str, side: str, mesh_kind: str = "auto", seed: int = 0
) -> Compiled:
    """The train step of `variant` (`"namedax"` or `"twin"` side), compiled on the mesh."""
    mesh = make_mesh(mesh_kind)
    model = Llama.init(cfg, variant, key=jax.random.key(seed))
    ids = jax.random.randint(jax.random.key(seed + 1), (cfg.batch, cfg.pos), 0, cfg.vocab)
    labels = jnp.roll(ids, -1, axis=1)
    optimizer = optax.adamw(1e-3)
    with jax.set_mesh(mesh):
        model = nx.shard(model, PARAMETER_MAPPING)
        opt_state = optimizer.init(model)
        batch = NamedSharding(mesh, P("data", None))
        ids, labels = jax.device_put((ids, labels), batch)
        if side == "namedax":
            args = (model, opt_state, nx.named(ids, (cfg.Batch, cfg.Pos)))
            args += (nx.named(labels, (cfg.Batch, cfg.Pos)),)
            with nx.axis_mapping(COMPUTE_MAPPING):
                lowered = jax.jit(_step(named_loss, optimizer)).lower(*args)
        else:
            args = (model, opt_state, ids, labels)
            lowered = jax.jit(_step(twin_loss, optimizer)).lower(*args)
        compiled = lowered.compile()
    hlo = compiled.as_text()
    temp = compiled.memory_analysis().temp_size_in_bytes
    return Compiled(f"{variant}/{side}", compiled, args, count_collectives(hlo), temp, hlo)


_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "s16": 2, "u16": 2}
_DTYPE_BYTES.update({"f32": 4, "s32": 4, "u32": 4, "f64": 8, "s64": 8, "u64": 8})
_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(?P<type>.*?)\s(?P<op>"
    + "|".join(COLLECTIVES)
    + r")(?P<start>-start)?\("
)
_SHAPE = re.compile(r"\b(?P<dtype>[a-z]+\d*)\[(?P<dims>[\d,]*)\]")


def result_shapes(type_text: str) -> list[tuple[str, tuple[int, ...]]]:
    """The `(dtype, dims)` of every array in an HLO result type (one, or a tuple)."""
    return [
        (m["dtype"], tuple(int(d) for d in m["dims"].split(",") if d))
        for m in _SHAPE.finditer(type_text)
        if m["dtype"] in _DTYPE_BYTES
    ]


def collective_instructions(hlo: str) -> list[tuple[str, list[tuple[str, tuple[int, ...]]]]]:
    """Every collective of an HLO module: its kind and result shapes (async starts once).

    An async `-start` returns `(operands, results, ...)`; its results are the second half
    of the arrays listed, which is what is counted.
    """
    found = []
    for line in hlo.splitlines():
        m = _INSTRUCTION.match(line)
        if m is None:
            continue
        shapes = result_shapes(m["type"])
        if m["start"] and len(shapes) > 1:
            shapes = shapes[len(shapes) // 2 :]
        found.append((m["op"], shapes))
    return found


def count_collectives(hlo: str) -> dict[str, tuple[int, int]]:
    """`{kind: (count, result bytes)}` over the collectives of an HLO module."""
    out = {kind: (0, 0) for kind in COLLECTIVES}
    for kind, shapes in collective_instructions(hlo):
        n, b = out[kind]
        size = sum(_DTYPE_BYTES[d] * math.prod(dims) for d, dims in shapes)
        out[kind] = (n + 1, b + size)
    return out


def step_time(step: Compiled, calls: int = 5) -> float:
    """Median seconds of one call of the compiled step (after a warm-up call)."""
    jax.block_until_ready(step.run())
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(step.run())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def losses_agree(ours: Compiled, twin: Compiled) -> float:
    """The two steps' loss values' absolute difference (same parameters, same data)."""
    return abs(float(ours.run()[0]) - float(twin.run()[0]))


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f}"


def _row(variant: str, side: str, c: Compiled, ratio: str) -> tuple[str, ...]:
    by_kind = [f"{c.collectives[k][0]} / {_mib(c.collectives[k][1])}" for k in COLLECTIVES]
    return (variant, side, *by_kind, _mib(c.collective_bytes), _mib(c.temp_bytes), ratio)


def main(cfg: Config | None = None) -> None:
    """Prints the table: collectives by kind, temp bytes and step time, ours against the twin."""
    cfg = cfg or Config()
    rows = []
    for variant in VARIANTS:
        twin = compile_step(cfg, variant, "twin")
        t_twin = step_time(twin)
        rows.append(_row(variant, "twin (auto)", twin, "1"))
        for kind in ("auto", "explicit"):
            ours = compile_step(cfg, variant, "namedax", kind)
            ratio = step_time(ours) / t_twin
            rows.append(_row(variant, f"namedax ({kind})", ours, f"{ratio:.2f}"))
            print(
                f"{variant}, namedax ({kind}): |loss - twin loss| = {losses_agree(ours, twin):.1e}"
            )
    header = ("model", "side", *(f"{k} n / MiB" for k in COLLECTIVES))
    header += ("collective MiB", "temp MiB", "step time / twin")
    title = (
        f"Sharded train step, {jax.device_count()} CPU devices, data:4 x model:2, FSDP + TP "
        f"(batch {cfg.batch}, seq {cfg.pos}, embed {cfg.embed}, mlp {cfg.mlp}, "
        f"{cfg.layers} layers)"
    )
    print_table(title, header, rows)


if __name__ == "__main__":
    main()
