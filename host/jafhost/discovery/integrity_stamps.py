"""The stamps of installed plugin files last found matching their ``RECORD``.

``integrity`` hashes a file again only when its stamp (size, modification and change
time, inode, and the hash ``RECORD`` expects) differs from the one kept here when it
last matched, so an unchanged plugin costs a ``stat`` per file. One small JSON file per
distribution under ``<home>/cache/integrity`` (a command that starts one plugin reads
one), written atomically; kept in memory for the life of the process too.

The file saves work and decides nothing on its own: a stamp only vouches for a file
whose change time is the one recorded, and the kernel moves the change time on every
write (no one can set it back). Whoever can write both a plugin's files and this cache
can make them agree; that is the same user who can edit the state file and its grants.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jafhost.atomic import write_atomic
from jafhost.blake import blake2b
from jafhost.frozen import Frozen
from jafhost.safe_read import UnsafeFile, read_bytes

FORMAT = 1
STAMPS_LIMIT = 32 * 1024 * 1024


class Stamp(Frozen):
    """What a file was when it matched ``RECORD`` (a ``Frozen`` value: a ``NamedTuple``
    costs compiles as it is defined, on every call's path)."""

    __slots__ = ("ctime_ns", "expected", "inode", "mtime_ns", "size")
    _fields = ("size", "mtime_ns", "ctime_ns", "inode", "expected")

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    expected: str
    """``algorithm=digest`` as ``RECORD`` gave it when the file matched."""

    def __init__(self, size: int, mtime_ns: int, ctime_ns: int, inode: int, expected: str) -> None:
        values = (size, mtime_ns, ctime_ns, inode, expected)
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def to_json(self) -> list[Any]:
        return list(self._values())


class StampStore:
    """Stamps by distribution folder; ``folder`` None keeps them in memory only."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._loaded: dict[str, dict[str, Stamp]] = {}

    def _file(self, dist_info: str) -> Path | None:
        if self.folder is None:
            return None
        key = blake2b(dist_info.encode("utf-8", "surrogateescape"), digest_size=12)
        return self.folder / f"{key.hexdigest()}.json"

    def load(self, dist_info: str) -> dict[str, Stamp]:
        """The stamps of ``dist_info``'s files (a copy the caller may change)."""
        known = self._loaded.get(dist_info)
        if known is None:
            known = self._loaded[dist_info] = self._read(dist_info)
        return dict(known)

    def _read(self, dist_info: str) -> dict[str, Stamp]:
        file = self._file(dist_info)
        if file is None:
            return {}
        try:
            data = json.loads(read_bytes(file, STAMPS_LIMIT))
            if data.get("format") != FORMAT or data.get("distribution") != dist_info:
                return {}
            return {
                path: Stamp(int(r[0]), int(r[1]), int(r[2]), int(r[3]), str(r[4]))
                for path, r in data["files"].items()
            }
        except (OSError, UnsafeFile, ValueError, RecursionError, TypeError, KeyError):
            return {}
        except (AttributeError, IndexError):  # a hand-edited file of the wrong shape
            return {}

    def save(self, dist_info: str, stamps: dict[str, Stamp]) -> None:
        """Keep ``stamps`` (in memory, and on disk when there is a folder); a failure to
        write costs only hashing again next time."""
        self._loaded[dist_info] = dict(stamps)
        file = self._file(dist_info)
        if file is None:
            return
        payload = {
            "format": FORMAT,
            "distribution": dist_info,
            "files": {path: stamp.to_json() for path, stamp in stamps.items()},
        }
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            if os.path.islink(file) or (os.path.lexists(file) and not os.path.isfile(file)):
                os.unlink(file)
            write_atomic(file, json.dumps(payload).encode("utf-8"), durable=False)
        except OSError:
            pass
