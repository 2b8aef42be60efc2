"""Decide which plugins can run, and in which order, before any of them is imported.

Input: the discovered plugins, the installed versions of what they require, the host's
own version and the user's choices (a base status per plugin from the state). Output:
each plugin's final status with a reason a user can act on, its dependencies, and the
activation order (dependencies first; deactivation is the reverse).

Plugin dependencies are ordinary ``Requires-Dist`` entries on distributions that
provide ``jaf.plugins`` entry points; ``Requires-Dist: jafhost ...`` states host
compatibility; requirements behind an extra are optional plugin dependencies (used
for ordering when present, never a reason to refuse). pip resolved all this at install
time; it is checked again here because ``--no-deps``, forced versions and disabled
plugins break what pip saw. Every version and requirement operation uses ``packaging``,
imported where a requirement is judged: ``jafhost list`` on a valid discovery cache
resolves without it.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from jafhost.discovery.records import PluginInfo

if TYPE_CHECKING:
    from packaging.requirements import Requirement


def canonicalize_name(name: str) -> str:
    """PEP 503 normalisation (what ``packaging.utils.canonicalize_name`` does), without
    importing ``packaging`` on the hot path of ``jafhost list``."""
    return re.sub(r"[-_.]+", "-", name).lower()


Status = Literal["enabled", "disabled", "needs-approval", "unresolved", "invalid"]
HOST_DISTRIBUTION = "jafhost"


@dataclass(frozen=True)
class Dependency:
    """One ``Requires-Dist`` entry of a plugin, as resolution judged it."""

    requirement: str
    distribution: str
    kind: Literal["plugin", "host", "library"]
    optional: bool
    installed: str | None
    satisfied: bool
    plugins: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dependency:
        return cls(
            data["requirement"],
            data["distribution"],
            data["kind"],
            data["optional"],
            data["installed"],
            data["satisfied"],
            tuple(data["plugins"]),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "requirement": self.requirement,
            "distribution": self.distribution,
            "kind": self.kind,
            "optional": self.optional,
            "installed": self.installed,
            "satisfied": self.satisfied,
            "plugins": list(self.plugins),
        }


@dataclass
class ResolvedPlugin:
    """A plugin with its final status and the reason for it (None when enabled)."""

    info: PluginInfo
    status: Status
    reason: str | None = None
    dependencies: list[Dependency] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.info.name

    def requires_plugins(self, optional: bool = False) -> list[str]:
        names: list[str] = []
        for dep in self.dependencies:
            if dep.kind == "plugin" and dep.satisfied and (optional or not dep.optional):
                names.extend(dep.plugins)
        return names


@dataclass
class Resolution:
    """All plugins (duplicates included) and the activation order of the enabled ones."""

    plugins: list[ResolvedPlugin]
    order: list[str]
    _index: dict[str, ResolvedPlugin] = field(default_factory=dict, repr=False, compare=False)
    _indexed: int = field(default=-1, repr=False, compare=False)

    def get(self, name: str) -> ResolvedPlugin | None:
        """The first plugin of that name (a start looks each one up: a dict, built at the
        first lookup, keeps that from growing with the square of the plugins)."""
        if self._indexed != len(self.plugins):
            self._index = {}
            for r in reversed(self.plugins):
                self._index[r.name] = r
            self._indexed = len(self.plugins)
        return self._index.get(name)

    def dependents(self, name: str) -> list[str]:
        """Plugins that need ``name`` directly or through others (optional links excluded)."""
        found: list[str] = []
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for r in self.plugins:
                if current in r.requires_plugins() and r.name not in found and r.name != name:
                    found.append(r.name)
                    frontier.append(r.name)
        return sorted(found)


BaseStatus = Callable[[PluginInfo], tuple[Status, str | None]]


def _applies(req: Requirement, extras: Iterable[str]) -> tuple[bool, bool]:
    """(applies at all, optional) for a requirement under this environment."""
    from packaging.markers import default_environment

    if req.marker is None:
        return True, False
    env = dict(default_environment())
    env["extra"] = ""
    if req.marker.evaluate(env):  # type: ignore[arg-type]
        return True, False
    for extra in extras:
        env["extra"] = extra
        if req.marker.evaluate(env):  # type: ignore[arg-type]
            return True, True
    return False, False


def _satisfies(version: str | None, req: Requirement) -> bool:
    from packaging.version import InvalidVersion, Version

    if version is None:
        return False
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def _requirement_text(req: Requirement) -> str:
    return f"{req.name}{req.specifier}" if req.specifier else req.name


def _dependencies(
    info: PluginInfo,
    providers: Mapping[str, list[str]],
    installed: Mapping[str, str | None],
    host_version: str,
) -> tuple[list[Dependency], str | None]:
    """Judge each requirement; return them and the first reason to refuse, if any."""
    deps: list[Dependency] = []
    problem: str | None = None
    if not info.requires:  # nothing to parse: ``packaging`` is not imported for it
        return deps, problem
    from packaging.requirements import InvalidRequirement, Requirement

    for text in info.requires:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise ValueError(f"Requires-Dist {text!r} of {info.distribution}: {exc}") from None
        applies, optional = _applies(req, info.extras)
        if not applies:
            continue
        dist = canonicalize_name(req.name)
        if dist == HOST_DISTRIBUTION:
            ok = _satisfies(host_version, req)
            deps.append(Dependency(text, dist, "host", optional, host_version, ok))
            if not ok and problem is None:
                problem = f"needs {_requirement_text(req)}; host is {host_version}"
            continue
        version = installed.get(dist)
        ok = _satisfies(version, req)
        plugins = tuple(providers.get(dist, ()))
        kind: Literal["plugin", "library"] = "plugin" if plugins else "library"
        deps.append(Dependency(text, dist, kind, optional, version, ok, plugins))
        if not ok and not optional and problem is None:
            what = f" (plugin {', '.join(plugins)})" if plugins else ""
            state = "not installed" if version is None else f"installed {version}"
            problem = f"needs {_requirement_text(req)}{what}; {state}"
    return deps, problem


def _cycles(graph: Mapping[str, list[str]]) -> dict[str, str]:
    """Nodes on a dependency cycle, each mapped to a readable cycle through it (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def strongconnect(root: str) -> None:
        nonlocal counter
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        components.append(component)

    for node in sorted(graph):
        if node not in index:
            strongconnect(node)

    described: dict[str, str] = {}
    for component in components:
        members = set(component)
        for start in component:
            # shortest path start -> ... -> start inside the component
            parents: dict[str, str] = {}
            queue = [start]
            found = False
            while queue and not found:
                nxt_queue: list[str] = []
                for node in queue:
                    for nxt in sorted(graph.get(node, ())):
                        if nxt == start:
                            parents[start] = node
                            found = True
                            break
                        if nxt in members and nxt not in parents:
                            parents[nxt] = node
                            nxt_queue.append(nxt)
                    if found:
                        break
                queue = nxt_queue
            path = [start]
            node = parents[start]
            while node != start:
                path.append(node)
                node = parents[node]
            path.append(start)
            described[start] = "cycle: " + " -> ".join([start, *reversed(path[1:-1]), start])
    return described


def _order(enabled: set[str], graph: Mapping[str, list[str]]) -> list[str]:
    """Topological order of ``enabled`` (dependencies first), ties broken by name."""
    needs = {n: {d for d in graph.get(n, ()) if d in enabled and d != n} for n in enabled}
    users: dict[str, list[str]] = {n: [] for n in enabled}
    for node, deps in needs.items():
        for dep in deps:
            users[dep].append(node)
    ready = [n for n, deps in needs.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for user in users[node]:
            needs[user].discard(node)
            if not needs[user]:
                heapq.heappush(ready, user)
    return order


def judgement_key(info: PluginInfo) -> str:
    return f"{info.name}\0{info.distribution}"


def judge(
    plugins: list[PluginInfo], installed: Mapping[str, str | None], host_version: str
) -> dict[str, dict[str, Any]]:
    """Each valid plugin's requirements judged, as JSON: the part of resolution that
    depends only on what is installed, so the discovery cache can keep it and
    ``jafhost list`` need not parse requirements again (nor import ``packaging``)."""
    providers, versions = _providers(plugins, installed)
    judged: dict[str, dict[str, Any]] = {}
    for info in plugins:
        if info.error:
            continue
        try:
            deps, problem = _dependencies(info, providers, versions, host_version)
        except ValueError as exc:
            judged[judgement_key(info)] = {"invalid": str(exc)}
            continue
        judged[judgement_key(info)] = {"deps": [d.to_json() for d in deps], "problem": problem}
    return judged


def _providers(
    plugins: list[PluginInfo], installed: Mapping[str, str | None]
) -> tuple[dict[str, list[str]], dict[str, str | None]]:
    providers: dict[str, list[str]] = {}
    for info in plugins:
        providers.setdefault(canonicalize_name(info.distribution), []).append(info.name)
    versions = dict(installed)
    for info in plugins:
        versions.setdefault(canonicalize_name(info.distribution), info.version)
    return providers, versions


def resolve_plugins(
    plugins: list[PluginInfo],
    installed: Mapping[str, str | None],
    host_version: str,
    base_status: BaseStatus,
    judged: Mapping[str, dict[str, Any]] | None = None,
) -> Resolution:
    """Resolve every plugin; see the module docstring for the rules. ``judged`` (from
    ``judge`` over the same plugins) saves judging requirements again."""
    providers, versions = _providers(plugins, installed)

    entries: list[ResolvedPlugin] = []
    for info in plugins:
        if info.error:
            entries.append(ResolvedPlugin(info, "invalid", info.error))
            continue
        known = judged.get(judgement_key(info)) if judged is not None else None
        if known is not None:
            if "invalid" in known:
                entries.append(ResolvedPlugin(info, "invalid", known["invalid"]))
                continue
            deps = [Dependency.from_json(d) for d in known["deps"]]
            problem = known["problem"]
        else:
            try:
                deps, problem = _dependencies(info, providers, versions, host_version)
            except ValueError as exc:
                entries.append(ResolvedPlugin(info, "invalid", str(exc)))
                continue
        status, reason = base_status(info)
        if status == "enabled" and problem:
            status, reason = "unresolved", problem
        entries.append(ResolvedPlugin(info, status, reason, deps))

    by_name = {e.name: e for e in entries if e.status != "invalid"}
    graph = {e.name: e.requires_plugins(optional=True) for e in by_name.values()}
    for name, cycle in _cycles(graph).items():
        entry = by_name[name]
        if entry.status in ("enabled", "unresolved"):
            entry.status, entry.reason = "unresolved", cycle

    # A plugin whose required plugins are not all enabled cannot run either. Iterate to a
    # fixed point: each pass can only turn "enabled" into "unresolved", so it ends.
    changed = True
    while changed:
        changed = False
        for entry in by_name.values():
            if entry.status != "enabled":
                continue
            for dep_name in entry.requires_plugins():
                dep = by_name.get(dep_name)
                dep_status = "invalid" if dep is None else dep.status
                if dep_status != "enabled":
                    entry.status = "unresolved"
                    entry.reason = f"needs plugin {dep_name}, which is {dep_status}"
                    changed = True
                    break

    enabled = {e.name for e in by_name.values() if e.status == "enabled"}
    return Resolution(entries, _order(enabled, graph))
