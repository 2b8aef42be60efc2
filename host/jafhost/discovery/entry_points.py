"""Find plugins, importing none: installed ones through the ``jaf.plugins`` entry point
group, and folder plugins (``jafhost.discovery.folders``) in the plugin folders.

Discovery reads entry points, core metadata and manifests as data and returns one
``PluginInfo`` per plugin name, ``invalid`` ones included (with the reason), so the
CLI can list a broken plugin instead of hiding it. The expensive part (reading every
plugin's metadata and manifest) is skipped when the on-disk cache in
``jafhost.discovery.cache`` is still valid. The manifest reader (pydantic) is imported only
once a plugin with a manifest file is found, ``packaging`` once one has requirements.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from importlib.metadata import distributions
from pathlib import Path

from jafhost.discovery import folders as folder_plugins
from jafhost.discovery.metadata import (
    ENTRY_POINT_VALUE,
    BadMetadata,
    CoreMetadata,
    PackageFinder,
    check_plugin_name,
    core_metadata,
    entry_points_of,
    info_base,
    maybe_plugin,
    metadata_file,
)
from jafhost.discovery.metadata import canonical_name as canonicalize_name
from jafhost.discovery.records import Discovery, PluginInfo
from jafhost.errors import ManifestError


def _dist_name(folder: str) -> str:
    """The distribution's name as its folder spells it (``name-1.0.dist-info``)."""
    return canonicalize_name(os.path.basename(folder).split("-", 1)[0])


def _invalid(folder: str, name: str, error: str) -> PluginInfo:
    return PluginInfo(
        name=name,
        distribution=_dist_name(folder),
        version=os.path.basename(folder).split("-", 1)[-1].rsplit(".", 1)[0],
        entry_point="",
        location=folder,
        error=error,
    )


def _none_there(candidates: list[Path]) -> bool:
    """Whether no candidate manifest exists: each absent as ``read_manifest`` skips one
    (not found), anything else (a link, an unreadable folder) left for it to judge."""
    for candidate in candidates:
        try:
            os.lstat(candidate)
        except FileNotFoundError:
            continue
        except OSError:
            return False
        return False
    return True


def _info_from_distribution(
    name: str, value: str, meta: CoreMetadata, folder: str, watch: list[str], finder: PackageFinder
) -> PluginInfo:
    """One installed plugin from its entry point and distribution (metadata and manifest,
    read as data); ``error`` set when it is invalid. The files read go into ``watch``."""
    base = info_base(name, value, meta, folder)
    try:
        check_plugin_name(name)
        if not ENTRY_POINT_VALUE.match(value.replace(" ", "")):
            raise ManifestError(f"entry point value {value!r} is not 'module' or 'module:object'")
        candidates = [Path(c) for c in finder.locations(value)]
        watch.extend(str(c) for c in candidates)
        if _none_there(candidates):
            return base  # no manifest: it requests nothing (its reader is not imported)
        from jafhost.discovery.manifest import read_manifest

        manifest = read_manifest(candidates)
    except ManifestError as exc:
        return base.replace(error=str(exc))
    except Exception as exc:  # whatever one plugin's files do, the others are still listed
        return base.replace(error=f"cannot be described: {type(exc).__name__}: {exc}")
    return base.replace(
        kinds=manifest.kinds,
        permissions=manifest.permissions,
        manifest=manifest.path,
        activation=manifest.activation,
    )


def _distribution_plugins(
    folder: str, seen: set[str], watch: list[str], finder: PackageFinder
) -> list[PluginInfo]:
    """The plugins of the distribution described in ``folder`` (none when it names no
    ``jaf.plugins`` entry point or is shadowed); a metadata file that cannot be read
    safely makes it one ``invalid`` plugin naming that file."""
    if not maybe_plugin(folder):
        return []
    watch += [metadata_file(folder), os.path.join(folder, "entry_points.txt")]
    try:
        eps = entry_points_of(folder)
    except BadMetadata as exc:
        return [_invalid(folder, _dist_name(folder), str(exc))]
    try:
        meta = core_metadata(folder)
    except BadMetadata as exc:
        return [_invalid(folder, name, str(exc)) for name, _ in eps]
    if not eps:
        return []
    key = canonicalize_name(meta.name)
    if key in seen:
        return []  # shadowed by the same distribution earlier on the path
    seen.add(key)
    return [_info_from_distribution(n, v, meta, folder, watch, finder) for n, v in eps]


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
            plugin = plugin.replace(error=f"plugin name {plugin.name!r} is also claimed by {names}")
        result.append(plugin)
    return result


def installed_version(name: str, path: list[str]) -> str | None:
    """The version of distribution ``name`` first on ``path`` (None: not installed), its
    metadata read safely (a broken one counts as not installed)."""
    found = next(iter(distributions(name=name, path=path)), None)
    folder = str(getattr(found, "_path", "") or "")
    if found is None or not folder:
        return None
    try:
        return core_metadata(folder).version
    except BadMetadata:
        return None


def _installed_versions(plugins: list[PluginInfo], path: list[str]) -> dict[str, str | None]:
    """Versions of every distribution a plugin requires (None: not installed)."""
    names: set[str] = set()
    if any(plugin.requires for plugin in plugins):
        from packaging.requirements import InvalidRequirement, Requirement
    for plugin in plugins:
        for text in plugin.requires:
            try:
                names.add(canonicalize_name(Requirement(text).name))
            except InvalidRequirement:
                continue
    installed: dict[str, str | None] = {}
    for name in sorted(names):
        installed[name] = installed_version(name, path)
    return installed


def installed_versions(plugins: list[PluginInfo], search: list[str]) -> dict[str, str | None]:
    """What ``scan`` records as installed: the versions of every distribution a plugin
    requires, and each folder plugin's version under its name where no distribution has
    that name (``folders.provide_distributions``)."""
    installed = _installed_versions(plugins, search)
    for plugin in plugins:
        if plugin.source == folder_plugins.SOURCE:
            key = canonicalize_name(plugin.name)
            if installed_version(key, search) is None:
                installed[key] = plugin.version
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
    # each path folder listed once for every plugin's manifest, answering as importlib
    finder = PackageFinder(None if path is None else search)
    for dist in distributions(path=search):
        folder = str(getattr(dist, "_path", "") or "")
        if not folder or folder in seen_folders:
            continue  # yielded twice (two metadata finders on sys.meta_path)
        seen_folders.add(folder)
        plugins += _distribution_plugins(folder, seen, watch, finder)
    if folders:
        # a folder package must not be importable from anywhere else the host imports from
        import_path = list(dict.fromkeys([*search, *sys.path]))
        plugins += folder_plugins.scan_folders(folders, import_path)
    plugins = sorted(_mark_duplicates(plugins), key=lambda p: (p.name, p.distribution))
    installed = _installed_versions(plugins, search)
    if folders:
        plugins = folder_plugins.provide_distributions(plugins, installed, search)
    return Discovery(plugins=plugins, installed=installed, watch=watch)
