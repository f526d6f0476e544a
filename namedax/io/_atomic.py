"""Crash-safe file writes: write under a temporary name, rename only when complete.

A save that dies halfway (killed, out of disk, power cut) leaves the temporary file
behind, never a half-written file under the real name: the previous checkpoint at
that name stays intact and loadable. `os.replace` is atomic on POSIX and Windows
when both names are in the same directory, which they are here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["atomic_write", "temporary_name"]

TEMPORARY_MARK = ".tmp-"


def temporary_name(path: str | os.PathLike[str]) -> str:
    """The temporary name a save to `path` writes first (same directory, marked, per process).

    Examples:
        >>> from namedax.io._atomic import temporary_name
        >>> temporary_name("/ckpt/model.safetensors").startswith("/ckpt/model.safetensors.tmp-")
        True
    """
    return f"{os.fspath(path)}{TEMPORARY_MARK}{os.getpid()}"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Opens a temporary file for writing; on success it is flushed, synced and renamed to `path`.

    If the body raises, the temporary file is removed and `path` is untouched.

    Examples:
        >>> import os, tempfile
        >>> from namedax.io._atomic import atomic_write
        >>> path = os.path.join(tempfile.mkdtemp(), "f.bin")
        >>> with atomic_write(path) as f:
        ...     _ = f.write(b"abc")
        >>> with open(path, "rb") as f:
        ...     f.read()
        b'abc'
    """
    final = os.fspath(path)
    tmp = temporary_name(final)
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _sync_directory(os.path.dirname(os.path.abspath(final)))


def _sync_directory(directory: str) -> None:
    """Makes the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
