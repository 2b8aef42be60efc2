"""Stamps of files that matched their ``RECORD`` entry, kept in a small JSON file; and
``RECORD``'s rows, read without ``csv`` where nothing is quoted.

Checking installed files against ``RECORD`` means hashing them; a file whose size,
modification and change times and inode are what they were when it last matched is
taken as unchanged instead (what ``discovery.integrity`` keeps per plugin distribution
and ``security.installed_files`` keeps for jafhost itself). One ``Stamp`` says what a
file was; one stamps file holds those of one owner (a distribution folder, a package
folder), named by a digest of it under a folder of the host's cache, and is passed by
whenever it is unreadable, of another format or of another owner.
"""

from __future__ import annotations

import json
import os
from typing import Any

from jafhost.blake import blake2b
from jafhost.frozen import Frozen
from jafhost.safe_read import UnsafeFile, read_bytes

RACY_NS = 2_000_000_000
"""A folder modified this recently may be modified again within the same tick of the
file system's clock, leaving its time stamp as it was: a stamp of it vouches for
nothing (git's "racy" index entries, the same problem). Used by the lane's path stamps
(``discovery.cache.path_stamps``) and the folder listings discovery keeps
(``discovery.listings``)."""

CHANGE_MARGIN_NS = 50_000_000
"""A file's change time comes from the kernel's coarse clock, a tick behind the one
``time.time_ns`` reads: a file changed this recently may change again within the same
tick, and a change this long before a read may have come after it. The integrity check
hashes such a file again next time rather than stamping it
(``discovery.integrity``); a plugin's files changed this long before its description
was read count as changed after (``host.catalog.changed_since``)."""

FORMAT = 1
LIMIT = 32 * 1024 * 1024
"""The largest stamps file read (a large distribution's is a few MB)."""


class Stamp(Frozen):
    """What a file was when it matched ``RECORD`` (a ``Frozen`` value: a ``NamedTuple``
    costs compiles as it is defined, on the way of every call)."""

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
        self._set(*values)

    def to_json(self) -> list[Any]:
        return list(self._values())


def stamps_file(folder: str, owner: str) -> str:
    """The stamps file of ``owner`` under ``folder``."""
    key = blake2b(owner.encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()
    return os.path.join(folder, f"{key}.json")


def read_stamps(file: str, label: str, owner: str) -> dict[str, Stamp]:
    """The stamps ``file`` keeps for ``owner`` (named under ``label`` in it), by path;
    none when it is missing, unreadable, of another shape or of another owner."""
    try:
        data = json.loads(read_bytes(file, LIMIT))
        if data.get("format") != FORMAT or data.get(label) != owner:
            return {}
        return {
            str(path): Stamp(int(r[0]), int(r[1]), int(r[2]), int(r[3]), str(r[4]))
            for path, r in data["files"].items()
        }
    except (OSError, UnsafeFile, ValueError, RecursionError, TypeError, KeyError):
        return {}
    except (AttributeError, IndexError):  # a hand-edited file of the wrong shape
        return {}


def write_stamps(file: str, label: str, owner: str, stamps: dict[str, Stamp]) -> None:
    """Keep ``stamps`` for ``owner`` in ``file`` (its folder made private if new), only
    ever as a regular file of ours; a failure to write costs only hashing next time."""
    from pathlib import Path

    from jafhost.atomic import write_atomic

    payload = {
        "format": FORMAT,
        label: owner,
        "files": {path: stamp.to_json() for path, stamp in stamps.items()},
    }
    try:
        os.makedirs(os.path.dirname(file), mode=0o700, exist_ok=True)
        if os.path.islink(file) or (os.path.lexists(file) and not os.path.isfile(file)):
            os.unlink(file)
        write_atomic(Path(file), json.dumps(payload).encode("utf-8"), durable=False)
    except OSError:
        pass


def record_rows(text: str) -> list[list[str]]:
    """``RECORD``'s rows. Lines without a quote are their fields split at the commas, as
    ``csv.reader`` reads them (installers quote a path holding a comma or a quote); any
    other text is read by ``csv`` itself, imported then (``ValueError`` for what it
    refuses)."""
    if '"' not in text:
        return [line.split(",") if line else [] for line in text.splitlines()]
    import csv

    try:
        return list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise ValueError(str(exc)) from None
