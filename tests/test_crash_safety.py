"""Crash safety: a save killed halfway leaves the previous checkpoint loadable, bit for bit;
a damaged file is an error naming the file and the leaf, never a partial load."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
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


# --- concurrent writers ---------------------------------------------------------------------


def _versions(n: int) -> list[dict]:
    """n distinct state dicts, big enough that writes overlap in time."""
    return [
        {"w": jnp.full((64, 1024), float(i)), "b": jnp.arange(300, dtype=jnp.int32) + i}
        for i in range(n)
    ]


_SAVE = {
    "npz": (save_state_dict, load_state_dict),
    "safetensors": (write_safetensors, read_safetensors),
}


def _one_of(loaded, versions) -> None:
    """The file holds exactly one of the versions, complete."""
    index = int(np.asarray(loaded["w"])[0, 0])
    _identical(loaded, versions[index])


@pytest.mark.parametrize("kind", ["npz", "safetensors"])
def test_threads_saving_to_one_path_leave_one_complete_file(tmp_path, kind):
    save, load = _SAVE[kind]
    path = tmp_path / f"model.{kind}"
    versions = _versions(8)
    save(versions[0], path)
    errors, seen = [], []

    def writer(i):
        try:
            for _ in range(3):
                save(versions[i], path)
        except BaseException as e:  # reported below
            errors.append(e)

    def reader():  # every read during the writes sees one whole version
        try:
            for _ in range(20):
                seen.append(load(path))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    _one_of(load(path), versions)
    for loaded in seen:
        _one_of(loaded, versions)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


_PROCESS_WRITER = """
import sys
import jax.numpy as jnp
from namedax.io._safetensors import write_safetensors
from namedax.serialization import save_state_dict
kind, path, i = sys.argv[1], sys.argv[2], int(sys.argv[3])
state = {"w": jnp.full((64, 1024), float(i)), "b": jnp.arange(300, dtype=jnp.int32) + i}
save = save_state_dict if kind == "npz" else write_safetensors
print("ready", flush=True)
sys.stdin.readline()  # all processes start writing together
for _ in range(5):
    save(state, path)
"""


@pytest.mark.parametrize("kind", ["npz", "safetensors"])
def test_processes_saving_to_one_path_leave_one_complete_file(tmp_path, kind):
    save, load = _SAVE[kind]
    path = tmp_path / f"model.{kind}"
    versions = _versions(3)
    save(versions[0], path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS_WRITER, kind, str(path), str(i)],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for p in processes:
        assert p.stdout is not None and p.stdin is not None  # both are pipes
        assert p.stdout.readline().strip() == "ready"
    for p in processes:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    seen = []
    while any(p.poll() is None for p in processes):
        seen.append(load(path))  # reads while the processes replace the file
    for p in processes:
        assert p.stdin is not None and p.stdout is not None
        p.stdin.close()
        p.stdout.close()
        assert p.wait(timeout=60) == 0
    _one_of(load(path), versions)
    for loaded in seen:
        _one_of(loaded, versions)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_every_write_has_its_own_temporary_file(tmp_path):
    path = tmp_path / "f.bin"
    with atomic_write(path) as first, atomic_write(path) as second:
        temporaries = [p for p in tmp_path.iterdir() if TEMPORARY_MARK in p.name]
        assert len(temporaries) == 2
        assert os.fstat(first.fileno()).st_ino != os.fstat(second.fileno()).st_ino
        first.write(b"first, complete")
        second.write(b"second")  # before: this truncated the first writer's file
    assert path.read_bytes() == b"first, complete"  # renamed last
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_written_file_has_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_write(tmp_path / "f.bin") as f:
        f.write(b"x")
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o666 & ~umask
