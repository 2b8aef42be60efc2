"""``Plugin``: a base class for plugins written as classes, in the JAF style.

Any object whose methods carry ``@hookimpl`` is a plugin; this base class is for
authors who prefer overriding plain methods (``initialize``, ``activate``,
``get_tools``...). It implements the hooks and forwards each to the method the JAF
plugin page names: the table is in :class:`Plugin`'s docstring.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from jafhost.hookspecs import hookimpl


@dataclass
class PluginMetadata:
    """Descriptive data a class-based plugin may carry (the JAF page's metadata)."""

    name: str = ""
    version: str = "0.0.0"
    description: str = ""
    author: str = ""
    dependencies: list[str] = field(default_factory=list)


class PluginInitError(RuntimeError):
    """A class-based plugin's ``initialize``/``activate`` returned ``False``."""


async def _result(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class Plugin:
    """Subclass and override the JAF-style methods you need (all are optional).

    =====================================  ==================================
    JAF-style method                       jafhost hook it implements
    =====================================  ==================================
    ``metadata`` / ``config_model``        ``jaf_config_schema``
    ``initialize(context)``                ``jaf_initialize(ctx)``
    ``activate()``                         ``jaf_activate(ctx)``
    ``deactivate()``                       ``jaf_deactivate(ctx)``
    ``get_tools()``                        ``jaf_tools()``
    ``get_agents()``                       ``jaf_agents()``
    ``get_integrations()``                 ``jaf_integrations()``
    ``get_event_handlers()``               ``jaf_event_handlers()``
    ``emit_event(name, data)``             ``ctx.emit(name, data)``
    =====================================  ==================================

    A JAF ``initialize`` that returns ``False`` (instead of raising) means "failed": the
    host reports the plugin as broken. ``self.context`` holds the ``PluginContext`` from
    ``initialize`` on, and ``self.config`` the validated configuration. Methods may be
    sync or async. The class works installed through an entry point (``module:ClassName``,
    instantiated with no arguments, or ``module:instance``) and registered in memory
    (``host.register(MyPlugin(...))``).
    """

    metadata: ClassVar[PluginMetadata | None] = None
    config_model: ClassVar[type[Any] | None] = None
    """A pydantic model class validating ``config.toml [plugins.NAME]``."""

    context: Any = None
    config: Any = None

    # -- JAF-style methods to override --------------------------------------------

    def initialize(self, context: Any) -> Any:
        return True

    def activate(self) -> Any:
        return True

    def deactivate(self) -> Any:
        return True

    def get_tools(self) -> Sequence[Any]:
        return []

    def get_agents(self) -> Sequence[Any]:
        return []

    def get_integrations(self) -> Sequence[Any]:
        return []

    def get_event_handlers(self) -> Mapping[str, Any]:
        return {}

    def emit_event(self, name: str, data: Any = None) -> Any:
        """Publish an event as this plugin (available once initialized)."""
        if self.context is None:
            raise RuntimeError("emit_event is available once the plugin is initialized")
        return self.context.emit(name, data)

    # -- the hooks -------------------------------------------------------------------

    @hookimpl
    def jaf_config_schema(self) -> Any:
        return self.config_model

    @hookimpl
    async def jaf_initialize(self, ctx: Any) -> None:
        self.context, self.config = ctx, ctx.config
        if await _result(self.initialize(ctx)) is False:
            raise PluginInitError(f"{type(self).__name__}.initialize returned False")

    @hookimpl
    async def jaf_activate(self, ctx: Any) -> None:
        if await _result(self.activate()) is False:
            raise PluginInitError(f"{type(self).__name__}.activate returned False")

    @hookimpl
    async def jaf_deactivate(self, ctx: Any) -> None:
        await _result(self.deactivate())

    @hookimpl
    def jaf_tools(self) -> Sequence[Any]:
        return list(self.get_tools())

    @hookimpl
    def jaf_agents(self) -> Sequence[Any]:
        return list(self.get_agents())

    @hookimpl
    def jaf_integrations(self) -> Sequence[Any]:
        return list(self.get_integrations())

    @hookimpl
    def jaf_event_handlers(self) -> Mapping[str, Any]:
        return dict(self.get_event_handlers())
