"""What ``doctor`` reports besides each plugin's status: findings worth a warning, the
check of jafhost's own files (``installed_files``) and the protections a probe worker
could not get past (``proofs``: shown by ground truth, not by the worker's word).

A finding is a state the user may want to act on, not a failure of a plugin: a plugin
waiting for approval, a grant naming a path that does not exist, a key in a plugin's
config table that its model ignores, a ``config.toml`` that cannot be used. Each comes
with the sentence printed as ``warning: ...`` and, where one command fixes it, that
command. ``jafhost doctor --json`` lists them under ``findings``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from jafhost.home.paths import HomeLayout
from jafhost.home.state import PluginRecord, State, malformed
from jafhost.host.proofs import Proofs, prove
from jafhost.host.views import PluginView, cap_grants, plugin_views
from jafhost.runtime.lifecycle import LoadedPlugin
from jafhost.security import installed_files
from jafhost.security.installed_files import FilesCheck

if TYPE_CHECKING:
    from jafhost.host.runtime import Runtime
    from jafhost.runtime.stats import HostStats
    from jafhost.security.ceiling import Ceiling

KINDS = (
    "invalid-config",
    "needs-approval",
    "missing-path",
    "unknown-config-key",
    "malformed-grant",
    "dropped-grant",
    "record-not-installed",
    "host",
    "isolation",
    "installation",
    "protection",
    "policy",
)
"""``kind`` of a finding: ``host`` is something the host repaired on its own;
``isolation``: plugins run in process host-wide, or no sandbox applies here;
``installation``: jafhost's own files differ from its ``RECORD`` (no worker starts);
``protection``: a probe worker got past a restriction this kernel should enforce;
``policy``: the operator's policy caps a grant, demands workers, or cannot be read."""


@dataclass(frozen=True)
class Finding:
    kind: str
    message: str
    """One line, as printed after ``warning: ``."""
    plugin: str | None = None
    fix: str | None = None
    """The command that deals with it, when there is one."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def isolation_findings(host_wide_inprocess: bool, sandbox_platform: bool) -> list[Finding]:
    """Where plugins run without a sandboxed worker although the default would give them
    one (``[host] isolation = "inprocess"``), or where no worker sandbox exists."""
    from jafhost.home.config import NO_SANDBOX_REASON

    if not sandbox_platform:
        return [Finding("isolation", NO_SANDBOX_REASON)]
    if host_wide_inprocess:
        return [
            Finding(
                "isolation",
                '[host] isolation = "inprocess" in config.toml: every plugin runs in the '
                "host's own process under the audit guard only, not in a sandboxed worker; "
                "remove it, and trust single plugins with jafhost enable NAME --isolation "
                "inprocess instead",
            )
        ]
    return []


def waiting_for_approval(views: Iterable[PluginView]) -> list[Finding]:
    found = []
    for view in views:
        if view.status != "needs-approval":
            continue
        fix = f"jafhost enable {view.name}"
        why = f" ({view.reason})" if view.reason else ""
        found.append(
            Finding(
                "needs-approval",
                f"plugin {view.name} is waiting for approval{why}: run {fix}",
                view.name,
                fix,
            )
        )
    return found


def grant_path(grant: str, layout: HomeLayout, plugin: str) -> str | None:
    """The real path a ``read:``/``write:`` grant names, or None for other grants."""
    kind, _, value = grant.partition(":")
    if kind not in ("read", "write") or not value:
        return None
    for variable, folder in (
        ("$PLUGIN_DATA", layout.data_dir(plugin)),
        ("$PLUGIN_CACHE", layout.cache_dir(plugin)),
    ):
        if value.startswith(variable):
            value = str(folder) + value[len(variable) :]
    return os.path.realpath(os.path.expanduser(value))


def missing_paths(views: Iterable[PluginView], state: State, layout: HomeLayout) -> list[Finding]:
    """Grants of known plugins whose path does not exist (the host's own data and cache
    folders aside: it creates them before plugin code runs)."""
    found = []
    for view in views:
        record = state.plugins.get(view.name)
        if record is None:
            continue
        own = tuple(
            os.path.realpath(folder)
            for folder in (layout.data_dir(view.name), layout.cache_dir(view.name))
        )
        for grant in sorted(record.grants):
            path = grant_path(grant, layout, view.name)
            if path is None or path.startswith(own) or os.path.lexists(path):
                continue
            found.append(
                Finding(
                    "missing-path",
                    f"plugin {view.name}: grant {grant} names a path that does not exist "
                    f"({path}); create it, or run jafhost revoke {view.name} {grant}",
                    view.name,
                    f"jafhost revoke {view.name} {grant}",
                )
            )
    return found


def dropped_grants(views: Iterable[PluginView], state: State, layout: HomeLayout) -> list[Finding]:
    """Grants that lead, through a link inside a folder the plugin may write, out of that
    folder: never applied (``Policy.dropped``), named here so the user sees why a call
    that looks granted is denied."""
    from jafhost.security.policy import Policy

    found = []
    for view in views:
        if view.info.error is not None:
            continue
        grants = state.grants_of(view.info)
        if not grants:
            continue
        try:
            policy = Policy.compile(
                view.name, grants, layout.data_dir(view.name), layout.cache_dir(view.name)
            )
        except (OSError, ValueError):
            continue
        for text in policy.dropped:
            grant = text.split(": ", 1)[0]
            found.append(
                Finding(
                    "dropped-grant",
                    f"plugin {view.name}: grant not applied: {text}",
                    view.name,
                    f"jafhost revoke {view.name} {grant}",
                )
            )
    return found


def malformed_grants(state: State) -> list[Finding]:
    """Stored grants and approvals that are not canonical permissions: never applied
    (``PluginRecord.usable_grants``), named here so the user sees what was dropped."""
    found = []
    for name, record in sorted(state.plugins.items()):
        for key, values in (("grant", record.grants), ("approval", record.approved)):
            for value in sorted(set(values)):
                why = malformed(value)
                if why is None:
                    continue
                found.append(
                    Finding(
                        "malformed-grant",
                        f"plugin {name}: {key} {value!r} in the state file is not a "
                        f"permission ({why}); it is never applied",
                        name,
                    )
                )
    return found


def records_not_installed(views: Iterable[PluginView], state: State) -> list[Finding]:
    """Records approving or granting permissions to a name no discovered plugin has:
    kept, but a plugin that later claims the name from another distribution (or from
    any, when the record names none) starts as ``needs-approval`` without them."""
    known = {view.name for view in views}
    found = []
    for name, record in sorted(state.plugins.items()):
        held = sorted({*record.approved, *record.grants})
        if name in known or not held:
            continue
        owner = record.distribution or "no distribution"
        found.append(
            Finding(
                "record-not-installed",
                f"plugin {name} is not installed, but the state file records permissions "
                f"for it ({', '.join(held)}; given to {owner}); they are never applied to "
                "another distribution claiming the name: remove the record if it is not yours",
                name,
            )
        )
    return found


def plugin_warnings(loaded: Iterable[LoadedPlugin]) -> list[Finding]:
    """What the plugins that started noted about themselves (unknown config keys)."""
    return [
        Finding("unknown-config-key", f"plugin {p.name}: {text}", p.name)
        for p in loaded
        for text in p.warnings
    ]


def plugin_report(
    view: PluginView,
    record: PluginRecord | None,
    health: list[dict[str, Any]],
    *,
    isolation: str,
    protections: list[str],
    missing: list[str] | None = None,
) -> dict[str, Any]:
    """One plugin in ``doctor --json``: its ``list`` object, its runtime status, and the
    ``problem`` (None when nothing is wrong: disabled by choice is not a problem)."""
    chosen_off = record is not None and not record.enabled
    problem: str | None = None
    if (view.status == "invalid" and not chosen_off) or view.status == "unresolved":
        problem = view.reason
    elif view.runtime in ("broken", "blocked"):
        problem = view.error
    if problem is None:
        problem = next((h["problem"] for h in health if h["problem"]), None)
    data = view.list_json()
    data["runtime"] = view.runtime
    data["problem"] = problem
    data["isolation"] = isolation
    data["protections"] = protections
    # what its worker could not apply, and why ("pidns: ..." when the subreaper binds
    # its processes instead)
    data["missing"] = list(missing or [])
    data["integrations"] = health
    return data


def missing_protections(loaded: LoadedPlugin | None) -> list[str]:
    """What a running plugin's worker reported it could not apply, with the reason."""
    from jafhost.runtime.isolation.launch import worker_of

    worker = worker_of(loaded) if loaded is not None else None
    return list(worker.missing) if worker is not None else []


def installation_finding(installed: FilesCheck) -> list[Finding]:
    """A changed jafhost installation: every process-isolated plugin is unavailable."""
    if installed.ok:
        return []
    return [
        Finding(
            "installation",
            f"{installed.detail}: no worker process is started until jafhost is reinstalled",
            fix="pip install --force-reinstall --no-deps jafhost",
        )
    ]


def protection_finding(proofs: Proofs | None) -> list[Finding]:
    """A worker protection this kernel offers that the probe worker got past."""
    problem = proofs.problem if proofs is not None else None
    return [] if problem is None else [Finding("protection", problem)]


def findings(
    host_warnings: Iterable[str],
    config_problem: str | None,
    views: list[PluginView],
    state: State,
    layout: HomeLayout,
    loaded: Iterable[LoadedPlugin],
) -> list[Finding]:
    """Everything worth a warning, the host's own repairs first."""
    found = [Finding("host", text) for text in host_warnings]
    if config_problem is not None:
        found.append(
            Finding("invalid-config", f"{config_problem}; no plugin was started: fix it first")
        )
    found += waiting_for_approval(views)
    found += missing_paths(views, state, layout)
    found += malformed_grants(state)
    found += dropped_grants(views, state, layout)
    found += records_not_installed(views, state)
    found += plugin_warnings(loaded)
    return found


def policy_findings(
    ceiling: Ceiling | None, problem: str | None, views: Iterable[PluginView]
) -> list[Finding]:
    """What the operator's policy does here: unreadable (nothing runs), a minimum
    isolation, and each grant it denies whole or caps."""
    if ceiling is None:
        return [Finding("policy", f"{problem}; no plugin code runs until it is fixed")]
    found = []
    if ceiling.isolation == "process":
        found.append(
            Finding(
                "policy",
                f'[policy] isolation = "process" ({ceiling.isolation_source}): every plugin '
                "runs in a sandboxed worker, whatever the state, [host] or --isolation say",
            )
        )
    for view in views:
        for cap in cap_grants(view.granted, ceiling):
            what = "denied whole" if cap["effect"] == "denied" else "capped"
            found.append(
                Finding(
                    "policy",
                    f"plugin {view.name}: grant {cap['grant']} {what} by policy rule "
                    f"{cap['rule']} ({cap['source']})",
                    plugin=view.name,
                )
            )
    return found


def start_stats(stats: HostStats) -> list[dict[str, Any]]:
    """``doctor --json``'s ``stats``: each plugin it started, the slowest start first,
    with its start's phases and its workers' pids and resident memory."""
    return [
        {
            "name": plugin.name,
            "status": plugin.status,
            "isolation": plugin.isolation,
            "start": plugin.start.to_json() if plugin.start is not None else None,
            "workers": [worker.to_json() for worker in plugin.workers],
        }
        for plugin in stats.slowest_first()
    ]


def summary(
    config_problem: str | None,
    report: list[dict[str, Any]],
    found: list[Finding],
    installed: FilesCheck | None = None,
    proofs: Proofs | None = None,
    stats: HostStats | None = None,
) -> dict[str, Any]:
    """The ``doctor --json`` object."""
    return {
        "ok": config_problem is None
        and not any(r["problem"] for r in report)
        and (installed is None or installed.ok)
        and (proofs is None or proofs.problem is None),
        "installation": installed.to_json() if installed is not None else None,
        "proofs": proofs.to_json() if proofs is not None else None,
        "plugins": report,
        "findings": [f.to_json() for f in found],
        "warnings": list(dict.fromkeys(f.message for f in found)),
        "stats": start_stats(stats) if stats is not None else [],
    }


async def diagnose(
    runtime: Runtime, agent_problems: Callable[[], dict[str, str]] | None = None
) -> dict[str, Any]:
    """``Host.doctor``: start everything enabled (unless ``config.toml`` is unusable),
    report each plugin and the findings (``agent_problems``: the agent profiles of
    ``config.toml`` that cannot be used, asked while the plugins run), and stop
    everything again."""
    config_problem = runtime.config.problem()
    # an unusable config.toml is the one problem named (the policy reads it too)
    policy_problem = None if config_problem else runtime.config.policy_problem()
    installed = installed_files.check()
    proofs = await prove()  # before any plugin starts: the probe worker is the only one
    if config_problem is None and policy_problem is None:
        await runtime.activate_all(everything=True)
    try:
        state = runtime.store.load()
        resolution = runtime.catalog.resolution(state)
        views = plugin_views(
            resolution, state, runtime.plugins.get, runtime.config.default_isolation
        )
        stats = runtime.stats.snapshot(runtime.plugins.loaded, runtime.isolation_of)
        report = []
        for view in views:
            health = await runtime.health(view.name)
            running = view.runtime == "active"  # what applied; nothing for one not running
            report.append(
                plugin_report(
                    view,
                    state.plugins.get(view.name),
                    health,
                    isolation=runtime.isolation_of(view.name),
                    protections=runtime.protections(view.name) if running else [],
                    missing=missing_protections(runtime.plugins.get(view.name)),
                )
            )
        found = (
            installation_finding(installed)
            + protection_finding(proofs)
            + findings(
                runtime.store.warnings,
                config_problem,
                views,
                state,
                runtime.layout,
                runtime.plugins,
            )
        )
        from jafhost.home.config import SANDBOX_PLATFORM

        host_wide = runtime.config.inprocess_host_wide and runtime.minimum_isolation() is None
        found += isolation_findings(host_wide, SANDBOX_PLATFORM)
        if config_problem is None:
            ceiling = None if policy_problem else runtime.config.ceiling
            found += policy_findings(ceiling, policy_problem, views)
        if agent_problems is not None and config_problem is None:
            found += [Finding("agent-profile", p) for p in agent_problems().values()]
        problem = config_problem or policy_problem
        return summary(problem, report, found, installed, proofs, stats)
    finally:
        await runtime.deactivate_all()
