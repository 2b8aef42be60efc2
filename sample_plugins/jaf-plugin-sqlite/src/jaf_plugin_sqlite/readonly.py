"""Read-only access to one SQLite database file, with no jafhost in sight.

Three layers keep a connection from writing, each enough on its own:

1. the file is opened read-only (``file:...?mode=ro``), so SQLite refuses to change it;
2. ``PRAGMA query_only = ON`` refuses statements that would write, temporary tables too;
3. an authorizer (``sqlite3.Connection.set_authorizer``) allows only what a query
   needs (``SELECT``, reading columns, calling functions, recursive CTEs and a list
   of read-only pragmas) and denies everything else while the statement is *prepared*,
   before it runs: ``INSERT``, ``UPDATE``, ``DELETE``, ``CREATE``, ``DROP``,
   ``ATTACH`` (which could open another file behind the guard's back), transactions...

``run_query`` also checks that the text starts with ``SELECT``, ``WITH`` or
``EXPLAIN``, but only to give a clear message early: the authorizer is the rule
(``WITH x AS (SELECT 1) DELETE FROM t`` passes the text check and is still refused).

SQLite opens files in C, where Python's audit hooks (and so jafhost's in-process guard)
see nothing. ``open_readonly`` therefore first opens the file with Python's ``open``:
the guard checks that read against the plugin's grants (``read:<folder>``) and a
denial stops the connection from ever being made.
"""

from __future__ import annotations

import base64
import os
import re
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SQLITE_HEADER = b"SQLite format 3\x00"
READ_ONLY_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "collation_list",
    }
)
"""Pragmas that only report (what ``describe_table`` uses); all others are refused."""

_ALLOWED = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
_DENIED_FUNCTIONS = frozenset({"load_extension"})
_ACTION_NAMES = {
    getattr(sqlite3, name): name.removeprefix("SQLITE_").replace("_", " ")
    for name in (
        "SQLITE_CREATE_INDEX",
        "SQLITE_CREATE_TABLE",
        "SQLITE_CREATE_TEMP_INDEX",
        "SQLITE_CREATE_TEMP_TABLE",
        "SQLITE_CREATE_TEMP_TRIGGER",
        "SQLITE_CREATE_TEMP_VIEW",
        "SQLITE_CREATE_TRIGGER",
        "SQLITE_CREATE_VIEW",
        "SQLITE_DELETE",
        "SQLITE_DROP_INDEX",
        "SQLITE_DROP_TABLE",
        "SQLITE_DROP_TEMP_INDEX",
        "SQLITE_DROP_TEMP_TABLE",
        "SQLITE_DROP_TEMP_TRIGGER",
        "SQLITE_DROP_TEMP_VIEW",
        "SQLITE_DROP_TRIGGER",
        "SQLITE_DROP_VIEW",
        "SQLITE_INSERT",
        "SQLITE_PRAGMA",
        "SQLITE_TRANSACTION",
        "SQLITE_UPDATE",
        "SQLITE_ATTACH",
        "SQLITE_DETACH",
        "SQLITE_ALTER_TABLE",
        "SQLITE_REINDEX",
        "SQLITE_ANALYZE",
        "SQLITE_CREATE_VTABLE",
        "SQLITE_DROP_VTABLE",
        "SQLITE_FUNCTION",
        "SQLITE_SAVEPOINT",
    )
}
_READ_KEYWORDS = ("SELECT", "WITH", "EXPLAIN")
_LEADING_NOISE = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


class SqlRefused(ValueError):
    """The statement would do more than read; the message says what was refused."""


class QueryTimeout(TimeoutError):
    """The statement ran longer than its time limit and was interrupted."""


class UnknownTable(LookupError):
    """No table or view has this name; the message lists those that exist."""


class NotADatabase(ValueError):
    """The file exists but is not an SQLite database."""


class ReadOnlyConnection(sqlite3.Connection):
    """A ``sqlite3.Connection`` that only reads (see the module docstring).

    Made by ``open_readonly``. ``path`` is the database file (symlinks resolved);
    ``lock`` serializes the helpers below when threads share the connection.
    """

    path: str
    lock: threading.Lock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = ""
        self.lock = threading.Lock()
        self._refusals = threading.local()

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None
    ) -> int:
        if action in _ALLOWED:
            if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
                return self._refuse(f"calls the function {arg2}()")
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in READ_ONLY_PRAGMAS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 in ("sqlite_master", "sqlite_schema"):
            # SQLite asks this when a query first uses a pragma_* table-valued function
            return self._refuse("uses a pragma_* table function (the describe tool gives the same)")
        if action == sqlite3.SQLITE_TRANSACTION:
            return self._refuse(f"would {arg1 or 'start a transaction'}")
        if action == sqlite3.SQLITE_PRAGMA:
            return self._refuse(f"would run PRAGMA {arg1}")
        what = _ACTION_NAMES.get(action, f"action {action}")
        target = arg1 if action != sqlite3.SQLITE_FUNCTION else arg2
        return self._refuse(f"would {what} {target}" if target else f"would {what}")

    def _refuse(self, what: str) -> int:
        self._refusals.last = what
        return sqlite3.SQLITE_DENY

    def take_refusal(self) -> str | None:
        """What the authorizer last refused in this thread (and forget it)."""
        what: str | None = getattr(self._refusals, "last", None)
        self._refusals.last = None
        return what


def open_readonly(
    database: str | os.PathLike[str], busy_timeout: float = 5.0
) -> ReadOnlyConnection:
    """Open ``database`` read-only; usable from any thread (``check_same_thread=False``).

    Raises ``FileNotFoundError`` (or another ``OSError``) when the file cannot be read,
    jafhost's ``PermissionDenied`` when the plugin's grants do not cover it, and
    ``NotADatabase`` for a file of another kind.
    """
    path = os.path.realpath(os.path.expanduser(os.fspath(database)))
    # Python's open() raises the audit event the guard checks; SQLite's own open does not.
    with open(path, "rb") as probe:
        header = probe.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise NotADatabase(f"{path} is not an SQLite database")
    uri = "file:" + urllib.parse.quote(path) + "?mode=ro"
    conn = sqlite3.connect(
        uri,
        uri=True,
        timeout=busy_timeout,
        check_same_thread=False,
        isolation_level=None,  # no implicit transactions: there is nothing to commit
        factory=ReadOnlyConnection,
    )
    assert isinstance(conn, ReadOnlyConnection)
    conn.path = path
    try:
        conn.execute("PRAGMA query_only = ON")  # before the authorizer, which refuses pragmas
        conn.set_authorizer(conn._authorize)
    except BaseException:
        conn.close()
        raise
    return conn


def check_read_only_sql(sql: str) -> None:
    """Refuse early, with a clear message, text that does not start like a read."""
    body = _LEADING_NOISE.sub("", sql, count=1)
    keyword = body.split(None, 1)[0].upper() if body.strip() else ""
    keyword = re.split(r"[^A-Z_]", keyword, maxsplit=1)[0]
    if keyword not in _READ_KEYWORDS:
        shown = keyword or "an empty statement"
        raise SqlRefused(f"only reads are allowed (SELECT, WITH or EXPLAIN), not {shown}")


@contextmanager
def deadline(conn: ReadOnlyConnection, seconds: float | None) -> Iterator[Callable[[], bool]]:
    """Interrupt statements on ``conn`` that run past ``seconds``; yields "did it expire"."""
    if seconds is None:
        yield lambda: False
        return
    end = time.monotonic() + seconds
    expired = False

    def check() -> int:
        nonlocal expired
        expired = time.monotonic() > end
        return 1 if expired else 0

    conn.set_progress_handler(check, 1000)
    try:
        yield lambda: expired
    finally:
        conn.set_progress_handler(None, 0)


def jsonable_value(value: Any) -> Any:
    """SQLite values as JSON values; a BLOB becomes ``{"base64": ...}``."""
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


@dataclass
class QueryResult:
    """Rows (lists, in ``columns`` order) and whether more rows were left out."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    limit: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "columns": self.columns,
            "rows": self.rows,
            "row_count": len(self.rows),
            "truncated": self.truncated,
            "limit": self.limit,
        }
        if self.notes:
            data["notes"] = self.notes
        return data


def _explain(
    conn: ReadOnlyConnection, exc: sqlite3.Error, expired: bool, timeout: float | None
) -> Exception:
    """Turn what sqlite3 raised into one of this module's errors (or keep it)."""
    refused = conn.take_refusal()
    if refused is not None:
        return SqlRefused(f"only reads are allowed; this statement {refused}")
    if expired:
        return QueryTimeout(f"the query did not finish within {timeout:g} s and was interrupted")
    if "readonly" in str(exc) or "read-only" in str(exc):
        return SqlRefused(f"only reads are allowed: {exc}")
    return exc


def run_query(
    conn: ReadOnlyConnection,
    sql: str,
    params: Sequence[Any] = (),
    *,
    limit: int,
    timeout: float | None = None,
) -> QueryResult:
    """Run one read-only statement; at most ``limit`` rows, ``truncated`` if there were more."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    check_read_only_sql(sql)
    with conn.lock, deadline(conn, timeout) as expired:
        conn.take_refusal()
        try:
            cursor = conn.execute(sql, tuple(params))
            rows = cursor.fetchmany(limit + 1)
            columns = [d[0] for d in cursor.description or ()]
            cursor.close()
        except sqlite3.Error as exc:
            raise _explain(conn, exc, expired(), timeout) from None
    truncated = len(rows) > limit
    rows = rows[:limit]
    notes = [f"more rows matched; only the first {limit} are shown"] if truncated else []
    return QueryResult(
        columns=columns,
        rows=[[jsonable_value(v) for v in row] for row in rows],
        truncated=truncated,
        limit=limit,
        notes=notes,
    )


def list_tables(conn: ReadOnlyConnection) -> list[dict[str, str]]:
    """The tables and views, by name (SQLite's own ``sqlite_*`` tables left out)."""
    with conn.lock:
        rows = conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        ).fetchall()
    return [{"name": name, "type": kind} for name, kind in rows]


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def describe_table(
    conn: ReadOnlyConnection, table: str, timeout: float | None = None
) -> dict[str, Any]:
    """One table or view: its columns, indexes, foreign keys, row count and SQL."""
    with conn.lock:
        found = conn.execute(
            "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name = ? COLLATE NOCASE",
            (table,),
        ).fetchone()
    if found is None:
        known = ", ".join(t["name"] for t in list_tables(conn)) or "none"
        raise UnknownTable(f"no table or view named {table!r} (tables: {known})")
    name, kind, sql = found
    quoted = quote_identifier(name)
    with conn.lock, deadline(conn, timeout) as expired:
        try:
            # PRAGMA statements rather than the pragma_* table-valued functions: the first
            # use of those makes SQLite ask the authorizer about updating sqlite_master.
            columns = [
                {
                    "name": col_name,
                    "type": col_type,
                    "not_null": bool(not_null),
                    "default": default,
                    "primary_key": pk,
                    **({"hidden": hidden} if hidden else {}),
                }
                for _cid, col_name, col_type, not_null, default, pk, hidden in conn.execute(
                    f"PRAGMA table_xinfo({quoted})"
                ).fetchall()
            ]
            indexes = []
            for _seq, index_name, unique, origin, _partial in conn.execute(
                f"PRAGMA index_list({quoted})"
            ).fetchall():
                index_columns = [
                    row[2]
                    for row in conn.execute(
                        f"PRAGMA index_info({quote_identifier(index_name)})"
                    ).fetchall()
                ]
                indexes.append(
                    {
                        "name": index_name,
                        "unique": bool(unique),
                        "origin": origin,
                        "columns": index_columns,
                    }
                )
            indexes.sort(key=lambda index: str(index["name"]))
            foreign_keys = [
                {
                    "column": row[3],
                    "references": f"{row[2]}({row[4]})" if row[4] else row[2],
                }
                for row in conn.execute(f"PRAGMA foreign_key_list({quoted})").fetchall()
            ]
            rows = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
        except sqlite3.Error as exc:
            raise _explain(conn, exc, expired(), timeout) from None
    return {
        "name": name,
        "type": kind,
        "columns": columns,
        "indexes": indexes,
        "foreign_keys": foreign_keys,
        "rows": rows,
        "sql": sql,
    }
