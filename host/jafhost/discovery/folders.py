"""Folder plugins: plugin packages used straight from a folder, for local development.

``plugin_folders`` lists the plugin folders (``JAFHOST_PLUGIN_PATH``, then ``[host]
plugin_paths`` in ``config.toml``); ``scan_folders`` describes each package in them that
has a ``jaf-plugin.toml`` as a ``PluginInfo`` (its ``[plugin]`` table stands in for core
metadata); ``import_folders`` names the folders appended to ``sys.path`` just before
plugin code runs. Discovery itself imports nothing.

Light at import time: ``jafhost list`` calls ``plugin_folders`` on every run, so the
manifest reader (pydantic), ``importlib.metadata``, packaging and the guard are imported
by the functions that scan or import. Where, what, identity and import rules:
docs/architecture.md, "Folder plugins".
"""

from __future__ import annotations

import keyword
import os
import sys
from collections import defaultdict
from collections.abc import Mapping
from importlib.machinery import PathFinder
from typing import Any

from jafhost.blake import blake2b
from jafhost.discovery.records import PluginInfo
from jafhost.errors import ManifestError, StateError
from jafhost.safe_read import CONFIG_LIMIT, MANIFEST_LIMIT, UnsafeFile, read_bytes, read_text

ENV_VARIABLE = "JAFHOST_PLUGIN_PATH"
SOURCE = "folder"
MANIFEST_FILE = (
    "jaf-plugin.toml"  # = jafhost.discovery.manifest.MANIFEST_NAME, without importing it
)


def _configured(config_file: str | os.PathLike[str]) -> list[str]:
    """``[host] plugin_paths`` of ``config.toml``, read with tomllib only (no pydantic)."""
    try:
        text = read_text(config_file, CONFIG_LIMIT)
    except FileNotFoundError:
        return []
    except UnsafeFile as exc:
        raise StateError(f"{config_file}: {exc}") from None
    if "plugin_paths" not in text:
        return []  # the common case: no need to parse the file at all
    try:
        import tomllib  # only when there is a config.toml to read

        data = tomllib.loads(text)
    except RecursionError:
        raise StateError(f"{config_file}: nested too deeply") from None
    except ValueError as exc:  # TOMLDecodeError, or int() refusing a huge number
        raise StateError(f"{config_file}: invalid TOML: {exc}") from None
    host = data.get("host", {})
    value = host.get("plugin_paths", []) if isinstance(host, dict) else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StateError(f"{config_file}: [host] plugin_paths: must be a list of folder paths")
    return value


def plugin_folders(
    config_file: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The plugin folders, absolute, in search order, each once (see the module doc)."""
    env = os.environ if environ is None else environ
    found = [
        os.path.abspath(os.path.expanduser(entry))
        for entry in env.get(ENV_VARIABLE, "").split(os.pathsep)
        if entry
    ]
    if config_file is not None:
        base = os.path.dirname(os.fspath(config_file))
        found += [
            os.path.abspath(os.path.join(base, os.path.expanduser(entry)))
            for entry in _configured(config_file)
            if entry
        ]
    unique: dict[str, str] = {}
    for folder in found:
        unique.setdefault(os.path.realpath(folder), folder)
    return list(unique.values())


def packages(folder: str) -> list[os.DirEntry[str]]:
    """The candidate package folders directly inside ``folder``, sorted by name."""
    try:
        with os.scandir(folder) as listing:
            items = [item for item in listing if not item.name.startswith((".", "__"))]
    except OSError:
        return []
    result = []
    for item in items:
        try:
            if item.is_dir():
                result.append(item)
        except OSError:
            continue
    return sorted(result, key=lambda item: item.name)


def _module_problem(module: str, package: str, folder: str, import_path: list[str]) -> str | None:
    """Why the package cannot be imported as ``module`` from ``folder``, or None."""
    if not module.isidentifier() or keyword.iskeyword(module):
        return (
            f"{package}: the folder name {module!r} is not an importable module name "
            "(the package is imported by its folder name; rename it, e.g. "
            f"{module.replace('-', '_').replace('.', '_')!r})"
        )
    if not os.path.isfile(os.path.join(package, "__init__.py")):
        return f"{package}: no __init__.py (a plugin package needs one)"
    if module in sys.stdlib_module_names or module in sys.builtin_module_names:
        return (
            f"{package}: {module!r} is a standard library module; rename the package folder "
            "(it is imported by its folder name)"
        )
    own = os.path.realpath(folder)
    others = [p for p in import_path if os.path.realpath(p or ".") != own]
    try:
        spec = PathFinder.find_spec(module, others)
    except (ImportError, ValueError, OSError):
        spec = None
    if spec is not None and spec.origin is not None:
        return (
            f"{package}: a module {module!r} is already importable from {spec.origin}; "
            "rename the package folder (it is imported by its folder name)"
        )
    return None


def info_from_folder(package: str, folder: str, import_path: list[str]) -> PluginInfo:
    """One folder plugin from its package folder; ``error`` set when it is invalid."""
    from jafhost.discovery.manifest import load_toml, manifest_from_data, read_file

    module = os.path.basename(package)
    manifest_file = os.path.join(package, MANIFEST_FILE)
    base = PluginInfo(
        name=module,
        distribution=module,
        version="0",
        entry_point=module,
        manifest=manifest_file,
        location=package,
        source=SOURCE,
    )
    try:
        data = load_toml(read_file(manifest_file), manifest_file)
    except FileNotFoundError:
        return base.replace(error=f"{manifest_file}: cannot read: it is gone")
    except ManifestError as exc:
        return base.replace(error=str(exc))
    raw: Any = data.get("plugin")
    if isinstance(raw, dict):
        if isinstance(raw.get("name"), str) and raw["name"]:
            base = base.replace(name=raw["name"], distribution=raw["name"])
        if isinstance(raw.get("version"), str) and raw["version"]:
            base = base.replace(version=raw["version"])
    try:
        manifest = manifest_from_data(data, manifest_file, folder=True)
    except ManifestError as exc:
        return base.replace(error=str(exc))
    assert manifest.name is not None and manifest.version is not None
    entry_point = manifest.entry_point or module
    error = _module_problem(module, package, folder, import_path)
    top = entry_point.split(":", 1)[0].split(".", 1)[0]
    if error is None and top != module:
        error = (
            f"{manifest_file}: plugin.entry_point: {entry_point!r} is outside the package "
            f"{module!r} (use e.g. '{module}.plugin' or '{module}:Plugin')"
        )
    return base.replace(
        name=manifest.name,
        distribution=manifest.name,
        version=manifest.version,
        entry_point=entry_point,
        summary=manifest.summary,
        requires=manifest.requires,
        kinds=manifest.kinds,
        permissions=manifest.permissions,
        activation=manifest.activation,
        error=error,
    )


def _described(package: str, folder: str, import_path: list[str]) -> PluginInfo:
    """``info_from_folder``, with any failure making only this plugin invalid."""
    try:
        return info_from_folder(package, folder, import_path)
    except Exception as exc:  # whatever one plugin's files do, the others are still listed
        module = os.path.basename(package)
        return PluginInfo(
            name=module,
            distribution=module,
            version="0",
            entry_point=module,
            manifest=os.path.join(package, MANIFEST_FILE),
            location=package,
            source=SOURCE,
            error=f"cannot be described: {type(exc).__name__}: {exc}",
        )


def scan_folders(folders: list[str], import_path: list[str]) -> list[PluginInfo]:
    """Every plugin package in ``folders``: each package folder with a
    ``jaf-plugin.toml`` (one that is not a regular file too, to be reported invalid);
    imports nothing."""
    plugins = [
        _described(item.path, folder, import_path)
        for folder in folders
        for item in packages(folder)
        if os.path.exists(os.path.join(item.path, MANIFEST_FILE))
    ]
    # two packages with one folder name: only the first could ever be imported
    by_module: dict[str, list[PluginInfo]] = defaultdict(list)
    for plugin in plugins:
        by_module[os.path.basename(plugin.location or "")].append(plugin)
    result = []
    for plugin in plugins:
        others = [o for o in by_module[os.path.basename(plugin.location or "")] if o is not plugin]
        if others and plugin.error is None:
            plugin = plugin.replace(
                error=f"{plugin.location}: the package name is also used by the folder "
                f"plugin at {others[0].location}; only one of them could be imported",
            )
        result.append(plugin)
    return result


def provide_distributions(
    plugins: list[PluginInfo], installed: dict[str, str | None], search: list[str]
) -> list[PluginInfo]:
    """Make each folder plugin the distribution its name names: record its version in
    ``installed`` (for the requirements of other plugins), unless an installed
    distribution already has that name or another folder plugin claims it (invalid)."""
    from importlib.metadata import distributions

    from packaging.utils import canonicalize_name

    from jafhost.discovery.metadata import BadMetadata, core_metadata

    claims: dict[str, list[PluginInfo]] = defaultdict(list)
    for plugin in plugins:
        if plugin.source == SOURCE:
            claims[canonicalize_name(plugin.name)].append(plugin)
    result = []
    for plugin in plugins:
        if plugin.source != SOURCE:
            result.append(plugin)
            continue
        key = canonicalize_name(plugin.name)
        dist = next(iter(distributions(name=key, path=search)), None)
        if dist is not None:
            if plugin.error is None:
                try:  # read safely: whoever installed it wrote its metadata
                    meta = core_metadata(str(getattr(dist, "_path", "")))
                    installed_as = f"{meta.name} {meta.version}"
                except BadMetadata:
                    installed_as = key
                plugin = plugin.replace(
                    error=f"plugin name {plugin.name!r} is also the name of the installed "
                    f"distribution {installed_as}; a folder plugin "
                    "is required by its name, so give it another",
                )
            result.append(plugin)
            continue
        others = [o for o in claims[key] if o is not plugin and o.name != plugin.name]
        if others and plugin.error is None:
            plugin = plugin.replace(
                error=f"plugin name {plugin.name!r} names the same distribution as the folder "
                f"plugin {others[0].name!r} at {others[0].location}",
            )
        installed[key] = plugin.version
        result.append(plugin)
    return result


def import_folders(plugins: list[PluginInfo]) -> list[str]:
    """The plugin folders to append to ``sys.path`` so valid folder plugins import."""
    folders = [
        os.path.dirname(p.location)
        for p in plugins
        if p.source == SOURCE and p.error is None and p.location
    ]
    return list(dict.fromkeys(folders))


def own_folders(info: PluginInfo) -> list[str]:
    """What a valid folder plugin reads as its own: its package folder, never its
    siblings in the same plugin folder (``plugin_folder``). Nothing for an installed
    plugin (its package is part of the Python installation)."""
    if info.source != SOURCE or info.error is not None or not info.location:
        return []
    return [info.location]


def plugin_folder(info: PluginInfo) -> list[str]:
    """The plugin folder a valid folder plugin is imported from (even when that is the
    working folder): on its import path, and listed by the import system to find its
    package, but no file in it is the plugin's to read."""
    return [os.path.dirname(folder) for folder in own_folders(info)]


def prime_import_cache(folders: list[str]) -> None:
    """List each folder for the import system now, as host code.

    Python lists an import path entry once and keeps the listing until the folder
    changes. Were the first listing made while another plugin's code looks for a module
    (an optional import that fails), that plugin's guard would refuse it and the empty
    listing would stay, hiding the folder plugin's package from itself."""
    from jafhost.security.guard import CURRENT_PLUGIN

    token = CURRENT_PLUGIN.set(None)
    try:
        for folder in folders:
            PathFinder.find_spec("_jafhost_no_such_module_", [folder])
    finally:
        CURRENT_PLUGIN.reset(token)


def fingerprint_rows(folder: str) -> str:
    """What of ``folder`` discovery depends on: its package folders and, in each, the
    manifest's content (tiny, and unlike a time stamp it cannot miss an edit made within
    one clock tick) and whether ``__init__.py`` exists. Editing code changes nothing.
    A manifest that is not a regular file, or too large, is never read (a FIFO would
    block, ``/dev/zero`` never ends): why it is refused is its stamp, with the size and
    time stamp of one that is too large."""
    if not os.path.isdir(folder):
        return "-"
    rows = []
    for item in packages(folder):
        path = os.path.join(item.path, MANIFEST_FILE)
        try:
            data = read_bytes(path, MANIFEST_LIMIT)
            stamp = blake2b(data, digest_size=12).hexdigest()
        except FileNotFoundError:
            stamp = "-"
        except UnsafeFile as exc:
            try:
                st = os.stat(path)
                stamp = f"!{exc}:{st.st_mode}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
            except OSError:
                stamp = f"!{exc}"
        init = "i" if os.path.isfile(os.path.join(item.path, "__init__.py")) else "-"
        rows.append(f"{item.name}={stamp}|{init}")
    return "\n".join(rows)
