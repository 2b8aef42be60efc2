"""A plugin distribution's installed files checked against its ``RECORD``, before import.

An installed plugin's code is whatever its files hold when it is imported. Whoever can
write them (another plugin granted write access where they live, a stray tool) can
change that code after the user approved the plugin. Installers write each file's
``sha256`` into the distribution's ``RECORD`` (the wheel spec's urlsafe base64, no
padding), so before any of a plugin's code is imported the host compares every file
listed there with a hash against the file on disk (``check_distribution``): a file that
differs or is missing makes the plugin ``invalid`` with that file named, as does a file
``RECORD`` does not list where the plugin's code is imported from (``foreign_files``:
another wheel's, which the import system could take in place of the plugin's).

Files listed without a hash (``RECORD`` itself, signatures, caches an installer left
unhashed) are skipped, as the wheel spec says; files installed outside site-packages
(scripts) are checked where ``RECORD`` places them. A file is hashed again only when
its size, modification or change time or inode differ from the stamp kept when it last
matched (``integrity_stamps``): the change time moves on every write and on ``utime``
itself, so restoring the modification time after an edit does not hide it. An
unchanged distribution costs one ``stat`` per file.

Folder plugins and editable installs have no hashes of their sources: ``unverified``,
and they still run. Stdlib only: this runs before every plugin start.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from typing import Any

from jafhost.discovery.foreign_files import foreign_file
from jafhost.discovery.integrity_stamps import Stamp, StampStore
from jafhost.discovery.records import PluginInfo
from jafhost.file_stamps import CHANGE_MARGIN_NS, record_rows
from jafhost.frozen import Frozen
from jafhost.safe_read import UnsafeFile, read_text

STAMPS_FOLDER = "integrity"
"""Where the stamps live under the home's cache folder."""
RECORD_LIMIT = 16 * 1024 * 1024
"""The largest ``RECORD`` read (one line per file: a very large distribution is 1 MB)."""
DIRECT_URL_LIMIT = 64 * 1024
CHUNK = 1 << 20
GUARANTEED_HASHES = frozenset(
    {"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "blake2b", "blake2s"}
    | {"sha3_224", "sha3_256", "sha3_384", "sha3_512", "shake_128", "shake_256"}
)
"""``hashlib.algorithms_guaranteed``, named here so that checking a ``RECORD`` whose files
match their stamps does not import ``hashlib`` (and OpenSSL); a test keeps them equal."""
WEAK_HASHES = frozenset({"md5", "sha1"})
"""Refused as the wheel spec refuses them: a ``RECORD`` naming one cannot vouch for a file."""
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)

VERIFIED, CHANGED, UNVERIFIED = "verified", "changed", "unverified"


class Integrity(Frozen):
    """How one distribution's installed files compare with its ``RECORD`` (a ``Frozen``
    value: defined by every call, where a ``NamedTuple`` costs compiles)."""

    __slots__ = ("detail", "file", "files", "hashed", "status")
    _fields = ("status", "detail", "file", "files", "hashed")

    status: str
    """``verified``, ``changed`` (a file differs or is missing) or ``unverified``
    (nothing to compare with: a folder plugin, an editable install, no hashes)."""
    detail: str
    """One line: what was compared, what differs, or why nothing was."""
    file: str | None
    """The first file at fault (as it is on disk), for ``changed``."""
    files: int
    """How many files ``RECORD`` lists with a hash."""
    hashed: int
    """How many of them were hashed by this check (the others matched their stamps)."""

    def __init__(
        self,
        status: str,
        detail: str,
        file: str | None = None,
        files: int = 0,
        hashed: int = 0,
    ) -> None:
        self._set(status, detail, file, files, hashed)

    @property
    def ok(self) -> bool:
        """Whether the plugin's code may be imported (``unverified`` does not stop it)."""
        return self.status != CHANGED

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "file": self.file,
            "files": self.files,
            "hashed": self.hashed,
        }


class Entry(Frozen):
    """One hashed line of ``RECORD``: where the file is and what it must hold."""

    __slots__ = ("algorithm", "digest", "path", "size")
    _fields = ("path", "algorithm", "digest", "size")

    path: str
    algorithm: str
    digest: str
    size: int | None

    def __init__(self, path: str, algorithm: str, digest: str, size: int | None) -> None:
        self._set(path, algorithm, digest, size)


class HashCount:
    """How many files were hashed in this process: lets a test see that an unchanged
    plugin costs no hashing, without timing anything."""

    value = 0


def check_plugin(info: PluginInfo, store: StampStore, *, force: bool = False) -> Integrity | None:
    """The integrity of the files ``info`` is imported from: its distribution's, checked
    (``check_distribution``); ``unverified`` for a folder plugin or an ``.egg-info``;
    None for a plugin registered in memory (no files)."""
    if info.source == "memory" or not info.location:
        return None
    if info.source != "distribution":
        return Integrity(UNVERIFIED, "a folder plugin: no RECORD to check its files against")
    if not info.location.endswith(".dist-info"):
        return Integrity(UNVERIFIED, f"{info.location}: no RECORD (not a .dist-info install)")
    package = info.entry_point.replace(" ", "").partition(":")[0].partition(".")[0]
    return check_distribution(info.location, store, force=force, packages=(package,))


def _editable(dist_info: str) -> bool:
    """Whether ``direct_url.json`` says an editable install (``dir_info.editable``)."""
    try:
        data = json.loads(read_text(os.path.join(dist_info, "direct_url.json"), DIRECT_URL_LIMIT))
    except (OSError, UnsafeFile, ValueError, RecursionError):
        return False
    info = data.get("dir_info") if isinstance(data, dict) else None
    return isinstance(info, dict) and info.get("editable") is True


def read_entries(dist_info: str, listed: set[str] | None = None) -> list[Entry] | Integrity:
    """The hashed entries of ``dist_info``'s ``RECORD``, or the outcome when there are
    none to check (unverified) or ``RECORD`` cannot vouch for a file (changed);
    ``listed`` gets every path it lists, hashed or not."""
    record = os.path.join(dist_info, "RECORD")
    if _editable(dist_info):
        return Integrity(UNVERIFIED, "an editable install: RECORD holds no hashes of its sources")
    try:
        text = read_text(record, RECORD_LIMIT)
    except FileNotFoundError:
        return Integrity(UNVERIFIED, f"no RECORD in {dist_info}")
    except UnsafeFile as exc:
        return Integrity(CHANGED, f"{record}: {exc}", record)
    site = os.path.dirname(dist_info)
    entries: list[Entry] = []
    try:
        rows = record_rows(text)
    except ValueError as exc:  # what ``csv`` found wrong
        return Integrity(CHANGED, f"{record}: not a RECORD file ({exc})", record)
    for row in rows:
        if row and "\0" in row[0]:
            return Integrity(CHANGED, f"{record} names a path holding a NUL byte", record)
        if listed is not None and row and row[0]:
            listed.add(os.path.normpath(os.path.join(site, row[0])))
        if len(row) < 2 or not row[1]:
            continue  # no hash: RECORD itself, signatures, unhashed caches
        algorithm, sep, digest = row[1].partition("=")
        path = os.path.normpath(os.path.join(site, row[0]))
        if (
            not sep
            or algorithm in WEAK_HASHES
            or algorithm not in GUARANTEED_HASHES
            or algorithm.startswith("shake_")
        ):
            return Integrity(
                CHANGED, f"{record} names hash {algorithm!r} for {path}: not one checked", path
            )
        size = int(row[2]) if len(row) > 2 and row[2].isdigit() else None
        entries.append(Entry(path, algorithm, digest, size))
    if not entries:
        return Integrity(UNVERIFIED, f"{record} lists no file with a hash")
    return entries


def _digest(fd: int, algorithm: str) -> str:
    import base64
    import hashlib  # only when a file is hashed: a stamped one is not

    hasher = hashlib.new(algorithm)
    while chunk := os.read(fd, CHUNK):
        hasher.update(chunk)
    return base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode("ascii")


def _matches(entry: Entry, stamps: dict[str, Stamp], force: bool) -> tuple[bool, bool]:
    """Whether the file still holds what ``RECORD`` says, and whether it was hashed.
    Its stamp is kept in ``stamps`` when it matches, dropped when it does not."""
    expected = f"{entry.algorithm}={entry.digest}"
    try:
        st = os.stat(entry.path)
    except OSError:
        stamps.pop(entry.path, None)
        return False, False
    now = Stamp(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, expected)
    if not force and stamps.get(entry.path) == now and stat.S_ISREG(st.st_mode):
        return True, False
    stamps.pop(entry.path, None)
    if not stat.S_ISREG(st.st_mode) or (entry.size is not None and st.st_size != entry.size):
        return False, False
    try:
        fd = os.open(entry.path, _FLAGS)
    except OSError:
        return False, False
    try:
        st = os.fstat(fd)  # the stamp of what is hashed (a change while hashing moves ctime)
        if not stat.S_ISREG(st.st_mode):
            return False, False
        HashCount.value += 1
        if _digest(fd, entry.algorithm) != entry.digest:
            return False, True
    except OSError:
        return False, True
    finally:
        os.close(fd)
    if time.time_ns() - st.st_ctime_ns >= CHANGE_MARGIN_NS:
        stamps[entry.path] = Stamp(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, expected)
    return True, True


def check_distribution(
    dist_info: str, store: StampStore, *, force: bool = False, packages: tuple[str, ...] = ()
) -> Integrity:
    """Compare the files ``dist_info``'s ``RECORD`` lists with a hash against the disk,
    then look where the import system finds them for files it does not list
    (``foreign_files``; ``packages``: the entry points' top-level packages); ``force``:
    hash every file, whatever its stamp says."""
    listed: set[str] = set()
    found = read_entries(dist_info, listed)
    if isinstance(found, Integrity):
        return found
    stamps = store.load(dist_info)
    before = dict(stamps)
    hashed = 0
    fault: tuple[str, str] | None = None
    for entry in found:
        ok, did_hash = _matches(entry, stamps, force)
        hashed += did_hash
        if not ok and fault is None:
            why = "is missing" if not os.path.lexists(entry.path) else "differs from its RECORD"
            fault = (entry.path, why)
    if stamps != before:
        store.save(dist_info, stamps)
    if fault is not None:
        path, why = fault
        return Integrity(CHANGED, f"installed file {path} {why}", path, len(found), hashed)
    stranger = foreign_file(os.path.dirname(dist_info), listed, packages, sys.path)
    if stranger is not None:
        why = f"{stranger} is not in its RECORD, where its code is imported from"
        return Integrity(CHANGED, why, stranger, len(found), hashed)
    return Integrity(VERIFIED, f"{len(found)} files match RECORD", None, len(found), hashed)


class ChangedFiles(Exception):
    """A plugin's installed files do not match its ``RECORD``: none of its code may run."""


def require_intact(info: PluginInfo, cache: str | os.PathLike[str] | None) -> None:
    """Check ``info``'s files now (stamps kept under ``cache``), just before its code is
    imported; ``ChangedFiles`` naming the file when one differs or is missing. For a
    caller that does not go through the host's ``Catalog`` (which checks the same)."""
    stamps = None if cache is None else os.path.join(cache, STAMPS_FOLDER)
    found = check_plugin(info, StampStore(stamps))
    if found is not None and not found.ok:
        raise ChangedFiles(f"plugin {info.name}: {found.detail}")
