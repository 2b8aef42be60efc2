"""``Decisions``: the user's decisions about plugins: register a plugin that is not
installed, enable (with approval), disable, grant and revoke.

Owned by ``Host``, which delegates to it. It only reads the catalog (discovery and
resolution) and writes the state file: no plugin code runs here. ``jafhost list``
imports this module and changes nothing, so what a change needs (the permission
vocabulary, the manifest checks with pydantic, packaging) is imported by the method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jafhost.discovery.records import PluginInfo
from jafhost.errors import ManifestError, PermissionSyntaxError, PluginError, UsageError
from jafhost.home.state import State

if TYPE_CHECKING:
    from jafhost.home.state import StateStore
    from jafhost.host.catalog import Catalog
    from jafhost.security.ceiling import Ceiling

Approve = Callable[[PluginInfo, list[str]], bool]
"""Asked once per plugin with the permissions it requests that are not yet approved."""


class Decisions:
    """``register``, ``enable``, ``disable``, ``grant``, ``revoke`` over one state file."""

    def __init__(
        self, store: StateStore, catalog: Catalog, ceiling: Callable[[], Ceiling] | None = None
    ) -> None:
        self.store = store
        self.catalog = catalog
        self._ceiling = ceiling
        """The operator's policy (read when a decision needs it: a malformed policy
        file refuses every decision it could bear on)."""

    def ceiling(self) -> Ceiling:
        from jafhost.security.ceiling import NO_CEILING

        return self._ceiling() if self._ceiling is not None else NO_CEILING

    def _refuse_denied(self, name: str, permissions: Iterable[str], verb: str) -> None:
        """``PolicyRefused`` when a permission lies wholly inside an operator's deny rule."""
        ceiling = self.ceiling()
        for permission in permissions:
            rule = ceiling.inside(permission)
            if rule is not None:
                raise PolicyRefused(
                    f"cannot {verb} {name}: {permission} is denied by {rule.describe()}",
                    plugin=name,
                )

    def register(
        self,
        obj: Any,
        *,
        name: str | None = None,
        version: str = "0.0.0",
        permissions: Iterable[str] = (),
        requires: Iterable[str] = (),
        summary: str = "",
        kinds: Iterable[str] = (),
        grant: bool = False,
    ) -> PluginInfo:
        """Add a plugin that is not installed: a module, a class, or an object whose
        methods carry ``@hookimpl`` (for example a ``jafhost.plugin.Plugin``).

        It goes through the same resolution, approval, lifecycle, guard and events as an
        installed plugin. ``permissions`` are what it requests (canonical strings, as in
        ``jafhost grant``); they are granted only with ``grant=True`` or through
        ``enable(..., approve=...)``, never implicitly. ``requires`` are requirement
        strings naming distributions or other registered plugins (``"notes>=1"``).
        Bad names, permissions or requirements raise ``ManifestError``.
        """
        from jafhost.discovery.manifest import check_plugin_name
        from jafhost.security import permissions as vocabulary

        metadata = getattr(obj, "metadata", None)
        name = name or getattr(metadata, "name", None) or getattr(obj, "__name__", None)
        if not isinstance(name, str) or not name:
            raise ManifestError("register() needs a name= for this object")
        check_plugin_name(name)
        ceiling = self.ceiling()
        if ceiling.isolation == "process":
            raise PolicyRefused(
                f"cannot register {name} in memory: the operator's policy "
                f'({ceiling.isolation_source}) sets [policy] isolation = "process", and a '
                "plugin registered in memory runs in the host's own process",
                plugin=name,
            )
        if version == "0.0.0" and getattr(metadata, "version", None):
            version = str(metadata.version)  # type: ignore[union-attr]
        try:
            requested = tuple(vocabulary.canonical(permissions))
        except PermissionSyntaxError as exc:
            raise ManifestError(f"plugin {name}: permissions: {exc}", plugin=name) from None
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.version import InvalidVersion, Version

        try:
            Version(version)
        except InvalidVersion:
            raise ManifestError(
                f"plugin {name}: version {version!r} is not a valid version", plugin=name
            ) from None
        for text in requires:
            try:
                Requirement(text)
            except InvalidRequirement as exc:
                raise ManifestError(
                    f"plugin {name}: requires {text!r}: {exc}", plugin=name
                ) from None
        taken = [
            p for p in self.catalog.discovery().plugins if p.name == name and p.source != "memory"
        ]
        if taken:
            raise ManifestError(
                f"plugin name {name!r} is already taken by {taken[0].distribution} "
                f"{taken[0].version}",
                plugin=name,
            )
        info = PluginInfo(
            name=name,
            distribution=name,
            version=str(version),
            entry_point=f"<registered {type(obj).__name__}>",
            summary=summary or str(getattr(metadata, "description", "") or ""),
            author=str(getattr(metadata, "author", "") or ""),
            requires=tuple(requires),
            kinds=tuple(kinds),
            permissions=requested,
            source="memory",
        )
        self.catalog.add(info, obj)
        if grant:
            self.enable([name], approve=lambda plugin, new: True, dependencies=False)
        return info

    # -- the user's decisions ----------------------------------------------------

    def enable(
        self,
        names: Iterable[str],
        *,
        approve: Approve | None = None,
        isolation: str | None = None,
        dependencies: bool = True,
    ) -> list[str]:
        """Enable plugins (and, with ``dependencies``, the plugins they require).

        ``approve`` is asked about each plugin's permissions that were never approved;
        without it, or when it says no, nothing is changed and ``PluginError`` says why.
        Returns the names enabled, dependencies first.
        """
        names = list(dict.fromkeys(names))
        if isolation is not None and isolation not in ("inprocess", "process"):
            raise UsageError(f"isolation must be inprocess or process, not {isolation!r}")
        ceiling = self.ceiling()
        if isolation == "inprocess" and ceiling.isolation == "process":
            raise PolicyRefused(
                f"cannot run {', '.join(names)} in process: the operator's policy "
                f'({ceiling.isolation_source}) sets [policy] isolation = "process"'
            )
        resolution = self.catalog.known(names)
        targets: list[str] = []

        def add(name: str) -> None:
            if name in targets:
                return
            entry = resolution.get(name)
            if entry is None:
                return
            if entry.status == "invalid":
                raise PluginError(
                    f"cannot enable {name}: it is invalid: {entry.reason}", plugin=name
                )
            if dependencies:
                for dep in entry.requires_plugins():
                    add(dep)
            targets.append(name)

        from jafhost.security import permissions as vocabulary

        for name in names:
            add(name)
        state = self.store.load()
        decisions: dict[str, list[str]] = {}
        for name in targets:
            entry = resolution.get(name)
            assert entry is not None
            record = state.plugins.get(name)
            ours = record is not None and record.belongs_to(entry.info)
            approved = record.approved if record is not None and ours else []
            new = vocabulary.missing(entry.info.permissions, approved)
            self._refuse_denied(name, entry.info.permissions, "enable")
            if new:
                if approve is None:
                    raise PluginError(
                        f"{name} requests permissions that need approval: {', '.join(new)}",
                        plugin=name,
                    )
                if not approve(entry.info, new):
                    raise PluginError(
                        f"{name}: permissions not approved; nothing changed", plugin=name
                    )
            decisions[name] = new

        def apply(current: State) -> None:
            for name in targets:
                entry = resolution.get(name)
                assert entry is not None
                record = current.record(name)
                if not record.belongs_to(entry.info):  # another distribution's grants
                    record.approved, record.grants, record.granted_version = [], [], None
                record.distribution = entry.info.distribution
                record.enabled = True
                new = decisions[name]
                record.approved = sorted(set(record.approved) | set(entry.info.permissions))
                record.grants = sorted(set(record.grants) | set(new))
                if new or record.granted_version is None:
                    record.granted_version = entry.info.version
                if isolation is not None and name in names:
                    record.isolation = isolation

        self.store.update(apply)
        return targets

    def disable(self, names: Iterable[str]) -> dict[str, list[str]]:
        """Disable plugins; returns, per plugin, the enabled plugins that now lack it."""
        names = list(dict.fromkeys(names))
        before = self.catalog.known(names)

        def apply(current: State) -> None:
            for name in names:
                current.record(name).enabled = False

        self.store.update(apply)
        after = self.catalog.resolution()
        affected: dict[str, list[str]] = {}
        for name in names:
            affected[name] = [
                d
                for d in before.dependents(name)
                if (entry := after.get(d)) is not None and entry.status == "unresolved"
            ]
        return affected

    def grant(self, name: str, permission: str) -> str:
        """Add one permission to a plugin's grants; returns its canonical form.

        A permission already granted changes nothing (``change_grant`` says which).
        """
        return self.change_grant(name, permission, add=True).permission

    def revoke(self, name: str, permission: str) -> str:
        """Remove one permission, exactly as granted, from a plugin's grants.

        Returns its canonical form. One that is not among the grants (``read:/tmp/doc``
        never revokes ``read:/tmp/docs``) changes nothing and raises ``NotGranted``,
        whose message lists the grants the plugin has.
        """
        change = self.change_grant(name, permission, add=False)
        if not change.changed:
            raise NotGranted(change)
        return change.permission

    def change_grant(self, name: str, permission: str, *, add: bool) -> GrantChange:
        """Add (``add``) or remove one permission; says whether the grants changed.

        ``permission`` is parsed to its canonical string (``~`` expanded, paths
        normalised, ``$PLUGIN_DATA`` kept symbolic: what ``list`` and ``info`` show) and
        compared exactly with each grant's canonical string, so a grant matches only
        itself. ``PermissionSyntaxError`` for a permission that cannot be parsed.
        """
        entry = self.catalog.known([name]).get(name)
        assert entry is not None
        from jafhost.security import permissions as vocabulary

        text = str(vocabulary.parse(permission))
        if add:
            self._refuse_denied(name, [text], f"grant {text} to")

        def apply(current: State) -> GrantChange:
            record = current.plugins.get(name)
            if record is not None and not record.belongs_to(entry.info):
                # grants given to another distribution, or to none: not this plugin's
                record.approved, record.grants, record.granted_version = [], [], None
            if add:  # the grants are this distribution's (DESIGN.md, State)
                current.record(name).distribution = entry.info.distribution
            grants = list(record.grants) if record else []
            same = [g for g in grants if g == permission.strip() or _canonical(g) == text]
            if add and not same:
                current.record(name).grants = sorted({*grants, text})
            elif not add and same:
                assert record is not None
                record.grants = sorted(set(grants) - set(same))
            else:
                return GrantChange(name, text, False, sorted(set(grants)))
            return GrantChange(name, text, True, sorted(set(current.record(name).grants)))

        return self.store.update(apply)


def _canonical(grant: str) -> str | None:
    """A stored grant's canonical string (None when it no longer parses)."""
    from jafhost.security import permissions as vocabulary

    try:
        return str(vocabulary.parse(grant))
    except PermissionSyntaxError:
        return None


@dataclass(frozen=True)
class GrantChange:
    """What ``grant``/``revoke`` did to one plugin's grants."""

    plugin: str
    permission: str
    """The canonical string asked for."""
    changed: bool
    grants: list[str]
    """The plugin's grants afterwards (canonical strings, sorted)."""


class NotGranted(PluginError):
    """``revoke`` of a permission that is not among the plugin's grants: nothing changed."""

    def __init__(self, change: GrantChange) -> None:
        have = ", ".join(change.grants) if change.grants else "none"
        message = (
            f"{change.plugin} has no grant {change.permission}; nothing changed "
            f"(its grants: {have})"
        )
        kind = change.permission.partition(":")[0]
        if (
            kind in ("read", "write")
            and "$PLUGIN_" not in change.permission
            and any("$PLUGIN_" in g for g in change.grants)
        ):  # the shell may have expanded an unquoted $PLUGIN_DATA
            message += "; quote $PLUGIN_DATA in single quotes so the shell leaves it alone"
        super().__init__(message, plugin=change.plugin)
        self.change = change


class PolicyRefused(PluginError):
    """A decision the operator's policy forbids (``enable``/``grant`` of a permission
    wholly inside a deny rule, in-process isolation under a minimum of ``process``):
    nothing changed; the message names the rule and its file."""
