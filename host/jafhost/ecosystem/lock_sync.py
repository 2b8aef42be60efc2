"""``jafhost sync``: make this environment match a lock file.

Three steps, each refusing before the next changes anything:

1. ``plan``: what differs. Distributions whose installed version is not the locked one
   are installed; each locked plugin's recorded state (enabled, isolation, grants) is
   compared with the state file; plugins that are not in the lock and not disabled are
   to be disabled. Every grant is made canonical here (``~`` expanded for this user) and
   checked against the operator's ``[policy]`` ceiling: one inside a deny rule refuses
   the sync, naming the rule, before pip runs.
2. ``install``: ``pip install --require-hashes --no-deps --only-binary=:all:`` of exactly
   the locked ``name==version`` lines with their hashes. pip checks every file before it
   installs any: a file whose hash differs installs nothing.
3. ``apply``: the host's own ``enable`` (approval, the ceiling's check of what each
   plugin requests, the grants bound to its distribution), then the recorded grants and
   isolation, and ``disabled`` for the rest, in one state update.

Nothing here prompts or prints: the CLI shows the plan and asks.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from jafhost.ecosystem.lock_file import LockedDistribution, LockedPlugin, LockFile

if TYPE_CHECKING:
    from jafhost.ecosystem.installer import PipResult
    from jafhost.home.state import State
    from jafhost.host.host import Host


class SyncError(Exception):
    """The lock cannot be applied here; nothing was changed (the message says why)."""


@dataclass(frozen=True)
class PluginStep:
    """One locked plugin: its decisions as they will be recorded, and whether that changes
    anything."""

    locked: LockedPlugin
    distribution: LockedDistribution
    grants: tuple[str, ...]
    """Canonical for this machine."""
    changes: bool


@dataclass(frozen=True)
class Plan:
    installs: list[tuple[LockedDistribution, str | None]] = field(default_factory=list)
    """Each distribution to install, with the version installed now (None: none)."""
    plugins: list[PluginStep] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.installs or self.disable or any(p.changes for p in self.plugins))


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _canonical_grants(plugin: LockedPlugin) -> tuple[str, ...]:
    from jafhost.security import permissions

    return tuple(sorted({str(permissions.parse(g)) for g in plugin.grants}))


def _check_ceiling(host: Host, steps: list[PluginStep]) -> None:
    ceiling = host.decisions.ceiling()
    for step in steps:
        name = step.locked.name
        if step.locked.isolation == "inprocess" and ceiling.isolation == "process":
            raise SyncError(
                f"cannot run {name} in process: the operator's policy "
                f'({ceiling.isolation_source}) sets [policy] isolation = "process"'
            )
        for grant in step.grants:
            rule = ceiling.inside(grant)
            if rule is not None:
                raise SyncError(f"cannot grant {grant} to {name}: denied by {rule.describe()}")


def _in_sync(state: State, host: Host, step: LockedPlugin, grants: tuple[str, ...]) -> bool:
    infos = {p.name: p for p in host.discovery().plugins}
    info = infos.get(step.name)
    record = state.plugins.get(step.name)
    if info is None or record is None or not record.belongs_to(info):
        return False
    if record.enabled != step.enabled or record.isolation != step.isolation:
        return False
    if step.enabled and not set(info.permissions) <= set(record.approved):
        return False
    return tuple(sorted(set(record.grants))) == grants


def plan(host: Host, lock: LockFile) -> Plan:
    """What ``sync`` would change; ``SyncError`` when a grant is outside the ceiling."""
    installs = [
        (dist, now)
        for dist in lock.distributions
        if (now := installed_version(dist.name)) != dist.version
    ]
    moving = {d.key for d, _ in installs}
    state = host.state()
    steps = []
    for dist in lock.distributions:
        for locked in dist.plugins:
            grants = _canonical_grants(locked)
            same = dist.key not in moving and _in_sync(state, host, locked, grants)
            steps.append(PluginStep(locked, dist, grants, not same))
    _check_ceiling(host, steps)
    wanted = lock.plugins()
    disable = sorted(
        view.name
        for view in host.plugins()
        if view.name not in wanted and view.status != "disabled"
    )
    return Plan(installs, steps, disable)


def install(
    plan: Plan, index_url: str | None, run: Callable[[list[str]], PipResult]
) -> PipResult | None:
    """pip installs exactly the locked files; returns pip's result when it failed."""
    if not plan.installs:
        return None
    lines = [
        f"{dist.name}=={dist.version} " + " ".join(f"--hash={h}" for h in dist.hashes)
        for dist, _ in plan.installs
    ]
    handle, name = tempfile.mkstemp(prefix="jafhost-sync-", suffix=".txt")
    try:
        with os.fdopen(handle, "w") as out:
            out.write("\n".join(lines) + "\n")
        args = ["install", "--require-hashes", "--no-deps", "--only-binary=:all:"]
        if index_url is not None:
            args += ["--index-url", index_url]
        result = run([*args, "-r", name])
    finally:
        Path(name).unlink(missing_ok=True)
    return None if result.ok else result


def apply(host: Host, plan: Plan) -> None:
    """Record the locked decisions (after ``install``); ``SyncError`` names a locked plugin
    the installed distribution does not provide, or what the host's ``enable`` refused."""
    from jafhost.errors import PluginError

    infos = {p.name: p for p in host.discovery(refresh=True).plugins}
    for step in plan.plugins:
        info = infos.get(step.locked.name)
        if info is None or canonicalize_name(info.distribution) != step.distribution.key:
            raise SyncError(
                f"{step.distribution.name} {step.distribution.version} provides no plugin "
                f"{step.locked.name}"
            )
    enable = [s.locked.name for s in plan.plugins if s.changes and s.locked.enabled]
    if enable:
        try:
            host.enable(enable, approve=lambda info, new: True, dependencies=False)
        except PluginError as exc:
            raise SyncError(str(exc)) from None

    def record(current: State) -> None:
        for step in plan.plugins:
            if not step.changes:
                continue
            entry = current.record(step.locked.name)
            entry.distribution = infos[step.locked.name].distribution
            entry.enabled = step.locked.enabled
            entry.grants = list(step.grants)
            entry.isolation = step.locked.isolation
            if entry.granted_version is None:
                entry.granted_version = step.distribution.version
        for name in plan.disable:
            current.record(name).enabled = False

    host.store.update(record)
