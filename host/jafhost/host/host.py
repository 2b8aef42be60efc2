"""``Host``: the one object the CLI, the MCP server, tests and agent programs drive.

Data flows one way: discover (no import) -> resolve -> state (enabled, grants) ->
load/lifecycle -> route. Policies that differ between callers (how to ask for
approval) are passed in, never hard-wired: the CLI prompts, tests say yes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from jafhost._version import __version__
from jafhost.discovery import discover
from jafhost.discovery.records import PluginInfo
from jafhost.errors import PluginError, UsageError, quoted
from jafhost.home.paths import HomeLayout, default_home
from jafhost.home.state import State, StateStore
from jafhost.host.decisions import Decisions
from jafhost.host.events import EventsAndIntegrations
from jafhost.host.views import PluginView

if TYPE_CHECKING:
    import asyncio

    import pluggy

    from jafhost.discovery.records import Discovery
    from jafhost.discovery.resolve import Resolution
    from jafhost.home.config import HostSettings
    from jafhost.host.reload import ReloadReport
    from jafhost.runtime.dispatch import CallResult
    from jafhost.runtime.events import EventBus
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.runtime.routing import Confirm, ToolRouter
    from jafhost.tools import Tool
    from jafhost.types import PluginContext


class Host(Decisions, EventsAndIntegrations):
    """Discover, resolve, enable and run plugins.

    ``home`` defaults to ``$JAFHOST_HOME`` or the platform's data folder; ``paths``
    (default ``sys.path``) is where distributions are searched; ``only`` limits the
    host to the named plugins; ``hook_timeout`` overrides ``config.toml``.
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        paths: list[str] | None = None,
        only: Iterable[str] | None = None,
        hook_timeout: float | None = None,
        use_cache: bool = True,
    ) -> None:
        self.layout = HomeLayout(Path(home) if home is not None else default_home())
        self.store = StateStore(self.layout)
        self._paths = list(paths) if paths is not None else None
        self._only = set(only) if only is not None else None
        self._hook_timeout = hook_timeout
        self._use_cache = use_cache
        self._discovery: Discovery | None = None
        self._settings: HostSettings | None = None
        self._config: dict[str, Any] | None = None
        self._config_problem: str | None = None
        self._pm: pluggy.PluginManager | None = None
        self._loaded: dict[str, LoadedPlugin] = {}
        self._registered: dict[str, tuple[PluginInfo, Any]] = {}
        self._active_order: list[str] = []
        self._router: ToolRouter | None = None
        self._bus: EventBus | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.debug = False

    # -- discovery and resolution (no plugin code runs) ---------------------------

    @property
    def warnings(self) -> list[str]:
        """Things the host repaired or worked around on its own (a corrupt state file
        moved aside, an invalid ``config.toml`` ignored where no plugin code runs), each
        once."""
        found = list(self.store.warnings)
        problem = self.config_problem()
        if problem is not None:
            found.append(
                f"{problem}; the defaults apply here, and commands that run plugins "
                "refuse until it is fixed"
            )
        return list(dict.fromkeys(found))

    def config_problem(self) -> str | None:
        """Why ``config.toml`` cannot be used (bad TOML, a wrong ``[host]`` value or key),
        naming the file, or None; checked once per host."""
        if self._config_problem is None:
            from jafhost.home.config_fast import plainly_valid

            try:
                text: str | None = self.layout.config.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None  # none (no problem), or unreadable: the full check names it
            self._config_problem = ""
            if (text is not None and not plainly_valid(text)) or (
                text is None and self.layout.config.exists()
            ):
                from jafhost.errors import StateError
                from jafhost.home.config import host_settings, read_config

                try:
                    host_settings(read_config(self.layout.config), self.layout.config)
                except StateError as exc:
                    self._config_problem = " ".join(str(exc).split())
        return self._config_problem or None

    def discovery(self, refresh: bool = False) -> Discovery:
        if self._discovery is None or refresh:
            from jafhost.discovery.folders import plugin_folders
            from jafhost.errors import StateError

            try:
                folders = plugin_folders(self.layout.config)
            except StateError:  # reported once, by ``config_problem`` (see ``warnings``)
                folders = plugin_folders(None)
            cache = self.layout.cache if self._use_cache else None
            found = discover(cache, self._paths, folders)
            if self._only is not None:
                found.plugins = [p for p in found.plugins if p.name in self._only]
            found.plugins += [info for info, _ in self._registered.values()]
            self._discovery = found
        return self._discovery

    def state(self) -> State:
        return self.store.load()

    def resolution(self, state: State | None = None) -> Resolution:
        from jafhost.discovery.resolve import resolve_plugins

        found = self.discovery()
        current = state if state is not None else self.state()
        # requirements judged at scan time apply only to the full, unchanged set
        judged = found.judged if self._only is None and not self._registered else None
        status_of = current.status_of
        return resolve_plugins(found.plugins, found.installed, __version__, status_of, judged)  # type: ignore[arg-type]

    def _views(self, resolution: Resolution, state: State) -> list[PluginView]:
        default_isolation = self._settings.isolation if self._settings else "inprocess"
        views: list[PluginView] = []
        for entry in resolution.plugins:
            record = state.plugins.get(entry.name)
            loaded = self._loaded.get(entry.name)
            views.append(
                PluginView(
                    info=entry.info,
                    status=entry.status,
                    reason=entry.reason,
                    dependencies=entry.dependencies,
                    granted=sorted(record.grants) if record else [],
                    granted_version=record.granted_version if record else None,
                    isolation=(
                        record.isolation if record and record.isolation else default_isolation
                    ),
                    runtime=loaded.status if loaded else None,
                    error=loaded.error if loaded else None,
                )
            )
        return views

    def plugins(self) -> list[PluginView]:
        """Every discovered plugin with its status and reason (invalid ones included)."""
        state = self.state()
        return self._views(self.resolution(state), state)

    def plugin(self, name: str) -> PluginView:
        """One plugin's view; ``UsageError`` names an unknown plugin."""
        matches = [v for v in self.plugins() if v.name == name]
        if not matches:
            known = ", ".join(sorted({v.name for v in self.plugins()})) or "none installed"
            raise UsageError(f"unknown plugin {quoted(name)} (known: {known})")
        view = matches[0]
        view.isolation = self.isolation_of(name)  # process isolation: config default too
        view.protections = self.protections(name)
        return view

    # -- process isolation (worker.py, sandbox.py) ------------------------------------

    def isolation_of(self, name: str) -> str:
        """``process`` or ``inprocess``: the plugin's own choice, else ``[host] isolation``."""
        from jafhost.errors import StateError

        record = self.state().plugins.get(name)
        if record is not None and record.isolation:
            return record.isolation
        try:
            return self.settings.isolation
        except StateError:
            return "inprocess"

    def protections(self, name: str) -> list[str]:
        """What guards a plugin: in force for a running one, else what would apply here
        (probed from the kernel; no plugin code runs)."""
        from jafhost.errors import StateError
        from jafhost.runtime.isolation import client as worker

        loaded = self._loaded.get(name)
        if loaded is not None and loaded.status == "active":
            running = worker.protections(loaded)
            return running if running is not None else ["audit-guard"]
        if self.isolation_of(name) != "process":
            return ["audit-guard"]
        entry = self.resolution().get(name)
        if entry is None:
            return []
        try:
            return worker.predicted(self, entry.info)
        except StateError:
            return []

    def recorded_config_schema(self, name: str) -> Any:
        """The config JSON Schema recorded at the plugin's last load, or None."""
        try:
            return json.loads(self.layout.schema_file(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    # -- running plugins ----------------------------------------------------------

    @property
    def settings(self) -> HostSettings:
        if self._settings is None:
            from jafhost.home.config import host_settings, read_config

            self._config = read_config(self.layout.config)
            self._settings = host_settings(self._config, self.layout.config)
        return self._settings

    @property
    def hook_timeout(self) -> float:
        return self._hook_timeout if self._hook_timeout is not None else self.settings.hook_timeout

    @property
    def pm(self) -> pluggy.PluginManager:
        if self._pm is None:
            import pluggy

            from jafhost import hookspecs

            self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
            self._pm.add_hookspecs(hookspecs)
        return self._pm

    def loaded(self, name: str) -> LoadedPlugin | None:
        return self._loaded.get(name)

    @property
    def active(self) -> list[str]:
        """Active plugins in activation order."""
        return list(self._active_order)

    def _make_context(self, loaded: LoadedPlugin, config: Any, data_dir: Path) -> PluginContext:
        import logging

        from jafhost.types import PluginContext

        return PluginContext(
            name=loaded.name,
            config=config,
            data_dir=data_dir,
            logger=logging.getLogger(f"jafhost.plugin.{loaded.name}"),
            _emit=self._emit_from_plugin,
            _integration=self._integration_for,
        )

    def _ensure_import_path(self) -> None:
        from jafhost.discovery.folders import import_folders, prime_import_cache

        for entry in reversed(self._paths or []):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        folders = import_folders(self.discovery().plugins)
        for folder in folders:  # folder plugins: appended
            if folder not in sys.path:
                sys.path.append(folder)
        prime_import_cache(folders)

    def _guard(self, name: str) -> str:
        """Compile the plugin's grants and arm the audit hook before any of its code runs;
        returns the identity its code runs under (carrying this host's grants for it)."""
        from jafhost.discovery.folders import own_folders
        from jafhost.security import guard
        from jafhost.security.policy import Policy

        record = self.state().plugins.get(name)
        loaded = self._loaded.get(name)
        policy = Policy.compile(
            name,
            record.grants if record else [],
            self.layout.data_dir(name),
            self.layout.cache_dir(name),
            extra_read=own_folders(loaded.info) if loaded is not None else (),
        )
        guard.install()
        return guard.identity(policy)

    def identity(self, name: str) -> str:
        """The identity plugin ``name``'s code runs under in this host (its name if it is
        not loaded)."""
        loaded = self._loaded.get(name)
        return loaded.identity if loaded is not None else name

    async def start_plugin(self, name: str, obj: Any = None) -> LoadedPlugin:
        """Start one resolved plugin, optionally from an already imported object (reload)."""
        return await self._start(self.resolution(), name, obj)

    async def reload(self, name: str) -> ReloadReport:
        """Replace a plugin's code while it runs; the previous version keeps serving if the
        new one fails (see ``jafhost.host.reload``)."""
        from jafhost.host.reload import reload

        return await reload(self, name)

    async def _start(self, resolution: Resolution, name: str, obj: Any = None) -> LoadedPlugin:
        from jafhost.home.config import plugin_config_table, plugin_table
        from jafhost.runtime import lifecycle

        entry = resolution.get(name)
        assert entry is not None
        loaded = lifecycle.LoadedPlugin(entry.info)
        loaded.requires = entry.requires_plugins(optional=True)
        self._loaded[name] = loaded
        import asyncio

        self._loop = asyncio.get_running_loop()
        for dep in entry.requires_plugins():
            other = self._loaded.get(dep)
            if other is None or other.status != "active":
                state = other.status if other else "not loaded"
                why = f": {other.error}" if other and other.error else ""
                loaded.status, loaded.error = (
                    "blocked",
                    f"needs plugin {dep}, which is {state}{why}",
                )
                return loaded
        self._ensure_import_path()
        _ = self.settings
        if obj is None and name in self._registered:
            obj = self._registered[name][1]
            if isinstance(obj, type):
                obj = obj()
        if self.isolation_of(name) == "process" and name in self._registered:
            loaded.status = "broken"
            loaded.error = "a plugin registered in memory runs in-process; it cannot be isolated"
            await self._started(loaded)
            return loaded
        if self.isolation_of(name) == "process":  # a reload's ``obj`` is ignored here:
            from jafhost.runtime.isolation import client as worker  # the worker imports afresh

            table = plugin_config_table(self._config or {}, name, os.environ)
            await worker.start(self, loaded, table)
            await self._started(loaded)
            return loaded
        loaded.identity = self._guard(name)
        await lifecycle.start(
            self.pm,
            loaded,
            config_table=plugin_config_table(self._config or {}, name, os.environ),
            file_table=plugin_table(self._config or {}, name),
            environ=os.environ,
            data_dir=self.layout.data_dir(name),
            schema_file=self.layout.schema_file(name),
            timeout=self.hook_timeout,
            make_context=self._make_context,
            obj=obj,
        )
        await self._started(loaded)
        return loaded

    async def _started(self, loaded: LoadedPlugin) -> None:
        """Publish what a plugin that just started offers, or report its failure."""
        if loaded.status != "active":
            await self._host_event(
                "plugin.failed",
                {"plugin": loaded.name, "status": loaded.status, "error": loaded.error},
            )
            return
        self._active_order.append(loaded.name)
        self.router.add(loaded)
        self.bus.subscribe(loaded.name, loaded.subscriptions)
        await self._host_event(
            "plugin.activated", {"plugin": loaded.name, "version": loaded.info.version}
        )

    async def _stop(self, name: str) -> None:
        """Withdraw a plugin's tools and handlers, then run its shut-down."""
        from jafhost.runtime import lifecycle

        loaded = self._loaded[name]
        self.router.remove(name)
        self.bus.unsubscribe(name)
        self._active_order.remove(name)
        self.bus.order_changed()
        if loaded.extras.get("worker") is not None:  # process isolation: end its worker
            from jafhost.runtime.isolation import client as worker

            await worker.stop(loaded, self.hook_timeout)
        problem = await lifecycle.stop(self.pm, loaded, self.hook_timeout)
        if problem:
            lifecycle.LOGGER.warning("plugin %s: %s", name, problem)
        await self._host_event("plugin.deactivated", {"plugin": name})

    async def activate_all(self) -> list[LoadedPlugin]:
        """Activate every enabled, resolved plugin in dependency order; never raises for
        a plugin's failure (see each ``LoadedPlugin.status``/``error``)."""
        resolution = self.resolution()
        results = []
        for name in resolution.order:
            current = self._loaded.get(name)
            if current is not None and current.status == "active":
                results.append(current)
                continue
            results.append(await self._start(resolution, name))
        return results

    async def activate(self, name: str) -> LoadedPlugin:
        """Activate one plugin and, first, the plugins it requires."""
        resolution = self._known([name])
        entry = resolution.get(name)
        assert entry is not None
        if entry.status != "enabled":
            raise PluginError(
                f"cannot activate {name}: it is {entry.status}: {entry.reason}", plugin=name
            )
        for dep in entry.requires_plugins():
            current = self._loaded.get(dep)
            if current is None or current.status != "active":
                await self.activate(dep)
        current = self._loaded.get(name)
        if current is not None and current.status == "active":
            return current
        return await self._start(resolution, name)

    async def deactivate(self, name: str) -> None:
        """Deactivate one plugin, after the active plugins that depend on it."""
        resolution = self.resolution()
        for dependent in reversed(self._active_order):
            if dependent in resolution.dependents(name):
                await self.deactivate(dependent)
        loaded = self._loaded.get(name)
        if loaded is None or loaded.status != "active":
            return
        await self._stop(name)

    async def deactivate_all(self) -> None:
        """Deactivate every active plugin in reverse activation order."""
        for name in reversed(list(self._active_order)):
            await self._stop(name)

    # -- tools -----------------------------------------------------------------------

    @property
    def router(self) -> ToolRouter:
        if self._router is None:
            from jafhost.runtime.routing import ToolRouter

            self._router = ToolRouter(
                self.pm,
                self._loaded.get,
                self._inactive_status,
                lambda: self.settings.call_timeout,
            )
            self._router.debug = self.debug
            self._router.observer = self._tool_event
            self._router.observing = lambda: (
                self._bus is not None
                and (
                    self._bus.has_subscribers("tool.called")
                    or self._bus.has_subscribers("tool.failed")
                )
            )
        return self._router

    def _inactive_status(self, plugin: str) -> str | None:
        """Why a known plugin has no tools right now (None if unknown or active)."""
        loaded = self._loaded.get(plugin)
        if loaded is not None and loaded.status == "active":
            return None
        if loaded is not None and loaded.status in ("broken", "blocked"):
            return f"{loaded.status}: {loaded.error}"
        entry = self.resolution().get(plugin)
        if entry is None:
            return None
        if entry.status == "enabled":
            return "not active"
        return f"{entry.status}: {entry.reason}" if entry.reason else entry.status

    def tools(self, patterns: Iterable[str] | None = None) -> list[Tool]:
        """The tools of the active plugins (optionally only those matching globs)."""
        return self.router.tools(patterns)

    def tool(self, name: str) -> Tool:
        """One active tool by ``plugin.tool`` or ``plugin__tool``; ``UsageError`` if none."""
        from jafhost.runtime.dispatch import CallError

        found = self.router.find(name)
        if isinstance(found, CallError):
            raise UsageError(found.message)
        return found

    def tool_definitions(
        self, format: str = "openai", patterns: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """The catalog as OpenAI tool definitions (``format="openai"``), MCP tool
        descriptions (``"mcp"``) or the host's own JSON (``"json"``)."""
        return self.router.definitions(format, patterns)

    async def call(
        self,
        name: str,
        arguments: Any = None,
        *,
        timeout: float | None = None,
        confirm: Confirm | None = None,
    ) -> CallResult:
        """Route one agent action; the result or a structured error, never an exception."""
        return await self.router.call(name, arguments, timeout=timeout, confirm=confirm)

    def call_inline(self, name: str, arguments: Any = None) -> CallResult | None:
        """Synchronous fast path for sync tools without middleware (no time limit);
        None when the call needs ``await host.call(...)``."""
        return self.router.call_inline(name, arguments)

    # -- agents and model providers (the work is in agent_run) -------------------------

    if TYPE_CHECKING:
        from jafhost.agents.providers import ProviderInfo
        from jafhost.agents.run import AgentInfo, AgentRun, OnStep

    def agents(self) -> list[AgentInfo]:
        """The agents of the active plugins (``jaf_agents``), in activation order."""
        from jafhost.agents import run as agent_run

        return agent_run.list_agents(self)

    def agent(self, name: str) -> AgentInfo:
        """One agent by ``plugin.agent`` or its own name; ``UsageError`` if none."""
        from jafhost.agents import run as agent_run

        return agent_run.find_agent(self, name)

    def providers(self) -> list[ProviderInfo]:
        """Model providers: the built-ins, then those of the active plugins."""
        from jafhost.agents import run as agent_run

        return agent_run.list_providers(self)

    async def run_agent(
        self,
        agent: str,
        message: str,
        *,
        provider: Any = None,
        model: str | None = None,
        max_turns: int = 10,
        on_step: OnStep | None = None,
        confirm: Confirm | None = None,
        model_timeout: float | None = 300.0,
        tool_timeout: float | None = None,
    ) -> AgentRun:
        """Run an agent on a message with a model (``provider:model``, a provider
        object, or the agent's default); see ``jafhost.agents.run.run_agent``."""
        from jafhost.agents import run as agent_run

        return await agent_run.run_agent(
            self,
            agent,
            message,
            provider=provider,
            model=model,
            max_turns=max_turns,
            on_step=on_step,
            confirm=confirm,
            model_timeout=model_timeout,
            tool_timeout=tool_timeout,
        )

    async def __aenter__(self) -> Host:
        await self.activate_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import asyncio

        await asyncio.shield(self.deactivate_all())

    # -- health --------------------------------------------------------------------

    async def _health(self, name: str) -> list[dict[str, Any]]:
        """Run the health check of each of an active plugin's integrations."""
        from jafhost.runtime.lifecycle import run_as

        loaded = self._loaded.get(name)
        if loaded is None or loaded.status != "active":
            return []
        results = []
        for short, (spec, client) in loaded.integrations.items():
            problem = None
            if spec.health is not None:
                try:
                    healthy = await run_as(
                        loaded,
                        spec.health,
                        self.hook_timeout,
                        f"integration {short}: health",
                        client,
                    )
                    if healthy is False:
                        problem = f"integration {name}.{short} reports it is unhealthy"
                except Exception as exc:
                    problem = f"integration {name}.{short} health check failed: {exc}"
            results.append(
                {"name": f"{name}.{short}", "checked": spec.health is not None, "problem": problem}
            )
        return results

    async def doctor(self) -> dict[str, Any]:
        """Load everything enabled and report each plugin, and what deserves a warning.

        Returns ``plugins`` (one report each; ``problem`` marks what is wrong),
        ``findings`` (``jafhost.host.doctor.Finding`` as JSON: plugins waiting for approval,
        grants naming missing paths, unknown config keys, an unusable ``config.toml``)
        and ``warnings`` (every warning line, each once: the host's own and the
        findings'). Disabled and needs-approval are choices, not problems; invalid,
        unresolved, broken (failed to load) and blocked (a dependency failed) are, and
        so is a ``config.toml`` that cannot be used: then no plugin code runs.
        """
        from jafhost.host import doctor

        config_problem = self.config_problem()
        if config_problem is None:
            await self.activate_all()
        try:
            state = self.state()
            views = self._views(self.resolution(state), state)
            report = []
            for view in views:
                record = state.plugins.get(view.name)
                chosen_off = record is not None and not record.enabled
                problem: str | None = None
                if (view.status == "invalid" and not chosen_off) or view.status == "unresolved":
                    problem = view.reason
                elif view.runtime in ("broken", "blocked"):
                    problem = view.error
                health = await self._health(view.name)
                if problem is None:
                    problem = next((h["problem"] for h in health if h["problem"]), None)
                data = view.list_json()
                data["runtime"] = view.runtime
                data["problem"] = problem
                data["isolation"] = self.isolation_of(view.name)  # process isolation
                data["protections"] = (  # what applied; nothing for a plugin not running
                    self.protections(view.name) if view.runtime == "active" else []
                )
                data["integrations"] = health
                report.append(data)
            findings = [doctor.Finding("host", text) for text in self.store.warnings]
            if config_problem is not None:
                findings.append(
                    doctor.Finding(
                        "invalid-config",
                        f"{config_problem}; no plugin was started: fix it first",
                    )
                )
            findings += doctor.waiting_for_approval(views)
            findings += doctor.missing_paths(views, state, self.layout)
            findings += doctor.plugin_warnings(self._loaded.values())
            return {
                "ok": config_problem is None and not any(r["problem"] for r in report),
                "plugins": report,
                "findings": [f.to_json() for f in findings],
                "warnings": list(dict.fromkeys(f.message for f in findings)),
            }
        finally:
            await self.deactivate_all()
