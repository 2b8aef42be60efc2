"""``jafhost dev``: watch plugin sources and reload the plugins whose files change.

Changed files are matched to the active plugins whose package folders hold them; each
such plugin is reloaded (``Host.reload``: a failed reload keeps the previous version
serving) and one line per reload says what happened. ``watchfiles`` is an optional
dependency (``pip install 'jafhost[watch]'``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from jafhost.runtime.lifecycle import plugin_modules

if TYPE_CHECKING:
    from jafhost.host.host import Host
    from jafhost.host.reload import ReloadReport


def plugin_folders(host: Host) -> dict[str, list[str]]:
    """Active plugin -> the folders its modules were loaded from (in the host), or would
    be (a process-isolated plugin's code is imported only in its worker: its package is
    located as discovery does, with ``find_spec``, which imports nothing)."""
    folders: dict[str, list[str]] = {}
    for name in host.active:
        loaded = host.loaded(name)
        if loaded is None:
            continue
        found: set[str] = set()
        for module_name in plugin_modules(loaded.info.entry_point):
            module = sys.modules.get(module_name)
            for location in getattr(module, "__path__", None) or []:
                found.add(os.path.realpath(location))
            file = getattr(module, "__file__", None)
            if file:
                found.add(os.path.realpath(os.path.dirname(file)))
        if not found:
            found.update(_package_folders(loaded.info.entry_point))
        folders[name] = sorted(found)
    return folders


def _package_folders(entry_point: str) -> list[str]:
    """Where the top-level package of ``entry_point`` lives, without importing it."""
    from importlib.util import find_spec

    top = entry_point.replace(" ", "").partition(":")[0].split(".", 1)[0]
    try:
        spec = find_spec(top) if top else None
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [os.path.realpath(p) for p in spec.submodule_search_locations]
    if spec.origin and os.path.isabs(spec.origin):
        return [os.path.realpath(os.path.dirname(spec.origin))]
    return []


def affected(host: Host, changed: Iterable[str]) -> list[str]:
    """The active plugins (in activation order) owning any of the changed files."""
    folders = plugin_folders(host)
    hits: set[str] = set()
    for path in changed:
        real = os.path.realpath(path)
        for plugin, roots in folders.items():
            if any(real == root or real.startswith(root + os.sep) for root in roots):
                hits.add(plugin)
    return [name for name in host.active if name in hits]


async def watch(
    host: Host,
    paths: list[Path],
    report: Callable[[ReloadReport], None],
    ready: Callable[[], None] | None = None,
) -> None:
    """Reload on change until cancelled; ``paths`` default to the active plugins' folders."""
    try:
        from watchfiles import awatch
    except ImportError:
        raise RuntimeError(
            "jafhost dev needs watchfiles, which is not installed: pip install 'jafhost[watch]'"
        ) from None
    targets = [str(p) for p in paths] or sorted(
        {root for roots in plugin_folders(host).values() for root in roots}
    )
    if not targets:
        raise RuntimeError("nothing to watch: no active plugin and no PATH given")
    if ready is not None:
        ready()
    async for changes in awatch(*targets, debounce=200, step=50):
        for name in affected(host, [path for _, path in changes]):
            report(await host.reload(name))
