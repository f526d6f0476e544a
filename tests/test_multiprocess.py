"""Two processes x 4 CPU devices under JAX's distributed runtime train like one process x 8.

The test starts two copies of `tests/_multiprocess_worker.py` (coordinator on
127.0.0.1, a free port, gloo collectives). Each loads only its half of every batch,
assembles the global batch with `process_local_to_global`, and runs FSDP +
data-parallel training steps of the example transformer. Their losses and gradients
must equal the same steps run here, in one process on 8 devices. The processes are
ended by the test, whatever happens, within a bounded time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import namedax as nx
from namedax.partitioning import process_local_to_global
from tests import _multiprocess_worker as worker

WORKER = Path(worker.__file__)
TIMEOUT = 150  # seconds for both processes together (compilation dominates)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(out: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(i), "2", str(port), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    try:
        logs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
    except subprocess.TimeoutExpired:
        pytest.fail(f"the two worker processes did not finish within {TIMEOUT}s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"process {i} failed:\n{log[-3000:]}"


def test_two_processes_train_like_one(tmp_path):
    out = tmp_path / "two_processes.npz"
    run_two_processes(out)
    got = np.load(out)
    _, expected, losses = worker.run_steps(jax, num_processes=0, process_id=0)
    np.testing.assert_allclose(got["losses"], losses, rtol=1e-5)
    assert set(got.files) == {"losses", *expected}
    for name, grad in expected.items():
        np.testing.assert_allclose(got[name], grad, rtol=1e-4, atol=1e-6, err_msg=name)


def test_process_local_to_global_on_one_process_equals_shard():
    mesh = jax.make_mesh((4, 2), ("data", "model"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    x = nx.named(np.arange(48.0).reshape(8, 6), ("batch", "embed"))
    mapping = {"batch": "data", "embed": "model"}
    tree = {"x": x, "plain": np.ones(3), "step": 7}
    got = process_local_to_global(tree, mapping, mesh)
    want = nx.shard(x, mapping, mesh)
    assert got["x"].axes == x.axes
    assert got["x"].array.sharding == want.array.sharding
    np.testing.assert_array_equal(np.asarray(got["x"].array), np.asarray(x.array))
    assert got["plain"].sharding.is_fully_replicated and got["step"] == 7


def test_process_local_to_global_errors():
    mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    x = nx.named(np.zeros((6, 2)), ("batch", "embed"))
    with pytest.raises(ValueError, match=r"'batch' \(size 6\).*not divisible by 8"):
        process_local_to_global(x, {"batch": "data"}, mesh)
    with pytest.raises(ValueError, match="no axis mapping"):
        process_local_to_global(x, None, mesh)
    with pytest.raises(ValueError, match=r"mesh axis 'model'.*no such axis"):
        process_local_to_global(x, {"batch": "model"}, mesh)
    with pytest.raises(TypeError, match="outside jit"):
        jax.jit(
            lambda a: process_local_to_global(nx.named(a, ("batch",)), {"batch": "data"}, mesh)
        )(np.zeros(8))
