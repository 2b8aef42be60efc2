"""``jafhost lock``: the lock file of this environment's plugin set.

Every distribution the plugins need is pinned: the plugin distributions and, walking
their ``Requires-Dist`` (markers evaluated for this interpreter), every installed
distribution they pull in, since ``pip install --require-hashes`` on the other side
wants a hash for every file it installs. The host's own distribution and everything it
needs (any extra) are left out: they are what runs ``sync``.

A hash is the one recorded when ``jafhost install`` fetched the wheel
(``wheel_hashes``), else the index's ``sha256`` for the installed version's wheels.
A distribution with neither is refused by name: a lock entry without a hash could never
be installed hash-checked, so writing one would only move the failure to ``sync``.
Folder plugins and editable installs have no wheel at all: refused by name too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from jafhost.ecosystem import wheel_hashes
from jafhost.ecosystem.lock_file import LockedDistribution, LockedPlugin, LockFile

if TYPE_CHECKING:
    from jafhost.host.host import Host

HOST_DISTRIBUTION = "jafhost"
TRAVELLING_KINDS = ("read", "write")


class LockError(Exception):
    """The environment cannot be locked; the message names the distribution or plugin."""


def travelling(grant: str, home: str | None = None) -> str:
    """A canonical grant as it is written in a lock: a path under the user's home as
    ``~/...``, so it means the same folder for another user on another machine
    (``$PLUGIN_DATA`` is already symbolic)."""
    kind, sep, path = grant.partition(":")
    home = (home or os.path.expanduser("~")).rstrip("/")
    if not sep or kind not in TRAVELLING_KINDS or not home or home == "~":
        return grant
    if path == home:
        return f"{kind}:~"
    if path.startswith(home + "/"):
        return f"{kind}:~/{path[len(home) + 1 :]}"
    return grant


def _find(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def is_editable(dist: metadata.Distribution) -> bool:
    """Installed with ``pip install -e`` (PEP 610 ``direct_url.json``)."""
    try:
        text = dist.read_text("direct_url.json")
        data = json.loads(text) if text else {}
    except (OSError, ValueError):
        return False
    info = data.get("dir_info") if isinstance(data, dict) else None
    return isinstance(info, dict) and info.get("editable") is True


def _requirements(dist: metadata.Distribution, extras: Iterable[str] = ("",)) -> list[str]:
    """The names ``dist`` requires in this interpreter (markers evaluated for ``extras``)."""
    names: list[str] = []
    for text in dist.requires or []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras):
            names.append(canonicalize_name(requirement.name))
    return names


def _closure(
    roots: Iterable[str], needs: Callable[[metadata.Distribution], list[str]]
) -> dict[str, metadata.Distribution | None]:
    """Every distribution reachable from ``roots`` (None: required but not installed)."""
    found: dict[str, metadata.Distribution | None] = {}
    todo: list[str] = [canonicalize_name(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        dist = found[name] = _find(name)
        if dist is not None:
            todo.extend(needs(dist))
    return found


def host_closure() -> set[str]:
    """The host's distribution and everything it needs, with every extra it offers."""
    host = _find(HOST_DISTRIBUTION)
    extras = ["", *(host.metadata.get_all("Provides-Extra") or [])] if host else [""]
    return set(_closure([HOST_DISTRIBUTION], lambda d: _requirements(d, extras)))


def _index_hashes(index_url: str, name: str, version: str) -> list[str]:
    from jafhost.ecosystem.index import SimpleIndex

    try:
        wanted = Version(version)
    except InvalidVersion:
        return []
    files = SimpleIndex(index_url).files(name)
    return sorted(
        {f"sha256:{f.sha256}" for f in files if f.wheel and f.version == wanted and f.sha256}
    )


def make_lock(host: Host, index_url: Callable[[], str]) -> LockFile:
    """The lock of ``host``'s plugin set. ``index_url`` is asked only when a hash must
    come from the index. ``LockError`` (or ``IndexUnavailable``) names what fails."""
    plugins = host.discovery(refresh=True).plugins
    folders = sorted(f"{p.name} ({p.location})" for p in plugins if p.source != "distribution")
    if folders:
        raise LockError(
            f"folder plugins cannot be locked (no wheel, no hashes): {', '.join(folders)}"
        )
    by_dist: dict[str, list[str]] = {}
    for info in plugins:
        by_dist.setdefault(canonicalize_name(info.distribution), []).append(info.name)
    ours = host_closure()
    needed = _closure(
        [d for d in by_dist if d not in ours],
        lambda d: [n for n in _requirements(d) if n not in ours],
    )
    missing = sorted(n for n, d in needed.items() if d is None)
    if missing:
        raise LockError(f"required but not installed: {', '.join(missing)}")
    editable = sorted(n for n, d in needed.items() if d is not None and is_editable(d))
    if editable:
        raise LockError(
            f"editable installs cannot be locked (no wheel, no hashes): {', '.join(editable)}"
        )
    recorded = wheel_hashes.load(host.layout)
    state = host.state()
    views = {v.name: v for v in host.plugins()}
    infos = {p.name: p for p in plugins}
    url: str | None = None
    locked: list[LockedDistribution] = []
    for key, dist in sorted(needed.items()):
        assert dist is not None
        name, version = dist.metadata["Name"], dist.version
        entry = recorded.get(key, {})
        hashes = list(entry.get("hashes", [])) if entry.get("version") == version else []
        if not hashes:
            url = url or index_url()
            hashes = _index_hashes(url, name, version)
        if not hashes:
            raise LockError(
                f"no hash for {name} {version}: jafhost install did not record one and "
                f"{url} lists no wheel of that version with a sha256"
            )
        locked_plugins = []
        for plugin in sorted(by_dist.get(key, [])):
            record = state.plugins.get(plugin)
            enabled = (record is None or record.enabled) and views[
                plugin
            ].status != "needs-approval"
            grants = state.grants_of(infos[plugin])
            locked_plugins.append(
                LockedPlugin(
                    plugin,
                    enabled,
                    tuple(travelling(g) for g in grants),
                    record.isolation if record is not None else None,
                )
            )
        locked.append(LockedDistribution(name, version, tuple(hashes), tuple(locked_plugins)))
    return LockFile(tuple(locked))
