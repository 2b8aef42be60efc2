"""``os.environ`` as each plugin may see it: the variables it was not granted are absent.

Reading the environment raises no audit event, so the guard replaces ``os.environ`` (and
``os.environb``) with a subclass of ``os._Environ`` over the same underlying data. Host
code sees every variable; while plugin code runs, a variable the plugin may not read
(``Policy.may_read_env``: what a worker would get, plus its ``env`` grants) is absent:
``os.environ[name]`` raises ``KeyError``, ``in`` is False, ``os.getenv`` returns None,
and iteration, ``copy()`` and ``dict(os.environ)`` leave it out. Writes go through
``os.putenv``/``os.unsetenv``, which the audit hook checks. Still an ``os._Environ``:
``subprocess`` and libraries keep working. Code that kept a reference to the original
mapping from before the guard was installed, and the C library's ``getenv`` (ctypes,
native extensions, child processes), still see the whole environment: a limit listed in
docs/security.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from jafhost.security import guard


def visible(key: str | bytes) -> bool:
    """May the code running now see the environment variable ``key``?"""
    found = guard.current()
    if found is None:
        return True
    name = key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else key
    with guard.checking():
        return found[1].may_read_env(name)


class GuardedEnviron(os._Environ[Any]):
    """The process environment, filtered by the running plugin's grants (see module)."""

    def __getitem__(self, key: Any) -> Any:
        if not visible(key):
            raise KeyError(key)
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[Any]:
        for key in list(super().__iter__()):
            if visible(key):
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        shown = ", ".join(f"{key!r}: {self[key]!r}" for key in self)
        return f"environ({{{shown}}})"

    def copy(self) -> dict[Any, Any]:
        return {key: self[key] for key in self}


def _guarded(mapping: Any) -> Any:
    if isinstance(mapping, GuardedEnviron):
        return mapping
    return GuardedEnviron(
        mapping._data,
        mapping.encodekey,
        mapping.decodekey,
        mapping.encodevalue,
        mapping.decodevalue,
    )


def install() -> None:
    """Put the filtered mappings in place of ``os.environ`` and ``os.environb``."""
    os.environ = _guarded(os.environ)  # noqa: B003 (the same data, filtered on reads)
    if hasattr(os, "environb"):
        os.environb = _guarded(os.environb)
