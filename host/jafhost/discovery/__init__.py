"""Finding plugins without running their code: ``discover()`` is the way in.

It returns a ``records.Discovery`` (one ``records.PluginInfo`` per plugin, invalid ones
included), read from the on-disk ``cache`` while that is still valid, otherwise scanned
afresh: ``entry_points`` (installed distributions) and ``folders`` (plugin folders), each
plugin's ``manifest`` read as data. ``resolve`` then decides which plugins can run.

Nothing heavy is imported here: the lower layers import ``records`` through this package.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from jafhost._version import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from jafhost.discovery.records import Discovery


def discover(
    cache_folder: Path | None,
    paths: list[str] | None = None,
    folders: list[str] | None = None,
    *,
    lazy: bool = False,
    rescan: bool = False,
) -> Discovery:
    """Discovery through the cache when it is valid; a fresh scan (then cached) otherwise.

    ``paths`` (default ``sys.path``) is searched for distributions, ``folders`` (the plugin
    folders, ``jafhost.discovery.folders.plugin_folders()``) for folder plugins;
    ``cache_folder`` None scans without the cache. ``lazy``: a cached discovery comes with
    its plugins still to be checked against their files, each before it is used
    (``Discovery.pending``), so a command that uses one plugin reads one plugin's files.
    ``rescan``: the cache is not read (one of its plugins did not hold), only rewritten."""
    if cache_folder is None:
        from jafhost.discovery.entry_points import scan

        return scan(paths, folders)
    from jafhost.discovery.cache import DiscoveryCache, path_fingerprint

    search = list(sys.path if paths is None else paths)
    cache = DiscoveryCache(cache_folder, search, folders)
    fingerprint = path_fingerprint(search, folders)
    if not rescan:
        cached = cache.load(fingerprint, paths, __version__, lazy=lazy)
        if cached is not None:
            return cached
    from jafhost.discovery.entry_points import scan
    from jafhost.discovery.resolve import judge

    fresh = scan(paths, folders)
    fresh.judged = judge(fresh.plugins, fresh.installed, __version__)
    cache.store(fingerprint, fresh)
    return fresh
