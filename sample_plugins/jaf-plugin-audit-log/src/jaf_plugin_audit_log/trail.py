"""The audit trail file and the redaction of secrets; nothing here knows about jafhost.

``AuditTrail`` appends one JSON object per line to ``audit.jsonl`` and flushes after
each line, so a crash loses at most the line being written and ``tail -f`` shows calls
as they happen. When the next line would take the file past ``max_bytes`` it is
rotated first: ``audit.jsonl`` becomes ``audit.jsonl.1``, ``.1`` becomes ``.2`` and so
on, keeping ``backups`` old files (0: the trail restarts empty). ``recent`` reads back
through the rotated files too.

The file stays open between lines (appending costs one ``write``); before each line the
trail checks that the path still names the open file and reopens it when another
process (another host sharing this data folder) or a log rotator moved it away.
Threads share one trail: every method holds a lock.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

LOGGER = logging.getLogger(__name__)

TRAIL_FILE = "audit.jsonl"
REDACTED = "[redacted]"
DEFAULT_SECRET_KEYS = (
    "*token*",
    "*password*",
    "*passwd*",
    "*secret*",
    "*api_key*",
    "*api-key*",
    "*apikey*",
    "*authorization*",
    "*credential*",
    "*private_key*",
    "*cookie*",
)
"""Argument and data keys whose values never reach the trail (case-insensitive globs)."""
MAX_DEPTH = 20


class Redactor:
    """Copies JSON-like data with secret values replaced and long strings shortened.

    A value is secret when its key (in any mapping, at any depth) matches one of the
    glob ``patterns``, case-insensitively: ``*token*`` covers ``token``, ``api_token``
    and ``X-Auth-Token``. Strings longer than ``max_chars`` keep their first
    ``max_chars`` characters and say how long they were.
    """

    def __init__(self, patterns: Iterable[str] = DEFAULT_SECRET_KEYS, max_chars: int = 1000):
        self.patterns = tuple(dict.fromkeys(p.lower() for p in patterns))
        self.max_chars = max_chars

    def is_secret(self, key: str) -> bool:
        lowered = key.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in self.patterns)

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return "[too deep]"
        if isinstance(value, Mapping):
            return {
                str(k): REDACTED if self.is_secret(str(k)) else self(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self(v, depth + 1) for v in value]
        if isinstance(value, str) and len(value) > self.max_chars:
            return f"{value[: self.max_chars]}… [{len(value)} characters]"
        if value is None or isinstance(value, bool | int | float | str):
            return value
        return self(repr(value), depth + 1)


class AuditTrail:
    """``path`` (normally ``<data_dir>/audit.jsonl``) and its rotated predecessors."""

    def __init__(self, path: Path, max_bytes: int = 1_000_000, backups: int = 3) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        if backups < 0:
            raise ValueError("backups must be 0 or more")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._open()

    # -- writing --------------------------------------------------------------------------

    def append(self, entry: Mapping[str, Any]) -> None:
        """Write one entry as one line, rotating first when it would not fit."""
        line = (
            json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=repr) + "\n"
        ).encode("utf-8")
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the audit trail {self.path} is closed")
            handle = self._current()
            size = os.fstat(handle.fileno()).st_size
            if size and size + len(line) > self.max_bytes:
                handle = self._rotate()
            handle.write(line)
            handle.flush()

    def close(self) -> None:
        """Close the file; later appends raise ``RuntimeError``. Idempotent."""
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None

    @property
    def closed(self) -> bool:
        return self._closed

    def _open(self) -> IO[bytes]:
        self._file = open(self.path, "ab")  # noqa: SIM115 - kept open between lines
        return self._file

    def _current(self) -> IO[bytes]:
        """The open file, reopened if ``path`` no longer names it (moved or deleted)."""
        handle = self._file
        if handle is None:
            return self._open()
        try:
            same = os.path.samestat(os.stat(self.path), os.fstat(handle.fileno()))
        except FileNotFoundError:
            same = False
        if not same:
            handle.close()
            return self._open()
        return handle

    def _rotate(self) -> IO[bytes]:
        assert self._file is not None
        self._file.close()
        self._file = None
        try:
            if self.backups == 0:
                self.path.unlink(missing_ok=True)
            for index in range(self.backups, 0, -1):
                source = self.path if index == 1 else self._backup(index - 1)
                if source.exists():
                    os.replace(source, self._backup(index))
        except OSError as exc:  # keep auditing into the current file rather than stop
            LOGGER.warning("could not rotate %s: %s", self.path, exc)
        return self._open()

    def _backup(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    # -- reading --------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """The trail's files that exist, newest first."""
        candidates = [self.path, *(self._backup(i) for i in range(1, self.backups + 1))]
        return [p for p in candidates if p.exists()]

    def recent(self, limit: int = 20, kind: str | None = None) -> list[dict[str, Any]]:
        """The last ``limit`` entries (whose ``kind`` matches the glob ``kind``, when
        given), oldest first. Lines that are not JSON objects are skipped."""
        if limit < 1:
            return []
        found: list[dict[str, Any]] = []
        with self._lock:
            for entry in self._newest_first():
                if kind is None or fnmatch.fnmatchcase(str(entry.get("kind", "")), kind):
                    found.append(entry)
                    if len(found) >= limit:
                        break
        found.reverse()
        return found

    def _newest_first(self) -> Iterator[dict[str, Any]]:
        for path in self.files():
            try:
                lines = path.read_bytes().splitlines()
            except FileNotFoundError:  # rotated away meanwhile by another process
                continue
            for raw in reversed(lines):
                try:
                    entry = json.loads(raw)
                except ValueError:  # a line cut short by a crash
                    continue
                if isinstance(entry, dict):
                    yield entry
