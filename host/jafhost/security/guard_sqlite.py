"""SQLite files a plugin names inside SQL: ``ATTACH`` and ``VACUUM INTO``.

SQLite opens these files in C, after the connection exists, so no ``open`` or
``sqlite3.connect`` audit event sees them. The guard sets an authorizer on every
connection a plugin opens, which SQLite consults while compiling every statement:
``ATTACH`` (and ``VACUUM INTO``, which SQLite compiles as an attach of its target) is
checked against the grants of the plugin that opened the connection, like the database
file itself. Python raises ``sqlite3.connect/handle`` with each new connection, but
before the object is ready for ``set_authorizer``; so ``sqlite3.connect`` is wrapped to
set it on what it returns, and the event refuses a plugin's connection made any other way
(``sqlite3.Connection(...)`` directly). A plugin can replace the authorizer with
``set_authorizer``: a guard rail, listed in docs/security.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from jafhost.errors import PermissionDenied
from jafhost.security import guard
from jafhost.security.policy import Policy

Authorizer = Callable[[int, str | None, str | None, str | None, str | None], int]


def authorizer(plugin: str, rules: Policy) -> Authorizer:
    """The authorizer of a connection opened by ``plugin``: every statement allowed but
    an attach of a file outside its grants."""

    def authorize(
        action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if action != sqlite3.SQLITE_ATTACH:
            return sqlite3.SQLITE_OK
        try:
            with guard.checking():
                guard.check_sqlite(rules, plugin, arg1 or "", "attach the database")
        except PermissionDenied:
            return sqlite3.SQLITE_DENY  # SQLite raises "not authorized"; the denial is logged
        return sqlite3.SQLITE_OK

    return authorize


def check_handle(plugin: str) -> None:
    """The ``sqlite3.connect/handle`` event: only ``sqlite3.connect`` may open one."""
    if not getattr(guard.thread_state(), "sqlite_connect", False):
        raise guard.deny(plugin, "ffi", "open a SQLite connection other than by sqlite3.connect")


def _wrap_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(*args: Any, **kwargs: Any) -> Any:
        found = guard.current()
        if found is None:
            return original(*args, **kwargs)
        state = guard.thread_state()
        before = getattr(state, "sqlite_connect", False)
        state.sqlite_connect = True
        try:
            connection = original(*args, **kwargs)
        finally:
            state.sqlite_connect = before
        if isinstance(connection, sqlite3.Connection):
            connection.set_authorizer(authorizer(*found))
        return connection

    connect.__doc__ = original.__doc__
    return connect


def install() -> None:
    """Wrap ``sqlite3.connect`` (``guard.install`` calls this once)."""
    import sqlite3.dbapi2

    sqlite3.connect = sqlite3.dbapi2.connect = _wrap_connect(sqlite3.connect)
