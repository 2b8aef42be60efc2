"""``Runtime``: the running side of a host: starting and stopping plugins in dependency
order, in process (under the audit guard) or in a worker process, and the tool router.

Owned by ``Host``. It reads the catalog (what resolves), the state (grants, isolation)
and ``config.toml`` (settings, plugin tables); it records what runs in the shared
``PluginRegistry`` and publishes ``plugin.*`` events through ``HostEvents``. Events a
worker sends go through ``emit`` (the host's own ``emit``, so they can be observed).

``jafhost list`` imports this module (``Host`` owns a ``Runtime``) but starts nothing: the
machinery that does (asyncio, pluggy, the lifecycle, pydantic's config models, the
guard, the worker launcher and sandbox) is imported by the methods that use it.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jafhost.errors import PluginError, StateError
from jafhost.host.guard_setup import compile_policy, guard_identity

if TYPE_CHECKING:
    import pluggy

    from jafhost.discovery.records import PluginInfo
    from jafhost.discovery.resolve import Resolution, ResolvedPlugin
    from jafhost.home.paths import HomeLayout
    from jafhost.home.state import State, StateStore
    from jafhost.host.catalog import Catalog
    from jafhost.host.events import HostEvents
    from jafhost.host.settings import HostConfig
    from jafhost.runtime.activation import Flights
    from jafhost.runtime.activation_records import ActivationRecord, RecordStore
    from jafhost.runtime.integrations import HostIntegrations
    from jafhost.runtime.isolation.client import WorkerClient
    from jafhost.runtime.isolation.spec import WorkerSpec
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.runtime.registry import PluginRegistry
    from jafhost.runtime.routing import ToolRouter
    from jafhost.security.narrowing import Narrowing
    from jafhost.security.policy import Policy
    from jafhost.types import AgentLimits, PluginContext

Emit = Callable[[str, Any, str], Coroutine[Any, Any, Any]]
"""``emit(name, data, source)``: deliver an event a plugin's worker sent (``Host.emit``)."""

EXIT_GRACE = 0.5
"""Seconds a one-shot command (``shutdown``) gives, in all, to starts still in flight
and to the deactivation of plugins it did not use, before leaving them behind."""


class Runtime:
    """Activation, deactivation and routing for the plugins of one host."""

    def __init__(
        self,
        layout: HomeLayout,
        store: StateStore,
        config: HostConfig,
        catalog: Catalog,
        plugins: PluginRegistry,
        events: HostEvents,
        emit: Emit,
    ) -> None:
        self.layout = layout
        self.store = store
        self.config = config
        self.catalog = catalog
        self.plugins = plugins
        self.events = events
        self._emit = emit
        self.debug = False
        """Tracebacks in tool errors (read when the router is built)."""
        self._pm: pluggy.PluginManager | None = None
        self._router: ToolRouter | None = None
        self._integrations: HostIntegrations | None = None
        self.config_workers: list[WorkerClient] = []
        """Workers started only to answer questions about a plugin's config model."""
        self.prestarted: dict[str, WorkerClient] = {}
        """A worker already running a plugin's new version, for its next start to adopt
        (``reload``: the new version serves only once it is ready)."""
        self._flights: Flights | None = None
        self._records: RecordStore | None = None
        self._keys: dict[str, str | None] = {}
        self._narrowed: dict[tuple[Any, ...], Narrowing] = {}
        from jafhost.runtime.stats import StatsRecorder

        self.stats = StatsRecorder()
        """Start times and calls of the plugins, for ``Host.stats`` and ``doctor``."""
        self.used: set[str] = set()
        """Plugins started, or joined, for a use (a call, an event, a dependent): their
        deactivation is never cut short at a command's exit."""

    @property
    def pm(self) -> pluggy.PluginManager:
        if self._pm is None:
            from jafhost.agents.providers.builtin import BUILTIN_PLUGIN, BuiltinProviders
            from jafhost.runtime.plugin_manager import make_plugin_manager

            self._pm = make_plugin_manager()
            self._pm.register(BuiltinProviders(), name=BUILTIN_PLUGIN)  # always on, undiscovered
        return self._pm

    @property
    def router(self) -> ToolRouter:
        if self._router is None:
            from jafhost.runtime.routing import ToolRouter

            self._router = ToolRouter(
                self.pm,
                self.plugins.get,
                self.inactive_status,
                lambda: self.config.settings.call_timeout,
            )
            self._router.debug = self.debug
            self._router.observer = self.events.tool_finished
            self._router.observing = lambda: self.events.listening("tool.called", "tool.failed")
            self._router.observes = self.plugins.observes
            self._router.failed_observers = self.failed_observers
            self._router.prepare = self.prepare
            self._router.narrowings = self.narrowings
            self._router.stats = self.stats
        return self._router

    def failed_observers(self) -> list[tuple[str, str]]:
        """Plugins granted ``observe`` that could not start, with ``STATUS: reason``:
        their middleware wraps every call, so calls fail closed while they are down."""
        down = []
        for name, loaded in self.plugins.loaded.items():
            if loaded.observe and loaded.status in ("broken", "blocked"):
                down.append((name, f"{loaded.status}: {loaded.error}"))
            elif loaded.observe and loaded.status in ("starting", "inactive"):
                limit = self.config.hook_timeout
                down.append((name, f"starting: it did not start within {limit:g} s"))
        return down

    @property
    def integrations(self) -> HostIntegrations:
        """Who may use which integration, and carrying out each call (either mode)."""
        if self._integrations is None:
            from jafhost.runtime.integrations import HostIntegrations

            self._integrations = HostIntegrations(
                self.plugins, lambda: self.events.loop, self._remote_integration
            )
        return self._integrations

    @staticmethod
    async def _remote_integration(
        owner: LoadedPlugin, short: str, method: str, args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        """A call of an integration whose provider runs in a worker: sent to it."""
        from jafhost.runtime.isolation import launch

        pool = launch.pool_of(owner)
        assert pool is not None
        return await pool.integration(short, method, args, kwargs)

    async def _worker_asks(self, loaded: LoadedPlugin, message: dict[str, Any]) -> Any:
        """What a plugin's worker asks of the host during a request: an integration
        (access check, or a call), always as ``loaded``, the plugin that worker runs."""
        from jafhost.runtime.integrations import IntegrationError

        kind = message.get("kind")
        if kind != "integration":
            raise IntegrationError(f"unknown request {kind!r}", plugin=loaded.name)
        name, method = message.get("name"), message.get("method")
        if not isinstance(name, str):
            raise IntegrationError("an integration is named plugin.integration", plugin=loaded.name)
        if method is None:
            self.plugins.integration_owner(loaded, name)
            return None
        args, kwargs = message.get("args") or [], message.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise IntegrationError(f"arguments to {name}: a list and an object", plugin=loaded.name)
        return await self.integrations.call(loaded, name, str(method), args, kwargs)

    def inactive_status(self, plugin: str) -> str | None:
        """Why a known plugin has no tools right now (None if unknown or active)."""
        loaded = self.plugins.get(plugin)
        if loaded is not None and loaded.status in ("active", "idle"):
            return None
        if loaded is not None and loaded.status in ("broken", "blocked"):
            return f"{loaded.status}: {loaded.error}"
        entry = self.catalog.resolution().get(plugin)
        if entry is None:
            return None
        if entry.status == "enabled":
            return "not active"
        return f"{entry.status}: {entry.reason}" if entry.reason else entry.status

    # -- isolation ---------------------------------------------------------------------

    def isolation_of(self, name: str) -> str:
        """``process`` or ``inprocess``: a plugin registered in memory by the embedding
        program runs in process (its object lives there); else the plugin's own choice
        (``enable --isolation``), else ``[host] isolation`` (``process`` where the
        sandbox applies)."""
        if self.catalog.is_registered(name):
            return "inprocess"
        if self.minimum_isolation() == "process":
            return "process"
        record = self.store.snapshot().plugins.get(name)
        if record is not None and record.isolation:
            return record.isolation
        return self.config.isolation

    def minimum_isolation(self) -> str | None:
        """``process`` when the operator's policy demands workers (or cannot be read:
        then nothing runs, and nothing is shown as weaker), else None."""
        try:
            return self.config.ceiling.isolation
        except StateError:
            return "process"

    def grants_of(self, info: PluginInfo, state: State | None = None) -> list[str]:
        """The plugin's grants without those the operator's deny rules take away whole.
        The guard and the worker get the ceiling itself (``_guard``, ``worker_spec``);
        this is for what the grants decide on the host's side (``observe``, records)."""
        grants = (state or self.store.snapshot()).grants_of(info)
        try:
            return self.config.ceiling.cap(grants)
        except StateError:  # no plugin code runs: every start reads the ceiling first
            return grants

    def worker_spec(
        self,
        info: PluginInfo,
        config_table: dict[str, Any],
        known: dict[str, dict[str, Any]] | None = None,
    ) -> WorkerSpec:
        """How to start ``info``'s worker: this host's folders and limits, and its grants
        read again from the state at every start; ``known``: its tools' recorded input
        schemas (``_recorded_schemas``)."""
        from jafhost.runtime.isolation.spec import plugin_spec

        settings = self.config.settings
        hook_timeout = self.config.hook_timeout
        ceiling = self.config.ceiling  # a malformed policy: no worker starts

        def grants() -> list[str]:
            return self.store.snapshot().grants_of(info)

        return plugin_spec(
            self.layout,
            info,
            settings,
            hook_timeout,
            ceiling,
            grants,
            config_table,
            known,
        )

    def protections(self, name: str) -> list[str]:
        """What guards a plugin: in force for a running one, else what would apply here
        (probed from the kernel; no plugin code runs)."""
        from jafhost.runtime.isolation import launch

        loaded = self.plugins.get(name)
        if loaded is not None and loaded.status == "active":
            running = launch.protections(loaded)
            return running if running is not None else ["audit-guard"]
        if self.isolation_of(name) != "process":
            return ["audit-guard"]
        entry = self.catalog.resolution().get(name)
        if entry is None:
            return []
        try:
            return launch.predicted(self.worker_spec(entry.info, {}))
        except StateError:
            return []

    # -- starting and stopping -------------------------------------------------------------

    async def start_plugin(self, name: str, obj: Any = None) -> LoadedPlugin:
        """Start one resolved plugin, optionally from an already imported object (a reload,
        or an instance the embedding program made: either runs in this process)."""
        return await self._start(self.catalog.resolution(), name, obj)

    async def _start(self, resolution: Resolution, name: str, obj: Any = None) -> LoadedPlugin:
        import asyncio
        import time

        from jafhost.runtime import lifecycle, telemetry

        began = time.perf_counter()
        entry = resolution.get(name)
        assert entry is not None
        # changed on disk since it was resolved, or resolved afresh meanwhile (a start
        # decided on a cached entry that did not hold): only an enabled plugin starts
        if entry.status != "enabled" or not self.catalog.holds(entry.info):
            entry = self.catalog.resolution().get(name)
            if entry is None or not self.catalog.holds(entry.info):
                entry = None
        # resolved before another plugin's check sent discovery back to a fresh scan, a
        # plugin may no longer be enabled there: only the current resolution starts it
        if entry is None or entry.status != "enabled":
            changed = self._changed(name, entry)
            await self._started(changed)  # reported as any plugin that failed to start
            return changed
        offered_from = self._offered_from(name, obj)
        known = None
        if offered_from is not None:
            known = {tool.name: tool.input_schema for tool in offered_from.tools}
        loaded = lifecycle.LoadedPlugin(entry.info)
        loaded.extras["offered_from"] = offered_from
        loaded.requires = entry.requires_plugins(optional=True)
        loaded.observe = "observe" in self.grants_of(entry.info)
        loaded.status = "starting"
        self.plugins.loaded[name] = loaded
        self.events.loop = asyncio.get_running_loop()
        for dep in entry.requires_plugins():
            other = self.plugins.get(dep)
            if other is None or other.status != "active":
                state = other.status if other else "not loaded"
                why = f": {other.error}" if other and other.error else ""
                loaded.status, loaded.error = (
                    "blocked",
                    f"needs plugin {dep}, which is {state}{why}",
                )
                self._withdraw(name)
                return loaded
        self.catalog.prepare_imports()
        _ = self.config.settings
        _ = self.config.ceiling  # a malformed policy file: no plugin code runs
        registered = self.catalog.is_registered(name)
        if obj is None and registered:
            obj = self.catalog.registered_object(name)
        # an object the embedding program hands over is already its code in this
        # process: it runs here, as plugins registered in memory do
        isolated = obj is None and self.isolation_of(name) == "process"
        with telemetry.activate_span(name, "process" if isolated else "inprocess") as span:
            try:
                if isolated:
                    await self._start_in_worker(loaded, registered, known)
                else:
                    await self._start_in_process(loaded, obj, known)
            except asyncio.CancelledError:
                if loaded.status in ("starting", "inactive"):
                    loaded.status, loaded.error = "broken", "its start was cancelled"
                self._withdraw(name)
                raise
            if loaded.status == "starting":
                loaded.status = "broken"
                loaded.error = loaded.error or "it did not finish starting"
            span.ended(loaded.status)
        self.stats.started(loaded, time.perf_counter() - began)
        await self._started(loaded)
        return loaded

    def _offered_from(self, name: str, obj: Any) -> ActivationRecord | None:
        """The record an idle plugin was offered from: its start takes its tools' input
        schemas from it and leaves their models to their first calls. None for any
        other start (no record, a reload, an object handed over), which builds every
        schema, for the catalog and the new record."""
        previous = self.plugins.get(name)
        if obj is not None or previous is None or previous.status != "idle":
            return None
        record: ActivationRecord | None = previous.extras.get("record")
        return record

    def _changed(self, name: str, entry: Any) -> LoadedPlugin:
        """A plugin found changed just before its start (on disk, or in the state: it no
        longer resolves as enabled): reported broken, nothing of it runs."""
        from jafhost.discovery.records import PluginInfo
        from jafhost.runtime import lifecycle

        info = entry.info if entry is not None else PluginInfo(name, "", "", "")
        loaded = lifecycle.LoadedPlugin(info)
        loaded.status = "broken"
        if entry is None:
            loaded.error = "its files changed since discovery (gone); it was not started"
        elif entry.status != "enabled":
            why = entry.reason or "no reason"
            loaded.error = f"it is {entry.status} now ({why}); it was not started"
        else:
            loaded.error = "its files changed since discovery; it was not started"
        self.plugins.loaded[name] = loaded
        return loaded

    async def _start_in_process(
        self, loaded: LoadedPlugin, obj: Any, known: dict[str, dict[str, Any]] | None = None
    ) -> None:
        from jafhost.home.config import plugin_config_table, plugin_table
        from jafhost.runtime import lifecycle

        name, table = loaded.name, self.config.table
        loaded.identity = self._guard(loaded)
        self._open_loop(loaded)
        await lifecycle.start(
            self.pm,
            loaded,
            config_table=plugin_config_table(table, name, os.environ),
            file_table=plugin_table(table, name),
            environ=os.environ,
            data_dir=self.layout.data_dir(name),
            schema_file=self.layout.schema_file(name),
            timeout=self.config.hook_timeout,
            make_context=self._make_context,
            obj=obj,
            known_schemas=known,
        )
        if loaded.status != "active":
            from jafhost.runtime import plugin_loops

            plugin_loops.close_loop(loaded.identity)

    def _open_loop(self, loaded: LoadedPlugin) -> None:
        """The plugin's own event loop (``runtime.plugin_loops``); if its code blocks
        it, the plugin is marked broken and withdrawn (``_blocked``)."""
        import asyncio

        from jafhost.runtime import plugin_loops

        host_loop = asyncio.get_running_loop()

        def blocked(reason: str) -> None:
            try:
                here = asyncio.get_running_loop()
            except RuntimeError:
                here = None
            if here is host_loop:  # at once: the caller's next step sees the plugin broken
                self._blocked(loaded, reason)
                return
            with contextlib.suppress(RuntimeError):  # the host's loop is closed
                host_loop.call_soon_threadsafe(self._blocked, loaded, reason)

        plugin_loops.open_loop(loaded.identity, blocked)

    def _blocked(self, loaded: LoadedPlugin, reason: str) -> None:
        """A plugin whose code holds its event loop: broken, its tools, handlers and
        middleware withdrawn at once (none of its code runs: its loop cannot)."""
        from jafhost.runtime import lifecycle, plugin_loops
        from jafhost.runtime.scope import plugin_scope

        if self.plugins.get(loaded.name) is not loaded:
            return  # stopped, or replaced by a reload, since
        if loaded.status != "active":  # its start failed (or fails) on the time limit
            if loaded.status == "broken" and reason not in (loaded.error or ""):
                loaded.error = f"{loaded.error}; {reason}"
            return
        loaded.status, loaded.error = "broken", reason
        lifecycle.LOGGER.warning("plugin %s is broken: %s", loaded.name, reason)
        self.router.remove(loaded.name)
        self.events.bus.unsubscribe(loaded.name)
        if loaded.name in self.plugins.order:
            self.plugins.order.remove(loaded.name)
        self.events.bus.order_changed()
        if loaded.obj is not None:
            with plugin_scope(loaded.identity):
                if self.pm.is_registered(loaded.obj):
                    self.pm.unregister(loaded.obj)
        plugin_loops.close_loop(loaded.identity)

    async def _start_in_worker(
        self,
        loaded: LoadedPlugin,
        registered: bool,
        known: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """A reload's ``obj`` is ignored here: the worker imports the plugin afresh."""
        from jafhost.home.config import plugin_config_table
        from jafhost.runtime.isolation import launch

        if registered:
            loaded.status = "broken"
            loaded.error = "a plugin registered in memory runs in-process; it cannot be isolated"
            return
        name = loaded.name
        table = plugin_config_table(self.config.table, name, os.environ)

        def emit(event: str, data: Any) -> Coroutine[Any, Any, Any]:
            return self._emit(event, data, name)

        async def ask(message: dict[str, Any]) -> Any:
            return await self._worker_asks(loaded, message)

        spec = self.worker_spec(loaded.info, table, known)
        ready = self.prestarted.pop(name, None)  # a reload's new version, already started
        await launch.start(spec, loaded, emit, ask, ready)
        self._adopt_middleware(loaded)

    def _adopt_middleware(self, loaded: LoadedPlugin) -> None:
        """A worker plugin's ``jaf_tool_call``: a stand-in in the host's chain, under the
        plugin's name (unregistered with it, as ``loaded.obj``)."""
        import asyncio

        from jafhost.runtime.isolation import launch
        from jafhost.runtime.isolation.proxies import proxy_middleware

        worker, pool = launch.worker_of(loaded), launch.pool_of(loaded)
        if loaded.status != "active" or worker is None or pool is None or worker.started is None:
            return
        settings = self.config.settings
        stand_in = proxy_middleware(
            pool,
            asyncio.get_running_loop(),
            lambda: settings.call_timeout,
            worker.started.get("middleware"),
            loaded.name,
            lambda: loaded.observe,
        )
        if stand_in is not None:
            self.pm.register(stand_in, name=loaded.name)
            loaded.obj = stand_in

    def _guard(self, loaded: LoadedPlugin) -> str:
        """Compile the plugin's grants and arm the audit hook before any of its code runs;
        returns the identity its code runs under (carrying this host's grants for it)."""
        return guard_identity(self.layout, self.store.snapshot(), loaded.info, self.config.ceiling)

    def narrowings(self, limits: Mapping[str, AgentLimits]) -> dict[str, Narrowing]:
        """The grants of each running plugin an agent's policy names, narrowed by that
        policy (``security.narrowing``): for an in-process plugin also the identity its
        code runs under in the agent's calls. Made once per plugin, policy and grants."""
        from jafhost.security.narrowing import NarrowedIdentity, Narrowing, narrow

        state = self.store.snapshot()
        found: dict[str, Narrowing] = {}
        for name, limit in limits.items():
            loaded = self.plugins.get(name)
            if loaded is None or loaded.status != "active":
                continue  # none of its code runs now (a start runs with its own grants)
            grants = state.grants_of(loaded.info)
            kinds = {kind: tuple(entries) for kind, entries in limit.kinds.items()}
            key = (name, limit.agent, tuple(grants), tuple(sorted(kinds.items())))
            cached = self._narrowed.get(key)
            if cached is not None and (cached.base is None or cached.base is loaded.identity):
                found[name] = cached
                continue
            narrowed = narrow(
                grants, kinds, self.layout.data_dir(name), self.layout.cache_dir(name)
            )
            rules = getattr(loaded.identity, "policy", None)
            narrowing = Narrowing(limit.agent, name, kinds, tuple(narrowed), rules)
            if loaded.extras.get("worker") is None:  # in process: the guard holds it to them
                narrowing.base = loaded.identity
                narrowing.identity = NarrowedIdentity(
                    loaded.identity, self._policy(loaded.info, narrowed), narrowing
                )
            else:
                narrowing.full = self._policy(loaded.info, grants)
            self._narrowed[key] = narrowing
            found[name] = narrowing
        return found

    def _policy(self, info: PluginInfo, grants: list[str]) -> Policy:
        """``grants`` compiled for ``info`` under this host's ceiling (``compile_policy``)."""
        return compile_policy(self.layout, info, grants, self.config.ceiling)

    def _make_context(self, loaded: LoadedPlugin, config: Any, data_dir: Path) -> PluginContext:
        from jafhost.runtime.lifecycle import plugin_context

        integrations = self.integrations
        return plugin_context(
            loaded.name,
            config,
            data_dir,
            emit=self.events.from_plugin,
            integration=lambda target: integrations.proxy_for(loaded, target),
        )

    async def _started(self, loaded: LoadedPlugin) -> None:
        """Publish what a plugin that just started offers (and record it), or withdraw
        what was recorded of it and report its failure."""
        name = loaded.name
        if loaded.status != "active":
            self._withdraw(name)
            await self.events.publish(
                "plugin.failed",
                {"plugin": name, "status": loaded.status, "error": loaded.error},
            )
            return
        self.plugins.place(name, self.catalog.resolution().order)
        self.router.replace(loaded)
        self.events.bus.subscribe(name, loaded.subscriptions)
        self.events.bus.order_changed()
        await self._record(loaded)
        await self.events.publish(
            "plugin.activated", {"plugin": name, "version": loaded.info.version}
        )

    def _withdraw(self, name: str) -> None:
        """Take a plugin's tools and handlers (real or recorded) out of the catalog."""
        self.router.remove(name)
        self.events.bus.unsubscribe(name)
        if name in self.plugins.order:
            self.plugins.order.remove(name)
        self.events.bus.order_changed()

    async def _stop(self, name: str) -> None:
        """Withdraw a plugin's tools and handlers, then run its shut-down (none for a
        plugin that never started)."""
        from jafhost.runtime import lifecycle

        loaded = self.plugins.loaded[name]
        self._withdraw(name)
        if loaded.status != "active":
            if loaded.status == "idle":
                loaded.status = "inactive"
            return
        if loaded.extras.get("worker") is not None:  # process isolation: end its worker
            from jafhost.runtime.isolation import launch

            await launch.stop(loaded, self.config.hook_timeout)
        problem = await lifecycle.stop(self.pm, loaded, self.config.hook_timeout)
        from jafhost.runtime import plugin_loops

        plugin_loops.close_loop(loaded.identity)
        if problem:
            lifecycle.LOGGER.warning("plugin %s: %s", name, problem)
        await self.events.publish("plugin.deactivated", {"plugin": name})

    # -- activation records --------------------------------------------------------------

    @property
    def flights(self) -> Flights:
        """Starts in flight (one per plugin)."""
        if self._flights is None:
            from jafhost.runtime.activation import Flights

            self._flights = Flights()
        return self._flights

    @property
    def records(self) -> RecordStore:
        if self._records is None:
            from jafhost.runtime.activation_records import RecordStore

            self._records = RecordStore(self.layout.cache / "activation")
        return self._records

    def record_key(self, info: PluginInfo, state: State | None = None) -> str | None:
        """The key of ``info``'s record in this host (None: never recorded): its files,
        its configuration, its grants, its isolation and the host's version."""
        if info.name in self._keys:
            return self._keys[info.name]
        from jafhost.home.config import plugin_config_table
        from jafhost.runtime.activation_records import record_key

        key = None
        if not self.catalog.is_registered(info.name):
            try:
                _ = self.config.settings  # reads config.toml (and so the plugin tables)
                config = plugin_config_table(self.config.table, info.name, os.environ)
                grants = self.grants_of(info, state)
                key = record_key(info, self.isolation_of(info.name), config, grants)
            except Exception:  # an unusable config or state: no record (it starts)
                key = None
        self._keys[info.name] = key
        return key

    def recorded(
        self, name: str, resolution: Resolution | None = None, state: State | None = None
    ) -> ActivationRecord | None:
        """The valid record of plugin ``name`` in this host, or None."""
        entry = (resolution or self.catalog.resolution()).get(name)
        if entry is None:
            return None
        return self.records.load(name, self.record_key(entry.info, state))

    async def _record(self, loaded: LoadedPlugin) -> None:
        from jafhost.runtime.activation_records import provider_names, record_of
        from jafhost.runtime.lifecycle import in_scope

        key = self.record_key(loaded.info)
        if key is None:
            return
        middleware = any(
            impl.plugin_name == loaded.name for impl in self.pm.hook.jaf_tool_call.get_hookimpls()
        )
        hooks = self._hooks_of(loaded)
        schema = None
        try:
            import json

            schema = json.loads(self.layout.schema_file(loaded.name).read_text("utf-8"))
        except (OSError, ValueError):
            schema = None
        try:
            providers: list[str] = []
            if loaded.providers:  # a name may be a property: read as the plugin, time-limited
                providers = await in_scope(
                    loaded,
                    self.config.hook_timeout,
                    "model providers",
                    provider_names,
                    list(loaded.providers),
                )
            plain_tools: dict[str, Any] = {}
            if loaded.extras.get("worker") is not None:  # as its worker read them
                from jafhost.runtime.isolation.launch import worker_plain_tools

                plain_tools = worker_plain_tools(loaded)
            elif hooks is not None and loaded.tools:  # in process: its functions, read as it
                plain_tools = await in_scope(
                    loaded, self.config.hook_timeout, "tools", _plain_tools, list(loaded.tools)
                )
            record = record_of(loaded, key, middleware, schema, providers, hooks, plain_tools)
        except Exception as exc:  # what it offers cannot be recorded: it starts each time
            from jafhost.runtime.lifecycle import LOGGER

            LOGGER.warning("plugin %s: not recorded: %s", loaded.name, exc)
            return
        if record == loaded.extras.get("offered_from"):
            return  # started from this very record: it holds as written
        self.records.store(record)

    def _hooks_of(self, loaded: LoadedPlugin) -> dict[str, list[str]] | None:
        """The hooks a plugin implements, with the arguments each asks for (for a plugin
        in a worker, as its worker's start reply said: ``launch.worker_hooks``)."""
        if loaded.extras.get("worker") is not None:
            from jafhost.runtime.isolation.launch import worker_hooks

            return worker_hooks(loaded)
        if loaded.obj is None:
            return None
        hooks: dict[str, list[str]] = {}
        for caller in self.pm.get_hookcallers(loaded.obj) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is loaded.obj:
                    hooks[caller.name] = [str(a) for a in impl.argnames]
        return hooks

    def _starts_with_host(
        self, entry: ResolvedPlugin, record: ActivationRecord | None, state: State
    ) -> bool:
        """``eager`` plugins, plugins without a valid record and those registered in
        memory start with the host; so does every plugin granted ``observe``, whatever
        its record says about middleware (calls fail closed while one is down, so a
        record is never what lets one stay out of the way). The others at first use."""
        if record is None or entry.info.activation == "eager":
            return True
        return "observe" in self.grants_of(entry.info, state)

    def _register_recorded(
        self, resolution: Resolution, name: str, record: ActivationRecord, state: State
    ) -> LoadedPlugin:
        """An idle plugin: its recorded tools, agents and event patterns offered, its code
        not loaded until its first use."""
        from jafhost.runtime import activation, lifecycle

        entry = resolution.get(name)
        assert entry is not None
        loaded = lifecycle.LoadedPlugin(entry.info)
        loaded.status = "idle"
        loaded.requires = entry.requires_plugins(optional=True)
        loaded.observe = "observe" in self.grants_of(entry.info, state)
        loaded.tools = activation.recorded_tools(name, record)
        loaded.agents = activation.recorded_agents(record)
        loaded.subscriptions = activation.recorded_subscriptions(
            name, record, self._deliver_recorded
        )
        loaded.extras["record"] = record
        self.plugins.loaded[name] = loaded
        self.plugins.place(name, resolution.order)
        self.router.replace(loaded)
        self.events.bus.subscribe(name, loaded.subscriptions)
        self.events.bus.order_changed()
        return loaded

    async def _deliver_recorded(self, name: str, pattern: str, event: Any) -> None:
        """An event matched an idle plugin's recorded pattern: start it, then run its
        handlers for that pattern (each as the bus runs any handler)."""
        from jafhost.errors import EventError

        if self.flights.get(str(getattr(event, "source", ""))) is not None:
            # sent by a plugin still starting (its jaf_activate, say): starting this one
            # could wait on that start, which waits on this delivery; as before lazy
            # activation, such an event reaches only plugins already running
            return
        loaded = await self.ensure_started(name)
        if loaded is None or loaded.status != "active":
            status = f"{loaded.status}: {loaded.error}" if loaded is not None else "not loaded"
            raise EventError(f"plugin {name} could not start to receive {event.name!r} ({status})")
        for sub in list(loaded.subscriptions):
            if sub.pattern == pattern:
                await self.events.run_handler(sub, event)

    # -- starting at first use ------------------------------------------------------------

    def _wanted(self, name: str) -> bool:
        """Whether ``name`` has been offered by this host and is not running yet (idle,
        or a start in flight)."""
        loaded = self.plugins.get(name)
        if self.flights.get(name) is not None:
            return True
        return loaded is not None and loaded.status in ("idle", "starting")

    async def prepare(self, plugin: str) -> None:
        """Before a call of one of ``plugin``'s tools: start it if it is idle (or join
        its start), and wait (within ``hook_timeout``) for starts in flight of plugins
        granted ``observe``, whose middleware wraps every call."""
        import asyncio

        if self._wanted(plugin):
            await self.ensure_started(plugin)
        observers = {
            name: task
            for name, task in self.flights.pending().items()
            if (loaded := self.plugins.get(name)) is not None and loaded.observe
        }
        if observers:
            self.used.update(observers)
            await asyncio.wait(observers.values(), timeout=self.config.hook_timeout)

    async def ensure_started(self, name: str) -> LoadedPlugin | None:
        """Start plugin ``name`` for a use (after the plugins it needs), once however many
        ask at the same time; its ``LoadedPlugin`` (``broken`` with the step that failed
        when it could not start)."""
        import asyncio

        self.used.add(name)
        loaded = self.plugins.get(name)
        if loaded is not None and loaded.status in ("active", "broken", "blocked"):
            return loaded
        task = self.flights.begin(name, lambda: self._start_with_needs(name, ()))
        return await asyncio.shield(task)

    async def _start_with_needs(self, name: str, chain: tuple[str, ...]) -> LoadedPlugin:
        """Start the enabled plugins ``name`` depends on that are not running, then it."""
        import asyncio

        resolution = self.catalog.resolution()
        entry = resolution.get(name)
        assert entry is not None
        for dep in entry.requires_plugins(optional=True):
            other = resolution.get(dep)
            if dep in chain or other is None or other.status != "enabled":
                continue
            current = self.plugins.get(dep)
            if current is not None and current.status in ("active", "broken", "blocked"):
                continue  # running, or failed in this host (not tried again)
            if name in self.used:
                self.used.add(dep)
            task = self.flights.begin(
                dep, functools.partial(self._start_with_needs, dep, (*chain, name))
            )
            await asyncio.shield(task)
        current = self.plugins.get(name)
        if current is not None and current.status == "active":
            return current
        return await self._start(resolution, name)

    # -- in dependency order -------------------------------------------------------------

    async def activate_all(
        self,
        *,
        wait: bool = True,
        everything: bool = False,
        needed: Iterable[str] | None = None,
    ) -> list[LoadedPlugin]:
        """Offer every enabled, resolved plugin: a recorded ``lazy`` one is registered
        from its record (idle: started at first use); ``eager`` ones, ``observe``
        middleware and plugins without a valid record are started. With ``wait`` those
        starts run one after another in dependency order and are awaited; without it
        they run beside the caller (tasks), so none delays a call of another plugin.
        ``everything`` starts every plugin (``doctor``). ``needed``: only these plugins
        are offered (started, or idle from their records), with the ``eager`` ones and
        ``observe`` middleware started beside; the others are left alone, records unread.
        Never raises for a plugin's failure (see each ``LoadedPlugin.status``/``error``)."""
        state = self.store.snapshot()
        resolution = self.catalog.resolution(state)
        _ = self.config.settings  # an unusable config.toml: an error here, no code runs
        _ = self.config.ceiling  # likewise a malformed policy file
        to_start: list[str] = []
        only = None if needed is None else set(needed)
        for name in resolution.order:
            current = self.plugins.get(name)
            if current is not None and current.status == "active":
                continue
            if current is not None and current.status == "idle" and not everything:
                continue
            entry = resolution.get(name)
            assert entry is not None
            if only is not None and name not in only and not everything:
                if entry.info.activation == "eager" or "observe" in self.grants_of(
                    entry.info, state
                ):
                    to_start.append(name)
                else:  # an event, should one be sent, reaches it as in a full offer
                    self.events.before_emit = self._offer_the_rest
                continue
            record = None if everything else self.recorded(name, resolution, state)
            if everything or self._starts_with_host(entry, record, state):
                to_start.append(name)
            else:
                assert record is not None
                self._register_recorded(resolution, name, record, state)
        for name in to_start:
            task = self.flights.begin(name, functools.partial(self._start_with_needs, name, ()))
            if wait:
                import asyncio

                await asyncio.shield(task)
        return [self.plugins.loaded[n] for n in resolution.order if n in self.plugins.loaded]

    async def _offer_the_rest(self) -> None:
        """Before the first event of a host that offered only what its command needed:
        the other plugins offered too (idle from their records, or starting)."""
        await self.activate_all(wait=False)

    async def activate(self, name: str) -> LoadedPlugin:
        """Activate one plugin and, first, the plugins it requires."""
        resolution = self.catalog.known([name])
        entry = resolution.get(name)
        assert entry is not None
        if entry.status != "enabled":
            raise PluginError(
                f"cannot activate {name}: it is {entry.status}: {entry.reason}", plugin=name
            )
        for dep in entry.requires_plugins():
            if not self.plugins.is_active(dep):
                await self.activate(dep)
        current = self.plugins.get(name)
        if current is not None and current.status == "active":
            return current
        import asyncio

        # through the flight, so a use arriving meanwhile joins this start
        task = self.flights.begin(name, functools.partial(self._start_with_needs, name, ()))
        return await asyncio.shield(task)

    async def deactivate(self, name: str) -> None:
        """Deactivate one plugin, after the active plugins that depend on it."""
        resolution = self.catalog.resolution()
        for dependent in reversed(self.plugins.order):
            if dependent in resolution.dependents(name) and self.plugins.is_active(dependent):
                await self.deactivate(dependent)
        if name not in self.plugins.order:  # never started, or stopped already
            return
        await self._stop(name)

    async def settle(self) -> None:
        """Wait for every start in flight to end (each step within ``hook_timeout``)."""
        await self._settle_flights(None)

    async def _settle_flights(self, grace: float | None) -> None:
        """Starts still in flight: awaited (``grace`` None), or given ``grace`` seconds
        and then cancelled (their plugin is left broken; a worker is killed; code of an
        in-process plugin still running in a daemon thread ends with the process)."""
        import asyncio

        pending = list(self.flights.pending().values())
        if not pending:
            return
        if grace is None:
            await asyncio.wait(pending)
            return
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=grace)

    async def deactivate_all(self) -> None:
        """Deactivate every active plugin in reverse activation order (starts in flight
        are awaited first; idle plugins, never started, have nothing to deactivate)."""
        await self._settle_flights(None)
        for name in reversed(list(self.plugins.order)):
            await self._stop(name)

    async def shutdown(self, grace: float = EXIT_GRACE) -> None:
        """The end of a one-shot command: starts still in flight get ``grace`` seconds,
        then are cancelled; plugins the command used are deactivated in full (each hook
        within ``hook_timeout``), the others only within what is left of ``grace``."""
        import asyncio

        loop = asyncio.get_running_loop()
        # events the command's plugins sent (a worker's ctx.emit does not wait for its
        # delivery, an in-process one does): delivered before the command ends
        await asyncio.sleep(0)  # a delivery a notice just created begins (and is counted)
        delivering = [t for t in self.events.deliveries if t is not asyncio.current_task()]
        if delivering:
            await asyncio.wait(delivering, timeout=self.config.hook_timeout)
        deadline = loop.time() + grace
        await self._settle_flights(grace)
        for name in reversed(list(self.plugins.order)):
            if name in self.used or not self.plugins.is_active(name):
                await self._stop(name)
                continue
            left = max(deadline - loop.time(), 0.0)
            try:
                await asyncio.wait_for(self._stop(name), left)
            except TimeoutError:
                from jafhost.runtime.lifecycle import LOGGER

                LOGGER.warning("plugin %s: not deactivated: the command was over", name)

    # -- health --------------------------------------------------------------------------

    async def health(self, name: str) -> list[dict[str, Any]]:
        """Run the health check of each of an active plugin's integrations."""
        from jafhost.runtime.lifecycle import run_as

        loaded = self.plugins.get(name)
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
                        self.config.hook_timeout,
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


def _plain_tools(tools: list[Any]) -> dict[str, Any]:
    """In the plugin's scope: ``plain_params.plain_tools``."""
    from jafhost.runtime.plain_params import plain_tools

    return plain_tools(tools)
