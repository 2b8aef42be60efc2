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

import sys
from collections.abc import Callable
from typing import Any

from jafhost.errors import PermissionDenied
from jafhost.security import guard
from jafhost.security.policy import Policy

SQLITE_OK, SQLITE_DENY, SQLITE_ATTACH = 0, 1, 24
"""SQLite's own numbers (``sqlite3.SQLITE_*``), here so the guard needs no SQLite import."""

Authorizer = Callable[[int, str | None, str | None, str | None, str | None], int]


def authorizer(plugin: str, rules: Policy) -> Authorizer:
    """The authorizer of a connection opened by ``plugin``: every statement allowed but
    an attach of a file outside its grants."""

    def authorize(
        action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if action != SQLITE_ATTACH:
            return SQLITE_OK
        try:
            with guard.checking():
                guard.check_sqlite(rules, plugin, arg1 or "", "attach the database")
        except PermissionDenied:
            return SQLITE_DENY  # SQLite raises "not authorized"; the denial is logged
        return SQLITE_OK

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
        if callable(getattr(connection, "set_authorizer", None)):
            connection.set_authorizer(authorizer(*found))
        return connection

    connect.__doc__ = original.__doc__
    return connect


def install() -> None:
    """Wrap ``connect`` where SQLite is already imported (``guard.install`` calls this
    once); else the guard calls ``patch_connect`` when ``sqlite3.dbapi2`` is first
    imported, so a process that never uses SQLite never loads it."""
    if "_sqlite3" in sys.modules:
        patch_connect()


def patch_connect() -> None:
    """Wrap ``_sqlite3.connect`` (before ``sqlite3.dbapi2`` copies it with
    ``from _sqlite3 import *``) and the copies already made."""
    import _sqlite3

    connect: Any = getattr(_sqlite3, "connect", None)
    if connect is None:
        return
    if not getattr(connect, "_jafhost_guarded", False):
        connect = _wrap_connect(connect)
        connect._jafhost_guarded = True
        _sqlite3.connect = connect
    for name in ("sqlite3", "sqlite3.dbapi2"):
        loaded = sys.modules.get(name)
        if loaded is not None and hasattr(loaded, "connect"):
            setattr(loaded, "connect", connect)  # noqa: B010 (a module mypy types)
