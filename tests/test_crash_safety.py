"""Crash safety: a save killed halfway leaves the previous checkpoint loadable, bit for bit;
a damaged file is an error naming the file and the leaf, never a partial load."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from namedax.io._atomic import TEMPORARY_MARK, atomic_write
from namedax.io._safetensors import read_safetensors, write_safetensors
from namedax.serialization import Checkpoints, load_state_dict, save_state_dict

ROOT = Path(__file__).resolve().parents[1]
LEAVES, LEAF_SIZE = 48, 1 << 20  # 48 leaves of 4 MiB: a save takes long enough to be caught
DEADLINE = 120.0  # seconds for the subprocess to start writing


def _small_state():
    return {"w": jnp.arange(10, dtype=jnp.bfloat16), "b": jnp.ones((2, 3), jnp.float32)}


_WRITER = {
    "npz": "from namedax.serialization import save_state_dict as save\nsave(state, path)",
    "safetensors": "from namedax.io._safetensors import write_safetensors\nwrite_safetensors(state, path)",
    "orbax": "from namedax.serialization import Checkpoints\n"
    "with Checkpoints(path) as c:\n    c.save(1, state)",
}


def _start_big_save(kind: str, path: Path) -> subprocess.Popen:
    script = (
        textwrap.dedent(
            f"""
        import jax.numpy as jnp
        state = {{f"leaf{{i}}": jnp.full(({LEAF_SIZE},), float(i)) for i in range({LEAVES})}}
        path = {str(path)!r}
        """
        )
        + _WRITER[kind]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    return subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT)


def _temporary(kind: str, path: Path) -> list[Path]:
    if kind == "orbax":
        return [p for p in path.iterdir() if "tmp" in p.name]
    return [p for p in path.parent.iterdir() if TEMPORARY_MARK in p.name and p.stat().st_size > 0]


def _kill_while_writing(kind: str, path: Path) -> None:
    """Starts the big save, and kills it (SIGKILL) once its temporary output exists."""
    process = _start_big_save(kind, path)
    try:
        start = time.monotonic()
        while not _temporary(kind, path):
            assert process.poll() is None, "the save finished (or failed) before it was killed"
            assert time.monotonic() - start < DEADLINE, "the save never started writing"
            time.sleep(0.002)
        assert process.poll() is None
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _identical(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), strict=True)


def test_killed_npz_save_keeps_the_previous_file(tmp_path):
    path = tmp_path / "model.npz"
    save_state_dict(_small_state(), path)
    before = path.read_bytes()
    _kill_while_writing("npz", path)
    assert path.read_bytes() == before
    _identical(load_state_dict(path), _small_state())


def test_killed_safetensors_save_keeps_the_previous_file(tmp_path):
    path = tmp_path / "model.safetensors"
    write_safetensors(_small_state(), path)
    before = path.read_bytes()
    _kill_while_writing("safetensors", path)
    assert path.read_bytes() == before
    _identical(read_safetensors(path), _small_state())


def test_killed_orbax_save_keeps_the_previous_step(tmp_path):
    with Checkpoints(tmp_path) as ckpts:
        ckpts.save(0, _small_state())
    _kill_while_writing("orbax", tmp_path)
    with Checkpoints(tmp_path) as ckpts:
        assert ckpts.all_steps() == [0]
        _identical(ckpts.restore(_small_state()), _small_state())


def test_atomic_write_that_raises_leaves_nothing(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(path) as f:
        f.write(b"new, but incomplete")
        raise RuntimeError("boom")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def _npz(tmp_path):
    path = tmp_path / "m.npz"
    state = {f"leaf{i}": jnp.arange(4096.0) + i for i in range(4)}
    save_state_dict(state, path)
    return path, path.read_bytes()


def _offset_of(path: Path, name: str) -> int:
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name + ".npy")
    return info.header_offset + 30 + len(info.filename) + len(info.extra) + 200


def test_corrupted_npz_names_the_file_and_leaf(tmp_path):
    path, data = _npz(tmp_path)
    at = _offset_of(path, "leaf2")
    path.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :])
    with pytest.raises(
        ValueError, match=rf"{re.escape(str(path))} is truncated or corrupted at leaf 'leaf2'"
    ):
        load_state_dict(path)


def test_truncated_npz_names_the_file_and_the_last_leaf(tmp_path):
    path, data = _npz(tmp_path)
    path.write_bytes(data[: _offset_of(path, "leaf3") + 100])
    with pytest.raises(
        ValueError,
        match=rf"{re.escape(str(path))} is truncated or corrupted at leaf 'leaf3'.*Nothing was loaded",
    ):
        load_state_dict(path)


def test_empty_file_is_named(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is truncated or corrupted"):
        load_state_dict(path)
