"""The lock file as data: read with ``tomllib`` and checked key by key, written with ``tomli_w``.

A lock file is checked into a repository and read on other machines, so a bad one must
be refused before anything changes, with one line naming the file and the key at fault
(``LockFileError``). Layout (DESIGN.md, "Supply chain")::

    version = 1
    [[distribution]]
    name = "jaf-plugin-notes"
    version = "1.2.0"
    hashes = ["sha256:0f3c..."]
    [distribution.plugins.notes]
    enabled = true
    isolation = "process"          # optional: absent means the host's default
    grants = ["read:~/notes"]

Grants are kept as written (``~`` and ``$PLUGIN_DATA`` unexpanded) and only checked to
parse here; the machine that syncs expands them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from jafhost.atomic import write_atomic
from jafhost.discovery.manifest import PLUGIN_NAME
from jafhost.errors import PermissionSyntaxError, quoted
from jafhost.home.state import ISOLATIONS

VERSION = 1
DEFAULT_NAME = "jafhost.lock"
LIMIT = 16 * 1024 * 1024
"""The largest lock file read."""
HASH = re.compile(r"sha256:[0-9a-f]{64}")


class LockFileError(Exception):
    """A lock file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class LockedPlugin:
    """The recorded decisions about one plugin."""

    name: str
    enabled: bool
    grants: tuple[str, ...]
    isolation: str | None = None


@dataclass(frozen=True)
class LockedDistribution:
    """One distribution, pinned by version and wheel hashes."""

    name: str
    version: str
    hashes: tuple[str, ...]
    plugins: tuple[LockedPlugin, ...] = ()

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)


@dataclass(frozen=True)
class LockFile:
    distributions: tuple[LockedDistribution, ...] = field(default_factory=tuple)

    def plugins(self) -> dict[str, tuple[LockedDistribution, LockedPlugin]]:
        """Every locked plugin by name, with its distribution."""
        return {p.name: (d, p) for d in self.distributions for p in d.plugins}

    def to_toml(self) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        for dist in sorted(self.distributions, key=lambda d: d.key):
            entry: dict[str, Any] = {
                "name": dist.name,
                "version": dist.version,
                "hashes": list(dist.hashes),
            }
            if dist.plugins:
                entry["plugins"] = {
                    p.name: _plugin_table(p) for p in sorted(dist.plugins, key=lambda p: p.name)
                }
            items.append(entry)
        return {"version": VERSION, "distribution": items}


def _plugin_table(plugin: LockedPlugin) -> dict[str, Any]:
    table: dict[str, Any] = {"enabled": plugin.enabled}
    if plugin.isolation is not None:
        table["isolation"] = plugin.isolation
    table["grants"] = list(plugin.grants)
    return table


def write(lock: LockFile, path: Path) -> None:
    """Write ``lock`` to ``path`` atomically (a reader sees the old file or the new one)."""
    import tomli_w

    write_atomic(path, tomli_w.dumps(lock.to_toml()).encode(), new_mode=0o644)


def read(path: Path) -> LockFile:
    """Read and check a lock file; ``LockFileError`` names the file and the key at fault."""
    where = quoted(str(path))
    try:
        with path.open("rb") as handle:
            raw = handle.read(LIMIT + 1)
    except OSError as exc:
        raise LockFileError(f"lock file {where}: cannot read it: {exc.strerror}") from None
    if len(raw) > LIMIT:
        raise LockFileError(f"lock file {where}: larger than {LIMIT} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LockFileError(f"lock file {where}: not TOML: {exc}") from None
    return parse(data, where)


def parse(data: dict[str, Any], where: str) -> LockFile:
    def bad(key: str, why: str) -> LockFileError:
        return LockFileError(f"lock file {where}: {key}: {why}")

    if "version" not in data:
        raise bad("version", "missing (this host reads version = 1)")
    if data["version"] != VERSION or isinstance(data["version"], bool):
        raise bad("version", f"{quoted(data['version'])} is not a version this host reads (1)")
    unknown = sorted(set(data) - {"version", "distribution"})
    if unknown:
        raise bad(unknown[0], "unknown key")
    items = data.get("distribution", [])
    if not isinstance(items, list):
        raise bad("distribution", "not an array of tables ([[distribution]])")
    seen_dists: set[str] = set()
    seen_plugins: set[str] = set()
    found: list[LockedDistribution] = []
    for number, item in enumerate(items, 1):
        key = f"distribution[{number}]"
        if not isinstance(item, dict):
            raise bad(key, "not a table")
        for name in ("name", "version", "hashes"):
            if name not in item:
                raise bad(f"{key}.{name}", "missing")
        unknown = sorted(set(item) - {"name", "version", "hashes", "plugins"})
        if unknown:
            raise bad(f"{key}.{unknown[0]}", "unknown key")
        name, version, hashes = item["name"], item["version"], item["hashes"]
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise bad(f"{key}.name", f"{quoted(name)} is not a distribution name")
        if canonicalize_name(name) in seen_dists:
            raise bad(f"{key}.name", f"{name} is locked twice")
        seen_dists.add(canonicalize_name(name))
        key = f"distribution {name}"
        if not isinstance(version, str):
            raise bad(f"{key}.version", "not a string")
        try:
            Version(version)
        except InvalidVersion:
            raise bad(f"{key}.version", f"{quoted(version)} is not a version") from None
        if not isinstance(hashes, list) or not hashes:
            raise bad(f"{key}.hashes", "not a non-empty list of sha256:HEX strings")
        for value in hashes:
            if not isinstance(value, str) or not HASH.fullmatch(value):
                raise bad(f"{key}.hashes", f"{quoted(value)} is not sha256: and 64 hex digits")
        plugins = item.get("plugins", {})
        if not isinstance(plugins, dict):
            raise bad(f"{key}.plugins", "not a table")
        locked: list[LockedPlugin] = []
        for plugin_name, table in plugins.items():
            if not PLUGIN_NAME.fullmatch(plugin_name):
                raise bad(f"{key}.plugins.{plugin_name}", "not a plugin name")
            if plugin_name in seen_plugins:
                raise bad(f"{key}.plugins.{plugin_name}", "locked twice")
            seen_plugins.add(plugin_name)
            locked.append(_plugin(plugin_name, table, f"{key}.plugins.{plugin_name}", bad))
        found.append(LockedDistribution(name, version, tuple(hashes), tuple(locked)))
    return LockFile(tuple(found))


def _plugin(name: str, table: Any, key: str, bad: Any) -> LockedPlugin:
    from jafhost.security import permissions

    if not isinstance(table, dict):
        raise bad(key, "not a table")
    unknown = sorted(set(table) - {"enabled", "isolation", "grants"})
    if unknown:
        raise bad(f"{key}.{unknown[0]}", "unknown key")
    for needed in ("enabled", "grants"):
        if needed not in table:
            raise bad(f"{key}.{needed}", "missing")
    if not isinstance(table["enabled"], bool):
        raise bad(f"{key}.enabled", "not true/false")
    isolation = table.get("isolation")
    if isolation is not None and isolation not in ISOLATIONS:
        raise bad(f"{key}.isolation", f"not one of {', '.join(ISOLATIONS)}")
    grants = table["grants"]
    if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
        raise bad(f"{key}.grants", "not a list of strings")
    for grant in grants:
        try:
            permissions.parse(grant)
        except PermissionSyntaxError as exc:
            raise bad(f"{key}.grants", f"{quoted(grant)}: {exc}") from None
    return LockedPlugin(name, table["enabled"], tuple(grants), isolation)
