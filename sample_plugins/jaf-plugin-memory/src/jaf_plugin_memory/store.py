"""Memory storage: one SQLite database, searched with FTS5 when SQLite has it.

``MemoryStore`` knows nothing about jafhost, so it is tested on a temporary folder alone.

Search: when this Python's SQLite has FTS5 (``PRAGMA compile_options`` lists
``ENABLE_FTS5``, or an FTS5 table can be created), memories are indexed in an FTS5 table
(``unicode61``, case and accents folded) and ranked with BM25; otherwise candidates are
found with SQL ``LIKE`` over a folded copy of the text and scored by the query terms they
contain. Both match a query term the same way (a word starting with it, or equal to it
for terms under 3 letters; query words are stemmed crudely first), and both weight the
relevance by the memory's importance, so ``recall`` puts what matters first.

The FTS index is kept in the same transactions as the memories themselves (no triggers,
so a SQLite without FTS5 can still write the database). A database written without FTS5
is marked stale and re-indexed the next time it is opened with FTS5.

The connection is shared by threads (jafhost runs each sync tool call in a thread of its
own): it is opened with ``check_same_thread=False`` and every operation holds a lock.
WAL mode and a busy timeout let several host processes (``jafhost call`` in two shells)
use one database.
"""

from __future__ import annotations

import heapq
import math
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

DATABASE_NAME = "memory.sqlite3"
MAX_TEXT = 20_000
MAX_TAG = 64
MAX_TAGS = 32
MIN_IMPORTANCE = 1
MAX_IMPORTANCE = 5
MAX_LIMIT = 1000
MAX_QUERY_WORDS = 32

SearchMode = Literal["auto", "fts5", "like"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    text       TEXT NOT NULL,
    tags       TEXT NOT NULL,      -- ' tag1 tag2 ': normalized, space-delimited
    importance INTEGER NOT NULL,
    created    TEXT NOT NULL,
    folded     TEXT NOT NULL       -- fold(text + tags): what the LIKE fallback searches
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
_FTS_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5("
    "text, tags, tokenize = 'unicode61 remove_diacritics 2')"
)
# bm25() is negative (more negative = better); tags weigh twice the text.
_FTS_RECALL = """
SELECT m.id, m.text, m.tags, m.importance, m.created,
       -bm25(memory_fts, 1.0, 2.0) * (1.0 + (m.importance - 1) / 2.0) AS score
FROM memory_fts JOIN memories AS m ON m.id = memory_fts.rowid
WHERE memory_fts MATCH ?
ORDER BY score DESC, m.id DESC
LIMIT ?
"""
_COLUMNS = "id, text, tags, importance, created"
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


class MemoryNotFound(LookupError):
    """No memory has this id (the message names it, ready for an agent to read)."""


class StoreClosed(RuntimeError):
    """The store was used after it was closed (the memory plugin is not running)."""


@dataclass(frozen=True)
class Memory:
    """One memory. ``tags`` are sorted and lowercase; ``created`` is ISO 8601 UTC;
    ``score`` is set only on results of ``recall`` (higher is better)."""

    id: int
    text: str
    tags: tuple[str, ...]
    importance: int
    created: str
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, as tools return it (``score`` only when ranked)."""
        data: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "tags": list(self.tags),
            "importance": self.importance,
            "created": self.created,
        }
        if self.score is not None:
            data["score"] = self.score
        return data


def fts5_available() -> bool:
    """Whether this Python's SQLite can do FTS5: ``ENABLE_FTS5`` among its compile
    options, or (built without it but loaded as an extension) an FTS5 table can be made."""
    db = sqlite3.connect(":memory:")
    try:
        options = {str(row[0]).upper() for row in db.execute("PRAGMA compile_options")}
        if "ENABLE_FTS5" in options:
            return True
        try:
            db.execute("CREATE VIRTUAL TABLE probe USING fts5(x)")
        except sqlite3.OperationalError:
            return False
        return True
    finally:
        db.close()


def normalize_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Trimmed, lowercase, inner spaces as ``-``, unique and sorted: ``Work`` and
    ``work `` are one tag, ``long term`` becomes ``long-term``."""
    if isinstance(tags, str):  # a bare string would otherwise become one tag per letter
        tags = [tags]
    clean = {_SPACE.sub("-", t.strip().lower()) for t in tags}
    clean.discard("")
    too_long = [t for t in clean if len(t) > MAX_TAG]
    if too_long:
        raise ValueError(f"tag {too_long[0][:20]!r}... is longer than {MAX_TAG} characters")
    if len(clean) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per memory, not {len(clean)}")
    return tuple(sorted(clean))


def fold(text: str) -> str:
    """Case-folded, accents removed (``Élodie`` -> ``elodie``), as FTS5's ``unicode61
    remove_diacritics`` tokenizer sees words; the fallback searches this form."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Suffixes stripped from query words (longest first), so a word finds its other forms:
# ``deploying``, ``deployed`` and ``deployment`` all search for ``deplo…``.
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "ed", "ly", "s", "y")
MIN_STEM = 3


def stem(word: str) -> str:
    """A crude stem: the first matching suffix removed when at least 3 letters remain."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


def query_words(query: str) -> list[str]:
    """The search terms of a query: its words, lowercase, stemmed and unique, in order
    (at most 32). ``ValueError`` when there is no word at all."""
    words = list(dict.fromkeys(stem(fold(w)) for w in _WORD.findall(query)))
    if not words:
        raise ValueError(f"the query {query!r} has no words to search for")
    return words[:MAX_QUERY_WORDS]


def fts_query(words: list[str]) -> str:
    """An FTS5 query matching any of ``words``. A term of 3+ characters matches a word it
    begins (``deplo`` finds ``deploy`` and ``deployment``) and, as a second phrase, the
    word itself, so exact words rank above mere prefixes (``tea`` over ``team``). Terms
    are quoted: FTS5 syntax in the user's text (``AND``, ``NEAR``, ``-``) means nothing."""
    return " OR ".join(f'"{w}" OR "{w}"*' if len(w) >= MIN_STEM else f'"{w}"' for w in words)


def importance_weight(importance: int) -> float:
    """1 for importance 1, 3 for importance 5: an important memory outranks a merely
    slightly more relevant one."""
    return 1.0 + (importance - 1) / 2.0


def scan_relevance(words: list[str], text: str, tags: tuple[str, ...]) -> float:
    """The fallback's relevance, scored like the FTS5 query: per term, ``1 + log(hits)``
    for the words it begins (3+ letters) plus the same for the words equal to it, ignoring
    case and accents; a hit in the tags counts twice."""
    folded, folded_tags = fold(text), fold(" ".join(tags))
    total = 0.0
    for word in words:
        start = r"(?<!\w)" + re.escape(word)
        patterns = [start + r"(?!\w)", start] if len(word) >= MIN_STEM else [start + r"(?!\w)"]
        for pattern in patterns:
            hits = len(re.findall(pattern, folded)) + 2 * len(re.findall(pattern, folded_tags))
            if hits:
                total += 1.0 + math.log(hits)
    return total


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    return limit


def _significant(score: float) -> float:
    """Six significant digits: BM25 scores of words found in most memories are tiny
    (SQLite clamps their weight to 1e-6), and rounding to decimals would make them equal."""
    return float(f"{score:.6g}")


def _tags_column(tags: tuple[str, ...]) -> str:
    return " " + " ".join(tags) + " " if tags else " "


def _row(row: tuple[Any, ...], score: float | None = None) -> Memory:
    tags = tuple(str(row[2]).split())
    return Memory(int(row[0]), str(row[1]), tags, int(row[3]), str(row[4]), score)


class MemoryStore:
    """Memories in ``<data_dir>/memory.sqlite3``; safe to share between threads.

    ``search``: ``"auto"`` uses FTS5 when available, ``"fts5"`` requires it (raising
    ``RuntimeError`` when missing), ``"like"`` always scans.
    """

    def __init__(self, path: Path, search: SearchMode = "auto") -> None:
        if search not in ("auto", "fts5", "like"):
            raise ValueError(f"search must be auto, fts5 or like, not {search!r}")
        use_fts = search != "like" and fts5_available()
        if search == "fts5" and not use_fts:
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} in this Python has no FTS5; "
                "set search = 'auto' or 'like'"
            )
        self.path = path
        self.uses_fts = use_fts
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        db = sqlite3.connect(path, check_same_thread=False, timeout=5.0)
        self._db: sqlite3.Connection | None = db
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)
            has_index = db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'memory_fts'"
            ).fetchone()
            with db:
                if use_fts:
                    db.execute(_FTS_TABLE)
                    self._sync_index(db)
                elif has_index:
                    # written to without keeping the index: re-index when FTS5 is back
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('fts_stale', '1')")
        except BaseException:
            db.close()
            self._db = None
            raise

    @classmethod
    def in_folder(cls, data_dir: Path, search: SearchMode = "auto") -> MemoryStore:
        """Open (creating if needed) the database in ``data_dir``."""
        return cls(Path(data_dir) / DATABASE_NAME, search)

    @property
    def search_mode(self) -> Literal["fts5", "like"]:
        return "fts5" if self.uses_fts else "like"

    # -- lifecycle --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._db is None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreClosed(f"the memory database {self.path} is closed")
        return self._db

    def close(self) -> None:
        """Close the database; later calls raise ``StoreClosed``. Idempotent."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def healthy(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self._lock:
                return bool(self._conn().execute("SELECT 1").fetchone() == (1,))
        except (StoreClosed, sqlite3.Error):
            return False

    # -- memories ---------------------------------------------------------------------

    def remember(self, text: str, tags: Iterable[str] = (), importance: int = 1) -> Memory:
        """Store a memory and return it with its id and creation time."""
        text = text.strip()
        if not text:
            raise ValueError("a memory needs some text")
        if len(text) > MAX_TEXT:
            raise ValueError(f"a memory is at most {MAX_TEXT} characters, not {len(text)}")
        if not MIN_IMPORTANCE <= importance <= MAX_IMPORTANCE:
            raise ValueError(
                f"importance must be between {MIN_IMPORTANCE} and {MAX_IMPORTANCE}, "
                f"not {importance}"
            )
        clean = normalize_tags(tags)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            db = self._conn()
            with db:  # one transaction: the memory and its index entry, or nothing
                cursor = db.execute(
                    "INSERT INTO memories (text, tags, importance, created, folded) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        text,
                        _tags_column(clean),
                        importance,
                        created,
                        fold(f"{text} {' '.join(clean)}"),
                    ),
                )
                memory_id = cursor.lastrowid
                assert memory_id is not None
                self._index(db, memory_id, text, clean)
        return Memory(memory_id, text, clean, importance, created)

    def get(self, memory_id: int) -> Memory:
        """The memory with this id; ``MemoryNotFound`` if there is none."""
        with self._lock:
            row = (
                self._conn()
                .execute(f"SELECT {_COLUMNS} FROM memories WHERE id = ?", (memory_id,))
                .fetchone()
            )
        if row is None:
            raise MemoryNotFound(f"no memory with id {memory_id}")
        return _row(row)

    def forget(self, memory_id: int) -> bool:
        """Delete a memory; False when there was no such memory."""
        with self._lock:
            db = self._conn()
            with db:
                cursor = db.execute("DELETE FROM memories WHERE id = ?", (memory_id,))
                if cursor.rowcount and self.uses_fts:
                    db.execute("DELETE FROM memory_fts WHERE rowid = ?", (memory_id,))
                elif cursor.rowcount:
                    self._mark_stale(db)
        return cursor.rowcount > 0

    def list_memories(self, tag: str | None = None, limit: int = 20) -> list[Memory]:
        """Newest first; only memories carrying ``tag`` (case-insensitive) when given."""
        _check_limit(limit)
        if tag is None:
            where, params = "", tuple[str, ...]()
        else:
            clean = normalize_tags([tag])
            if not clean:
                raise ValueError("tag must not be empty")
            where, params = "WHERE instr(tags, ?) > 0", (f" {clean[0]} ",)
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    f"SELECT {_COLUMNS} FROM memories {where} ORDER BY id DESC LIMIT ?",
                    (*params, limit),
                )
                .fetchall()
            )
        return [_row(r) for r in rows]

    def recall(self, query: str, limit: int = 5) -> list[Memory]:
        """The memories that best match ``query``, best first, each with its ``score``.

        A memory matches when it contains any of the query's words; ties go to the newest.
        """
        _check_limit(limit)
        words = query_words(query)
        with self._lock:
            db = self._conn()
            if self.uses_fts:
                rows = db.execute(_FTS_RECALL, (fts_query(words), limit)).fetchall()
                return [_row(r, _significant(float(r[5]))) for r in rows]
            best = heapq.nlargest(limit, self._scan(db, words), key=lambda m: (m.score, m.id))
        return best

    def count(self) -> int:
        with self._lock:
            row = self._conn().execute("SELECT count(*) FROM memories").fetchone()
        return int(row[0])

    # -- internals ----------------------------------------------------------------------

    def _scan(self, db: sqlite3.Connection, words: list[str]) -> Iterator[Memory]:
        """The fallback: SQL ``LIKE`` over the folded text finds the candidates (a
        superset), ``scan_relevance`` scores them."""
        where = " OR ".join(["folded LIKE ? ESCAPE '\\'"] * len(words))
        params = [
            "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            for w in words
        ]
        for row in db.execute(f"SELECT {_COLUMNS} FROM memories WHERE {where}", params):
            memory = _row(row)
            relevance = scan_relevance(words, memory.text, memory.tags)
            if relevance > 0:
                score = relevance * importance_weight(memory.importance)
                yield replace(memory, score=_significant(score))

    def _index(
        self, db: sqlite3.Connection, memory_id: int, text: str, tags: tuple[str, ...]
    ) -> None:
        if self.uses_fts:
            db.execute(
                "INSERT INTO memory_fts (rowid, text, tags) VALUES (?, ?, ?)",
                (memory_id, text, " ".join(tags)),
            )
        else:
            self._mark_stale(db)

    def _mark_stale(self, db: sqlite3.Connection) -> None:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'memory_fts'").fetchone():
            db.execute("INSERT OR REPLACE INTO meta VALUES ('fts_stale', '1')")

    def _sync_index(self, db: sqlite3.Connection) -> None:
        """Rebuild the FTS index when it was left stale or does not match the table."""
        stale = db.execute("SELECT 1 FROM meta WHERE key = 'fts_stale'").fetchone()
        indexed = db.execute("SELECT count(*) FROM memory_fts").fetchone()[0]
        stored = db.execute("SELECT count(*) FROM memories").fetchone()[0]
        if stale or indexed != stored:
            db.execute("DELETE FROM memory_fts")
            db.execute(
                "INSERT INTO memory_fts (rowid, text, tags) "
                "SELECT id, text, trim(tags) FROM memories"
            )
            db.execute("DELETE FROM meta WHERE key = 'fts_stale'")
