"""The sqlite plugin (entry point ``sqlite = "jaf_plugin_sqlite.plugin:SqlitePlugin"``).

The entry point names a class: jafhost makes one instance per load, so the configuration
the instance keeps from ``jaf_initialize`` belongs to that load alone (several hosts in
one process, as in tests, never share it). ``jaf_integrations`` takes no arguments, and
the instance is how it knows which database to connect.

* the integration ``sqlite.db`` is a ``DatabaseClient`` over one shared, read-only
  connection (``ReadOnlyConnection``), opened when the plugin starts and closed when it
  stops; plugins that depend on this one call its ``query``, ``tables`` and ``describe``
  methods through ``ctx.integration("sqlite.db")`` (JSON values in and out; the host
  runs each call as the sqlite plugin);
* the tools open a connection of their own for each call: each query gets its own time
  limit, a file replaced on disk is seen at once, and the guard checks the read again.

No ``from __future__ import annotations``: the host reads the tools' annotations at run
time.
"""

import os
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any

from jafhost import Integration, PluginContext, ToolError, hookimpl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from jaf_plugin_sqlite import readonly

Scalar = str | int | float | bool | None
_QUERY_ERRORS = (readonly.SqlRefused, readonly.QueryTimeout, readonly.UnknownTable, sqlite3.Error)


class SqliteConfig(BaseModel):
    """``[plugins.sqlite]`` in ``config.toml`` (or ``JAFHOST_SQLITE__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid")

    database: Path = Field(
        description="The SQLite database file to read (absolute, or starting with ~). "
        "Grant its folder: jafhost grant sqlite read:/that/folder"
    )
    max_rows: int = Field(200, ge=1, le=10_000, description="Most rows one query returns.")
    timeout: float = Field(
        10.0, gt=0, le=600, description="Seconds a query may run before it is interrupted."
    )

    @field_validator("database")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        value = value.expanduser()
        if not value.is_absolute():
            raise ValueError(f"{value} is relative; give an absolute path or one starting with ~")
        return value


def _config(ctx: PluginContext) -> SqliteConfig:
    config = ctx.config
    if not isinstance(config, SqliteConfig):  # the host validated it with our schema
        raise ToolError("the sqlite plugin has no configuration", plugin=ctx.name)
    return config


class SqlitePlugin:
    """One load of the plugin: its hooks, and the configuration of that load."""

    def __init__(self) -> None:
        self.config: SqliteConfig | None = None
        self.logger: Any = None

    @hookimpl
    def jaf_config_schema(self) -> type[BaseModel]:
        return SqliteConfig

    @hookimpl
    def jaf_initialize(self, ctx: PluginContext) -> None:
        """Keep this load's configuration for the integration."""
        self.config = _config(ctx)
        self.logger = ctx.logger
        ctx.logger.info("sqlite: reading %s (read-only)", self.config.database)

    @hookimpl
    def jaf_integrations(self) -> list[Integration]:
        """``sqlite.db``: a shared read-only connection for the plugins that depend on this one."""
        return [
            Integration(
                name="db",
                connect=self._connect,
                close=_close,
                health=_health,
                description="read-only queries on the configured database: query(sql, "
                "params, limit), tables(), describe(table) (writes, ATTACH and "
                "transactions are refused)",
            )
        ]

    @hookimpl
    def jaf_tools(self) -> list[Callable[..., Any]]:
        return [query, tables, describe]

    def _connect(self) -> "DatabaseClient":
        assert self.config is not None, "jaf_initialize runs before the integrations connect"
        return DatabaseClient(readonly.open_readonly(self.config.database), self.config)


class DatabaseClient:
    """What dependents reach as ``sqlite.db``: read-only queries on the shared
    connection, JSON values in and out (the same shapes as the tools')."""

    def __init__(self, conn: readonly.ReadOnlyConnection, config: SqliteConfig) -> None:
        self.conn = conn
        self._config = config

    def query(
        self, sql: str, params: Sequence[Scalar] = (), limit: int | None = None
    ) -> dict[str, Any]:
        """One read-only statement: ``columns``, ``rows`` (lists), ``truncated``."""
        effective = min(limit or self._config.max_rows, self._config.max_rows)
        result = readonly.run_query(
            self.conn, sql, params, limit=effective, timeout=self._config.timeout
        )
        return result.to_json()

    def tables(self) -> list[dict[str, str]]:
        return readonly.list_tables(self.conn)

    def describe(self, table: str) -> dict[str, Any]:
        return readonly.describe_table(self.conn, table, timeout=self._config.timeout)


def _close(client: DatabaseClient) -> None:
    client.conn.close()


def _health(client: DatabaseClient) -> bool:
    """Healthy when the file is still there and the schema can be read through the connection."""
    conn = client.conn
    if not os.path.exists(conn.path):
        raise FileNotFoundError(f"the database file {conn.path} no longer exists")
    with conn.lock:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return True


def _open(ctx: PluginContext) -> readonly.ReadOnlyConnection:
    """A fresh read-only connection for one tool call (the guard checks the read here)."""
    database = _config(ctx).database
    try:
        return readonly.open_readonly(database)
    except FileNotFoundError:
        raise ToolError(f"the database file {database} does not exist", plugin=ctx.name) from None
    except readonly.NotADatabase as exc:
        raise ToolError(str(exc), plugin=ctx.name) from None


def _tool_error(ctx: PluginContext, exc: Exception) -> ToolError:
    if isinstance(exc, readonly.QueryTimeout):
        return ToolError(str(exc), plugin=ctx.name, code="timeout")
    if isinstance(exc, readonly.UnknownTable):
        return ToolError(str(exc), plugin=ctx.name, code="not_found")
    if isinstance(exc, readonly.SqlRefused):
        return ToolError(f"refused: {exc}", plugin=ctx.name)
    return ToolError(f"SQL error: {exc}", plugin=ctx.name)


# -- tools -------------------------------------------------------------------------------


def query(
    sql: Annotated[str, Field(min_length=1, max_length=100_000)],
    params: Sequence[Scalar] = (),
    limit: Annotated[int | None, Field(ge=1)] = None,
    *,
    ctx: PluginContext,
) -> dict[str, Any]:
    """Run one read-only SQL statement (SELECT, WITH or EXPLAIN) on the configured database.

    Returns the column names and the rows as lists in that order; "truncated" is true
    when more rows matched than were returned. Writes of any kind are refused. BLOB
    values come back as {"base64": "..."}.

    Args:
        sql: one statement; use ? placeholders for values.
        params: the values for the ? placeholders, in order.
        limit: at most this many rows (never more than the configured max_rows).
    """
    config = _config(ctx)
    effective = min(limit or config.max_rows, config.max_rows)
    with closing(_open(ctx)) as conn:
        try:
            result = readonly.run_query(conn, sql, params, limit=effective, timeout=config.timeout)
        except _QUERY_ERRORS as exc:
            raise _tool_error(ctx, exc) from None
    if limit is not None and limit > config.max_rows:
        result.notes.append(f"limit {limit} was lowered to max_rows ({config.max_rows})")
    return result.to_json()


def tables(*, ctx: PluginContext) -> list[dict[str, str]]:
    """List the tables and views of the configured database (name and type)."""
    with closing(_open(ctx)) as conn:
        try:
            return readonly.list_tables(conn)
        except sqlite3.Error as exc:
            raise _tool_error(ctx, exc) from None


def describe(table: Annotated[str, Field(min_length=1)], *, ctx: PluginContext) -> dict[str, Any]:
    """Describe one table or view: columns (name, type, not null, default, primary key),
    indexes, foreign keys, row count and the SQL that created it.

    Args:
        table: the table or view name (case-insensitive), as listed by tables.
    """
    with closing(_open(ctx)) as conn:
        try:
            return readonly.describe_table(conn, table, timeout=_config(ctx).timeout)
        except _QUERY_ERRORS as exc:
            raise _tool_error(ctx, exc) from None
