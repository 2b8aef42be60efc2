"""Find plugins, importing none: installed ones through the ``jaf.plugins`` entry point
group, and folder plugins (``jafhost.discovery.folders``) in the plugin folders.

Discovery reads entry points, core metadata and manifests as data and returns one
``PluginInfo`` per plugin name, ``invalid`` ones included (with the reason), so the
CLI can list a broken plugin instead of hiding it. The expensive part (reading every
plugin's metadata and manifest) is skipped when the on-disk cache in
``jafhost.discovery.cache`` is still valid. The manifest reader (pydantic) is imported only
once a plugin is found.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import replace
from importlib.metadata import EntryPoint, distributions
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from jafhost.discovery import folders as folder_plugins
from jafhost.discovery.records import Discovery, PluginInfo
from jafhost.errors import ManifestError

if TYPE_CHECKING:
    from importlib.metadata import Distribution

GROUP = "jaf.plugins"
_ENTRY_POINT_VALUE = re.compile(r"^[A-Za-z_][\w.]*(?::[A-Za-z_][\w.]*)?$")


def _plugin_entry_points(dist: Distribution) -> list[EntryPoint]:
    """The ``jaf.plugins`` entry points of ``dist``, read leniently from its
    ``entry_points.txt``. Not ``dist.entry_points``: once something imports the
    ``importlib_metadata`` backport, it replaces the standard library's finder and its
    entry points raise ``ValueError`` on a value that is not ``module:object``, where a
    malformed value must make that one plugin ``invalid``, with the reason."""
    text = dist.read_text("entry_points.txt") or ""
    found: list[EntryPoint] = []
    group: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif group == GROUP and "=" in line:
            name, _, value = line.partition("=")
            found.append(EntryPoint(name=name.strip(), value=value.strip(), group=GROUP))
    return found


def _metadata_path(dist: Distribution) -> str | None:
    base = getattr(dist, "_path", None)
    if base is None:
        return None
    for name in ("METADATA", "PKG-INFO"):
        candidate = Path(base) / name
        if candidate.exists():
            return str(candidate)
    return str(Path(base) / "METADATA")


def _author(meta: Any) -> str:
    author = meta.get("Author") or ""
    if not author:
        email = meta.get("Author-email") or ""
        author = email.split("<", 1)[0].strip().strip('"') if "<" in email else email
    return str(author)


def _info_from_distribution(
    ep: EntryPoint, dist: Distribution, watch: list[str], path: list[str] | None
) -> PluginInfo:
    """One installed plugin from its entry point and distribution (metadata and manifest,
    read as data); ``error`` set when it is invalid. The files read go into ``watch``."""
    from jafhost.discovery.manifest import check_plugin_name, manifest_candidates, read_manifest

    meta: Any = dist.metadata
    base = PluginInfo(
        name=ep.name,
        distribution=str(meta.get("Name") or "?"),
        version=str(meta.get("Version") or "0"),
        entry_point=ep.value,
        summary=str(meta.get("Summary") or ""),
        author=_author(meta),
        requires=tuple(meta.get_all("Requires-Dist") or ()),
        extras=tuple(meta.get_all("Provides-Extra") or ()),
        location=str(getattr(dist, "_path", "") or "") or None,
    )
    metadata_file = _metadata_path(dist)
    if metadata_file:
        watch.append(metadata_file)
    try:
        check_plugin_name(ep.name)
        if not _ENTRY_POINT_VALUE.match(ep.value.replace(" ", "")):
            raise ManifestError(
                f"entry point value {ep.value!r} is not 'module' or 'module:object'"
            )
        candidates = manifest_candidates(ep.value, path)
        watch.extend(str(c) for c in candidates)
        manifest = read_manifest(candidates)
    except ManifestError as exc:
        return replace(base, error=str(exc))
    except Exception as exc:  # whatever one plugin's files do, the others are still listed
        return replace(base, error=f"cannot be described: {type(exc).__name__}: {exc}")
    return replace(
        base, kinds=manifest.kinds, permissions=manifest.permissions, manifest=manifest.path
    )


def _claimant(plugin: PluginInfo) -> str:
    if plugin.source == "folder":
        return f"the folder plugin at {plugin.location}"
    return f"{plugin.distribution} {plugin.version}"


def _mark_duplicates(plugins: list[PluginInfo]) -> list[PluginInfo]:
    claims: dict[str, list[PluginInfo]] = defaultdict(list)
    for plugin in plugins:
        claims[plugin.name].append(plugin)
    result: list[PluginInfo] = []
    for plugin in plugins:
        others = [p for p in claims[plugin.name] if p is not plugin]
        if others:
            names = ", ".join(_claimant(o) for o in others)
            plugin = replace(
                plugin, error=f"plugin name {plugin.name!r} is also claimed by {names}"
            )
        result.append(plugin)
    return result


def _installed_versions(plugins: list[PluginInfo], path: list[str]) -> dict[str, str | None]:
    """Versions of every distribution a plugin requires (None: not installed)."""
    names: set[str] = set()
    for plugin in plugins:
        for text in plugin.requires:
            try:
                names.add(canonicalize_name(Requirement(text).name))
            except InvalidRequirement:
                continue
    installed: dict[str, str | None] = {}
    for name in sorted(names):
        found = next(iter(distributions(name=name, path=path)), None)
        installed[name] = None if found is None else str(found.version)
    return installed


def scan(path: list[str] | None = None, folders: list[str] | None = None) -> Discovery:
    """Scan ``path`` (default ``sys.path``) for installed plugins and ``folders`` (the
    plugin folders, see ``jafhost.discovery.folders``) for folder plugins. Imports no
    plugin code."""
    search = list(sys.path if path is None else path)
    watch: list[str] = []
    plugins: list[PluginInfo] = []
    seen: set[str] = set()
    seen_folders: set[str] = set()
    for dist in distributions(path=search):
        folder = str(getattr(dist, "_path", "") or "")
        if folder:
            if folder in seen_folders:
                continue  # yielded twice (two metadata finders on sys.meta_path)
            seen_folders.add(folder)
        eps = _plugin_entry_points(dist)
        if not eps:
            continue
        meta: Any = dist.metadata
        key = str(meta.get("Name") or "").lower().replace("_", "-").replace(".", "-")
        if key in seen:
            continue  # shadowed by the same distribution earlier on the path
        seen.add(key)
        plugins.extend(
            _info_from_distribution(ep, dist, watch, None if path is None else search) for ep in eps
        )
    if folders:
        # a folder package must not be importable from anywhere else the host imports from
        import_path = list(dict.fromkeys([*search, *sys.path]))
        plugins += folder_plugins.scan_folders(folders, import_path)
    plugins = sorted(_mark_duplicates(plugins), key=lambda p: (p.name, p.distribution))
    installed = _installed_versions(plugins, search)
    if folders:
        plugins = folder_plugins.provide_distributions(plugins, installed, search)
    return Discovery(plugins=plugins, installed=installed, watch=watch)
