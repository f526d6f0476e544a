"""Train a small transformer with FSDP on 8 simulated CPU devices.

The model is written once, with named axes only. Which devices hold what is decided
by two axis mappings:

* the parameter mapping `{"embed": "data"}` splits every weight with an `embed` axis
  into 8 shards, one per device (fully sharded data parallelism);
* the compute mapping `{"batch": "data"}` splits each batch of examples over the same
  8 devices.

`namedax.fsdp` compiles the training step so that parameters and optimiser state
arrive and leave sharded by the first mapping while the step runs under the second;
XLA gathers each weight where it is needed and reduce-scatters its gradient.

Run: `python examples/fsdp_train.py` (about twenty seconds on a laptop CPU, mostly compilation).
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import equinox as eqx
import jax
import optax
from jax.sharding import AxisType

import namedax as nx
from namedax import nn

Batch, Pos, KeyPos = nx.Axis("batch", 32), nx.Axis("pos", 16), nx.Axis("key_pos", 16)
Vocab, Embed, Mlp = nx.Axis("vocab", 32), nx.Axis("embed", 64), nx.Axis("mlp", 128)
Heads, HeadDim, Layers = nx.Axis("heads", 4), nx.Axis("head_dim", 16), nx.Axis("layers", 2)

PARAMETER_MAPPING = {"embed": "data"}
COMPUTE_MAPPING = {"batch": "data"}


class Block(eqx.Module):
    """Pre-norm causal self-attention followed by an MLP, both residual."""

    attn_norm: nn.LayerNorm
    query: nn.Linear
    key: nn.Linear
    value: nn.Linear
    out: nn.Linear
    mlp_norm: nn.LayerNorm
    up: nn.Linear
    down: nn.Linear

    @staticmethod
    def init(*, key) -> Block:
        kq, kk, kv, ko, ku, kd = jax.random.split(key, 6)
        return Block(
            attn_norm=nn.LayerNorm.init(Embed),
            query=nn.Linear.init(Embed, (Heads, HeadDim), key=kq),
            key=nn.Linear.init(Embed, (Heads, HeadDim), key=kk),
            value=nn.Linear.init(Embed, (Heads, HeadDim), key=kv),
            out=nn.Linear.init((Heads, HeadDim), Embed, key=ko),
            mlp_norm=nn.LayerNorm.init(Embed),
            up=nn.Linear.init(Embed, Mlp, key=ku),
            down=nn.Linear.init(Mlp, Embed, key=kd),
        )

    def __call__(self, x: nx.NamedArray) -> nx.NamedArray:
        h = self.attn_norm(x)
        q = self.query(h)
        k = self.key(h).rename({"pos": "key_pos"})
        v = self.value(h).rename({"pos": "key_pos"})
        mask = nn.causal_mask(Pos, KeyPos)
        x = x + self.out(nn.dot_product_attention(KeyPos, HeadDim, q, k, v, mask=mask))
        x = nx.partitioning.auto_sharded(x)  # activations follow the compute mapping
        return x + self.down(nn.gelu(self.up(self.mlp_norm(x))))


class Transformer(eqx.Module):
    embedding: nn.Embedding
    blocks: nn.Stacked  # every parameter of the blocks carries the `layers` axis
    final_norm: nn.LayerNorm

    @staticmethod
    def init(*, key) -> Transformer:
        k_embed, k_blocks = jax.random.split(key)
        return Transformer(
            embedding=nn.Embedding.init(Vocab, Embed, key=k_embed),
            blocks=nn.Stacked.init(Layers, Block)(key=k_blocks),
            final_norm=nn.LayerNorm.init(Embed),
        )

    def __call__(self, tokens: nx.NamedArray) -> nx.NamedArray:
        x = self.embedding.embed(tokens)
        x = self.blocks.fold(x)  # one lax.scan over the layers
        return self.embedding.unembed(self.final_norm(x))  # logits {batch, pos, vocab}


def loss_fn(model: Transformer, tokens: nx.NamedArray, targets: nx.NamedArray) -> jax.Array:
    logits = model(tokens)
    return nn.cross_entropy_loss(logits, Vocab, targets).scalar()


def make_batch(key) -> tuple[nx.NamedArray, nx.NamedArray]:
    """Sequences that count up in steps of 3 (mod 32) from a random start: learnable."""
    start = jax.random.randint(key, (Batch.size, 1), 0, Vocab.size)
    seq = (start + 3 * jax.numpy.arange(Pos.size + 1)[None, :]) % Vocab.size
    return nx.named(seq[:, :-1], (Batch, Pos)), nx.named(seq[:, 1:], (Batch, Pos))


def main(steps: int = 50) -> list[float]:
    mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
    optimizer = optax.adam(3e-3)

    @nx.fsdp(PARAMETER_MAPPING, COMPUTE_MAPPING)
    def train_step(model, opt_state, tokens, targets):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, tokens, targets)
        updates, opt_state = optimizer.update(grads, opt_state, model)
        return eqx.apply_updates(model, updates), opt_state, loss

    with jax.set_mesh(mesh):
        model = Transformer.init(key=jax.random.key(0))
        model = nx.shard(model, PARAMETER_MAPPING)
        opt_state = nx.shard(optimizer.init(eqx.filter(model, eqx.is_array)), PARAMETER_MAPPING)

        w = model.blocks.stacked.up.weight
        print(f"up.weight {w.shape}: spec {w.array.sharding.spec}, each device holds "
              f"{w.array.addressable_shards[0].data.shape}")  # fmt: skip

        losses = []
        for step, key in enumerate(jax.random.split(jax.random.key(1), steps)):
            tokens, targets = nx.shard(make_batch(key), COMPUTE_MAPPING)
            model, opt_state, loss = train_step(model, opt_state, tokens, targets)
            losses.append(float(loss))
            if step % 10 == 0 or step == steps - 1:
                print(f"step {step:3d}  loss {losses[-1]:.4f}")

    w = model.blocks.stacked.up.weight
    print(f"after training, up.weight is still sharded: {w.array.sharding.spec}")
    return losses


if __name__ == "__main__":
    main()
