"""Patch a standard module the moment it is first imported, or at once if it already is.

The guard wraps parts of modules a plugin may never use (``readline``,
``concurrent.futures``'s thread pool). Importing them only to wrap them would make every
start pay for them; instead a finder placed first on ``sys.meta_path`` lets the other
finders find the module and hands out a loader that applies the patches right after the
module's code ran, before the importer gets it. A module reloaded goes through the same
loader and is patched again. Each patch must be idempotent: it may see a module it
already patched.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

Patch = Callable[[ModuleType], None]


class _Loader:
    """The real loader, with the module's patches applied once it is executed."""

    def __init__(self, loader: Any, patches: list[Patch]) -> None:
        self.loader = loader
        self.patches = patches

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        for patch in self.patches:
            patch(module)


class PatchOnImport:
    """The finder: for a module with patches, the spec the other finders give, its
    loader wrapped."""

    def __init__(self) -> None:
        self.patches: dict[str, list[Patch]] = {}

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        patches = self.patches.get(name)
        if patches is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: ModuleSpec | None = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader, patches)  # type: ignore[assignment]
                return spec
        return None


def _finder() -> PatchOnImport:
    for finder in sys.meta_path:
        if isinstance(finder, PatchOnImport):
            return finder
    finder = PatchOnImport()
    sys.meta_path.insert(0, finder)
    return finder


def when_imported(name: str, patch: Patch) -> None:
    """Apply ``patch`` to module ``name`` now if it is loaded, and whenever it is
    (re)loaded from now on."""
    patches = _finder().patches.setdefault(name, [])
    if patch not in patches:
        patches.append(patch)
    loaded = sys.modules.get(name)
    if loaded is not None:
        patch(loaded)
