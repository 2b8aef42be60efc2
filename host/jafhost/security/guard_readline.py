"""``readline``'s history and init files, which its C code opens with no audit event.

``read_history_file``, ``write_history_file``, ``append_history_file`` and
``read_init_file`` take any path and read or write it through the C library, so the
guard would never see them. The module is wrapped as it is imported (``on_import``), or
at once when it was imported before the guard. Defaults are resolved as readline does
(``~/.history``; ``$INPUTRC`` or ``~/.inputrc``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

from jafhost.security import guard, on_import

WRITES = {"write_history_file": -1, "append_history_file": 1}
"""Function -> position of its file name argument (-1: the only one)."""
READS = ("read_history_file", "read_init_file")


def _default(name: str) -> str:
    if name == "read_init_file":
        return os.environ.get("INPUTRC") or os.path.expanduser("~/.inputrc")
    return os.path.expanduser("~/.history")


def _wrap(name: str, original: Callable[..., Any], write: bool) -> Callable[..., Any]:
    def guarded(*args: Any) -> Any:
        found = guard.current()
        if found is not None:
            index = WRITES.get(name, 0) if write else 0
            index = 0 if index == -1 else index
            path = args[index] if len(args) > index and args[index] is not None else None
            target = path if path is not None else _default(name)
            with guard.checking():
                check = guard.check_write if write else guard.check_read
                check(found[1], found[0], target, f"{name.replace('_', ' ')}")
        return original(*args)

    guarded.__doc__ = original.__doc__
    guarded._jafhost_guarded = True  # type: ignore[attr-defined]
    return guarded


def patch(module: ModuleType) -> None:
    """Wrap the file functions of the ``readline`` module (once)."""
    for name in (*WRITES, *READS):
        original = getattr(module, name, None)
        if original is None or getattr(original, "_jafhost_guarded", False):
            continue
        setattr(module, name, _wrap(name, original, name in WRITES))


def install() -> None:
    """Wrap ``readline`` now if it is loaded, else when it is first imported."""
    on_import.when_imported("readline", patch)
