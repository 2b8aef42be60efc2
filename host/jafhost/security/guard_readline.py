"""``readline``'s history and init files, which its C code opens with no audit event.

``read_history_file``, ``write_history_file``, ``append_history_file`` and
``read_init_file`` take any path and read or write it through the C library, so the
guard would never see them. The module is wrapped as it is imported (a finder first on
``sys.meta_path`` hands out a loader that wraps the functions once the module is made),
or at once when it was imported before the guard. Defaults are resolved as readline
does (``~/.history``; ``$INPUTRC`` or ``~/.inputrc``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from jafhost.security import guard

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


class _Loader:
    """The real loader, with the module wrapped once it is executed."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        patch(module)


class WrapOnImport:
    """A finder that lets the others find ``readline`` and wraps what they load."""

    jafhost_readline = True

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name != "readline":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: ModuleSpec | None = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader)  # type: ignore[assignment]
                return spec
        return None


def install() -> None:
    """Wrap ``readline`` now if it is loaded, else when it is first imported."""
    loaded = sys.modules.get("readline")
    if loaded is not None:
        patch(loaded)
    if not any(getattr(f, "jafhost_readline", False) for f in sys.meta_path):
        sys.meta_path.insert(0, WrapOnImport())
