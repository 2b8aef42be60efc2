"""The host checks its own installed files against its distribution's ``RECORD``.

Workers import jafhost itself, outside any plugin's control, and it applies their
sandbox: a plugin that changed one of jafhost's files (say, through a hard link it was
allowed to write) would disarm every worker from then on. Before it starts a worker,
the host compares the sha256 of each file of the ``jafhost`` package its ``RECORD`` lists
with a hash against the file on disk (``check``); on any difference it starts no worker
and names the file. (Scripts and metadata are left out: workers do not run them, and
``pip install --target`` leaves their ``RECORD`` paths pointing elsewhere.)

``RECORD`` is read from the ``jafhost-VERSION.dist-info`` folder beside the running
package when it is there (where pip, ``pip install --target`` and wheel installs put
it: no ``importlib.metadata``, which costs a one-shot command more to import than the
whole check), else found through ``importlib.metadata``. It is read once per process,
and a file is hashed again only when its size,
modification or change time changed, so the check costs a ``stat`` per file after the
first (about 0.15 ms for jafhost's 113 files; the first, hashing them, 10 to 40 ms).
An editable install has no ``RECORD`` entries for its sources: it is reported
``unverified``, never failed. Bytecode caches (``__pycache__``) are not listed with
hashes by installers and are not checked (docs/security.md, "Limits").
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from jafhost._version import __version__
from jafhost.safe_read import UnsafeFile, read_text

DISTRIBUTION = "jafhost"
CHUNK = 1 << 20
RECORD_LIMIT = 4 * 1024 * 1024
"""The largest ``RECORD`` read beside the package (jafhost's is about 20 KB)."""


class Entry(NamedTuple):
    """One hashed file of jafhost's ``RECORD``."""

    name: str
    """Its path as ``RECORD`` gives it (relative to the installation folder)."""
    mode: str
    """The hash algorithm (``sha256``)."""
    value: str
    """The hash, urlsafe base64 without padding."""
    size: int | None


@dataclass(frozen=True)
class FilesCheck:
    """How jafhost's installed files compare with its ``RECORD``."""

    status: str
    """``verified``, ``changed`` or ``unverified`` (nothing to compare with)."""
    detail: str
    """One line saying what was compared, or what differs, or why nothing was."""
    changed: tuple[str, ...] = ()
    """The files (paths as ``RECORD`` names them) whose content differs or is missing."""
    files: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether workers may start (``unverified`` does not stop them)."""
        return self.status != "changed"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "changed": list(self.changed),
            "files": self.files,
            "milliseconds": round(self.seconds * 1000, 3),
        }


@dataclass
class _Stamp:
    size: int
    mtime_ns: int
    ctime_ns: int
    """Changed by every write and by ``utime`` itself: restoring the modification time
    after a change does not hide it."""
    matches: bool


@dataclass
class _Cache:
    stamps: dict[str, _Stamp] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    records: dict[str, Entry] | None = None
    """The package's hashed ``RECORD`` entries by real path, read once per process."""
    unverified: str | None = None
    """Why there are no such entries (an editable install...), found once per process
    too: looking again would cost every worker start a scan of the installed metadata."""


_CACHE = _Cache()


def _digest(path: str, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
    return base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode("ascii")


def _matches(path: str, algorithm: str, expected: str, size: int | None) -> bool:
    """Whether ``path`` still holds what ``RECORD`` says (re-hashed only when its stat
    stamp changed since it was last hashed in this process)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    stamp = _CACHE.stamps.get(path)
    now = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if stamp is not None and (stamp.size, stamp.mtime_ns, stamp.ctime_ns) == now:
        return stamp.matches
    matches = (size is None or st.st_size == size) and _digest(path, algorithm) == expected
    _CACHE.stamps[path] = _Stamp(*now, matches)
    return matches


def _package_dir() -> str:
    return os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _records() -> dict[str, Entry] | str:
    """The ``jafhost`` package's hashed ``RECORD`` entries by real path, or why there
    are none. Read once per process: what the host started with is what it compares
    with, even if ``RECORD`` is changed later."""
    if _CACHE.records is not None:
        return _CACHE.records
    if _CACHE.unverified is None:
        found = _read_records()
        if isinstance(found, str):
            _CACHE.unverified = found
            return found
        _CACHE.records = found
        return found
    return _CACHE.unverified


def _read_records() -> dict[str, Entry] | str:
    running = _package_dir()
    entries = _beside(running)
    if entries is None:
        found = _through_metadata()
        if isinstance(found, str):
            return found
        entries = found
    located = {p: e for p, e in entries.items() if p.startswith(running + os.sep)}
    if os.path.join(running, "__init__.py") not in located:
        return f"an editable install: RECORD lists no hash for {running}/__init__.py"
    return located


def _beside(running: str) -> dict[str, Entry] | None:
    """The hashed entries of the ``RECORD`` in ``jafhost-VERSION.dist-info`` next to
    the running package, by real path; None when there is no such file to read."""
    base = os.path.dirname(running)
    record = os.path.join(base, f"{DISTRIBUTION}-{__version__}.dist-info", "RECORD")
    try:
        text = read_text(record, RECORD_LIMIT)
    except (OSError, UnsafeFile, UnicodeDecodeError):
        return None
    entries: dict[str, Entry] = {}
    for row in csv.reader(text.splitlines()):
        if len(row) < 2 or "=" not in row[1]:
            continue  # RECORD itself, and files listed without a hash
        mode, _, value = row[1].partition("=")
        size = int(row[2]) if len(row) > 2 and row[2].isdigit() else None
        if value:
            entries[os.path.realpath(os.path.join(base, row[0]))] = Entry(row[0], mode, value, size)
    return entries


def _through_metadata() -> dict[str, Entry] | str:
    """The hashed entries of the installed distribution's ``RECORD`` as
    ``importlib.metadata`` finds it, by real path, or why there are none."""
    from importlib import metadata

    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "jafhost is not installed as a distribution"
    records = dist.files
    if records is None:
        return "its distribution has no RECORD"
    return {
        os.path.realpath(str(dist.locate_file(r))): Entry(str(r), r.hash.mode, r.hash.value, r.size)
        for r in records
        if r.hash is not None and r.hash.value
    }


def check() -> FilesCheck:
    """Compare the running jafhost's installed files with its ``RECORD``."""
    started = time.perf_counter()
    located = _records()
    if isinstance(located, str):
        return FilesCheck("unverified", located)
    changed: list[str] = []
    with _CACHE.lock:
        for path, entry in located.items():
            if entry.mode not in hashlib.algorithms_available:
                changed.append(f"{entry.name} (unknown hash {entry.mode})")
            elif not _matches(path, entry.mode, entry.value, entry.size):
                changed.append(entry.name)
    seconds = time.perf_counter() - started
    if changed:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        return FilesCheck(
            "changed",
            f"jafhost's installed file {changed[0]}{more} differs from its RECORD",
            tuple(changed),
            len(located),
            seconds,
        )
    return FilesCheck("verified", f"{len(located)} files match RECORD", (), len(located), seconds)


def worker_refusal(plugin: str) -> str | None:
    """Why no worker of ``plugin`` may start, or None: jafhost applies the sandbox, so a
    changed jafhost may not (the message names the file and says to reinstall)."""
    installed = check()
    if installed.ok:
        return None
    return f"plugin {plugin}: no worker is started: {installed.detail} (reinstall jafhost)"
