"""``Host``: the one object the CLI, the MCP server, tests and agent programs drive.

Data flows one way: discover (no import) -> resolve -> state (enabled, grants) ->
load/lifecycle -> route. ``Host`` builds its parts and owns them; each public method
hands the work to one of them:

- ``catalog`` (``Catalog``): discovery, plugins registered in memory, resolution;
- ``decisions`` (``Decisions``): enable, disable, grant, revoke: the state file;
- ``config`` (``HostConfig``): ``config.toml``, read once;
- ``registry`` (``PluginRegistry``): the loaded plugins and their activation order;
- ``events`` (``HostEvents``): the event bus and the host's own events;
- ``runtime`` (``Runtime``): starting and stopping plugins, the tool router.

Policies that differ between callers (how to ask for approval) are passed in, never
hard-wired: the CLI prompts, tests say yes.

``jafhost list`` builds a ``Host`` and runs no plugin, so what only running plugins needs
(asyncio, the agents, reload, doctor) is imported by the methods that use it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from jafhost.errors import StateError, UsageError
from jafhost.home.paths import HomeLayout, default_home
from jafhost.home.state import State, StateStore
from jafhost.host.catalog import Catalog, unknown_plugin
from jafhost.host.decisions import Approve, Decisions, GrantChange
from jafhost.host.events import HostEvents
from jafhost.host.runtime import Runtime
from jafhost.host.settings import HostConfig
from jafhost.host.views import PluginView, cap_grants, plugin_views
from jafhost.runtime.registry import PluginRegistry
from jafhost.types import CallError, CallResult

if TYPE_CHECKING:
    import pluggy

    from jafhost.agents.profiles import AgentProfile
    from jafhost.agents.providers import ProviderInfo
    from jafhost.agents.run import AgentInfo, AgentRun, OnStep
    from jafhost.discovery.integrity import Integrity
    from jafhost.discovery.records import Discovery, PluginInfo
    from jafhost.discovery.resolve import Resolution
    from jafhost.home.config import HostSettings
    from jafhost.host.reload import ReloadReport
    from jafhost.runtime.events import DeliveryReport, EventBus
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.runtime.routing import Confirm, ToolRouter
    from jafhost.runtime.stats import HostStats
    from jafhost.tools import Tool


class Host:
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
        self.config = HostConfig(self.layout, hook_timeout)
        self.catalog = Catalog(
            self.layout,
            self.store,
            # absolute, so workers (which start in their data folder) search the same
            paths=[os.path.abspath(p) for p in paths] if paths is not None else None,
            only=set(only) if only is not None else None,
            use_cache=use_cache,
        )
        self.decisions = Decisions(self.store, self.catalog, lambda: self.config.ceiling)
        self.registry = PluginRegistry()
        self.events = HostEvents(self.registry, lambda: self.config.hook_timeout)
        self.runtime = Runtime(
            self.layout,
            self.store,
            self.config,
            self.catalog,
            self.registry,
            self.events,
            emit=lambda name, data, source: self.emit(name, data, source=source),
        )

    @property
    def debug(self) -> bool:
        """Tool errors carry tracebacks (set before the first call)."""
        return self.runtime.debug

    @debug.setter
    def debug(self, value: bool) -> None:
        self.runtime.debug = value

    # -- discovery and resolution (no plugin code runs) ---------------------------

    @property
    def warnings(self) -> list[str]:
        """Things the host repaired or worked around on its own (a corrupt state file
        moved aside, an invalid ``config.toml`` ignored where no plugin code runs), each
        once."""
        return list(dict.fromkeys([*self.store.warnings, *self.config.warnings()]))

    def config_problem(self) -> str | None:
        """Why ``config.toml`` cannot be used (bad TOML, a wrong ``[host]`` value or key),
        naming the file, or None; checked once per host."""
        return self.config.problem()

    def discovery(self, refresh: bool = False) -> Discovery:
        return self.catalog.discovery(refresh)

    def state(self) -> State:
        return self.store.load()

    def resolution(self, state: State | None = None) -> Resolution:
        return self.catalog.resolution(state)

    def plugins(self) -> list[PluginView]:
        """Every discovered plugin with its status and reason (invalid ones included)."""
        self.catalog.verify_all()
        state = self.state()
        views = plugin_views(
            self.resolution(state), state, self.registry.get, self.config.default_isolation
        )
        for view in views:  # registered in memory by this program: its object runs here
            if self.catalog.is_registered(view.name):
                view.isolation = "inprocess"
        return views

    def plugin(self, name: str) -> PluginView:
        """One plugin's view; ``UsageError`` names an unknown plugin."""
        views = self.plugins()
        view = next((v for v in views if v.name == name), None)
        if view is None:
            raise unknown_plugin(name, (v.name for v in views))
        view.isolation = self.isolation_of(name)  # process isolation: config default too
        view.protections = self.protections(name)
        with contextlib.suppress(StateError):  # an unusable policy: a warning, nothing runs
            view.capped = cap_grants(view.granted, self.config.ceiling)
        if view.status == "enabled":
            view.recorded = self.runtime.recorded(name) is not None
        integrity = self.catalog.integrity(name)
        if integrity is not None:
            view.integrity, view.integrity_detail = integrity.status, integrity.detail
        return view

    def verify_files(self, names: list[str] | None = None) -> list[tuple[PluginInfo, Integrity]]:
        """Check the installed files of ``names`` (None: every plugin) against their
        ``RECORD`` now, hashing every file whatever its stamp says (``jafhost verify``):
        each plugin with its outcome (plugins registered in memory have no files and are
        left out). One that fails is ``invalid`` from now on, as at any start."""
        if names is not None:
            self.catalog.known(names)
        self.catalog.verify_all()
        self.catalog.check_files(names, force=True)
        found: list[tuple[PluginInfo, Integrity]] = []
        for info in self.catalog.discovery().plugins:
            integrity = self.catalog.integrity(info.name)
            if integrity is not None and (names is None or info.name in names):
                found.append((info, integrity))
        return found

    def isolation_of(self, name: str) -> str:
        """``process`` or ``inprocess``: the plugin's own choice, else ``[host] isolation``."""
        return self.runtime.isolation_of(name)

    def protections(self, name: str) -> list[str]:
        """What guards a plugin: in force for a running one, else what would apply here
        (probed from the kernel; no plugin code runs)."""
        return self.runtime.protections(name)

    def recorded_config_schema(self, name: str) -> Any:
        """The config JSON Schema recorded at the plugin's last load, or None."""
        try:
            return json.loads(self.layout.schema_file(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    # -- the user's decisions (the state file; no plugin code runs) ----------------

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
    ) -> PluginView:
        """Add a plugin that is not installed (a module, a class, or an object whose
        methods carry ``@hookimpl``); it runs like an installed one, its ``permissions``
        granted only with ``grant=True`` or ``enable(..., approve=...)``. See
        ``Decisions.register``; returns its view."""
        info = self.decisions.register(
            obj,
            name=name,
            version=version,
            permissions=permissions,
            requires=requires,
            summary=summary,
            kinds=kinds,
            grant=grant,
        )
        return self.plugin(info.name)

    def enable(
        self,
        names: Iterable[str],
        *,
        approve: Approve | None = None,
        isolation: str | None = None,
        dependencies: bool = True,
    ) -> list[str]:
        """Enable plugins (and, with ``dependencies``, the plugins they require), asking
        ``approve`` about permissions never approved; see ``Decisions.enable``."""
        return self.decisions.enable(
            names, approve=approve, isolation=isolation, dependencies=dependencies
        )

    def disable(self, names: Iterable[str]) -> dict[str, list[str]]:
        """Disable plugins; returns, per plugin, the enabled plugins that now lack it."""
        return self.decisions.disable(names)

    def grant(self, name: str, permission: str) -> str:
        """Add one permission to a plugin's grants; returns its canonical form."""
        return self.decisions.grant(name, permission)

    def revoke(self, name: str, permission: str) -> str:
        """Remove one permission, exactly as granted; ``NotGranted`` if it is not."""
        return self.decisions.revoke(name, permission)

    def change_grant(self, name: str, permission: str, *, add: bool) -> GrantChange:
        """Add (``add``) or remove one permission; says whether the grants changed."""
        return self.decisions.change_grant(name, permission, add=add)

    # -- running plugins ----------------------------------------------------------

    @property
    def settings(self) -> HostSettings:
        return self.config.settings

    @property
    def hook_timeout(self) -> float:
        return self.config.hook_timeout

    @property
    def pm(self) -> pluggy.PluginManager:
        return self.runtime.pm

    def loaded(self, name: str) -> LoadedPlugin | None:
        """A plugin's runtime record: ``status`` is ``idle`` (recorded, started at first
        use), ``starting``, ``active``, ``broken`` or ``blocked``; None if not offered."""
        return self.registry.get(name)

    @property
    def active(self) -> list[str]:
        """Active plugins in activation order."""
        return self.registry.active

    def identity(self, name: str) -> str:
        """The identity plugin ``name``'s code runs under in this host (its name if it is
        not loaded)."""
        return self.registry.identity(name)

    @property
    def serving(self) -> list[str]:
        """Active plugins and idle ones (recorded: started at first use), in dependency
        order: whose tools, agents and event handlers this host offers."""
        return self.registry.serving

    async def activate_all(
        self, *, wait: bool = True, everything: bool = False, needed: Iterable[str] | None = None
    ) -> list[LoadedPlugin]:
        """Offer every enabled, resolved plugin, in dependency order: a ``lazy`` plugin
        whose contributions are recorded becomes ``idle`` (its tools, agents and event
        patterns offered; it starts at its first use); ``eager`` plugins, ``observe``
        middleware and plugins without a valid record start now (``wait=False``: beside
        the caller, as tasks). ``everything=True`` starts every plugin. Never raises for a
        plugin's failure (see each ``LoadedPlugin.status``/``error``).

        ``needed`` (a one-shot command that uses only these plugins, as ``jafhost call``
        does): of the other plugins only ``eager`` ones and ``observe`` middleware start;
        no other plugin's record is even read, so the command costs the same whatever
        the number of plugins installed."""
        return await self.runtime.activate_all(wait=wait, everything=everything, needed=needed)

    async def activate(self, name: str) -> LoadedPlugin:
        """Activate one plugin and, first, the plugins it requires."""
        return await self.runtime.activate(name)

    async def deactivate(self, name: str) -> None:
        """Deactivate one plugin, after the active plugins that depend on it."""
        await self.runtime.deactivate(name)

    async def deactivate_all(self) -> None:
        """Deactivate every active plugin in reverse activation order."""
        await self.runtime.deactivate_all()

    async def settle(self) -> None:
        """Wait for the starts in flight (``activate_all(wait=False)``) to end."""
        await self.runtime.settle()

    async def shutdown(self, grace: float | None = None) -> None:
        """End a one-shot command: starts still in flight and the deactivation of plugins
        it did not use get ``grace`` seconds in all (see ``Runtime.shutdown``)."""
        from jafhost.host.runtime import EXIT_GRACE

        await self.runtime.shutdown(EXIT_GRACE if grace is None else grace)

    async def start_plugin(self, name: str, obj: Any = None) -> LoadedPlugin:
        """Start one resolved plugin, optionally from an already imported object (reload)."""
        return await self.runtime.start_plugin(name, obj)

    async def reload(self, name: str) -> ReloadReport:
        """Replace a plugin's code while it runs; the previous version keeps serving if the
        new one fails (see ``jafhost.host.reload``)."""
        from jafhost.host.reload import reload

        return await reload(self.runtime, name)

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

    # -- events --------------------------------------------------------------------

    @property
    def bus(self) -> EventBus:
        return self.events.bus

    async def emit(self, name: str, data: Any = None, *, source: str = "host") -> DeliveryReport:
        """Deliver event ``name`` to every active plugin subscribed to it, in activation
        order; the report says who received it and who failed."""
        return await self.events.emit(name, data, source=source)

    # -- tools -----------------------------------------------------------------------

    @property
    def router(self) -> ToolRouter:
        return self.runtime.router

    def tools(self, patterns: Iterable[str] | None = None) -> list[Tool]:
        """The tools of the active plugins (optionally only those matching globs)."""
        return self.router.tools(patterns)

    def tool(self, name: str) -> Tool:
        """One active tool by ``plugin.tool`` or ``plugin__tool``; ``UsageError`` if none."""
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
        context: Mapping[str, Any] | None = None,
    ) -> CallResult:
        """Route one agent action; the result or a structured error, never an exception.

        ``context`` is JSON-serializable metadata the tool receives as
        ``RunContext.metadata`` (anything else is refused: ``invalid_arguments`` naming
        ``context``). The caller is the one a skin set (``CALL_ORIGIN``), else ``api``."""
        if context is None:
            return await self.router.call(name, arguments, timeout=timeout, confirm=confirm)
        import dataclasses

        from jafhost.runtime.call_origin import CALL_ORIGIN, current_origin

        metadata = _json_metadata(context)
        if isinstance(metadata, CallError):
            return CallResult(name, False, error=metadata)
        origin = dataclasses.replace(current_origin(), metadata=metadata)
        token = CALL_ORIGIN.set(origin)
        try:
            return await self.router.call(name, arguments, timeout=timeout, confirm=confirm)
        finally:
            CALL_ORIGIN.reset(token)

    def call_inline(self, name: str, arguments: Any = None) -> CallResult | None:
        """Synchronous fast path for sync tools without middleware (no time limit);
        None when the call needs ``await host.call(...)``."""
        return self.router.call_inline(name, arguments)

    # -- agents and model providers (the work is in jafhost.agents.run) ----------------

    def agents(self) -> list[AgentInfo]:
        """Every agent: the operator's profiles from ``config.toml`` (``[agents.NAME]``,
        those that can be used), then the plugins' (``jaf_agents``) in activation order."""
        from jafhost.agents import run as agent_run

        return agent_run.list_agents(self)

    def agent_problems(self) -> dict[str, str]:
        """The profiles of ``config.toml`` that cannot be used, each with its one-line
        problem naming ``agents.NAME.KEY`` (a bad key or value, a missing ``from``)."""
        from jafhost.agents import run as agent_run

        return agent_run.config_agents(self)[1]

    def agent(self, name: str) -> AgentInfo:
        """One agent by its ``config.toml`` key, ``plugin.agent`` or its own name;
        ``UsageError`` if none, ``StateError`` naming the key of a broken profile."""
        from jafhost.agents import run as agent_run

        return agent_run.find_agent(self, name)

    def providers(self) -> list[ProviderInfo]:
        """Model providers: the built-ins, then those of the active plugins."""
        from jafhost.agents import run as agent_run

        return agent_run.list_providers(self)

    async def run_agent(
        self,
        agent: str | AgentProfile,
        message: str,
        *,
        provider: Any = None,
        model: str | None = None,
        max_turns: int | None = None,
        on_step: OnStep | None = None,
        confirm: Confirm | None = None,
        model_timeout: float | None = 300.0,
        tool_timeout: float | None = None,
        name: str | None = None,
    ) -> AgentRun:
        """Run an agent on a message with a model (``provider:model``, a provider
        object, or the agent's default). ``agent`` is a name (a ``config.toml`` profile's
        key, ``plugin.agent`` or a plugin agent's own name) or an ``AgentProfile``, run as
        ``name`` (default ``agent``); see ``jafhost.agents.run.run_agent``."""
        from jafhost.agents import run as agent_run

        await self._start_providers(model, agent)
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
            name=name,
        )

    async def _start_providers(self, model: str | None, agent: str | AgentProfile) -> None:
        """Start the idle plugins whose recorded model providers the run may use (the
        one ``model`` or the agent's own model names), before the run resolves it."""
        wanted = model
        if wanted is None:
            try:
                wanted = self.agent(agent).spec.model if isinstance(agent, str) else agent.model
            except Exception:  # the run itself reports an unknown or bad agent
                wanted = None
        provider = (wanted or "").partition(":")[0]
        if not provider:
            return
        for name in self.serving:
            loaded = self.registry.get(name)
            record = loaded.extras.get("record") if loaded is not None else None
            idle = loaded is not None and loaded.status == "idle"
            if idle and record is not None and provider in record.providers:
                await self.runtime.ensure_started(name)

    # -- health --------------------------------------------------------------------

    def stats(self) -> HostStats:
        """What each plugin costs so far: its start's import, initialize and activate
        times, calls, errors by code, p50/p95 call time, and its workers' pids, resident
        memory and restarts (``jafhost.runtime.stats``). Idle plugins have no ``start``."""
        return self.runtime.stats.snapshot(self.registry.loaded, self.runtime.isolation_of)

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
        from jafhost.host.doctor import diagnose

        return await diagnose(self.runtime, self.agent_problems)


def _json_metadata(context: Any) -> dict[str, Any] | CallError:
    """``host.call(..., context=...)`` as a plain JSON copy (what a tool's
    ``RunContext.metadata`` holds, in either isolation mode), or the
    ``invalid_arguments`` error naming ``context``."""
    problem = None
    if not isinstance(context, Mapping):
        problem = f"a mapping, not {type(context).__name__}"
    else:
        try:
            copy = json.loads(json.dumps(dict(context), allow_nan=False))
        except (TypeError, ValueError, RecursionError) as exc:
            problem = f"JSON-serializable data ({exc})"
        else:
            return copy  # type: ignore[no-any-return]
    return CallError(
        "invalid_arguments",
        f"invalid arguments: context must be {problem}",
        fields=[{"field": "context", "message": f"must be {problem}"}],
    )
