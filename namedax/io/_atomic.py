"""Crash-safe, concurrency-safe writes: a private temporary file, renamed when complete.

Every write gets its own temporary file (`tempfile.mkstemp` in the target's directory,
so no two writers, threads or processes, ever share one), which is flushed and
`fsync`ed before `os.replace` moves it onto the real name. A save that dies halfway
(killed, out of disk, power cut) leaves at most a stray temporary file, never a
half-written file under the real name: the previous checkpoint stays intact and
loadable. Concurrent saves to one path each rename a complete file, so the file left
behind is always one of them, whole. `os.replace` is atomic on POSIX and Windows when
both names are in the same directory, which they are here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["TEMPORARY_MARK", "atomic_write"]

TEMPORARY_MARK = ".tmp-"
"""What the name of every temporary file contains (after the final name, before a random part)."""


def _plain_file_mode() -> int:
    """The mode a plainly created file gets (0o666 less the umask); `mkstemp` gives 0o600.

    Read once, at import: reading the umask means setting it, which is not thread-safe.
    """
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_MODE = _plain_file_mode()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Opens a fresh temporary file; on success it is flushed, synced and renamed to `path`.

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
        >>> os.listdir(os.path.dirname(path))  # no temporary file is left behind
        ['f.bin']
    """
    final = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(final))
    fd, tmp = tempfile.mkstemp(prefix=name + TEMPORARY_MARK, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if hasattr(os, "fchmod"):  # not on Windows
                os.fchmod(f.fileno(), _MODE)
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _sync_directory(directory)


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
