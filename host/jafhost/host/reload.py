"""Hot reload: replace a running plugin's code without losing what works.

``reload(runtime, name)`` (``Host.reload`` passes its ``Runtime``) first imports the
plugin's new code beside the old (the old modules are set aside, not deleted). If the
import fails, the old modules go back and the running plugin is never touched.
Otherwise the plugin and the active plugins that depend on it are deactivated
(dependents first), the plugin starts from the new code, and the dependents start
again. If the new code fails to configure, initialize or activate, the old modules and
object are put back and started, so the previous version keeps serving; the report
says what happened either way. A process-isolated plugin is reloaded by restarting its
worker.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from jafhost.errors import HookTimeout, describe
from jafhost.runtime import lifecycle
from jafhost.runtime.lifecycle import plugin_modules

if TYPE_CHECKING:
    from jafhost.discovery.records import PluginInfo
    from jafhost.host.runtime import Runtime


@dataclass
class ReloadReport:
    """What a reload did: ``ok`` when the new code serves, ``error`` when it does not."""

    plugin: str
    ok: bool
    error: str | None = None
    restarted: list[str] = field(default_factory=list)
    kept_previous: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "ok": self.ok,
            "error": self.error,
            "restarted": self.restarted,
            "kept_previous": self.kept_previous,
        }


def _set_aside(names: list[str]) -> dict[str, ModuleType]:
    """Take the plugin's modules out of ``sys.modules`` and drop their bytecode caches:
    a file saved twice within one second with the same size would otherwise load the
    stale bytecode (its header records whole seconds and the size)."""
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    for module in saved.values():
        cached = getattr(module, "__cached__", None)
        if cached:
            with contextlib.suppress(OSError):
                os.unlink(cached)
    return saved


_ABANDONED: set[str] = set()
"""Top-level packages of plugins whose reload import timed out: their import thread
still runs and holds their modules' import locks."""


def _top_module(entry_point: str) -> str:
    return entry_point.replace(" ", "").partition(":")[0].split(".", 1)[0]


def _forget_abandoned_imports(entry_point: str) -> None:
    """Let the plugin's modules be imported afresh although an earlier reload's import
    of them never returned (it timed out; its thread still runs, holding their import
    locks): the lock table entries of those modules held by another thread are dropped,
    so the next import takes new locks instead of waiting on the abandoned ones for good.
    Only after such a time-out: a lock another thread holds otherwise is a live import."""
    top = _top_module(entry_point)
    if top not in _ABANDONED:
        return
    bootstrap: Any = importlib.import_module("importlib._bootstrap")
    locks = getattr(bootstrap, "_module_locks", None)
    imp: Any = sys.modules.get("_imp")
    if not isinstance(locks, dict) or imp is None:
        return
    me = threading.get_ident()
    imp.acquire_lock()
    try:
        for module in [n for n in locks if n == top or n.startswith(top + ".")]:
            ref = locks.get(module)
            lock = ref() if callable(ref) else None
            owner = getattr(lock, "owner", None)
            if lock is not None and owner not in (None, 0, me):
                del locks[module]
    finally:
        imp.release_lock()


def _restore(saved: dict[str, ModuleType], entry_point: str) -> None:
    for name in plugin_modules(entry_point):
        sys.modules.pop(name, None)
    sys.modules.update(saved)


async def reload(runtime: Runtime, name: str) -> ReloadReport:
    """Reload plugin ``name`` (see the module docstring); never raises for plugin code."""
    loaded = runtime.plugins.get(name)
    if loaded is not None and loaded.info.source == "memory":
        return ReloadReport(
            name,
            False,
            "registered in memory: register the new object instead",
            kept_previous=loaded.status == "active",
        )
    if loaded is None or loaded.status != "active":
        if loaded is not None and name in runtime.plugins.order:
            await runtime.deactivate(name)  # broken while running: its workers would not start
        if runtime.isolation_of(name) != "process":
            info = loaded.info if loaded is not None else None
            if info is not None:
                _forget_abandoned_imports(info.entry_point)
        await runtime.activate(name)
        now = runtime.plugins.get(name)
        ok = now is not None and now.status == "active"
        return ReloadReport(
            name, ok, None if ok else (now.error if now else "not loaded"), [name] if ok else []
        )
    info, refused = _installed_now(runtime, name, loaded.info)
    if info is None:
        return ReloadReport(name, False, refused, kept_previous=True)
    if runtime.isolation_of(name) == "process":
        return await _restart_worker(runtime, name, info)
    entry_point = info.entry_point
    _forget_abandoned_imports(entry_point)
    saved = _set_aside(lifecycle.plugin_modules(entry_point))
    importlib.invalidate_caches()
    probe = lifecycle.LoadedPlugin(info)
    try:
        new_obj = await lifecycle.import_plugin(probe, runtime.config.hook_timeout)
    except BaseException as exc:
        _restore(saved, entry_point)
        if isinstance(exc, HookTimeout):  # its thread still runs, holding import locks
            _ABANDONED.add(_top_module(entry_point))
        if isinstance(exc, KeyboardInterrupt):
            raise
        return ReloadReport(name, False, f"import failed: {describe(exc)}", kept_previous=True)

    dependents = [
        d for d in runtime.catalog.resolution().dependents(name) if d in runtime.plugins.active
    ]
    for dependent in reversed([d for d in runtime.plugins.active if d in dependents]):
        await runtime.deactivate(dependent)
    old_obj = loaded.obj
    await runtime.deactivate(name)
    restarted: list[str] = []
    started = await runtime.start_plugin(name, obj=new_obj)
    report = ReloadReport(name, started.status == "active")
    if not report.ok:
        report.error = started.error
        _restore(saved, entry_point)
        again = await runtime.start_plugin(name, obj=old_obj)
        report.kept_previous = again.status == "active"
    if report.ok or report.kept_previous:
        restarted.append(name)
    for dependent in dependents:
        if not runtime.plugins.is_active(dependent):
            again = await runtime.activate(dependent)
            if again.status == "active":
                restarted.append(dependent)
    report.restarted = restarted
    return report


def _installed_now(
    runtime: Runtime, name: str, info: PluginInfo
) -> tuple[PluginInfo | None, str | None]:
    """The plugin as its installed files describe it now, or None and why none of its
    code may run: an upgrade installed since the host read discovery is resolved again
    first, so a version that needs approval (it requests more), or is disabled or
    invalid, is never imported, in the host or in a worker."""
    if runtime.catalog.holds(info):
        return info, None
    entry = runtime.catalog.resolution().get(name)
    if entry is None:
        return None, "its installed files changed and it is no longer found; nothing was started"
    if entry.status != "enabled" or not runtime.catalog.holds(entry.info):
        why = f"{entry.status}: {entry.reason or 'no reason'}"
        return None, f"the installed version was not started: it is {why}"
    return entry.info, None


async def _restart_worker(runtime: Runtime, name: str, info: PluginInfo) -> ReloadReport:
    """A process-isolated plugin's code is never imported in the host: a new worker
    imports and starts the new code beside the one serving, and replaces it only once
    it is ready (with the dependents started again); a new version that does not
    import or start leaves the old worker serving."""
    from jafhost.home.config import plugin_config_table
    from jafhost.runtime.isolation import launch

    table = plugin_config_table(runtime.config.table, name, os.environ)
    ready, problem = await launch.prestart(runtime.worker_spec(info, table))
    if ready is None:
        return ReloadReport(name, False, problem, kept_previous=True)
    dependents = [
        d for d in runtime.plugins.active if d in runtime.catalog.resolution().dependents(name)
    ]
    runtime.prestarted[name] = ready
    try:
        await runtime.deactivate(name)
        started = await runtime.start_plugin(name)
    finally:
        unused = runtime.prestarted.pop(name, None)
        if unused is not None:
            unused.kill()
    report = ReloadReport(
        name, started.status == "active", None if started.status == "active" else started.error
    )
    if report.ok:
        report.restarted.append(name)
        for dependent in dependents:
            again = await runtime.activate(dependent)
            if again.status == "active":
                report.restarted.append(dependent)
    return report
