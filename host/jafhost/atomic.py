"""Replacing a file so that nobody ever sees it half written, and the lock around it.

Every file the host writes (``state.json``, ``config.toml``, the discovery cache, the
recorded config schemas) goes through ``write_atomic``; a read-modify-write that other
processes may race (``state.json``, ``config.toml``) also holds ``file_lock``. It sits in
the bottom layer because discovery, below the home layer, writes its cache with it.
Stdlib only (``filelock`` is imported when a lock is taken): checking the discovery cache
must stay cheap.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from jafhost.errors import StateError

if TYPE_CHECKING:
    from pathlib import Path


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, new_mode: int = 0o600, durable: bool = True
) -> None:
    """Replace the file at ``path`` with ``data``: a reader, or a crash at any point, finds
    the old content or the new, never a mix, and no temporary file is left behind.

    The data goes to a temporary file in the same folder, which is renamed over the file.
    A symbolic link is followed (the file it points to is replaced, the link stays). The
    file keeps its permission bits; a new one gets ``new_mode``. With ``durable`` (for the
    user's decisions, not for caches) the file and then its folder are fsynced, so the
    new content also survives a power cut. The folder must exist; ``OSError`` otherwise.
    """
    target = os.path.realpath(path)
    folder, name = os.path.split(target)
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = new_mode
    import tempfile  # only to write: reading the home does without it

    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable; skipped where folders cannot be opened."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def file_lock(lock_file: Path, *, guarding: Path, timeout: float) -> Iterator[None]:
    """Hold ``lock_file`` (shared by every jafhost process) while changing ``guarding``.

    ``StateError`` naming both after ``timeout`` seconds; ``OSError`` when the lock file
    cannot be created (its folder must exist).
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_file), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise StateError(
            f"{guarding} is locked by another jafhost process (waited {timeout:g} s for "
            f"{lock_file})"
        ) from None
    try:
        yield
    finally:
        lock.release()
