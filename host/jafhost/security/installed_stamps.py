"""The stamps of jafhost's own files last found matching its ``RECORD``, kept in the
host's cache so that a command that starts one worker (``jafhost call``) hashes none of
them when nothing changed since a previous command checked them.

A stamp is a file's size, modification and change time, inode and the hash ``RECORD``
expects (``algorithm=value``); ``installed_files`` hashes a file again whenever the stamp
it finds now differs from the kept one. The kernel moves the change time on every write
and on ``utime`` (no one can set it back), so a stamp vouches for unchanged content
only. One small JSON file per installed package under ``<home>/cache/installed``, which
no worker may write (its mounts and Landlock leave it only its own folders) and
in-process plugins may not either (the guard's home rules); a file that cannot be read
or has the wrong shape counts as no stamps (everything is hashed again).
"""

from __future__ import annotations

import json
import os
from typing import Any

from jafhost.blake import blake2b
from jafhost.frozen import Frozen
from jafhost.safe_read import UnsafeFile, read_bytes

FORMAT = 1
FOLDER = "installed"
"""The folder under the host's cache that holds the stamp files."""
LIMIT = 4 * 1024 * 1024


class Stamp(Frozen):
    """What a file was when it matched ``RECORD`` (a ``Frozen`` value: a ``NamedTuple``
    costs compiles as it is defined, on the way to a worker's start)."""

    __slots__ = ("ctime_ns", "expected", "inode", "mtime_ns", "size")
    _fields = ("size", "mtime_ns", "ctime_ns", "inode", "expected")

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    expected: str
    """``algorithm=value`` as ``RECORD`` gave it when the file matched."""

    def __init__(self, size: int, mtime_ns: int, ctime_ns: int, inode: int, expected: str) -> None:
        values = (size, mtime_ns, ctime_ns, inode, expected)
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def to_json(self) -> list[Any]:
        return list(self._values())


def _file(folder: str, package: str) -> str:
    key = blake2b(package.encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()
    return os.path.join(folder, f"{key}.json")


def load(folder: str, package: str) -> dict[str, Stamp]:
    """The stamps kept for the jafhost package at ``package`` (its real path), by file."""
    try:
        data = json.loads(read_bytes(_file(folder, package), LIMIT))
        if data.get("format") != FORMAT or data.get("package") != package:
            return {}
        return {
            str(path): Stamp(int(r[0]), int(r[1]), int(r[2]), int(r[3]), str(r[4]))
            for path, r in data["files"].items()
        }
    except (OSError, UnsafeFile, ValueError, RecursionError, TypeError, KeyError):
        return {}
    except (AttributeError, IndexError):  # a hand-edited file of the wrong shape
        return {}


def save(folder: str, package: str, stamps: dict[str, Stamp]) -> None:
    """Keep ``stamps`` for ``package``; a failure to write costs only hashing next time."""
    from pathlib import Path

    from jafhost.atomic import write_atomic

    payload = {
        "format": FORMAT,
        "package": package,
        "files": {path: stamp.to_json() for path, stamp in stamps.items()},
    }
    file = _file(folder, package)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if os.path.islink(file) or (os.path.lexists(file) and not os.path.isfile(file)):
            os.unlink(file)
        write_atomic(Path(file), json.dumps(payload).encode("utf-8"), durable=False)
    except OSError:
        pass
