"""Note storage: one SQLite database in the plugin's data folder, and the open-store registry.

``NoteStore`` knows nothing about jafhost, so it is tested on a temporary folder alone.
The connection is shared by threads: jafhost runs each sync hook and tool call in a
thread of its own, so the database is opened with ``check_same_thread=False`` and every
operation holds a lock.

The registry (``open_store`` / ``close_store`` / ``active_store``) exists because a
dependent plugin (notes-search) needs the database the running notes plugin opened, and
the host's integration API (``ctx.integration``) is not wired yet. Once it is, notes can
offer the store as an integration and dependents should use that instead.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

DATABASE_NAME = "notes.sqlite3"
MAX_LIMIT = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    title   TEXT NOT NULL,
    body    TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS note_tags (
    note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (note_id, tag)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS note_tags_by_tag ON note_tags(tag, note_id);
"""


class NoteNotFound(LookupError):
    """No note has this id (the message names it, ready for an agent to read)."""


class NotesNotActive(RuntimeError):
    """The notes store was asked for while the notes plugin is not running."""


@dataclass(frozen=True)
class Note:
    """One note; ``created`` is an ISO 8601 UTC timestamp, ``tags`` sorted and lowercase."""

    id: int
    title: str
    body: str
    tags: tuple[str, ...]
    created: str

    def to_json(self) -> dict[str, Any]:
        """The note as tools return it: plain JSON types (tags as a list)."""
        data = asdict(self)
        data["tags"] = list(self.tags)
        return data


def normalize_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Trimmed, lowercase, unique and sorted, so ``Work`` and ``work `` are one tag."""
    if isinstance(tags, str):  # a bare string would otherwise become one tag per letter
        tags = [tags]
    return tuple(sorted({t.strip().lower() for t in tags if t.strip()}))


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    return limit


class NoteStore:
    """Notes in ``<data_dir>/notes.sqlite3``; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_folder(cls, data_dir: Path) -> NoteStore:
        """Open (creating if needed) the database in ``data_dir``."""
        return cls(data_dir / DATABASE_NAME)

    # -- lifecycle --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._db is None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise NotesNotActive(f"the notes database {self.path} is closed")
        return self._db

    def close(self) -> None:
        """Close the database; later calls raise ``NotesNotActive``. Idempotent."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> NoteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- notes ------------------------------------------------------------------------

    def add(self, title: str, body: str, tags: Iterable[str] = ()) -> Note:
        """Store a new note and return it with its id and creation time."""
        title = title.strip()
        if not title:
            raise ValueError("a note needs a non-empty title")
        clean = normalize_tags(tags)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            db = self._conn()
            with db:  # one transaction: the note and its tags, or nothing
                cursor = db.execute(
                    "INSERT INTO notes (title, body, created) VALUES (?, ?, ?)",
                    (title, body, created),
                )
                note_id = cursor.lastrowid
                assert note_id is not None
                db.executemany(
                    "INSERT INTO note_tags (note_id, tag) VALUES (?, ?)",
                    [(note_id, tag) for tag in clean],
                )
        return Note(note_id, title, body, clean, created)

    def get(self, note_id: int) -> Note:
        """The note with this id; ``NoteNotFound`` if there is none."""
        notes = self._select("WHERE id = ?", (note_id,))
        if not notes:
            raise NoteNotFound(f"no note with id {note_id}")
        return notes[0]

    def list_notes(self, tag: str | None = None, limit: int = 20) -> list[Note]:
        """Newest first; only notes carrying ``tag`` (case-insensitive) when given."""
        _check_limit(limit)
        if tag is None:
            return self._select("", (), limit)
        clean = normalize_tags([tag])
        if not clean:
            raise ValueError("tag must not be empty")
        return self._select(
            "WHERE id IN (SELECT note_id FROM note_tags WHERE tag = ?)", (clean[0],), limit
        )

    def all_notes(self) -> list[Note]:
        """Every note, newest first (what a search over the whole collection reads)."""
        return self._select("", ())

    def delete(self, note_id: int) -> bool:
        """Delete a note and its tags; False when there was no such note."""
        with self._lock:
            db = self._conn()
            with db:
                cursor = db.execute("DELETE FROM notes WHERE id = ?", (note_id,))
        return cursor.rowcount > 0

    def count(self) -> int:
        with self._lock:
            row = self._conn().execute("SELECT count(*) FROM notes").fetchone()
        return int(row[0])

    def _select(self, where: str, params: tuple[Any, ...], limit: int | None = None) -> list[Note]:
        sql = f"SELECT id, title, body, created FROM notes {where} ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params = (*params, limit)
        with self._lock:
            db = self._conn()
            rows = db.execute(sql, params).fetchall()
            tags: dict[int, list[str]] = {row[0]: [] for row in rows}
            if tags:
                marks = ",".join("?" * len(tags))
                for note_id, tag in db.execute(
                    f"SELECT note_id, tag FROM note_tags WHERE note_id IN ({marks}) "
                    "ORDER BY note_id, tag",
                    tuple(tags),
                ):
                    tags[note_id].append(tag)
        return [Note(r[0], r[1], r[2], tuple(tags[r[0]]), r[3]) for r in rows]


# -- the stores opened by running notes plugins ------------------------------------------

_registry: dict[Path, NoteStore] = {}
_registry_lock = threading.Lock()


def _key(data_dir: Path) -> Path:
    return Path(data_dir).resolve()


def open_store(data_dir: Path) -> NoteStore:
    """Open the store of a starting notes plugin and make it the active one."""
    store = NoteStore.in_folder(data_dir)
    with _registry_lock:
        previous = _registry.pop(_key(data_dir), None)
        _registry[_key(data_dir)] = store
    if previous is not None:
        previous.close()
    return store


def close_store(data_dir: Path) -> None:
    """Close and forget the store opened for ``data_dir`` (nothing if none is open)."""
    with _registry_lock:
        store = _registry.pop(_key(data_dir), None)
    if store is not None:
        store.close()


def store_at(data_dir: Path) -> NoteStore:
    """The open store of the notes plugin whose data folder is ``data_dir``."""
    with _registry_lock:
        store = _registry.get(_key(data_dir))
    if store is None:
        raise NotesNotActive(
            f"the notes plugin is not active for {data_dir} (jaf_initialize has not run, "
            "or jaf_deactivate already closed the database)"
        )
    return store


def active_store() -> NoteStore:
    """The store of the running notes plugin, for plugins that depend on notes.

    With several hosts in one process, the most recently opened store wins. Raises
    ``NotesNotActive`` when no notes plugin is running (not enabled, broken, stopped).
    """
    with _registry_lock:
        stores = list(_registry.values())
    if not stores:
        raise NotesNotActive(
            "the notes plugin is not active: enable and activate 'notes' "
            "(jafhost enable notes) before using its store"
        )
    return stores[-1]
