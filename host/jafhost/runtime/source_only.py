"""A plugin's package imported from its sources, never from bytecode caches beside them.

Before a plugin's code is imported its sources are compared with the hashes its
``RECORD`` lists (``discovery.integrity``); the bytecode caches in ``__pycache__`` are
not, as installers list them without a hash. The import system takes a hash-based
cache (PEP 552) on the hash of the source alone, checked or not, and then runs the code
in the cache, which need not be the source's: any wheel can put one there (pip installs
whatever files a wheel lists, wherever they go). So the modules of a plugin's package
are compiled from the very sources that were checked (``SourceOnlyLoader``), in the
host and in workers alike: ``protect`` names the package as ``plugin_import`` imports
it, and a finder ahead of the others (``SourceOnlyFinder``) gives its modules, and its
submodules imported later, that loader. Extension modules and namespace portions load
as usual (an extension module's file is hashed in ``RECORD``).

The cost is a compile of each module of the package at each start (a small plugin's
one module: a fraction of a millisecond); nothing is written.
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from types import CodeType
from typing import Any


class SourceOnlyLoader(SourceFileLoader):
    """A source file loader that never reads or writes a bytecode cache."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


class SourceOnlyFinder:
    """Finds the modules of the protected packages as the path finder does, and gives
    those it would load from a source file ``SourceOnlyLoader``."""

    def __init__(self) -> None:
        self.packages: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname.partition(".")[0] not in self.packages:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is SourceFileLoader:
            origin = spec.loader.path
            spec.loader = SourceOnlyLoader(fullname, origin)
            spec.cached = None
        return spec

    def invalidate_caches(self) -> None:
        """Nothing of its own to forget (the path finder's caches are its own)."""


FINDER = SourceOnlyFinder()


def protect(module: str) -> None:
    """Import the package of ``module`` (its top-level name) from its sources from now on."""
    FINDER.packages.add(module.partition(".")[0])
    if FINDER not in sys.meta_path:
        sys.meta_path.insert(0, FINDER)
