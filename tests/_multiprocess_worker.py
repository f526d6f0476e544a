"""One process of the multi-process test: 4 CPU devices, FSDP + data-parallel training steps.

Run as `python tests/_multiprocess_worker.py PROCESS_ID NUM_PROCESSES PORT OUT.npz`. Every
process initialises JAX's distributed runtime (coordinator on 127.0.0.1:PORT, gloo
collectives on CPU), builds the example transformer of `examples/fsdp_train.py`, loads
only its own rows of each batch and assembles the global batch with
`namedax.partitioning.process_local_to_global`. It runs `STEPS` training steps and
process 0 writes the losses and the final gradients (gathered to the host) to OUT.npz.
With `NUM_PROCESSES=0` it runs the same steps in this one process (8 devices), for
reference.
"""

from __future__ import annotations

import os
import sys

DEVICES = 8


def main(process_id: int, num_processes: int, port: int, out: str) -> None:
    local_devices = DEVICES // max(num_processes, 1)
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={local_devices}"
    import jax

    if num_processes:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}",
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=60,
        )
    assert jax.device_count() == DEVICES, jax.devices()
    np_, grads, losses = run_steps(jax, num_processes, process_id)
    if process_id == 0:
        np_.savez(out, losses=np_.array(losses), **grads)
    if num_processes:
        jax.distributed.shutdown()


def run_steps(jax, num_processes: int, process_id: int, steps: int = 2):
    import equinox as eqx
    import numpy as np
    import optax
    from jax.experimental import multihost_utils
    from jax.sharding import AxisType

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    import fsdp_train as ex  # pyright: ignore[reportMissingImports]  # examples/, put on sys.path

    import namedax as nx

    mesh = jax.make_mesh((DEVICES,), ("data",), axis_types=(AxisType.Auto,))
    optimizer = optax.adam(3e-3)

    @nx.fsdp(ex.PARAMETER_MAPPING, ex.COMPUTE_MAPPING)
    def train_step(model, opt_state, tokens, targets):
        loss, grads = eqx.filter_value_and_grad(ex.loss_fn)(model, tokens, targets)
        updates, opt_state = optimizer.update(grads, opt_state, model)
        return eqx.apply_updates(model, updates), opt_state, loss, grads

    parts = max(num_processes, 1)
    rows = ex.Batch.size // parts
    losses, grads = [], None
    with jax.set_mesh(mesh):
        model = nx.shard(ex.Transformer.init(key=jax.random.key(0)), ex.PARAMETER_MAPPING)
        opt_state = nx.shard(optimizer.init(eqx.filter(model, eqx.is_array)), ex.PARAMETER_MAPPING)
        for key in jax.random.split(jax.random.key(1), steps):
            tokens, targets = ex.make_batch(key)  # every process derives the same global batch
            mine = slice(process_id * rows, (process_id + 1) * rows)  # ... and keeps its rows
            local_axes = (ex.Batch.resize(rows), ex.Pos)
            local = [nx.named(np.asarray(t.array)[mine], local_axes) for t in (tokens, targets)]
            tokens, targets = nx.partitioning.process_local_to_global(local, ex.COMPUTE_MAPPING)
            assert tokens.axes == (ex.Batch, ex.Pos), tokens.axes
            model, opt_state, loss, grads = train_step(model, opt_state, tokens, targets)
            losses.append(float(loss.addressable_data(0)))  # replicated: every process has it
    flat = jax.tree_util.tree_flatten_with_path(eqx.filter(grads, eqx.is_array))[0]
    gathered = {
        jax.tree_util.keystr(path): np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
        for path, leaf in flat
    }
    return np, gathered, losses


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
