"""``Catalog``: which plugins a host knows and how they resolve, without running their code.

Installed plugins come from discovery (entry points and plugin folders, cached); plugins
registered in memory (``Host.register``) join them as ordinary ``PluginInfo`` records, so
resolution, the views and the lifecycle treat both alike.

Every cached plugin is checked against its files before it is started or shown. By
default all are checked when discovery is first read; a command that uses few plugins
(``jafhost call``) asks for the checks to be deferred (``defer_checks``), and then each
plugin is checked when it is about to start (``verify``, from ``Runtime``) or be shown
(``known``, ``discovery``, the views): its cost follows the plugins a command touches,
not the plugins installed.

Before a plugin is started or shown, its distribution's files are also checked against
their ``RECORD`` (``discovery.integrity``): a file that differs or is missing makes it
``invalid`` naming that file, so none of its code is imported, in the host or a worker.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jafhost._version import __version__
from jafhost.discovery import discover
from jafhost.discovery.folders import import_folders, plugin_folders, prime_import_cache
from jafhost.errors import StateError, UsageError, quoted
from jafhost.file_stamps import CHANGE_MARGIN_NS
from jafhost.security.policy import keep_private

if TYPE_CHECKING:
    from jafhost.discovery.integrity import Integrity
    from jafhost.discovery.integrity_stamps import StampStore
    from jafhost.discovery.records import Discovery, PluginInfo
    from jafhost.discovery.resolve import Resolution
    from jafhost.home.paths import HomeLayout
    from jafhost.home.state import State, StateStore


def _stamps(info: PluginInfo) -> tuple[tuple[str, int, int, int, int], ...] | None:
    """Stat stamps of the files and folders a plugin was described from (its metadata,
    its manifest, its folder and the folder holding it: a file added, replaced or
    renamed there changes that folder); None for a plugin described by no file."""
    if info.source == "memory" or not info.location:
        return None
    paths = [info.location, os.path.dirname(info.location)]
    if info.source == "distribution":
        paths += [os.path.join(info.location, n) for n in ("METADATA", "entry_points.txt")]
    if info.manifest:
        paths += [info.manifest, os.path.dirname(info.manifest)]
    rows = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            rows.append((path, -1, -1, -1, -1))
            continue
        rows.append((path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(rows)


def _changed_since(stamps: Any, read_at: int) -> bool:
    since = read_at - CHANGE_MARGIN_NS
    return any(row[1] == -1 or row[4] >= since for row in stamps)


def changed_since(info: PluginInfo, read_at: int) -> bool:
    """Whether the files ``info`` was described from changed since ``read_at``
    (``time.time_ns()`` before what described it was read): ``Catalog.holds``'s rule."""
    stamps = _stamps(info)
    return stamps is not None and _changed_since(stamps, read_at)


def place_imports(folders: list[str]) -> None:
    """Plugin ``folders`` (``Catalog.import_folders``) made private to their plugins,
    appended to ``sys.path`` and listed for the import system, before a plugin import."""
    keep_private(folders)  # on the import path, readable by their own plugins only
    for folder in folders:  # folder plugins: appended
        if folder not in sys.path:
            sys.path.append(folder)
    prime_import_cache(folders)


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
        self._lazy = False
        self._folders: list[str] = []
        self._named: tuple[Discovery, dict[str, list[PluginInfo]]] | None = None
        self._read_at = 0
        """``time.time_ns()`` just before discovery was last read (scanned or cached)."""
        self._resolved: tuple[Discovery, int, State, Resolution] | None = None
        """The last resolution computed from a state snapshot: the discovery read and the
        snapshot it came from (``resolution``)."""
        self._stamped: dict[tuple[str, str, str], Any] = {}
        """Per plugin (name, location, manifest): its ``_stamps`` when last found
        unchanged since discovery was read."""
        self._integrity: dict[str, Integrity] = {}
        """Per plugin name: how its files last compared with their ``RECORD``."""
        self._pristine: dict[str, PluginInfo] = {}
        """Per plugin made invalid by that check: the plugin as discovery found it."""
        self._all_checked: Discovery | None = None
        self._stamp_store: StampStore | None = None

    def defer_checks(self) -> None:
        """Check cached plugins one at a time, each before it is started or shown, rather
        than all at the first read: for a command that uses few of them."""
        self._lazy = True

    def _read(self, *, rescan: bool = False) -> Discovery:
        """Discovery, its plugins still to be checked in the deferred mode."""
        if self._discovery is None or rescan:
            self._read_at = time.time_ns()
            self._stamped.clear()
            try:
                folders = plugin_folders(self._layout.config)
            except StateError:  # reported once, by ``Host.config_problem``
                folders = plugin_folders(None)
            self._folders = folders
            cache = self._layout.cache if self._use_cache else None
            found = discover(cache, self._paths, folders, lazy=self._lazy, rescan=rescan)
            if self._only is not None:
                found.plugins = [p for p in found.plugins if p.name in self._only]
            found.plugins += [info for info, _ in self._registered.values()]
            self._discovery = found
            self._integrity.clear()
            self._pristine.clear()
            self._all_checked = None
            if not self._lazy:
                self.check_files(None)
        return self._discovery

    def _stamps_store(self) -> StampStore:
        from jafhost.discovery.integrity import STAMPS_FOLDER
        from jafhost.discovery.integrity_stamps import StampStore

        if self._stamp_store is None:
            folder = self._layout.cache / STAMPS_FOLDER if self._use_cache else None
            self._stamp_store = StampStore(folder)
        return self._stamp_store

    def check_files(self, names: Iterable[str] | None, *, force: bool = False) -> None:
        """Check the files of the plugins ``names`` (None: all) against their ``RECORD``
        now (``force``: hash every file); one that fails is made ``invalid`` naming the
        file, one that passes again gets back what discovery found."""

        from jafhost.discovery.integrity import check_plugin

        found = self._read()
        if names is None and not force and self._all_checked is found:
            return
        wanted = None if names is None else set(names)
        store = self._stamps_store()
        by_folder: dict[tuple[str, str], Integrity | None] = {}
        """(Its folder, its entry point): the foreign-file check depends on the latter."""
        touched = False
        for index, current in enumerate(found.plugins):
            if wanted is not None and current.name not in wanted:
                continue
            info = self._pristine.get(current.name, current)
            checked = (info.location or "", info.entry_point)
            if checked not in by_folder:
                by_folder[checked] = check_plugin(info, store, force=force)
            integrity = by_folder[checked]
            if integrity is None:
                continue
            self._integrity[info.name] = integrity
            if integrity.ok or info.error is not None:
                now = info
            else:
                self._pristine[info.name] = info
                now = info.replace(error=f"its files fail the integrity check: {integrity.detail}")
            if now != current:
                found.plugins[index] = now
                touched = True
            if integrity.ok:
                self._pristine.pop(info.name, None)
        if touched:
            self._named = None
            self._resolved = None
        if names is None:
            self._all_checked = found

    def integrity(self, name: str) -> Integrity | None:
        """How plugin ``name``'s files last compared with their ``RECORD`` (None: not
        checked, or no files: registered in memory)."""
        return self._integrity.get(name)

    def verify(self, names: Iterable[str]) -> bool:
        """Check the cached plugins of ``names`` against their files (nothing to do unless
        checks are deferred). True: they hold; False: one did not, and discovery was
        scanned afresh (resolve again: what the caller resolved is out of date)."""
        names = list(names)
        found = self._read()
        pending = found.pending
        holding = pending is None or all(pending.plugin(name) for name in names)
        if not holding:
            self._read(rescan=True)
        self.check_files(names)
        return holding

    def holds(self, info: PluginInfo) -> bool:
        """Whether ``info``, resolved earlier, is what discovery now knows of its plugin,
        checked against its files and their ``RECORD`` hashes (False: it changed, or
        discovery was scanned afresh since; resolve again). Asked before a plugin
        starts: a long-running host (an MCP server, ``dev``, an embedding program)
        starts plugins long after it read discovery, and an upgrade installed
        meanwhile (one needing approval again, say) must be resolved afresh before any
        of its code runs."""
        self.verify([info.name])
        stamps = _stamps(info)
        if self._changed_since_read(info, stamps):
            self._read(rescan=True)
            self.check_files([info.name])  # its files, once more after the fresh scan
        if stamps is not None:  # found as it was (or scanned afresh just now)
            self._stamped[(info.name, info.location or "", info.manifest or "")] = stamps
        found = self._read()
        if self._named is None or self._named[0] is not found:
            named: dict[str, list[PluginInfo]] = {}
            for plugin in found.plugins:
                named.setdefault(plugin.name, []).append(plugin)
            self._named = (found, named)
        return info in self._named[1].get(info.name, ())

    def _changed_since_read(self, info: PluginInfo, stamps: Any) -> bool:
        """Whether the files ``info`` was described from changed since discovery was
        read (or since they were last found unchanged)."""
        if stamps is None:
            return False
        known = self._stamped.get((info.name, info.location or "", info.manifest or ""))
        if known is not None:
            return bool(known != stamps)
        return _changed_since(stamps, self._read_at)

    def verify_all(self) -> None:
        """Check every cached plugin (before all of them are shown), scanning afresh if
        one does not hold."""
        found = self._read()
        if found.pending is not None:
            if found.pending.all():
                found.pending = None
            else:
                self._read(rescan=True)
        self.check_files(None)

    def discovery(self, refresh: bool = False) -> Discovery:
        """Discovery, every plugin in it checked (``refresh``: read again)."""
        if refresh:
            self._discovery = None
        self.verify_all()
        return self._read()

    def resolution(self, state: State | None = None) -> Resolution:
        """How the plugins resolve. With deferred checks, a plugin is checked when it is
        started or shown (``verify``), not here.

        Without ``state`` the state file is read afresh every time (another process may
        have changed it). The resolution is reused while both the discovery read and the
        state snapshot (``StateStore.snapshot``: the same object while the file's bytes
        stay the same) are those it was computed from: a command asks several times (the
        call, the start, the record), and at N plugins each costs O(N)."""
        found = self._read()
        memo = self._resolved
        fresh = state is None
        current = self._store.snapshot() if state is None else state
        if (
            memo is not None
            and memo[0] is found
            and memo[1] == len(found.plugins)
            and memo[2] is current
        ):
            return memo[3]
        # requirements judged at scan time apply only to the full, unchanged set
        judged = found.judged if self._only is None and not self._registered else None
        from jafhost.discovery.resolve import resolve_plugins

        status_of = current.status_of
        resolved: Resolution = resolve_plugins(
            found.plugins,
            found.installed,
            __version__,
            status_of,  # type: ignore[arg-type]
            judged,
        )
        if fresh:
            self._resolved = (found, len(found.plugins), current, resolved)
        return resolved

    def known(self, names: Iterable[str]) -> Resolution:
        """The resolution, after checking that every name is a known plugin
        (``UsageError`` naming the known ones otherwise)."""
        names = list(names)
        self.verify(names)
        resolution = self.resolution()
        if any(resolution.get(name) is None for name in names) and self._read().pending:
            self.verify_all()  # the known names are about to be shown
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

    def import_folders(self) -> list[str]:
        """The plugin folders a plugin's import needs on ``sys.path`` (``place_imports``)."""
        found = self._read()
        folders = import_folders(found.plugins)
        if found.pending is not None:  # only where plugin folders are configured
            folders = [folder for folder in folders if folder in self._folders]
        return folders

    def prepare_imports(self) -> None:
        """Put the search paths and the plugin folders on ``sys.path`` before an import."""
        for entry in reversed(self._paths or []):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        place_imports(self.import_folders())

    def cached_plugin(self, name: str) -> tuple[list[PluginInfo], dict[str, str]] | None:
        """When discovery was read from its cache file with checks deferred: the cached
        plugins named ``name`` and the digests of the files their check reads
        (``CacheCheck.watched_of``); None when it was scanned."""
        found = self._read()
        return None if found.pending is None else found.pending.watched_of(name)

    @property
    def plugin_folders(self) -> list[str]:
        """The plugin folders discovery searched."""
        self._read()
        return list(self._folders)
