"""The whole contract between jafhost and its plugins, readable in one file.

A plugin is a module (or an object) whose functions carry ``@hookimpl`` and are named
after the hooks below. Every hook is optional: implement only what the plugin offers.
Implementations may be plain functions or coroutines; the host awaits coroutines.
Implementations may accept fewer arguments than the spec names (pluggy passes only
the ones asked for), never more or others: the host refuses to load a plugin whose
implementation names an unknown hook or argument.

Hooks by lifecycle phase, in the order the host calls them for one plugin:

1. configuration: ``jaf_config_schema``
2. start-up: ``jaf_initialize`` then ``jaf_activate``
3. contributions: ``jaf_integrations`` (connected right after ``jaf_initialize``), then,
   once the plugin is active, ``jaf_tools``, ``jaf_agents``, ``jaf_model_providers`` and
   ``jaf_event_handlers``. Each receives ``ctx`` if it asks for it (``def jaf_tools():``
   and ``def jaf_tools(ctx):`` both work), so what a plugin offers may depend on its
   configuration.
4. around every tool call: ``jaf_tool_call`` (a wrapper)
5. shut-down: ``jaf_deactivate``

Lifecycle hooks run with a time limit (``hook_timeout``, 10 s by default); a plugin
that raises or overruns is marked broken, what it set up is torn down, and the others
go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from jafhost.runtime.dispatch import ToolCall
    from jafhost.types import AgentSpec, Integration, PluginContext

PROJECT_NAME = "jaf"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- 1. configuration ---------------------------------------------------------------


@hookspec(firstresult=True)
def jaf_config_schema() -> type[BaseModel] | None:
    """Return the pydantic model class of this plugin's configuration.

    Called once per load, before ``jaf_initialize``. The host validates the
    ``[plugins.NAME]`` table of ``config.toml`` against it and hands the validated
    instance to the plugin as ``ctx.config``; a validation error keeps the plugin
    inactive and names the field at fault. The model's JSON Schema is recorded so
    ``jafhost info`` can show it later without running plugin code.
    Return ``None`` (or do not implement the hook) when the plugin has no settings.
    """


# -- 2. start-up and shut-down ------------------------------------------------------


@hookspec
def jaf_initialize(ctx: PluginContext) -> None:
    """Prepare the plugin: open files, build clients, check the configuration.

    Called once per load, after the configuration is validated and before any other
    plugin that depends on this one starts. ``ctx.config`` holds the validated
    configuration, ``ctx.data_dir`` exists and is the plugin's own folder.
    Raising here marks the plugin broken; ``jaf_deactivate`` is not called.
    """


@hookspec
def jaf_activate(ctx: PluginContext) -> None:
    """Start serving: the plugin is about to receive tool calls and events.

    Called after ``jaf_initialize`` succeeded and after every plugin this one
    depends on is active. Raising here marks the plugin broken and the host calls
    ``jaf_deactivate`` so what ``jaf_initialize`` set up is released.
    """


@hookspec
def jaf_deactivate(ctx: PluginContext) -> None:
    """Stop serving and release what the plugin holds.

    Called on shut-down, on ``jafhost disable`` of a running host, before a reload,
    and after a failed ``jaf_activate``: in reverse activation order, so a plugin is
    deactivated before the plugins it depends on. Errors are reported, not raised.
    """


# -- 3. contributions ---------------------------------------------------------------


@hookspec
def jaf_tools(ctx: PluginContext) -> Sequence[Callable[..., Any]]:
    """Return the tools this plugin offers, as plain (sync or async) functions.

    A tool's name is the function's name (or the one given with ``@jafhost.tool``),
    its full name ``<plugin>.<tool>``. The input schema comes from the type hints and
    the docstring; arguments are validated before the function runs. A parameter
    annotated ``PluginContext`` receives the plugin's context and is not part of the
    schema.
    """


@hookspec
def jaf_agents(ctx: PluginContext) -> Sequence[AgentSpec]:
    """Return the agents this plugin provides (``AgentSpec``: name, instructions, tools).

    An agent may call only the tools its spec allows, named in full or by glob.
    """


@hookspec
def jaf_integrations(ctx: PluginContext) -> Sequence[Integration]:
    """Return named services (a database, an HTTP client) other plugins may use.

    The host connects them after ``jaf_initialize`` and closes them in reverse order
    on deactivation. A plugin reaches another's integration through
    ``ctx.integration("plugin.name")`` only when it depends on that plugin.
    """


@hookspec
def jaf_event_handlers(ctx: PluginContext) -> Mapping[str, Callable[..., Any]]:
    """Return event subscriptions: a mapping of name patterns to handlers.

    Patterns are event names with ``*`` wildcards (``order.created``, ``order.*``,
    ``*``). A handler is ``handler(event)``, sync or async; a parameter annotated
    ``PluginContext`` receives the plugin's context.
    """


@hookspec
def jaf_model_providers(ctx: PluginContext) -> Sequence[Any]:
    """Return model providers an agent run may use (messages and tools in, a turn out)."""


# -- 4. around every tool call ------------------------------------------------------


@hookspec(firstresult=True)
def jaf_tool_call(call: ToolCall) -> Any:
    """Middleware around every tool call.

    Implement it as a wrapper, ``@hookimpl(wrapper=True)``: code before ``yield`` runs
    before the tool, ``result = yield`` runs the tool (and the wrappers inside this
    one) and gives its result, and what the wrapper returns is the call's result::

        @hookimpl(wrapper=True)
        def jaf_tool_call(call):
            started = time.monotonic()
            result = yield
            audit(call.name, call.arguments, time.monotonic() - started)
            return result

    ``call`` (``jafhost.ToolCall``) has ``name`` (``plugin.tool``), ``plugin``, ``tool``,
    validated ``arguments`` and ``meta``, a dict middleware may use to talk to each
    other. Raising refuses the call: ``PermissionDenied`` becomes a
    ``permission_denied`` error, ``ToolError(code=...)`` that code, anything else a
    ``tool_error``; the caller always gets a structured error, never a crash.
    A plain (non-wrapper) implementation that returns something other than None
    answers the call without running the tool (a cache); wrappers still see it.
    Called in a worker thread, only when at least one plugin implements it.
    """
