"""What a worker may import before its sandbox is in force: the standard library, from
the interpreter's own folders, and jafhost, from the folder the host named.

The worker's import path holds the plugin's folders and every installed distribution,
and the standard library looks for optional modules on it while the worker sets itself
up (``copy`` tries ``org.python.core``; ``os`` and ``subprocess`` look for ``nt`` and
``_winapi``). A plugin shipping a package of such a name would run before the sandbox.
``BOOT`` reads this file by path and runs it (no import), so ``BeforeSandbox`` stands
first on ``sys.meta_path`` before anything else is imported; the worker removes it with
``lift`` once the sandbox is applied. Standard library only: nothing here may import a
module that the gate itself would have to vet.
"""

from __future__ import annotations

import _imp
import os
import sys
from importlib.machinery import ModuleSpec, PathFinder

GATE_VARIABLE = "JAFHOST_WORKER_GATE"
"""The environment variable naming this file for ``BOOT`` (set by the host)."""
TRUSTED_VARIABLE = "JAFHOST_WORKER_TRUSTED"
"""Lines ``NAME=FOLDER``: the other top-level modules the worker needs before its sandbox
(``pydantic_core``, which decodes the host's first message, and what it imports) and
where the host found them (``trusted``)."""
TRUSTED = ("pydantic_core", "typing_extensions")


class BeforeSandbox:
    """A meta path finder that finds top-level modules only in the standard library's
    folders (and ``jafhost`` only beside this file), and refuses every other name."""

    jafhost_gate = True

    def __init__(self, stdlib: list[str], roots: dict[str, str]) -> None:
        self.stdlib = stdlib
        self.roots = roots
        """Top-level name -> the one folder it is looked up in (``jafhost`` and ``TRUSTED``)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if path is not None:  # a submodule: its parent was vetted, its folder is searched
            return None
        if name in sys.builtin_module_names or _imp.is_frozen(name):
            return None  # the interpreter's own importers take it
        where = [self.roots[name]] if name in self.roots else self.stdlib
        spec = PathFinder.find_spec(name, where)
        if spec is None:
            raise ModuleNotFoundError(f"{name!r} is not imported before the sandbox", name=name)
        return spec


def stdlib_folders() -> list[str]:
    """The standard library's folders: where ``os`` lives and its ``lib-dynload``."""
    home = os.path.dirname(os.path.abspath(os.__file__))
    return [home, os.path.join(home, "lib-dynload")]


def trusted() -> str:
    """``TRUSTED_VARIABLE``'s value, from where the host imported those modules."""
    lines = []
    for name in TRUSTED:
        module = sys.modules.get(name)
        found, package = getattr(module, "__file__", None), hasattr(module, "__path__")
        if module is None:  # not imported here yet: where the host would find it
            from importlib.util import find_spec

            spec = find_spec(name)
            found = spec.origin if spec is not None else None
            package = bool(spec and spec.submodule_search_locations)
        if found and os.path.isabs(found):
            folder = os.path.dirname(found)
            if package:  # the folder holding the package
                folder = os.path.dirname(folder)
            lines.append(f"{name}={folder}")
    return "\n".join(lines)


def install(gate_file: str, trusted: str = "") -> BeforeSandbox:
    """Put the gate first on ``sys.meta_path``; ``gate_file`` is this file, in the
    ``jafhost`` package that the worker is to import; ``trusted`` as ``trusted()``."""
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(gate_file))))
    roots = {"jafhost": os.path.dirname(package)}
    for line in trusted.splitlines():
        name, _, folder = line.partition("=")
        if name in TRUSTED and folder:
            roots[name] = folder
    finder = BeforeSandbox(stdlib_folders(), roots)
    sys.meta_path.insert(0, finder)
    return finder


def lift() -> None:
    """Remove the gate: the sandbox is in force, imports go their ordinary way."""
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "jafhost_gate", False)]


if __name__ == "jafhost_gate":  # run by BOOT from its file, before any import of jafhost
    install(os.environ.pop(GATE_VARIABLE), os.environ.pop(TRUSTED_VARIABLE, ""))
