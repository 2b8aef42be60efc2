"""``HostEvents``: a host's event bus and everything that publishes on it.

``host.emit``, ``ctx.emit`` from plugin code (on the host's loop or from another
thread), and the host's own events (``plugin.*``, ``tool.*``, ``permission.denied``).
Owned by ``Host``; the delivery rules (patterns, order, chains) live in
``jafhost.runtime.events``. The bus, asyncio and the guard are imported when first used:
``jafhost list`` imports this module and delivers nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from jafhost.runtime.events import DeliveryReport, EventBus, Subscription
    from jafhost.runtime.registry import PluginRegistry
    from jafhost.types import CallResult


class HostEvents:
    """The bus of one host's active plugins; ``loop`` is the loop plugins started on."""

    def __init__(self, plugins: PluginRegistry, hook_timeout: Callable[[], float]) -> None:
        self._plugins = plugins
        self._hook_timeout = hook_timeout
        self._bus: EventBus | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        """Set when a plugin starts: where ``ctx.emit`` and guard denials are delivered."""
        self.deliveries: set[asyncio.Task[Any]] = set()
        """Deliveries under way (a worker's ``ctx.emit`` does not wait for its own): a
        one-shot command lets them finish before it ends."""
        self.before_emit: Callable[[], Coroutine[Any, Any, None]] | None = None
        """Awaited (once) before the first event is delivered: a host that offered only
        the plugins a command needs offers the others' subscriptions then."""

    @property
    def bus(self) -> EventBus:
        if self._bus is None:
            from jafhost.runtime.events import EventBus
            from jafhost.security import guard

            self._bus = EventBus(
                lambda: self._plugins.order, self._run_handler, self._plugins.observes
            )
            guard.on_denied(self._on_denied)
        return self._bus

    def listening(self, *names: str) -> bool:
        """Whether any handler is subscribed to one of ``names`` (without creating the bus)."""
        return self._bus is not None and any(self._bus.has_subscribers(n) for n in names)

    async def _run_handler(self, sub: Subscription, event: Any) -> None:
        from jafhost.runtime.activation import is_recorded_handler

        if is_recorded_handler(sub.handler):  # host code: starts the plugin, then delivers
            await sub.handler(event)
            return
        await self.run_handler(sub, event)

    async def run_handler(self, sub: Subscription, event: Any) -> None:
        """Run one plugin's handler as that plugin, within the hook time limit."""
        from jafhost.runtime.runner import call_plugin
        from jafhost.security.guard import CURRENT_PLUGIN

        loaded = self._plugins.loaded[sub.plugin]
        kwargs: dict[str, Any] = {sub.context_param: loaded.ctx} if sub.context_param else {}
        if sub.run_context_param:
            from jafhost.runtime.call_origin import current_origin

            kwargs[sub.run_context_param] = current_origin().run_context(False)
        token = CURRENT_PLUGIN.set(loaded.identity)
        try:
            await call_plugin(
                sub.handler,
                event,
                timeout=self._hook_timeout(),
                label=f"plugin {sub.plugin}: handler for {sub.pattern!r}",
                kwargs=kwargs,
            )
        finally:
            CURRENT_PLUGIN.reset(token)

    async def emit(self, name: str, data: Any = None, *, source: str = "host") -> DeliveryReport:
        """Deliver event ``name`` to every active plugin subscribed to it, in activation
        order; the report says who received it and who failed."""
        return await self._deliver(name, data, source, None)

    async def _deliver(self, name: str, data: Any, source: str, chain: Any) -> DeliveryReport:
        import asyncio

        task = asyncio.current_task()
        if task is None:
            return await self._deliver_now(name, data, source, chain)
        self.deliveries.add(task)
        try:
            return await self._deliver_now(name, data, source, chain)
        finally:
            self.deliveries.discard(task)

    async def _deliver_now(self, name: str, data: Any, source: str, chain: Any) -> DeliveryReport:
        ready, self.before_emit = self.before_emit, None
        if ready is not None:  # host work, whoever sent the event: in a context of its own
            import asyncio
            import contextvars

            await asyncio.get_running_loop().create_task(ready(), context=contextvars.Context())
        if chain is None:
            return await self.bus.emit(name, data, source)
        return await self.bus.emit(name, data, source, chain)

    async def publish(self, name: str, data: dict[str, Any], about: str | None = None) -> None:
        """A host event (``plugin.activated``...), only built when somebody listens.

        ``about`` (by default ``data["plugin"]``) is the plugin it is about: only its own
        handlers and those of plugins granted ``observe`` receive it."""
        if self._bus is not None and self._bus.has_subscribers(name):
            if about is None and isinstance(data.get("plugin"), str):
                about = data["plugin"]
            await self._bus.emit(name, data, "host", about=about)

    def from_plugin(self, plugin: str, name: str, data: Any) -> Any:
        """``ctx.emit``: a task to await on the host's loop, a future of the delivery to
        await on the plugin's own loop (the delivery itself runs on the host's), or
        (from a worker thread) the delivery report once delivered."""
        loop = self.loop
        if loop is None or loop.is_closed():
            raise RuntimeError(f"plugin {plugin}: the host is not running; cannot emit {name!r}")
        import asyncio

        from jafhost.runtime.scope import plain

        data = plain(data)  # here, in the emitting plugin's scope: no object of its crosses
        chain = self.bus.current_chain()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        coro = self._deliver(name, data, plugin, chain)
        if running is loop:
            return loop.create_task(coro)
        delivery = asyncio.run_coroutine_threadsafe(coro, loop)
        if running is not None:  # a plugin's own loop must not wait here: it serves
            return asyncio.wrap_future(delivery)
        return delivery.result()

    async def tool_finished(self, result: CallResult) -> None:
        """The router's observer: ``tool.called`` or ``tool.failed`` (about the plugin
        the tool's name names, even when it is unknown)."""
        about = result.name.replace("__", ".", 1).partition(".")[0] or result.name
        from jafhost.runtime.call_origin import current_origin

        origin = current_origin()
        who = {"caller": origin.caller, "agent": origin.agent}
        if result.ok:
            await self.publish(
                "tool.called",
                {"tool": result.name, "ok": True, "seconds": result.seconds, **who},
                about,
            )
        else:
            assert result.error is not None
            await self.publish(
                "tool.failed",
                {
                    "tool": result.name,
                    "ok": False,
                    "seconds": result.seconds,
                    "error": result.error.to_json(),
                    **who,
                },
                about,
            )

    def _on_denied(self, plugin: str, permission: str, action: str) -> None:
        """Guard listener (any thread): publish ``permission.denied`` on the host's loop."""
        loop = self.loop
        if loop is None or loop.is_closed() or self._bus is None:
            return
        if not self._plugins.owns(plugin):
            return  # another host's plugin
        if not self._bus.has_subscribers("permission.denied"):
            return
        data = {"plugin": str(plugin), "permission": permission, "action": action}

        def publish() -> None:
            assert self._bus is not None
            loop.create_task(
                self._bus.emit("permission.denied", data, "host", (), about=str(plugin))
            )

        loop.call_soon_threadsafe(publish)
