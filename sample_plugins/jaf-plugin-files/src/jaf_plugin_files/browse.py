"""Listing, reading and searching files: the work behind the files plugin's tools.

Nothing here checks grants: every folder listing and file open goes through Python's
``os.scandir`` / ``os.open``, which raise audit events, and jafhost's guard answers them
with ``PermissionDenied`` when the path (resolved, symlinks and ``..`` included) is not
under a granted folder. ``PermissionDenied`` is an ``OSError``, so every ``except``
for ``OSError`` below re-raises it: a denial must reach the host as a denial, never be
mistaken for an unreadable file and skipped.

Symbolic links are listed but never followed, while walking or searching: a link in a
granted folder that points elsewhere shows up as a ``symlink`` entry, and reading it
with ``read_file`` is checked against the grants at its real target.
"""

from __future__ import annotations

import codecs
import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jafhost import PermissionDenied, ToolError

PLUGIN = "files"
SNIFF_BYTES = 8192
"""How much of a file decides whether it is text."""
MAX_READ_BYTES = 1_000_000
"""The most ``read_file`` returns in one call."""
MAX_SEARCH_FILE_BYTES = 2_000_000
"""``search_text`` skips larger files (logs, dumps) rather than read them whole."""
MAX_SEARCH_FILES = 20_000
"""``search_text`` stops after looking at this many files."""
MAX_LINE_CHARS = 300
"""A matching line is cut to this many characters in the result."""
_CONTROL_OK = frozenset(b"\t\n\r\f\b\x1b")


def fail(message: str) -> ToolError:
    return ToolError(message, plugin=PLUGIN)


def absolute(path: str, what: str = "path") -> str:
    """``path`` with ``~`` expanded and normalised; relative paths are refused, since
    they would depend on the host's working folder rather than on the user's grants."""
    text = os.path.expanduser(path.strip())
    if not text or not os.path.isabs(text):
        raise fail(
            f"{what} {path!r} is not absolute: give a full path or one starting with ~, "
            "under a folder the user granted to the files plugin"
        )
    return os.path.normpath(text)


def looks_binary(sample: bytes) -> bool:
    """A NUL byte, or more than 10% control characters, in the first bytes: not text."""
    sample = sample[:SNIFF_BYTES]
    if b"\x00" in sample:
        return True
    if not sample:
        return False
    control = sum(1 for b in sample if b < 32 and b not in _CONTROL_OK)
    return control * 10 > len(sample)


def decode(data: bytes, complete: bool) -> str:
    """UTF-8 with replacement characters; an incomplete last character of a cut-off
    read is dropped rather than shown as garbage."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(data, final=complete)


def _modified(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Entry:
    """One item found while walking: its path relative to the walked folder."""

    relative: str
    entry: os.DirEntry[str]

    def kind(self) -> str:
        if self.entry.is_symlink():
            return "symlink"
        if self.entry.is_dir(follow_symlinks=False):
            return "dir"
        if self.entry.is_file(follow_symlinks=False):
            return "file"
        return "other"

    def to_json(self) -> dict[str, Any]:
        kind = self.kind()
        try:
            info: os.stat_result | None = self.entry.stat(follow_symlinks=False)
        except OSError:  # removed since the folder was listed
            info = None
        return {
            "path": self.relative,
            "type": kind,
            "size": info.st_size if info is not None and kind == "file" else None,
            "modified": _modified(info.st_mtime) if info is not None else None,
        }


def _scan(folder: str) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as found:
        return sorted(found, key=lambda e: e.name)


def walk(root: str, recursive: bool, skipped: list[str]) -> Iterator[Entry]:
    """Entries under ``root`` in path order (a folder, then what is in it, then its next
    sibling); symlinks are not followed.

    Listing ``root`` itself may fail (denied, missing, not a folder): that is the
    caller's error. A sub-folder the operating system refuses is noted in ``skipped``
    and passed over; a denial by the guard is never passed over.
    """
    stack: list[Iterator[os.DirEntry[str]]] = [iter(_scan(root))]
    prefixes = [""]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            prefixes.pop()
            continue
        relative = prefixes[-1] + entry.name
        yield Entry(relative, entry)
        if recursive and entry.is_dir(follow_symlinks=False):
            try:
                inside = _scan(entry.path)
            except PermissionDenied:
                raise
            except OSError:
                skipped.append(relative)
                continue
            stack.append(iter(inside))
            prefixes.append(relative + "/")


def _open_folder_errors(folder: str, exc: OSError) -> ToolError:
    if isinstance(exc, FileNotFoundError):
        return fail(f"no such folder: {folder}")
    if isinstance(exc, NotADirectoryError):
        return fail(f"{folder} is a file, not a folder (use read_file)")
    return fail(f"cannot list {folder}: {exc.strerror or exc}")


def list_files(folder: str, pattern: str, recursive: bool, limit: int) -> dict[str, Any]:
    """Entries of ``folder`` whose names match ``pattern`` (at most ``limit``)."""
    root = absolute(folder, "folder")
    entries: list[dict[str, Any]] = []
    skipped: list[str] = []
    truncated = False
    try:
        for item in walk(root, recursive, skipped):
            if not fnmatch.fnmatch(item.entry.name, pattern):
                continue
            if len(entries) == limit:
                truncated = True
                break
            entries.append(item.to_json())
    except PermissionDenied:
        raise
    except OSError as exc:
        raise _open_folder_errors(folder, exc) from None
    return {
        "folder": root,
        "pattern": pattern,
        "recursive": recursive,
        "entries": entries,
        "truncated": truncated,
        "unreadable_folders": skipped,
    }


def _open_regular(path: str) -> tuple[int, os.stat_result]:
    """Open for reading without blocking on a FIFO; refuse anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except PermissionDenied:
        raise
    except FileNotFoundError:
        raise fail(f"no such file: {path}") from None
    except IsADirectoryError:
        raise fail(f"{path} is a folder, not a file (use list_files)") from None
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        os.close(fd)
        raise fail(f"{path} is a folder, not a file (use list_files)")
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise fail(f"{path} is not a regular file (a device, pipe or socket)")
    return fd, info


def read_file(path: str, max_bytes: int) -> dict[str, Any]:
    """The text of ``path``, at most ``max_bytes`` of it; binary files are refused."""
    target = absolute(path)
    fd, info = _open_regular(target)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    truncated = len(data) > max_bytes
    data = data[:max_bytes]
    if looks_binary(data):
        raise fail(
            f"{path} looks like a binary file ({info.st_size} bytes); read_file returns text only"
        )
    return {
        "path": target,
        "size": info.st_size,
        "modified": _modified(info.st_mtime),
        "bytes_read": len(data),
        "truncated": truncated,
        "text": decode(data, complete=not truncated),
    }


def _search_one(path: str, needle: str, case_sensitive: bool) -> list[tuple[int, str]] | None:
    """Matching (line number, line) pairs, or None when the file is skipped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except PermissionDenied:
        raise
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(MAX_SEARCH_FILE_BYTES + 1)
    if len(data) > MAX_SEARCH_FILE_BYTES or looks_binary(data):
        return None
    found: list[tuple[int, str]] = []
    for number, line in enumerate(decode(data, complete=True).splitlines(), start=1):
        haystack = line if case_sensitive else line.casefold()
        if needle in haystack:
            found.append((number, line.strip()[:MAX_LINE_CHARS]))
    return found


def search_text(
    folder: str, query: str, pattern: str, limit: int, case_sensitive: bool
) -> dict[str, Any]:
    """Lines containing ``query`` in the text files under ``folder`` matching ``pattern``."""
    root = absolute(folder, "folder")
    needle = query if case_sensitive else query.casefold()
    matches: list[dict[str, Any]] = []
    skipped_folders: list[str] = []
    searched = skipped = 0
    truncated = False
    try:
        for item in walk(root, True, skipped_folders):
            if not item.entry.is_file(follow_symlinks=False):
                continue
            if not fnmatch.fnmatch(item.entry.name, pattern):
                continue
            if searched + skipped >= MAX_SEARCH_FILES:
                truncated = True
                break
            lines = _search_one(item.entry.path, needle, case_sensitive)
            if lines is None:
                skipped += 1
                continue
            searched += 1
            for number, text in lines:
                if len(matches) == limit:
                    truncated = True
                    break
                where = f"{item.relative}:{number}"
                matches.append(
                    {"where": where, "file": item.relative, "line": number, "text": text}
                )
            if truncated:
                break
    except PermissionDenied:
        raise
    except OSError as exc:
        raise _open_folder_errors(folder, exc) from None
    return {
        "folder": root,
        "query": query,
        "matches": matches,
        "truncated": truncated,
        "files_searched": searched,
        "files_skipped": skipped,
        "unreadable_folders": skipped_folders,
    }
