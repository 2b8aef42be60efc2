"""Integrations across plugins: the one proxy a dependent gets from ``ctx.integration``.

An integration's client does its work as the plugin that provides it (its grants, its
data folder), whoever calls it, in both isolation modes. So no object of the provider
reaches the dependent and no object of the dependent reaches the provider: the
dependent holds an ``IntegrationProxy`` whose public methods (no leading underscore)
take JSON values and return JSON values, and each call is carried out by the provider,
under its own identity in process or in its worker. Access is decided by the host for
the loaded plugin asking, never by what the plugin says it is (``ctx.name`` is mutable).

How a call is carried out is given to the proxy as a function (``Invoke``): in the
host, ``HostIntegrations.invoke``; in a worker, a request to the host over the pipe
(``isolation.worker``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from jafhost.errors import PluginError
from jafhost.security.guard import CURRENT_PLUGIN
from jafhost.security.narrowing import NARROWED, Narrowing, effective_in

if TYPE_CHECKING:
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.runtime.registry import PluginRegistry

Invoke = Callable[[str, str, list[Any], dict[str, Any]], Any]
"""``invoke(integration, method, args, kwargs)``: carry out one call, return its result
(or, called on a running event loop, an awaitable of it)."""


class IntegrationError(PluginError):
    """A call through an integration proxy that cannot be made as asked."""


def json_copy(value: Any, what: str, plugin: str | None = None) -> Any:
    """``value`` as fresh JSON data (``IntegrationError`` naming ``what`` if it is not
    JSON): the copy shares no object with the side that made it."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise IntegrationError(f"{what} must be JSON values: {exc}", plugin=plugin) from None


def check_method(integration: str, method: Any) -> str:
    """The method name a proxy may call: a public name, a plain identifier."""
    if not isinstance(method, str) or not method.isidentifier() or method.startswith("_"):
        raise IntegrationError(
            f"integration {integration}: only public methods can be called, not {method!r}"
        )
    return method


class IntegrationProxy:
    """What ``ctx.integration(name)`` returns, in process and in a worker alike.

    Attribute access gives the bound call of a public method of the provider's client;
    nothing else of the client is reachable. A call made on a running event loop returns
    an awaitable of the result (``await db.query(...)`` in async code); elsewhere it
    returns the result.
    """

    __slots__ = ("_invoke", "_name")

    def __init__(self, name: str, invoke: Invoke) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_invoke", invoke)

    def __getattribute__(self, attr: str) -> Any:
        if attr.startswith("_"):
            if attr in ("__class__", "__repr__", "__setattr__", "__eq__", "__hash__"):
                return object.__getattribute__(self, attr)
            raise AttributeError(f"integration proxies have no attribute {attr!r}")
        name: str = object.__getattribute__(self, "_name")
        invoke: Invoke = object.__getattribute__(self, "_invoke")
        method = check_method(name, attr)

        def call(*args: Any, **kwargs: Any) -> Any:
            sent = json_copy([list(args), kwargs], f"arguments to {name}.{method}")
            return invoke(name, method, sent[0], sent[1])

        call.__name__ = method
        call.__qualname__ = f"{name}.{method}"
        return call

    def __setattr__(self, attr: str, value: Any) -> None:
        name = object.__getattribute__(self, "_name")
        raise AttributeError(f"integration {name}: its proxy cannot be changed")

    def __repr__(self) -> str:
        return f"<integration {object.__getattribute__(self, '_name')}>"


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class HostIntegrations:
    """The host's side: who may use which integration, and carrying out each call.

    ``remote(owner, short, method, args, kwargs)`` sends a call to a provider running in
    a worker (None when the provider runs in process); ``loop`` is the host's loop."""

    def __init__(
        self,
        plugins: PluginRegistry,
        loop: Callable[[], asyncio.AbstractEventLoop | None],
        remote: Callable[[LoadedPlugin, str, str, list[Any], dict[str, Any]], Any] | None,
    ) -> None:
        self._plugins = plugins
        self._loop = loop
        self._remote = remote

    def proxy_for(self, requester: LoadedPlugin, name: str) -> IntegrationProxy:
        """``ctx.integration(name)`` for ``requester`` (the loaded plugin, bound when its
        context was made): refused unless it may use ``name`` now."""
        self._plugins.integration_owner(requester, name)
        return IntegrationProxy(name, lambda n, m, a, k: self.invoke(requester, n, m, a, k))

    def invoke(
        self, requester: LoadedPlugin, name: str, method: str, args: list[Any], kwargs: Any
    ) -> Any:
        """One call from plugin code of ``requester``: the result, or an awaitable of it
        when called on a running loop. The call is carried out on the host's loop (its
        records, a worker's pipe); the provider's coroutines run on its own loop. The
        narrowings of the call being routed are read here, in the caller's context."""
        narrowed = NARROWED.get()
        if _on_loop():
            running = asyncio.get_running_loop()
            host = self._loop()
            if host is None or running is host:
                return self.call(requester, name, method, args, kwargs, narrowed)
            # on the requester's own loop: the host's loop does the work meanwhile
            self._running_host(name)
            return asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(
                    self.call(requester, name, method, args, kwargs, narrowed), host
                )
            )
        owner, _ = self._plugins.integration_owner(requester, name)
        if self._remote is None or not self._is_remote(owner):
            who = provider_identity(requester, owner, narrowed)
            result = self._run_here(owner, name, method, args, kwargs, who)
            if not inspect.isawaitable(result):
                return json_copy(result, f"the result of {name}.{method}", owner.name)
            awaited = _as_provider(who, result, f"integration {name}.{method}")
        else:
            awaited = self.call(requester, name, method, args, kwargs, narrowed)
        loop = self._running_host(name)
        value = asyncio.run_coroutine_threadsafe(_awaited(awaited), loop).result()
        return json_copy(value, f"the result of {name}.{method}", owner.name)

    def _running_host(self, name: str) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        if loop is None or loop.is_closed() or not loop.is_running():
            raise IntegrationError(f"integration {name}: the host is not running")
        return loop

    async def call(
        self,
        requester: LoadedPlugin,
        name: str,
        method: str,
        args: list[Any],
        kwargs: Any,
        narrowed: Mapping[str, Narrowing] | None = None,
    ) -> Any:
        """One call, from the loop (plugin code there, or a worker's request);
        ``narrowed``: the narrowings of the tool call it is made in."""
        owner, short = self._plugins.integration_owner(requester, name)
        check_method(name, method)
        args, kwargs = json_copy([args, kwargs], f"arguments to {name}.{method}")
        if self._remote is not None and self._is_remote(owner):
            value = await self._remote(owner, short, method, args, kwargs)
            return json_copy(value, f"the result of {name}.{method}", owner.name)
        from jafhost.runtime.runner import call_plugin

        who = provider_identity(requester, owner, narrowed)
        token = CURRENT_PLUGIN.set(who)
        try:
            value = await call_plugin(
                self._run_here,
                owner,
                name,
                method,
                args,
                kwargs,
                who,
                timeout=None,
                label=f"integration {name}.{method}",
            )
            return json_copy(value, f"the result of {name}.{method}", owner.name)
        finally:
            CURRENT_PLUGIN.reset(token)

    @staticmethod
    def _is_remote(owner: LoadedPlugin) -> bool:
        return owner.extras.get("worker") is not None

    def _run_here(
        self,
        owner: LoadedPlugin,
        name: str,
        method: str,
        args: list[Any],
        kwargs: Any,
        who: str,
    ) -> Any:
        """Call the client's method in this thread as the provider; its result checked
        as JSON there too (a result's conversion is the provider's code)."""
        _, short = name.split(".", 1)
        found = owner.integrations.get(short)
        if found is None:
            raise IntegrationError(f"unknown integration {name}", plugin=owner.name)
        token = CURRENT_PLUGIN.set(who)
        try:
            return call_client(found[1], name, method, args, kwargs, owner.name)
        finally:
            CURRENT_PLUGIN.reset(token)


def call_client(
    client: Any, name: str, method: str, args: list[Any], kwargs: Any, plugin: str
) -> Any:
    """``client.method(*args, **kwargs)`` as the running plugin (the provider): its
    result as JSON, or an awaitable of it for an async method."""
    fn = getattr(client, check_method(name, method), None)
    if fn is None or not callable(fn):
        raise IntegrationError(f"integration {name} has no method {method!r}", plugin=plugin)
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise IntegrationError(f"arguments to {name}.{method}: bad keywords", plugin=plugin)
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        identity = CURRENT_PLUGIN.get()
        return _checked_later(result, f"the result of {name}.{method}", plugin, identity)
    return json_copy(result, f"the result of {name}.{method}", plugin)


async def _checked_later(result: Any, what: str, plugin: str, identity: str | None) -> Any:
    """Await an async method's result as the provider (wherever the task was made)."""
    token = CURRENT_PLUGIN.set(identity)
    try:
        return json_copy(await result, what, plugin)
    finally:
        CURRENT_PLUGIN.reset(token)


async def _awaited(value: Any) -> Any:
    return await value


def provider_identity(
    requester: LoadedPlugin, owner: LoadedPlugin, narrowed: Mapping[str, Narrowing] | None
) -> str:
    """The identity an integration's code runs under: its provider's, except that a
    plugin's own integration, used from a call an agent's policy narrows for it, runs
    narrowed as well (it is that plugin's code in that call: without this, a tool could
    do through its own integration what the policy denies it)."""
    if owner is not requester:
        return owner.identity
    return effective_in(narrowed, owner.identity)


async def _as_provider(who: str, awaitable: Any, label: str) -> Any:
    """An async method's result awaited as its provider (``who``), on its own loop."""
    from jafhost.runtime.runner import call_plugin

    token = CURRENT_PLUGIN.set(who)
    try:
        return await call_plugin(_awaited, awaitable, timeout=None, label=label)
    finally:
        CURRENT_PLUGIN.reset(token)
