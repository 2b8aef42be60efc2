"""``Catalog``: which plugins a host knows and how they resolve, without running their code.

Installed plugins come from discovery (entry points and plugin folders, cached); plugins
registered in memory (``Host.register``) join them as ordinary ``PluginInfo`` records, so
resolution, the views and the lifecycle treat both alike.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jafhost._version import __version__
from jafhost.discovery import discover
from jafhost.discovery.folders import import_folders, plugin_folders, prime_import_cache
from jafhost.discovery.resolve import resolve_plugins
from jafhost.errors import StateError, UsageError, quoted
from jafhost.security.policy import keep_private

if TYPE_CHECKING:
    from jafhost.discovery.records import Discovery, PluginInfo
    from jafhost.discovery.resolve import Resolution
    from jafhost.home.paths import HomeLayout
    from jafhost.home.state import State, StateStore


def unknown_plugin(name: str, known: Iterable[str]) -> UsageError:
    """The error for a plugin name nobody knows, listing the names that are known."""
    listed = ", ".join(sorted(set(known))) or "none installed"
    return UsageError(f"unknown plugin {quoted(name)} (known: {listed})")


class Catalog:
    """Discovery (``paths``: where distributions are searched, default ``sys.path``;
    ``only``: the plugins to keep), the registered plugins, and their resolution."""

    def __init__(
        self,
        layout: HomeLayout,
        store: StateStore,
        *,
        paths: list[str] | None = None,
        only: set[str] | None = None,
        use_cache: bool = True,
    ) -> None:
        self._layout = layout
        self._store = store
        self._paths = paths
        self._only = only
        self._use_cache = use_cache
        self._discovery: Discovery | None = None
        self._registered: dict[str, tuple[PluginInfo, Any]] = {}

    def discovery(self, refresh: bool = False) -> Discovery:
        if self._discovery is None or refresh:
            try:
                folders = plugin_folders(self._layout.config)
            except StateError:  # reported once, by ``Host.config_problem``
                folders = plugin_folders(None)
            cache = self._layout.cache if self._use_cache else None
            found = discover(cache, self._paths, folders)
            if self._only is not None:
                found.plugins = [p for p in found.plugins if p.name in self._only]
            found.plugins += [info for info, _ in self._registered.values()]
            self._discovery = found
        return self._discovery

    def resolution(self, state: State | None = None) -> Resolution:
        found = self.discovery()
        current = state if state is not None else self._store.load()
        # requirements judged at scan time apply only to the full, unchanged set
        judged = found.judged if self._only is None and not self._registered else None
        status_of = current.status_of
        return resolve_plugins(found.plugins, found.installed, __version__, status_of, judged)  # type: ignore[arg-type]

    def known(self, names: Iterable[str]) -> Resolution:
        """The resolution, after checking that every name is a known plugin
        (``UsageError`` naming the known ones otherwise)."""
        resolution = self.resolution()
        for name in names:
            if resolution.get(name) is None:
                raise unknown_plugin(name, (entry.name for entry in resolution.plugins))
        return resolution

    # -- plugins registered in memory -------------------------------------------------

    def add(self, info: PluginInfo, obj: Any) -> None:
        """Know ``info`` (``source="memory"``) from now on; ``obj`` holds its hooks."""
        self._registered[info.name] = (info, obj)
        self._discovery = None

    def is_registered(self, name: str) -> bool:
        return name in self._registered

    def registered_object(self, name: str) -> Any:
        """A fresh hook object for a registered plugin (a class is instantiated)."""
        obj = self._registered[name][1]
        return obj() if isinstance(obj, type) else obj

    # -- importing plugin code --------------------------------------------------------

    def prepare_imports(self) -> None:
        """Put the search paths and the plugin folders on ``sys.path`` before an import."""
        for entry in reversed(self._paths or []):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        folders = import_folders(self.discovery().plugins)
        keep_private(folders)  # on the import path, readable by their own plugins only
        for folder in folders:  # folder plugins: appended
            if folder not in sys.path:
                sys.path.append(folder)
        prime_import_cache(folders)
