"""A tour of `namedax.nn.Stacked`: a deep residual MLP and an ensemble, trained on CPU.

Run it with `python -m namedax.demo` (or `make demo`). On synthetic regression data
it trains

(a) a 12-layer residual MLP whose blocks are one `Stacked` module: per-layer
    projections, one LayerNorm shared by every layer, applied with `fold` (one
    `lax.scan`, whatever the depth);
(b) an ensemble of 6 MLPs built with `Stacked` and applied with `vmap` (every member
    on the same batch), each member initialised from its own slice of one key;

and prints which parameters are per-layer and which are shared, with their named
shapes, the training progress and the final losses. It uses optax's Adam.
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import namedax as nx
from namedax import nn

Batch = nx.Axis("batch", 128)
Features, Embed, Hidden, Target = nx.make_axes(features=8, embed=32, hidden=64, target=1)
Layers, Members = nx.Axis("layers", 12), nx.Axis("members", 6)


class ResidualBlock(eqx.Module):
    """`x + down(gelu(up(norm(x))))`."""

    norm: nn.LayerNorm
    up: nn.Linear
    down: nn.Linear

    @staticmethod
    def init(*, key: jax.Array) -> ResidualBlock:
        k_up, k_down = jax.random.split(key)
        return ResidualBlock(
            nn.LayerNorm.init(Embed),
            nn.Linear.init(Embed, Hidden, key=k_up),
            nn.Linear.init(Hidden, Embed, key=k_down, init_scale=0.5),
        )

    def __call__(self, x: nx.NamedArray) -> nx.NamedArray:
        return x + self.down(nn.gelu(self.up(self.norm(x))))


class DeepMLP(eqx.Module):
    """Input projection, a `Stacked` of residual blocks, output projection."""

    embed: nn.Linear
    blocks: nn.Stacked[ResidualBlock]
    head: nn.Linear

    @staticmethod
    def init(*, key: jax.Array) -> DeepMLP:
        k_in, k_blocks, k_out = jax.random.split(key, 3)
        # The LayerNorm is shared by all layers: built once, no `layers` axis.
        blocks = nn.Stacked.init(Layers, ResidualBlock, shared="norm")(key=k_blocks)
        return DeepMLP(
            nn.Linear.init(Features, Embed, key=k_in),
            blocks,
            nn.Linear.init(Embed, Target, key=k_out),
        )

    def __call__(self, x: nx.NamedArray) -> nx.NamedArray:
        return self.head(self.blocks.fold(self.embed(x)))


def make_data(key: jax.Array, n_batches: int) -> tuple[nx.NamedArray, nx.NamedArray]:
    """Synthetic regression: a smooth nonlinear function of 8 features, plus noise."""
    k_x, k_noise = jax.random.split(key)
    Step = nx.Axis("step", n_batches)
    x = jax.random.normal(k_x, (n_batches, Batch.size, Features.size))
    w = jax.random.normal(jax.random.key(2024), (Features.size,))  # the same task for every split
    y = jnp.sin(x @ w) + 0.5 * jnp.cos(x[..., 0] * x[..., 1])
    y = y + 0.05 * jax.random.normal(k_noise, y.shape)
    return nx.named(x, (Step, Batch, Features)), nx.named(y[..., None], (Step, Batch, Target))


def mse(pred: nx.NamedArray, y: nx.NamedArray) -> jax.Array:
    return ((pred - y) ** 2).mean().scalar()


def train(name, model, loss_fn, data, *, steps: int, learning_rate: float, report_every: int):
    """Adam on `loss_fn(model, x, y)`, cycling through the batches of `data`."""
    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(model, opt_state, x, y):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, model)
        return eqx.apply_updates(model, updates), opt_state, loss

    xs, ys = data
    n_batches = xs.axis_size("step")
    start = time.perf_counter()
    for i in range(steps):
        batch = {"step": i % n_batches}
        model, opt_state, loss = step(model, opt_state, xs[batch], ys[batch])
        if i % report_every == 0 or i == steps - 1:
            print(
                f"  [{name}] step {i:4d}  loss {float(loss):.4f}  "
                f"({time.perf_counter() - start:.1f}s)"
            )
    return model


def demo_deep_stack(data, test) -> None:
    print(f"(a) Deep residual MLP: {Layers.size} blocks in one Stacked, applied with fold")
    model = DeepMLP.init(key=jax.random.key(0))
    print(model.blocks.explain())
    jaxpr = jax.make_jaxpr(lambda m, x: m(x))(model, test[0])
    scans = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "scan"]
    print(f"  the forward pass holds {len(scans)} scan for {Layers.size} layers")
    loss_fn = lambda m, x, y: mse(m(x), y)
    before = loss_fn(model, *test)
    model = train("deep", model, loss_fn, data, steps=300, learning_rate=2e-3, report_every=50)
    print(
        f"  held-out MSE: {float(before):.4f} before training -> "
        f"{float(loss_fn(model, *test)):.4f}\n"
    )


def demo_ensemble(data, test) -> None:
    print(f"(b) Ensemble of {Members.size} MLPs: one Stacked applied with vmap")
    ensemble = nn.Stacked.init(Members, nn.MLP)(
        Features, Target, width=32, depth=2, activation=nn.gelu, key=jax.random.key(1)
    )
    print(ensemble.explain())

    def loss_fn(ensemble, x, y):  # every member sees the same batch; losses summed
        pred = ensemble.vmap(x)  # {members, batch, target}
        return ((pred - y) ** 2).mean(("batch", "target")).sum().scalar()

    ensemble = train(
        "ensemble", ensemble, loss_fn, data, steps=300, learning_rate=3e-3, report_every=50
    )
    pred = ensemble.vmap(test[0])
    per_member = ((pred - test[1]) ** 2).mean(("batch", "target"))
    members = ", ".join(f"{float(v):.4f}" for v in per_member.array)
    print(f"  held-out MSE per member: {members}")
    print(f"  held-out MSE of the ensemble mean: {mse(pred.mean('members'), test[1]):.4f}")


def main() -> None:
    start = time.perf_counter()
    xs, ys = make_data(jax.random.key(42), n_batches=64)
    tx, ty = make_data(jax.random.key(7), n_batches=1)
    test = (tx[{"step": 0}], ty[{"step": 0}])
    demo_deep_stack((xs, ys), test)
    demo_ensemble((xs, ys), test)
    print(f"\nDone in {time.perf_counter() - start:.1f}s.")


if __name__ == "__main__":
    main()
