"""``jaf_plugin_sqlite.readonly`` on a real database file, without a host."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from jaf_plugin_sqlite import readonly
from jaf_plugin_sqlite.readonly import (
    NotADatabase,
    QueryTimeout,
    ReadOnlyConnection,
    SqlRefused,
    UnknownTable,
)


def make_database(path: Path, orders: int = 5) -> Path:
    db = sqlite3.connect(path)
    try:
        db.executescript(
            """
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE);
            CREATE TABLE orders (
                id INTEGER PRIMARY KEY,
                customer_id INTEGER NOT NULL REFERENCES customers(id),
                total REAL DEFAULT 0,
                receipt BLOB
            );
            CREATE INDEX orders_by_customer ON orders(customer_id);
            CREATE VIEW big_orders AS SELECT * FROM orders WHERE total >= 100;
            INSERT INTO customers (name, email) VALUES ('Ann', 'ann@example.com'),
                                                       ('Bob', 'bob@example.com');
            """
        )
        db.executemany(
            "INSERT INTO orders (customer_id, total, receipt) VALUES (?, ?, ?)",
            [(1 + i % 2, 10.0 * (i + 1), b"\x00\xff" if i == 0 else None) for i in range(orders)],
        )
        db.commit()
    finally:
        db.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return make_database(tmp_path / "shop.db")


@pytest.fixture
def conn(database: Path) -> Iterator[ReadOnlyConnection]:
    opened = readonly.open_readonly(database)
    try:
        yield opened
    finally:
        opened.close()


def test_query_returns_columns_rows_and_blobs(conn: ReadOnlyConnection) -> None:
    result = readonly.run_query(
        conn,
        "SELECT id, total, receipt FROM orders WHERE customer_id = ? ORDER BY id",
        [1],
        limit=10,
    )
    assert result.to_json() == {
        "columns": ["id", "total", "receipt"],
        "rows": [[1, 10.0, {"base64": "AP8="}], [3, 30.0, None], [5, 50.0, None]],
        "row_count": 3,
        "truncated": False,
        "limit": 10,
    }


def test_limit_truncates_and_says_so(conn: ReadOnlyConnection) -> None:
    result = readonly.run_query(conn, "SELECT id FROM orders ORDER BY id", limit=2)
    assert result.rows == [[1], [2]]
    assert result.truncated
    assert result.to_json()["notes"] == ["more rows matched; only the first 2 are shown"]
    exact = readonly.run_query(conn, "SELECT id FROM orders", limit=5)
    assert not exact.truncated and len(exact.rows) == 5
    with pytest.raises(ValueError, match="limit"):
        readonly.run_query(conn, "SELECT 1", limit=0)


@pytest.mark.parametrize(
    "sql",
    [
        "  -- a comment\n/* another */ SELECT 1",
        "WITH t(x) AS (SELECT 2) SELECT x FROM t",
        "EXPLAIN QUERY PLAN SELECT * FROM orders",
        "select * from big_orders",
    ],
)
def test_reads_are_allowed(conn: ReadOnlyConnection, sql: str) -> None:
    assert readonly.run_query(conn, sql, limit=5).columns


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("DELETE FROM orders", "not DELETE"),
        ("INSERT INTO orders (customer_id) VALUES (1)", "not INSERT"),
        ("CREATE TEMP TABLE scratch (a)", "not CREATE"),
        ("ATTACH DATABASE '/tmp/other.db' AS other", "not ATTACH"),
        ("PRAGMA query_only = OFF", "not PRAGMA"),
        ("BEGIN", "not BEGIN"),
        ("", "empty statement"),
        # past the text check: only the authorizer stands in the way
        ("WITH doomed AS (SELECT 1) DELETE FROM orders", "this statement would DELETE orders"),
        ("WITH x AS (SELECT 1) UPDATE orders SET total = 0", "would UPDATE orders"),
        ("SELECT load_extension('evil')", "load_extension"),
        ("SELECT * FROM pragma_table_info('orders')", "describe tool"),
    ],
)
def test_anything_but_a_read_is_refused(
    conn: ReadOnlyConnection, database: Path, sql: str, refused: str
) -> None:
    before = digest(database)
    with pytest.raises(SqlRefused, match=refused):
        readonly.run_query(conn, sql, limit=5)
    assert digest(database) == before


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM orders",
        "UPDATE orders SET total = 0",
        "CREATE TEMP TABLE scratch (a)",  # mode=ro alone would allow this one
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA query_only = OFF",
        "PRAGMA writable_schema = ON",
        "BEGIN IMMEDIATE",
        "DROP VIEW big_orders",
    ],
)
def test_the_authorizer_refuses_writes_on_the_raw_connection(
    conn: ReadOnlyConnection, database: Path, sql: str
) -> None:
    """What a plugin using the integration's connection directly meets: no text check,
    the authorizer refuses while the statement is prepared."""
    before = digest(database)
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        conn.execute(sql)
    assert conn.take_refusal() is not None
    assert digest(database) == before
    assert conn.execute("SELECT count(*) FROM orders").fetchone() == (5,)


def test_one_statement_at_a_time(conn: ReadOnlyConnection) -> None:
    with pytest.raises(sqlite3.ProgrammingError, match="one statement"):
        readonly.run_query(conn, "SELECT 1; DELETE FROM orders", limit=5)


def test_runaway_query_is_interrupted(conn: ReadOnlyConnection) -> None:
    forever = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    with pytest.raises(QueryTimeout, match=r"0\.2 s"):
        readonly.run_query(conn, forever, limit=1, timeout=0.2)
    assert readonly.run_query(conn, "SELECT 1", limit=1, timeout=0.2).rows == [[1]]


def test_tables_and_describe(conn: ReadOnlyConnection) -> None:
    assert readonly.list_tables(conn) == [
        {"name": "big_orders", "type": "view"},
        {"name": "customers", "type": "table"},
        {"name": "orders", "type": "table"},
    ]
    orders = readonly.describe_table(conn, "ORDERS")  # names are case-insensitive
    assert orders["name"] == "orders" and orders["type"] == "table"
    assert [c["name"] for c in orders["columns"]] == ["id", "customer_id", "total", "receipt"]
    assert orders["columns"][0]["primary_key"] == 1
    assert orders["columns"][1]["not_null"] is True
    assert orders["columns"][2]["default"] == "0"
    assert orders["indexes"] == [
        {"name": "orders_by_customer", "unique": False, "origin": "c", "columns": ["customer_id"]}
    ]
    assert orders["foreign_keys"] == [{"column": "customer_id", "references": "customers(id)"}]
    assert orders["rows"] == 5
    assert orders["sql"].startswith("CREATE TABLE orders")
    assert readonly.describe_table(conn, "big_orders")["rows"] == 0
    with pytest.raises(UnknownTable, match="tables: big_orders, customers, orders"):
        readonly.describe_table(conn, "nope")


def test_odd_table_names_are_quoted(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    db = sqlite3.connect(path)
    db.execute('CREATE TABLE "we""ird name" (a)')
    db.execute('INSERT INTO "we""ird name" VALUES (1)')
    db.commit()
    db.close()
    with closing(readonly.open_readonly(path)) as conn:
        assert readonly.describe_table(conn, 'we"ird name')["rows"] == 1


def test_open_refuses_what_is_not_a_database(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all")
    with pytest.raises(NotADatabase, match=r"notes\.txt"):
        readonly.open_readonly(text)
    with pytest.raises(FileNotFoundError):
        readonly.open_readonly(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()  # mode=ro never creates the file


def test_open_follows_symlinks_to_the_real_file(database: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.db"
    link.symlink_to(database)
    conn = readonly.open_readonly(link)
    try:
        assert conn.path == str(database.resolve())
    finally:
        conn.close()


def test_shared_between_threads(conn: ReadOnlyConnection) -> None:
    """jafhost runs each call in a worker thread; the integration's connection is shared."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert readonly.run_query(conn, "SELECT count(*) FROM orders", limit=1).rows == [
                    [5]
                ]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
