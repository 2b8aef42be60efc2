"""Stand-ins on the host for what a plugin offers from its worker: tools whose function
sends a ``call``, event handlers that send an ``event``, integrations whose calls (and
health checks) are sent as ``integration`` requests, model providers whose turns are
``provider`` requests, and tool-call middleware whose wrapper runs in the worker
(``middleware``) while the rest of the chain runs here when it proceeds.

The router, the bus and the middleware treat them like a plugin's own: only the work
happens in the worker (arguments are validated there, by the tool's real validator).
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from jafhost.errors import PermissionDenied
from jafhost.hookspecs import hookimpl
from jafhost.runtime.call_origin import current_origin
from jafhost.runtime.dispatch import called_plugin
from jafhost.runtime.events import subscriptions
from jafhost.runtime.isolation.client import WorkerError
from jafhost.security.narrowing import narrowing_of
from jafhost.tools import Tool
from jafhost.types import Integration

if TYPE_CHECKING:
    from jafhost.runtime.events import Subscription
    from jafhost.runtime.isolation.client import WorkerClient
    from jafhost.runtime.isolation.pool import WorkerPool


class PassThrough:
    """Stands in for a tool's validator on the host: arguments go to the worker as they
    are and are validated there by the real one."""

    def validate_python(self, data: Any) -> Any:
        namespace = SimpleNamespace()
        namespace.__dict__.update(data)
        return namespace


async def _in_pool(pool: WorkerPool, work: Callable[[WorkerPool], Awaitable[Any]]) -> Any:
    """``work`` in ``pool``, or, in an agent's call whose policy narrows the plugin
    (``security.narrowing.NARROWED``), in its pool of workers started with the narrowed
    grants; a denial there names the policy."""
    narrowing = narrowing_of(pool.plugin)
    if narrowing is None:
        return await work(pool)
    try:
        return await work(pool.narrowed(narrowing))
    except WorkerError as exc:  # its start, say, needed more than the policy allows
        message = f"{exc} (this call runs under {narrowing.describe()})"
        raise type(exc)(message, plugin=exc.plugin, reason=exc.reason) from None
    except PermissionDenied as exc:
        permission = str(exc.permission or "")
        message = narrowing.explain(str(exc), permission)
        if message == str(exc):
            raise
        raise PermissionDenied(message, plugin=exc.plugin, permission=permission) from None


async def _call(
    pool: WorkerPool, name: str, arguments: dict[str, Any], limit: float | None, asks: bool
) -> Any:
    context = run_context_json(asks)
    return await _in_pool(pool, lambda serving: serving.call(name, arguments, limit, context))


def run_context_json(asks: bool) -> dict[str, Any] | None:
    """The ``RunContext`` of the call being routed, as JSON for the worker; None for a
    tool that does not ask (it gets neither the caller nor an agent run's messages)."""
    if not asks:
        return None
    run = current_origin().run_context(True)
    return {
        "caller": run.caller,
        "agent": run.agent,
        "run_id": run.run_id,
        "messages": [dict(m) for m in run.messages],
        "metadata": dict(run.metadata),
    }


def _tool_proxy(pool: WorkerPool, name: str, asks: bool = False) -> Callable[..., Any]:
    async def proxy(**arguments: Any) -> Any:
        return await _call(pool, name, arguments, None, asks)

    proxy.__name__ = name
    proxy.__qualname__ = f"worker.{pool.plugin}.{name}"
    return proxy


def _timed_proxy(
    pool: WorkerPool, name: str, asks: bool = False
) -> Callable[[dict[str, Any], float | None], Any]:
    """The call as the router makes it (``Tool.extras["timed"]``): the time limit is
    the pool's to apply, counted from when a worker takes the call, never while the call
    waits for one (``busy`` if none is free within the limit)."""

    async def timed(arguments: dict[str, Any], limit: float | None) -> Any:
        return await _call(pool, name, arguments, limit, asks)

    return timed


def _handler_proxy(worker: WorkerPool, index: int, pattern: str) -> Callable[..., Any]:
    async def handler(event: Any) -> None:
        context = run_context_json(True)
        assert context is not None
        context["messages"] = []  # an agent run's messages go only to tools that ask
        await worker.event(index, event.to_json(), pattern, context)

    handler.__qualname__ = f"worker.{worker.plugin}.handler[{pattern}]"
    return handler


def proxy_tools(worker: WorkerPool, described: list[dict[str, Any]]) -> list[Tool]:
    """The tools the worker described in its ``start`` reply, calling into it."""
    tools = []
    for item in described:
        asks = item.get("run_context") is True
        tools.append(
            Tool(
                plugin=worker.plugin,
                name=item["name"],
                description=item.get("description") or item["name"],
                input_schema=item.get("input_schema") or {"type": "object", "properties": {}},
                function=_tool_proxy(worker, item["name"], asks),
                validator=PassThrough(),
                is_async=True,
                confirm=bool(item.get("confirm")),
                run_context_param="run" if asks else None,
                extras={
                    "isolation": "process",
                    "worker_is_async": bool(item.get("is_async")),
                    "timed": _timed_proxy(worker, item["name"], asks),
                },
            )
        )
    return tools


def proxy_subscriptions(worker: WorkerPool, patterns: list[str]) -> list[Subscription]:
    """The worker's event subscriptions (by pattern, in its order), delivered into it."""
    subs: list[Subscription] = []
    for index, pattern in enumerate(patterns):
        subs.extend(subscriptions(worker.plugin, {pattern: _handler_proxy(worker, index, pattern)}))
    return subs


def _health_proxy(worker: WorkerPool, short: str) -> Callable[[Any], Any]:
    async def health(_client: Any) -> Any:
        return await worker.integration_health(short)

    return health


def proxy_integrations(
    worker: WorkerPool, described: list[dict[str, Any]]
) -> dict[str, tuple[Integration, Any]]:
    """The integrations the worker described: entries with no client on the host (each
    call goes to the worker, ``integrations.HostIntegrations``) and, where the plugin
    has one, a health check run in the worker."""
    found: dict[str, tuple[Integration, Any]] = {}
    for item in described:
        short = str(item["name"])
        spec = Integration(
            name=short,
            connect=lambda: None,
            health=_health_proxy(worker, short) if item.get("health") else None,
            description=str(item.get("description") or ""),
        )
        found[short] = (spec, None)
    return found


class ProviderProxy:
    """A model provider of a plugin's worker, as agent runs use one: ``complete`` sends
    the conversation to the worker and returns the turn as JSON (the run checks it)."""

    def __init__(self, worker: WorkerPool, index: int, name: str, description: str) -> None:
        self._worker = worker
        self._index = index
        self.name = name
        self.description = description

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], model: str | None
    ) -> Any:
        return await self._worker.provider(self._index, messages, tools, model)

    def __repr__(self) -> str:
        return f"<model provider {self.name} of plugin {self._worker.plugin}>"


def proxy_providers(worker: WorkerPool, described: list[dict[str, Any]]) -> list[Any]:
    """The model providers the worker described, answering from it."""
    return [
        ProviderProxy(
            worker, int(item["index"]), str(item["name"]), str(item.get("description") or "")
        )
        for item in described
    ]


def _call_json(call: Any) -> dict[str, Any]:
    """What the worker's middleware sees of a call: the tool's description, the
    arguments as JSON, the call's id."""
    from jafhost.runtime.dispatch import jsonable

    tool = call.tool
    return {
        "tool": {
            "plugin": tool.plugin,
            "name": tool.name,
            "full_name": tool.full_name,
            "description": tool.description,
            "input_schema": tool.input_schema,
        },
        "arguments": jsonable(call.arguments),
        "id": call.id,
        "caller": call.caller if isinstance(call.caller, str) else "api",
        "agent": call.agent if isinstance(call.agent, str) else None,
    }


def _settle(answer: asyncio.Future[Any], outcome: dict[str, Any]) -> None:
    if not answer.done():
        answer.set_result(outcome)


class MiddlewareProxy:
    """Registered in the host's plugin manager under the worker plugin's name: its
    ``jaf_tool_call`` wrapper sends each call to the worker, where the plugin's own
    wrapper runs; when that proceeds, the rest of the chain runs here (a tool of the
    same plugin as a request nested in the one in flight) and its result, or error,
    goes back to the wrapper. ``timeout`` bounds the whole exchange (the call's limit)."""

    def __init__(
        self,
        worker: WorkerPool,
        loop: asyncio.AbstractEventLoop,
        timeout: Callable[[], float],
    ) -> None:
        self._worker = worker
        self._loop = loop
        self._timeout = timeout

    def exchange(self, call: Any) -> Any:
        """In the middleware thread (pluggy's chain): a generator that yields once to
        run the rest of the chain if the worker's wrapper proceeds."""
        from jafhost.runtime.dispatch import jsonable
        from jafhost.runtime.isolation.client import NESTED
        from jafhost.runtime.isolation.protocol import error_to_json

        pool, loop = self._worker, self._loop
        steps: queue.SimpleQueue[tuple[str, Any, Any, WorkerClient | None]] = queue.SimpleQueue()

        async def proceed(message: dict[str, Any], worker: WorkerClient) -> Any:
            answer: asyncio.Future[Any] = loop.create_future()
            steps.put(("proceed", message, answer, worker))
            return await answer

        async def run() -> Any:
            async with asyncio.timeout(self._timeout()):
                return await _in_pool(
                    pool, lambda serving: serving.middleware(_call_json(call), proceed)
                )

        done = asyncio.run_coroutine_threadsafe(run(), loop)
        done.add_done_callback(lambda f: steps.put(("done", f, None, None)))
        proceeded = False
        while True:
            kind, item, answer, worker = steps.get()
            if kind == "done":
                reply = item.result()  # the worker's error, raised here
                return reply.get("value") if isinstance(reply, dict) else None
            if proceeded:  # pluggy lets a wrapper run the chain once
                error = {"kind": "exception", "type": "RuntimeError",
                         "message": "a jaf_tool_call wrapper proceeds only once"}  # fmt: skip
                loop.call_soon_threadsafe(_settle, answer, {"ok": False, "error": error})
                continue
            proceeded = True
            arguments = item.get("arguments") if isinstance(item, dict) else None
            if isinstance(arguments, dict):  # as the wrapper left them, as in process
                call.arguments.clear()
                call.arguments.update(arguments)
            token = NESTED.set(worker)
            try:
                value = yield
                outcome: dict[str, Any] = {"ok": True, "result": jsonable(value)}
            except BaseException as exc:
                outcome = {"ok": False, "error": error_to_json(exc, with_traceback=False)}
            finally:
                NESTED.reset(token)
            loop.call_soon_threadsafe(_settle, answer, outcome)


def proxy_middleware(
    worker: WorkerPool,
    loop: asyncio.AbstractEventLoop,
    timeout: Callable[[], float],
    described: Any,
    name: str,
    observes: Callable[[], bool],
) -> Any:
    """The object to register for a worker plugin's ``jaf_tool_call`` (None without
    one), marked as the plugin marked it (``tryfirst``, ``trylast``).

    Which calls reach the worker is decided here, from the plugin's approved
    ``observe`` (``observes``) and the called tool's plugin: the worker's own
    step-aside wrapper runs among the plugin's code, which can undo it, so a call the
    plugin may not see is never sent to it."""
    if not isinstance(described, dict):
        return None
    proxy = MiddlewareProxy(worker, loop, timeout)
    tryfirst, trylast = bool(described.get("tryfirst")), bool(described.get("trylast"))

    def wraps_this_call() -> bool:
        return observes() or called_plugin() == name

    if described.get("wrapper"):

        @hookimpl(wrapper=True, tryfirst=tryfirst, trylast=trylast)
        def wrapper(call: Any) -> Any:
            if not wraps_this_call():
                return (yield)
            return (yield from proxy.exchange(call))

        return SimpleNamespace(jaf_tool_call=wrapper)

    @hookimpl(tryfirst=tryfirst, trylast=trylast)
    def plain(call: Any) -> Any:
        if not wraps_this_call():
            return None
        running = _in_pool(worker, lambda serving: serving.middleware(_call_json(call)))
        future = asyncio.run_coroutine_threadsafe(running, loop)
        reply = future.result()
        return reply.get("value") if isinstance(reply, dict) else None

    return SimpleNamespace(jaf_tool_call=plain)
