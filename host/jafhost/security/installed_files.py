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
it), else from the metadata folder ``importlib.metadata`` would find on ``sys.path``
(``_on_path``: the same search, without the import, which costs a one-shot command more
than the whole check), else through ``importlib.metadata`` itself. It is read once per
process. A file is hashed again only when its stamp (size, modification and change
time, inode, expected hash) differs from the one kept when it last matched: in this
process, and with a host's cache folder given, across processes too
(``installed_stamps``), so an unchanged installation costs a ``stat`` per file and no
``hashlib``. An editable install has no ``RECORD`` entries for its sources: it is
reported ``unverified``, never failed. Bytecode caches (``__pycache__``) are not listed
with hashes by installers and are not checked (docs/security.md, "Limits").
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from jafhost._version import __version__
from jafhost.file_stamps import record_rows
from jafhost.frozen import Frozen
from jafhost.safe_read import UnsafeFile, read_text
from jafhost.security import installed_stamps
from jafhost.security.installed_stamps import Stamp

DISTRIBUTION = "jafhost"
CHUNK = 1 << 20
RECORD_LIMIT = 4 * 1024 * 1024
"""The largest ``RECORD`` read beside the package (jafhost's is about 20 KB)."""


class Entry(Frozen):
    """One hashed file of jafhost's ``RECORD`` (a ``Frozen`` value: a ``NamedTuple``
    costs compiles as it is defined, on the way to a worker's start)."""

    __slots__ = ("mode", "name", "size", "value")
    _fields = ("name", "mode", "value", "size")

    name: str
    """Its path as ``RECORD`` gives it (relative to the installation folder)."""
    mode: str
    """The hash algorithm (``sha256``)."""
    value: str
    """The hash, urlsafe base64 without padding."""
    size: int | None

    def __init__(self, name: str, mode: str, value: str, size: int | None) -> None:
        self._set(name, mode, value, size)


class FilesCheck:
    """How jafhost's installed files compare with its ``RECORD`` (a plain class: the
    one-shot call imports this module on its way to its worker)."""

    __slots__ = ("changed", "detail", "files", "seconds", "status")

    def __init__(
        self,
        status: str,
        detail: str,
        changed: tuple[str, ...] = (),
        files: int = 0,
        seconds: float = 0.0,
    ) -> None:
        self.status = status
        """``verified``, ``changed`` or ``unverified`` (nothing to compare with)."""
        self.detail = detail
        """One line saying what was compared, or what differs, or why nothing was."""
        self.changed = changed
        """The files (paths as ``RECORD`` names them) whose content differs or is missing."""
        self.files = files
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"FilesCheck({self.status!r}, {self.detail!r}, changed={self.changed!r})"

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


class _Cache:
    """What one process keeps between checks (a plain class: built at import, on the
    one-shot call's way to its worker)."""

    def __init__(self) -> None:
        self.stamps: dict[str, Stamp] = {}
        """The stamps of the files found matching in this process (and loaded from the
        host's cache), by real path."""
        self.loaded: set[str] = set()
        """The stamp folders already read in this process."""
        self.lock = threading.Lock()
        self.records: dict[str, Entry] | None = None
        """The package's hashed ``RECORD`` entries by real path, read once per process."""
        self.unverified: str | None = None
        """Why there are no such entries (an editable install...), found once per
        process too: looking again would cost every worker start a scan of the metadata."""


_CACHE = _Cache()
SETTLE_NS = 2_000_000_000
"""A file changed this recently is hashed but not stamped: the kernel's change time is
coarse (a clock tick), so a write in the same tick as the one stamped would not move it."""


def _digest(path: str, algorithm: str) -> str:
    import base64
    import hashlib

    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
    return base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode("ascii")


def _known_algorithm(algorithm: str) -> bool:
    import hashlib

    return algorithm in hashlib.algorithms_available


def _differs(path: str, entry: Entry, fresh: dict[str, Stamp]) -> str | None:
    """Why ``path`` does not hold what ``RECORD`` says, or None. Hashed only when its
    stamp differs from the one kept when it last matched; a match is stamped in
    ``fresh`` (unless the file changed within ``SETTLE_NS``)."""
    expected = f"{entry.mode}={entry.value}"
    try:
        st = os.stat(path)
    except OSError:
        return entry.name
    now = Stamp(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, expected)
    if _CACHE.stamps.get(path) == now:
        return None
    if not _known_algorithm(entry.mode):
        return f"{entry.name} (unknown hash {entry.mode})"
    if entry.size is not None and st.st_size != entry.size:
        return entry.name
    if _digest(path, entry.mode) != entry.value:
        return entry.name
    if time.time_ns() - st.st_ctime_ns >= SETTLE_NS:
        fresh[path] = now
    return None


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
        entries = _on_path()
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
    return _record_in(base, f"{DISTRIBUTION}-{__version__}.dist-info")


def _record_in(base: str, dist_info: str) -> dict[str, Entry] | None:
    """The hashed entries of ``base/dist_info/RECORD`` by real path (its paths are
    relative to ``base``); None when there is no such file to read."""
    record = os.path.join(base, dist_info, "RECORD")
    try:
        text = read_text(record, RECORD_LIMIT)
    except (OSError, UnsafeFile, UnicodeDecodeError):
        return None
    entries: dict[str, Entry] = {}
    try:
        rows = record_rows(text)
    except ValueError:  # not a RECORD ``csv`` reads: nothing to vouch for the files
        return None
    for row in rows:
        if len(row) < 2 or "=" not in row[1]:
            continue  # RECORD itself, and files listed without a hash
        mode, _, value = row[1].partition("=")
        size = int(row[2]) if len(row) > 2 and row[2].isdigit() else None
        if value:
            entries[os.path.realpath(os.path.join(base, row[0]))] = Entry(row[0], mode, value, size)
    return entries


def _on_path() -> dict[str, Entry] | None:
    """The entries ``importlib.metadata`` would give (``_through_metadata``), found the
    way it finds them but without importing it (about 15 ms of a one-shot command, in an
    editable install): the first folder of ``sys.path`` holding a metadata folder named
    for ``jafhost`` (in ``os.listdir`` order, as it searches), when that is a
    ``.dist-info`` with a ``RECORD``. None wherever the answer is not that plain (a
    finder of distributions besides the path's, a zip or other file on the path, an
    egg or ``.egg-info``, no ``RECORD``): then ``importlib.metadata`` is asked."""
    import sys
    from importlib.machinery import PathFinder

    for finder in sys.meta_path:
        if finder is not PathFinder and getattr(finder, "find_distributions", None) is not None:
            return None
    for entry in sys.path:
        root = os.fspath(entry)
        if os.path.basename(root).lower().endswith(".egg"):
            return None  # an egg's EGG-INFO counts too
        try:
            children = os.listdir(root or ".")
        except NotADirectoryError:
            return None  # a zip, perhaps: its members are metadata folders too
        except OSError:
            continue
        for child in children:
            low = child.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            if low.rpartition(".")[0].partition("-")[0] != DISTRIBUTION:
                continue
            if not low.endswith(".dist-info"):
                return None
            return _record_in(root, child)
    return None


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


def check(cache: str | os.PathLike[str] | None = None) -> FilesCheck:
    """Compare the running jafhost's installed files with its ``RECORD`` (the stamps of
    files that matched kept in the host's ``cache`` folder too, when one is given)."""
    started = time.perf_counter()
    located = _records()
    if isinstance(located, str):
        return FilesCheck("unverified", located)
    changed: list[str] = []
    fresh: dict[str, Stamp] = {}
    folder = None if cache is None else os.path.join(cache, installed_stamps.FOLDER)
    package = _package_dir()
    with _CACHE.lock:
        if folder is not None and folder not in _CACHE.loaded:
            _CACHE.loaded.add(folder)
            kept = installed_stamps.load(folder, package)
            _CACHE.stamps.update((p, s) for p, s in kept.items() if p not in _CACHE.stamps)
        for path, entry in located.items():
            why = _differs(path, entry, fresh)
            if why is not None:
                changed.append(why)
                _CACHE.stamps.pop(path, None)
        _CACHE.stamps.update(fresh)
        if folder is not None and (fresh or changed):
            installed_stamps.save(
                folder, package, {p: s for p, s in _CACHE.stamps.items() if p in located}
            )
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


def worker_refusal(plugin: str, cache: str | os.PathLike[str] | None = None) -> str | None:
    """Why no worker of ``plugin`` may start, or None: jafhost applies the sandbox, so a
    changed jafhost may not (the message names the file and says to reinstall).
    ``cache``: the host's cache folder, where the stamps of matching files are kept."""
    installed = check(cache)
    if installed.ok:
        return None
    return f"plugin {plugin}: no worker is started: {installed.detail} (reinstall jafhost)"
