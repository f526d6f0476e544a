"""Checkpoint save and restore of a ~100M-parameter model: state dict (`.npz`), safetensors, Orbax.

The model is a `Stacked` of 12 MLP blocks (`embed:1024 -> hidden:4096 -> embed:1024`,
float32; 100.7M parameters, 403 MB). Each format is timed for a full save (from the
model to durable files) and a full restore (from the files into a model ready to use:
into an abstract template for Orbax, into a concrete template for the state-dict
paths, as each is used). Peak host memory is the largest resident-set growth above the
level before the operation, sampled every 2 ms from `/proc/self/statm`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

import namedax as nx
from namedax import nn
from namedax.serialization import (
    Checkpoints,
    from_state_dict,
    load_safetensors,
    load_state_dict,
    save_safetensors,
    save_state_dict,
    to_state_dict,
)

from ._timing import print_table

Embed, Hidden, Layers = nx.Axis("embed", 1024), nx.Axis("hidden", 4096), nx.Axis("layers", 12)
REPEATS = 3


def block(*, key: Any) -> dict[str, nn.Linear]:
    """One MLP block's weights (only saved and restored, never applied)."""
    k1, k2 = jax.random.split(key)
    return {
        "up": nn.Linear.init(Embed, Hidden, key=k1),
        "down": nn.Linear.init(Hidden, Embed, key=k2),
    }


def make_model(key: Any = None) -> Any:
    keys = jax.random.split(key if key is not None else jax.random.key(0), Layers.size)
    return nn.Stacked.init(Layers, block)(key=keys)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn: Callable[[], Any]) -> tuple[float, int]:
    """(seconds, peak resident-set growth in bytes) of one call of `fn` (result blocked on)."""
    baseline, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss() - baseline)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.perf_counter()
    jax.block_until_ready(fn())
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return seconds, max(peak[0], _rss() - baseline)


def _median(runs: list[tuple[float, int]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs) / 2**20


def main() -> None:
    model = make_model()
    jax.block_until_ready(model)
    params = sum(x.size for x in jax.tree_util.tree_leaves(model))
    abstract = eqx.filter_eval_shape(make_model)
    template = make_model(jax.random.key(1))
    root = tempfile.mkdtemp(prefix="namedax-bench-")
    rows = []
    try:
        npz, st = os.path.join(root, "m.npz"), os.path.join(root, "m.safetensors")
        ckpts = Checkpoints(os.path.join(root, "orbax"))
        formats = [
            (
                "state dict (.npz)",
                lambda: save_state_dict(to_state_dict(model), npz),
                lambda: from_state_dict(template, load_state_dict(npz)),
            ),
            (
                "safetensors",
                lambda: save_safetensors(model, st),
                lambda: load_safetensors(st, template),
            ),
            ("Orbax", None, lambda: ckpts.restore(abstract)),
        ]
        for name, save, restore in formats:
            saves: list[tuple[float, int]] = []
            for i in range(REPEATS):
                if save is None:  # Orbax: a new step each time
                    saves.append(measure(lambda i=i: ckpts.save(i, model)))
                else:
                    saves.append(measure(save))
            restores = [measure(restore) for _ in range(REPEATS)]
            (ts, ms), (tr, mr) = _median(saves), _median(restores)
            rows.append((name, ts, ms, tr, mr))
        ckpts.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_table(
        f"Checkpoints of a {params / 1e6:.1f}M-parameter model ({params * 4 / 1e6:.0f} MB f32), "
        f"median of {REPEATS}",
        ("format", "save s", "save peak MB", "restore s", "restore peak MB"),
        rows,
    )


if __name__ == "__main__":
    main()
