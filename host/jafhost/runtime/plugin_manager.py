"""The plugin manager, and the one way the host calls a plugin's hooks.

``make_plugin_manager`` builds the pluggy manager that a host, a worker process and
``config show`` each use: project ``jaf``, with the specs of ``jafhost.hookspecs``.
``PluginHooks`` has one method per lifecycle hook and calls ONE plugin's
implementation (not pluggy's fan-out over every plugin), so a failure or an overrun is
pinned on the plugin at fault. Each call runs under the plugin's identity (the guard
checks its grants), with the hook time limit; sync and async implementations alike.
What a hook returns comes back unchecked: ``lifecycle`` checks it.

``jaf_tool_call`` is not here: middleware runs as pluggy's wrapper chain around every
call (``routing``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from jafhost import hookspecs
from jafhost.security.guard import CURRENT_PLUGIN

if TYPE_CHECKING:
    from jafhost.types import PluginContext


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with jafhost's hook specifications and no plugins."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


class PluginHooks:
    """The hooks of plugin ``plugin`` (registered in ``pm`` under that name).

    ``identity`` is what its code runs as (``LoadedPlugin.identity``: the name, or a
    guard identity carrying its grants); ``timeout`` the limit per hook in seconds
    (None: none). A hook the plugin does not implement returns None.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        plugin: str,
        *,
        identity: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.pm = pm
        self.plugin = plugin
        self.identity = identity or plugin
        self.timeout = timeout

    def implementation(self, hook: str) -> pluggy.HookImpl | None:
        """This plugin's implementation of ``hook`` (any hook name), or None."""
        caller: pluggy.HookCaller | None = getattr(self.pm.hook, hook, None)
        if caller is None:
            return None
        for impl in caller.get_hookimpls():
            if impl.plugin_name == self.plugin:
                return impl
        return None

    def wraps_tool_calls(self) -> bool:
        """Whether the plugin implements ``jaf_tool_call`` (middleware)."""
        return self.implementation("jaf_tool_call") is not None

    async def _call(self, hook: str, **kwargs: Any) -> Any:
        """Call the implementation with the arguments it asks for, as the plugin."""
        impl = self.implementation(hook)
        if impl is None:
            return None
        from jafhost.runtime.runner import call_plugin  # asyncio: not for ``jafhost call``

        args = {name: kwargs[name] for name in impl.argnames}
        token = CURRENT_PLUGIN.set(self.identity)
        try:
            return await call_plugin(
                impl.function,
                timeout=self.timeout,
                label=f"plugin {self.plugin}: {hook}",
                kwargs=args,
            )
        finally:
            CURRENT_PLUGIN.reset(token)

    # -- 1. configuration -----------------------------------------------------------

    async def config_schema(self) -> Any:
        """``jaf_config_schema()``: the configuration model class, or None."""
        return await self._call("jaf_config_schema")

    # -- 2. start-up and shut-down ----------------------------------------------------

    async def initialize(self, ctx: PluginContext) -> None:
        """``jaf_initialize(ctx)``."""
        await self._call("jaf_initialize", ctx=ctx)

    async def activate(self, ctx: PluginContext) -> None:
        """``jaf_activate(ctx)``."""
        await self._call("jaf_activate", ctx=ctx)

    async def deactivate(self, ctx: PluginContext) -> None:
        """``jaf_deactivate(ctx)``."""
        await self._call("jaf_deactivate", ctx=ctx)

    # -- 3. contributions --------------------------------------------------------------

    async def integrations(self, ctx: PluginContext) -> Any:
        """``jaf_integrations(ctx)``: a list of ``Integration``, as returned."""
        return await self._call("jaf_integrations", ctx=ctx)

    async def tools(self, ctx: PluginContext) -> Any:
        """``jaf_tools(ctx)``: a list of functions, as returned."""
        return await self._call("jaf_tools", ctx=ctx)

    async def agents(self, ctx: PluginContext) -> Any:
        """``jaf_agents(ctx)``: a list of ``AgentSpec``, as returned."""
        return await self._call("jaf_agents", ctx=ctx)

    async def model_providers(self, ctx: PluginContext) -> Any:
        """``jaf_model_providers(ctx)``: a list of model providers, as returned."""
        return await self._call("jaf_model_providers", ctx=ctx)

    async def event_handlers(self, ctx: PluginContext) -> Any:
        """``jaf_event_handlers(ctx)``: a mapping of patterns to handlers, as returned."""
        return await self._call("jaf_event_handlers", ctx=ctx)
