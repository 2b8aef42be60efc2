"""Events and integrations, as ``Host`` methods: the event bus of the active plugins,
``ctx.emit`` and ``ctx.integration``, the host's own events (``plugin.*``, ``tool.*``,
``permission.denied``).

A mixin of ``Host`` (``jafhost.host.host``); the delivery rules live in ``jafhost.runtime.events``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jafhost.errors import PluginError

if TYPE_CHECKING:
    import asyncio

    from jafhost.runtime.events import DeliveryReport, EventBus, Subscription
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.types import CallResult


class EventsAndIntegrations:
    """``emit``, the bus, and what plugins reach through their context."""

    if TYPE_CHECKING:  # provided by Host
        _bus: EventBus | None
        _loop: asyncio.AbstractEventLoop | None
        _loaded: dict[str, LoadedPlugin]
        _active_order: list[str]

        @property
        def hook_timeout(self) -> float: ...

    @property
    def bus(self) -> EventBus:
        if self._bus is None:
            from jafhost.runtime.events import EventBus
            from jafhost.security import guard

            self._bus = EventBus(lambda: self._active_order, self._run_handler)
            guard.on_denied(self._on_denied)
        return self._bus

    async def _run_handler(self, sub: Subscription, event: Any) -> None:
        from jafhost.runtime.runner import call_plugin
        from jafhost.security.guard import CURRENT_PLUGIN

        loaded = self._loaded[sub.plugin]
        kwargs = {sub.context_param: loaded.ctx} if sub.context_param else {}
        token = CURRENT_PLUGIN.set(loaded.identity)
        try:
            await call_plugin(
                sub.handler,
                event,
                timeout=self.hook_timeout,
                label=f"plugin {sub.plugin}: handler for {sub.pattern!r}",
                kwargs=kwargs,
            )
        finally:
            CURRENT_PLUGIN.reset(token)

    async def emit(self, name: str, data: Any = None, *, source: str = "host") -> DeliveryReport:
        """Deliver event ``name`` to every active plugin subscribed to it, in activation
        order; the report says who received it and who failed."""
        return await self.bus.emit(name, data, source)

    async def _host_event(self, name: str, data: dict[str, Any]) -> None:
        if self._bus is not None and self._bus.has_subscribers(name):
            await self._bus.emit(name, data, "host")

    def _emit_from_plugin(self, plugin: str, name: str, data: Any) -> Any:
        """``ctx.emit``: a task to await on the host's loop, or (from a worker thread)
        the delivery report once delivered."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError(f"plugin {plugin}: the host is not running; cannot emit {name!r}")
        import asyncio

        chain = self.bus.current_chain()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        coro = self.bus.emit(name, data, plugin, chain)
        if running is loop:
            return loop.create_task(coro)
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    async def _tool_event(self, result: CallResult) -> None:
        if result.ok:
            await self._host_event(
                "tool.called", {"tool": result.name, "ok": True, "seconds": result.seconds}
            )
        else:
            assert result.error is not None
            await self._host_event(
                "tool.failed",
                {
                    "tool": result.name,
                    "ok": False,
                    "seconds": result.seconds,
                    "error": result.error.to_json(),
                },
            )

    def _on_denied(self, plugin: str, permission: str, action: str) -> None:
        """Guard listener (any thread): publish ``permission.denied`` on the host's loop."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._bus is None:
            return
        if not any(loaded.identity is plugin for loaded in self._loaded.values()):
            return  # another host's plugin
        if not self._bus.has_subscribers("permission.denied"):
            return
        data = {"plugin": str(plugin), "permission": permission, "action": action}

        def publish() -> None:
            assert self._bus is not None
            loop.create_task(self._bus.emit("permission.denied", data, "host", ()))

        loop.call_soon_threadsafe(publish)

    def _integration_for(self, requester: str, name: str) -> Any:
        """``ctx.integration``: the client of ``plugin.name`` if ``requester`` may use it."""
        plugin, dot, short = name.partition(".")
        if not dot or not short:
            raise PluginError(f"integration {name!r}: name it plugin.integration", plugin=requester)
        asking = self._loaded.get(requester)
        if plugin != requester and (asking is None or plugin not in asking.requires):
            raise PluginError(
                f"plugin {requester} may not use integration {name}: it does not depend on "
                f"plugin {plugin} (add it to the distribution's requirements)",
                plugin=requester,
            )
        owner = self._loaded.get(plugin)
        if owner is None or owner.status != "active":
            raise PluginError(
                f"integration {name} is not available: plugin {plugin} is not active",
                plugin=requester,
            )
        found = owner.integrations.get(short)
        if found is None:
            known = ", ".join(f"{plugin}.{n}" for n in owner.integrations) or "none"
            raise PluginError(
                f"unknown integration {name} (plugin {plugin} offers: {known})", plugin=requester
            )
        return found[1]
