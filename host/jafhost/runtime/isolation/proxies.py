"""Stand-ins on the host for what a plugin offers from its worker: tools whose function
sends a ``call``, event handlers that send an ``event``, integrations whose calls (and
health checks) are sent as ``integration`` requests.

The router, the bus and the middleware treat them like a plugin's own: only the work
happens in the worker (arguments are validated there, by the tool's real validator).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from jafhost.runtime.events import subscriptions
from jafhost.tools import Tool
from jafhost.types import Integration

if TYPE_CHECKING:
    from jafhost.runtime.events import Subscription
    from jafhost.runtime.isolation.client import WorkerClient


class PassThrough:
    """Stands in for a tool's validator on the host: arguments go to the worker as they
    are and are validated there by the real one."""

    def validate_python(self, data: Any) -> Any:
        namespace = SimpleNamespace()
        namespace.__dict__.update(data)
        return namespace


def _tool_proxy(worker: WorkerClient, name: str) -> Callable[..., Any]:
    async def proxy(**arguments: Any) -> Any:
        return await worker.call(name, arguments)

    proxy.__name__ = name
    proxy.__qualname__ = f"worker.{worker.plugin}.{name}"
    return proxy


def _handler_proxy(worker: WorkerClient, index: int, pattern: str) -> Callable[..., Any]:
    async def handler(event: Any) -> None:
        await worker.event(index, event.to_json(), pattern)

    handler.__qualname__ = f"worker.{worker.plugin}.handler[{pattern}]"
    return handler


def proxy_tools(worker: WorkerClient, described: list[dict[str, Any]]) -> list[Tool]:
    """The tools the worker described in its ``start`` reply, calling into it."""
    tools = []
    for item in described:
        tools.append(
            Tool(
                plugin=worker.plugin,
                name=item["name"],
                description=item.get("description") or item["name"],
                input_schema=item.get("input_schema") or {"type": "object", "properties": {}},
                function=_tool_proxy(worker, item["name"]),
                validator=PassThrough(),
                is_async=True,
                confirm=bool(item.get("confirm")),
                extras={"isolation": "process", "worker_is_async": bool(item.get("is_async"))},
            )
        )
    return tools


def proxy_subscriptions(worker: WorkerClient, patterns: list[str]) -> list[Subscription]:
    """The worker's event subscriptions (by pattern, in its order), delivered into it."""
    subs: list[Subscription] = []
    for index, pattern in enumerate(patterns):
        subs.extend(subscriptions(worker.plugin, {pattern: _handler_proxy(worker, index, pattern)}))
    return subs


def _health_proxy(worker: WorkerClient, short: str) -> Callable[[Any], Any]:
    async def health(_client: Any) -> Any:
        return await worker.integration_health(short)

    return health


def proxy_integrations(
    worker: WorkerClient, described: list[dict[str, Any]]
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

    def __init__(self, worker: WorkerClient, index: int, name: str, description: str) -> None:
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


def proxy_providers(worker: WorkerClient, described: list[dict[str, Any]]) -> list[Any]:
    """The model providers the worker described, answering from it."""
    return [
        ProviderProxy(
            worker, int(item["index"]), str(item["name"]), str(item.get("description") or "")
        )
        for item in described
    ]
