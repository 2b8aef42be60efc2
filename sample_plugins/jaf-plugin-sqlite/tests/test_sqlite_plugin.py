"""The sqlite plugin in a real host (``jafhost_factory``, the ``jafhost.testing`` pytest
plugin): discovered from its installed distribution, granted only the database's folder,
its tools called through the host's router and its integration used by another plugin.

Needs the distribution installed: ``pip install -e sample_plugins/jaf-plugin-sqlite``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Factory = Callable[..., Any]


def make_database(path: Path, orders: int = 250) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(
            """
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
            CREATE TABLE orders (
                id INTEGER PRIMARY KEY,
                customer_id INTEGER NOT NULL REFERENCES customers(id),
                total REAL NOT NULL
            );
            INSERT INTO customers (name) VALUES ('Ann'), ('Bob');
            """
        )
        db.executemany(
            "INSERT INTO orders (customer_id, total) VALUES (?, ?)",
            [(1 + i % 2, float(i + 1)) for i in range(orders)],
        )
        db.commit()
    finally:
        db.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A database in a folder of its own: the folder the tests grant."""
    return make_database(tmp_path / "granted" / "shop.db")


def start(factory: Factory, database: Path, *, folder: Path | None = None, **config: Any) -> Any:
    """A host running sqlite over ``database``, granted ``read:`` on ``folder`` only."""
    granted = folder if folder is not None else database.parent
    return factory(
        "sqlite",
        grants={"sqlite": [f"read:{granted}"]},
        config={"plugins": {"sqlite": {"database": str(database), **config}}},
    )


# -- discovery and permissions -----------------------------------------------------------


def test_discovered_with_its_manifest_and_requests_only_a_read(jafhost_factory: Factory) -> None:
    host = jafhost_factory("sqlite", activate=False)
    view = host.plugin("sqlite")
    assert view.info.distribution == "jaf-plugin-sqlite"
    assert view.info.version == "1.0.0"
    assert view.info.kinds == ("tool", "integration")
    assert list(view.info.permissions) == [f"read:{os.path.expanduser('~/data')}"]


def test_without_a_database_setting_the_plugin_says_what_is_missing(
    jafhost_factory: Factory,
) -> None:
    host = jafhost_factory("sqlite")
    loaded = host.loaded("sqlite")
    assert loaded.status == "broken"
    assert "needs configuration: jafhost config set sqlite database PATH" in loaded.error
    result = host.call("sqlite.tables")
    assert result.error.code == "unavailable" and "broken" in result.error.message


# -- tools -------------------------------------------------------------------------------


def test_catalog(jafhost_factory: Factory, shop: Path) -> None:
    host = start(jafhost_factory, shop)
    tools = {t["name"]: t for t in host.tool_definitions("json")}
    assert set(tools) == {"sqlite.query", "sqlite.tables", "sqlite.describe"}
    schema = tools["sqlite.query"]["input_schema"]
    assert schema["required"] == ["sql"]
    assert set(schema["properties"]) == {"sql", "params", "limit"}  # ctx is injected
    assert "read-only" in tools["sqlite.query"]["description"]


def test_query_with_parameters(jafhost_factory: Factory, shop: Path) -> None:
    host = start(jafhost_factory, shop)
    result = host.call_ok(
        "sqlite.query",
        {
            "sql": "SELECT c.name, count(*) AS n, sum(o.total) AS total FROM orders o "
            "JOIN customers c ON c.id = o.customer_id WHERE o.total > ? "
            "GROUP BY c.name ORDER BY c.name",
            "params": [200],
        },
    )
    assert result["columns"] == ["name", "n", "total"]
    assert result["rows"] == [["Ann", 25, 5625.0], ["Bob", 25, 5650.0]]
    assert result["truncated"] is False


def test_row_limits(jafhost_factory: Factory, shop: Path) -> None:
    host = start(jafhost_factory, shop, max_rows=100)
    everything = host.call_ok("sqlite.query", {"sql": "SELECT id FROM orders ORDER BY id"})
    assert everything["row_count"] == 100 and everything["limit"] == 100
    assert everything["truncated"] is True
    assert everything["rows"][-1] == [100]
    few = host.call_ok("sqlite.query", {"sql": "SELECT id FROM orders", "limit": 3})
    assert (few["row_count"], few["truncated"]) == (3, True)
    capped = host.call_ok("sqlite.query", {"sql": "SELECT id FROM orders", "limit": 5000})
    assert capped["row_count"] == 100
    assert "limit 5000 was lowered to max_rows (100)" in capped["notes"]
    exact = host.call_ok("sqlite.query", {"sql": "SELECT id FROM customers"})
    assert (exact["row_count"], exact["truncated"]) == (2, False)
    refused = host.call("sqlite.query", {"sql": "SELECT 1", "limit": 0})
    assert refused.error.code == "invalid_arguments"


def test_default_max_rows_is_200(jafhost_factory: Factory, shop: Path) -> None:
    host = start(jafhost_factory, shop)
    result = host.call_ok("sqlite.query", {"sql": "SELECT id FROM orders"})
    assert (result["row_count"], result["truncated"]) == (200, True)


def test_tables_and_describe(jafhost_factory: Factory, shop: Path) -> None:
    host = start(jafhost_factory, shop)
    assert host.call_ok("sqlite.tables") == [
        {"name": "customers", "type": "table"},
        {"name": "orders", "type": "table"},
    ]
    orders = host.call_ok("sqlite.describe", {"table": "orders"})
    assert [c["name"] for c in orders["columns"]] == ["id", "customer_id", "total"]
    assert orders["rows"] == 250
    assert orders["foreign_keys"] == [{"column": "customer_id", "references": "customers(id)"}]
    missing = host.call("sqlite.describe", {"table": "invoices"})
    assert missing.error.code == "not_found"
    assert "customers, orders" in missing.error.message


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM orders",
        "UPDATE orders SET total = 0",
        "DROP TABLE orders",
        "CREATE TABLE evil (a)",
        "ATTACH DATABASE ':memory:' AS other",
        "WITH x AS (SELECT 1) DELETE FROM orders",  # passes the text check: the authorizer says no
        "WITH x AS (SELECT 1) INSERT INTO customers (name) SELECT 'Eve' FROM x",
    ],
)
def test_writes_are_refused_and_the_file_is_unchanged(
    jafhost_factory: Factory, shop: Path, sql: str
) -> None:
    before = digest(shop)
    mtime = shop.stat().st_mtime_ns
    host = start(jafhost_factory, shop)
    result = host.call("sqlite.query", {"sql": sql})
    assert not result.ok
    assert result.error.code == "tool_error"
    assert result.error.message.startswith("refused: only reads are allowed")
    assert digest(shop) == before
    assert shop.stat().st_mtime_ns == mtime
    assert host.call_ok("sqlite.query", {"sql": "SELECT count(*) FROM orders"})["rows"] == [[250]]


def test_sql_errors_and_timeouts_are_structured(jafhost_factory: Factory, shop: Path) -> None:
    host = start(jafhost_factory, shop, timeout=0.3)
    typo = host.call("sqlite.query", {"sql": "SELECT nope FROM orders"})
    assert typo.error.code == "tool_error"
    assert typo.error.message == "SQL error: no such column: nope"
    two = host.call("sqlite.query", {"sql": "SELECT 1; SELECT 2"})
    assert "one statement at a time" in two.error.message
    forever = host.call(
        "sqlite.query",
        {
            "sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
            "SELECT max(i) FROM n"
        },
    )
    assert forever.error.code == "timeout"
    assert "0.3 s" in forever.error.message
    assert host.call_ok("sqlite.query", {"sql": "SELECT 42"})["rows"] == [[42]]


# -- the guard: only the granted folder ---------------------------------------------------


def test_a_database_outside_the_granted_folder_is_denied(
    jafhost_factory: Factory, tmp_path: Path
) -> None:
    outside = make_database(tmp_path / "elsewhere" / "secret.db")
    granted = tmp_path / "granted"
    granted.mkdir()
    host = start(jafhost_factory, outside, folder=granted)
    loaded = host.loaded("sqlite")
    # the integration connects when the plugin starts: the guard refuses the read there
    assert loaded.status == "broken"
    assert f"read:{outside.resolve()}" in loaded.error
    assert "PermissionDenied" in loaded.error
    call = host.call("sqlite.query", {"sql": "SELECT 1"})
    assert call.error.code == "unavailable" and call.error.status == "broken"


def test_a_symlink_cannot_lead_out_of_the_granted_folder(
    jafhost_factory: Factory, shop: Path, tmp_path: Path
) -> None:
    """The tools open the file on every call, so the guard checks every call: a database
    swapped for a link to a file elsewhere is denied, naming the real path."""
    outside = make_database(tmp_path / "elsewhere" / "secret.db", orders=1)
    host = start(jafhost_factory, shop)
    assert host.call_ok("sqlite.query", {"sql": "SELECT count(*) FROM orders"})["rows"] == [[250]]
    shop.unlink()
    shop.symlink_to(outside)
    error = host.assert_denied(
        "sqlite.query",
        {"sql": "SELECT count(*) FROM orders"},
        permission=f"read:{outside.resolve()}",
    )
    assert error.plugin == "sqlite"
    assert error.permission == f"read:{outside.resolve()}"
    host.assert_denied("sqlite.tables", permission="read:")


def test_a_missing_file_is_a_clear_tool_error(jafhost_factory: Factory, shop: Path) -> None:
    host = start(jafhost_factory, shop)
    shop.unlink()
    result = host.call("sqlite.tables")
    assert result.error.code == "tool_error"
    assert result.error.message == f"the database file {shop} does not exist"


# -- the integration ---------------------------------------------------------------------

REPORT_PLUGIN = '''
from jafhost import PluginContext, hookimpl


def order_count(customer: str, ctx: PluginContext) -> int:
    """Count a customer's orders through the sqlite.db integration."""
    db = ctx.integration("sqlite.db")
    result = db.query(
        "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE c.name = ?",
        [customer],
    )
    return result["rows"][0][0]


def try_to_write(ctx: PluginContext) -> str:
    """Try to delete every order through the integration."""
    db = ctx.integration("sqlite.db")
    try:
        db.query("WITH x AS (SELECT 1) DELETE FROM orders")
    except Exception as exc:
        return f"refused: {exc}"
    return "deleted"


@hookimpl
def jaf_tools():
    return [order_count, try_to_write]
'''


def install_report_plugin(site: Path) -> str:
    """Install ``sqlite-report`` (distribution ``jaf-plugin-sqlite-report``, requiring
    ``jaf-plugin-sqlite``) into ``site`` as pip would; returns its module name."""
    module = f"jaf_sqlite_report_{uuid.uuid4().hex[:8]}"
    package = site / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(REPORT_PLUGIN))
    info = site / "jaf_plugin_sqlite_report-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        "Name: jaf-plugin-sqlite-report\n"
        "Version: 1.0.0\n"
        "Summary: reports over the sqlite plugin's database\n"
        "Requires-Dist: jaf-plugin-sqlite>=1.0\n"
        "Requires-Dist: jafhost>=0.1,<1\n\n"
    )
    (info / "entry_points.txt").write_text(f"[jaf.plugins]\nsqlite-report = {module}\n")
    (info / "INSTALLER").write_text("test\n")
    (info / "RECORD").write_text("")
    return module


def test_a_dependent_plugin_uses_the_integration(
    jafhost_factory: Factory, shop: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    install_report_plugin(site)
    before = digest(shop)
    host = jafhost_factory(
        "sqlite-report",  # sqlite comes along: the report plugin requires it
        grants={"sqlite": [f"read:{shop.parent}"]},
        config={"plugins": {"sqlite": {"database": str(shop)}}},
        paths=[str(site), *sys.path],
    )
    assert host.active == ["sqlite", "sqlite-report"]
    assert host.plugin("sqlite-report").dependencies  # resolved from Requires-Dist
    assert host.call_ok("sqlite-report.order_count", {"customer": "Ann"}) == 125
    assert host.call_ok("sqlite-report.order_count", {"customer": "Eve"}) == 0
    refusal = host.call_ok("sqlite-report.try_to_write")
    assert refusal.startswith("refused: only reads are allowed")
    assert digest(shop) == before
    host.deactivate("sqlite")  # the report plugin stops first, then the connection closes
    assert host.active == []


def test_health_check_through_doctor(jafhost_factory: Factory, shop: Path) -> None:
    host = start(jafhost_factory, shop)
    [report] = host.run(host.host.doctor())["plugins"]
    assert report["name"] == "sqlite"
    assert report["problem"] is None
    assert report["integrations"] == [{"name": "sqlite.db", "checked": True, "problem": None}]


def test_health_check_notices_the_database_is_gone(jafhost_factory: Factory, shop: Path) -> None:
    host = start(jafhost_factory, shop)
    shop.unlink()
    [report] = host.run(host.host.doctor())["plugins"]  # the plugin is running: only the check runs
    [integration] = report["integrations"]
    assert integration["name"] == "sqlite.db"
    assert "no longer exists" in integration["problem"]
    assert report["problem"] == integration["problem"]
