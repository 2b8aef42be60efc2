"""``jafhost sync``: make this environment match a lock file.

Each step refuses before the next changes anything:

1. ``plan``: what differs. Distributions whose installed version is not the locked one
   are installed; each locked plugin's recorded state (enabled, isolation, grants) is
   compared with the state file; plugins that are not in the lock and not disabled are
   to be disabled. Every grant is made canonical here (``~`` expanded for this user) and
   checked against the operator's ``[policy]`` ceiling: one inside a deny rule refuses
   the sync, naming the rule, before pip runs.
2. ``download``: ``pip download --require-hashes --no-deps --only-binary=:all:`` of
   exactly the locked ``name==version`` lines with their hashes, into a private folder: a
   file whose hash differs fails there, with nothing installed. The plugins in the
   wheels are read (``wheel_contents``), so ``requested`` can check what each plugin to
   enable requests against the ceiling, and the CLI can show it, before the install.
3. ``install``: ``pip install --no-deps --no-index --require-hashes`` of those files.
4. ``apply``: the host's own ``enable`` (approval, the grants bound to the plugin's
   distribution), then the recorded grants and isolation, and ``disabled`` for the
   rest, in one state update.

Nothing here prompts or prints: the CLI shows the plan and asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from jafhost.ecosystem.lock_file import LockedDistribution, LockedPlugin, LockFile

if TYPE_CHECKING:
    from jafhost.ecosystem.installer import PipResult
    from jafhost.ecosystem.wheel_contents import WheelContents
    from jafhost.home.state import State
    from jafhost.host.host import Host


class SyncError(Exception):
    """The lock cannot be applied here; nothing was changed (the message says why)."""


@dataclass
class PluginStep:
    """One locked plugin: its decisions as they will be recorded, and whether that changes
    anything."""

    locked: LockedPlugin
    distribution: LockedDistribution
    grants: tuple[str, ...]
    """Canonical for this machine."""
    changes: bool
    requests: list[str] = field(default_factory=list)
    """What the plugin requests (filled by ``requested``)."""


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


def _requirements(lines: list[str], folder: Path) -> Path:
    path = folder / "requirements.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def download(
    plan: Plan, folder: Path, index_url: str | None, run: Callable[[list[str]], PipResult]
) -> dict[str, tuple[Path, WheelContents]] | PipResult:
    """Download the wheels to install into ``folder`` with pip, each checked against the
    lock's hashes (``--require-hashes``: a changed file fails before anything is kept),
    and read the plugins in them. Returns them by distribution key, or pip's failed
    result. ``SyncError`` for a wheel that cannot be read or lacks a locked plugin."""
    from jafhost.ecosystem.wheel_contents import WheelError, read_wheel

    if not plan.installs:
        return {}
    lines = [
        f"{dist.name}=={dist.version} " + " ".join(f"--hash={h}" for h in dist.hashes)
        for dist, _ in plan.installs
    ]
    wheels = folder / "wheels"
    args = ["download", "--require-hashes", "--no-deps", "--only-binary=:all:"]
    args += ["--dest", str(wheels)]
    if index_url is not None:
        args += ["--index-url", index_url]
    result = run([*args, "-r", str(_requirements(lines, folder))])
    if not result.ok:
        return result
    found: dict[str, tuple[Path, WheelContents]] = {}
    for path in sorted(wheels.glob("*.whl")):
        try:
            with path.open("rb") as handle:
                contents = read_wheel(handle, path.name)
        except (OSError, WheelError) as exc:
            raise SyncError(f"cannot read {path.name}: {exc}") from None
        found[canonicalize_name(contents.name)] = (path, contents)
    for dist, _ in plan.installs:
        if dist.key not in found:
            raise SyncError(f"pip downloaded no wheel of {dist.name} {dist.version}")
        provided = {p.name: p for p in found[dist.key][1].plugins}
        for locked in dist.plugins:
            plugin = provided.get(locked.name)
            if plugin is None:
                raise SyncError(f"{dist.name} {dist.version} provides no plugin {locked.name}")
            if plugin.error is not None and locked.enabled:
                raise SyncError(f"{locked.name} in {dist.name} {dist.version}: {plugin.error}")
    return found


def requested(host: Host, plan: Plan, wheels: dict[str, tuple[Path, WheelContents]]) -> None:
    """Fill each plugin step's ``requests`` (from the downloaded wheel, else the installed
    plugin) and refuse, naming the rule, a plugin to enable whose requests lie inside one
    of the operator's deny rules: ``enable`` would refuse it after the install."""
    infos = {p.name: p for p in host.discovery().plugins}
    ceiling = host.decisions.ceiling()
    for step in plan.plugins:
        if step.distribution.key in wheels:
            plugins = {p.name: p for p in wheels[step.distribution.key][1].plugins}
            asks = plugins[step.locked.name].permissions
        else:
            info = infos.get(step.locked.name)
            if info is None or canonicalize_name(info.distribution) != step.distribution.key:
                raise SyncError(
                    f"{step.distribution.name} {step.distribution.version} is installed "
                    f"and provides no plugin {step.locked.name}"
                )
            asks = info.permissions
        step.requests = list(asks)
        if not step.locked.enabled:
            continue
        for permission in asks:
            rule = ceiling.inside(permission)
            if rule is not None:
                raise SyncError(
                    f"cannot enable {step.locked.name}: it requests {permission}, "
                    f"denied by {rule.describe()}"
                )


def install(
    plan: Plan,
    wheels: dict[str, tuple[Path, WheelContents]],
    folder: Path,
    run: Callable[[list[str]], PipResult],
) -> PipResult | None:
    """pip installs exactly the downloaded files, hash-checked again, no index consulted;
    returns pip's result when it failed."""
    if not plan.installs:
        return None
    lines = [
        f"{wheels[dist.key][0]} " + " ".join(f"--hash={h}" for h in dist.hashes)
        for dist, _ in plan.installs
    ]
    requirements = _requirements(lines, folder)
    result = run(
        ["install", "--no-deps", "--no-index", "--require-hashes", "-r", str(requirements)]
    )
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
