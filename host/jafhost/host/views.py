"""``PluginView``: one plugin as the CLI and programs see it, and its JSON shapes.

The same object feeds the rich table and ``--json`` so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from jafhost.discovery.records import PluginInfo

if TYPE_CHECKING:
    from jafhost.discovery.pth import PthFile
    from jafhost.discovery.resolve import Dependency, Resolution
    from jafhost.home.state import State
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.security.ceiling import Ceiling


@dataclass
class PluginView:
    """A plugin's static status (no code run) plus, in a running host, its runtime state."""

    info: PluginInfo
    status: str
    reason: str | None
    dependencies: list[Dependency] = field(default_factory=list)
    granted: list[str] = field(default_factory=list)
    granted_version: str | None = None
    isolation: str = "inprocess"
    runtime: str | None = None
    error: str | None = None
    recorded: bool | None = None
    """Whether the host holds a valid record of what the plugin contributes (then a lazy
    plugin starts at its first use); None when not looked at."""
    protections: list[str] = field(default_factory=list)
    """What guards the plugin (``audit-guard``, ``netns``, ``landlock-fs:abi7``...): in
    force while it runs, else what would apply (docs/security.md)."""
    capped: list[dict[str, str]] = field(default_factory=list)
    """Grants the operator's deny rules take away (``denied``: wholly inside a rule) or
    cap (``capped``: broader than a rule), each with the rule and its file
    (``cap_grants``); filled by ``Host.plugin``."""
    integrity: str | None = None
    """How its installed files compare with their ``RECORD``: ``verified``, ``changed``
    or ``unverified`` (a folder plugin, an editable install); None: no files (registered
    in memory) or not checked. Filled by ``Host.plugin``."""
    integrity_detail: str | None = None

    @property
    def name(self) -> str:
        return self.info.name

    @cached_property
    def pth_files(self) -> list[PthFile]:
        """The ``.pth`` files its distribution installs (code Python runs at every start)."""
        from jafhost.discovery.pth import pth_files

        return pth_files(self.info)

    @property
    def pth(self) -> str | None:
        """The most serious kind of ``.pth`` file it ships (``runs-code``, ``unreadable``,
        ``path-entries``, ``editable``), None when it ships none."""
        from jafhost.discovery.pth import worst

        return worst(self.pth_files)

    @property
    def missing_permissions(self) -> list[str]:
        return [p for p in self.info.permissions if p not in self.granted]

    def list_json(self) -> dict[str, Any]:
        """The ``jafhost list --json`` object (contract: name, version, distribution,
        status, kinds, permissions, reason; ``granted``: the grants in force, canonical
        strings, which may differ from ``permissions`` after ``grant``/``revoke``; ``pth``:
        the most serious kind of ``.pth`` file its distribution ships, or null)."""
        return {
            "name": self.info.name,
            "version": self.info.version,
            "distribution": self.info.distribution,
            "status": self.status,
            "kinds": list(self.info.kinds),
            "permissions": list(self.info.permissions),
            "reason": self.reason,
            "granted": list(self.granted),
            "summary": self.info.summary,
            "source": self.info.source,
            "pth": self.pth,
        }

    def info_json(self, config_schema: Any = None) -> dict[str, Any]:
        """The ``jafhost info --json`` object: everything known without running code."""
        data = self.list_json()
        data.update(
            {
                "author": self.info.author,
                "entry_point": self.info.entry_point,
                "location": self.info.location,
                "manifest": self.info.manifest,
                "requires": list(self.info.requires),
                "dependencies": [d.to_json() for d in self.dependencies],
                "permissions_requested": list(self.info.permissions),
                "permissions_granted": list(self.granted),
                "permissions_missing": self.missing_permissions,
                "granted_version": self.granted_version,
                "isolation": self.isolation,
                "activation": self.info.activation,
                "recorded": self.recorded,
                "protections": list(self.protections),
                "config_schema": config_schema,
                "pth_files": [f.to_json() for f in self.pth_files],
                "capped": [dict(cap) for cap in self.capped],
                "integrity": self.integrity,
                "integrity_detail": self.integrity_detail,
            }
        )
        if self.runtime is not None:
            data["runtime"] = self.runtime
            data["error"] = self.error
        return data


def plugin_views(
    resolution: Resolution,
    state: State,
    loaded: Callable[[str], LoadedPlugin | None],
    default_isolation: str = "inprocess",
) -> list[PluginView]:
    """One view per resolved plugin: its resolution, its record in the state and, if
    ``loaded`` knows it, its runtime status."""
    views: list[PluginView] = []
    for entry in resolution.plugins:
        record = state.plugins.get(entry.name)
        running = loaded(entry.name)
        views.append(
            PluginView(
                info=entry.info,
                status=entry.status,
                reason=entry.reason,
                dependencies=entry.dependencies,
                granted=sorted(state.grants_of(entry.info)),
                granted_version=record.granted_version if record else None,
                isolation=record.isolation if record and record.isolation else default_isolation,
                runtime=running.status if running else None,
                error=running.error if running else None,
            )
        )
    return views


def cap_grants(grants: list[str], ceiling: Ceiling) -> list[dict[str, str]]:
    """What the operator's deny rules do to each grant they touch: ``{"grant", "rule",
    "source", "effect"}`` with ``effect`` ``denied`` (the grant lies wholly inside the
    rule: nothing of it applies) or ``capped`` (the rule's part of it does not apply)."""
    found: list[dict[str, str]] = []
    for grant in grants:
        inside = ceiling.inside(grant)
        rules = [inside] if inside is not None else ceiling.limiting(grant)
        for rule in rules:
            effect = "denied" if inside is not None else "capped"
            found.append(
                {"grant": grant, "rule": rule.text, "source": rule.source, "effect": effect}
            )
    return found
