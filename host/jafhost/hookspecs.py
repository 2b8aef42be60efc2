"""The whole contract between jafhost and its plugins: the reference, hook by hook.

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

The host calls the hooks of phases 1, 2, 3 and 5 on one plugin at a time
(``runtime.plugin_manager``), under that plugin's grants and with a time limit
(``hook_timeout``, 10 s by default). A plugin that raises or overruns while starting is
marked broken, what it set up is torn down, and the others go on. Phase 4 is pluggy's
wrapper chain around every tool call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from jafhost.types import AgentSpec, Integration, PluginContext, ToolCall

PROJECT_NAME = "jaf"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- 1. configuration ---------------------------------------------------------------


@hookspec(firstresult=True)
def jaf_config_schema() -> type[BaseModel] | None:
    """Return the pydantic model class of this plugin's configuration.

    Called once per load, after the plugin is imported and before ``jaf_initialize``;
    also by ``jafhost config show`` and ``config set``. The host validates the
    ``[plugins.NAME]`` table of ``config.toml`` (and ``JAFHOST_NAME__FIELD`` variables)
    against it and hands the validated instance to the plugin as ``ctx.config``; a
    validation error keeps the plugin inactive and names the field at fault. The model's
    JSON Schema is recorded so ``jafhost info`` can show it later without running plugin
    code.

    :returns: a ``pydantic.BaseModel`` subclass, or ``None`` (as if the hook were not
        implemented) when the plugin has no settings.
    """


# -- 2. start-up --------------------------------------------------------------------


@hookspec
def jaf_initialize(ctx: PluginContext) -> None:
    """Prepare the plugin: open files, build clients, check the configuration.

    Called once per load, after the configuration is validated and before any plugin
    that depends on this one starts. Raising here marks the plugin broken;
    ``jaf_deactivate`` is not called.

    :param ctx: the plugin's context: ``ctx.config`` holds the validated configuration,
        ``ctx.data_dir`` exists and is the plugin's own folder.
    """


@hookspec
def jaf_activate(ctx: PluginContext) -> None:
    """Start serving: the plugin is about to receive tool calls and events.

    Called after ``jaf_initialize`` succeeded, its integrations are connected, and
    every plugin this one depends on is active. Raising here marks the plugin broken
    and the host calls ``jaf_deactivate`` so what ``jaf_initialize`` set up is released.

    :param ctx: the plugin's context, the same object ``jaf_initialize`` received.
    """


# -- 3. contributions ---------------------------------------------------------------


@hookspec
def jaf_integrations(ctx: PluginContext) -> Sequence[Integration]:
    """Return named services (a database, an HTTP client) other plugins may use.

    Called right after ``jaf_initialize``; the host connects each in order and closes
    them in reverse order on deactivation. A plugin reaches another's integration
    through ``ctx.integration("plugin.name")`` only when it depends on that plugin.

    :param ctx: the plugin's context.
    :returns: a list of ``Integration`` with distinct names.
    """


@hookspec
def jaf_tools(ctx: PluginContext) -> Sequence[Callable[..., Any]]:
    """Return the tools this plugin offers, as plain (sync or async) functions.

    Called once the plugin is active. A tool's name is the function's name (or the one
    given with ``@jafhost.tool``), its full name ``<plugin>.<tool>``. The input schema
    comes from the type hints and the docstring; arguments are validated before the
    function runs. A parameter annotated ``PluginContext`` receives the plugin's
    context, one annotated ``RunContext`` who is calling (``caller``, ``agent``,
    ``run_id``, ``messages``, ``metadata``); neither is part of the schema.

    :param ctx: the plugin's context.
    :returns: a list of functions with distinct tool names.
    """


@hookspec
def jaf_agents(ctx: PluginContext) -> Sequence[AgentSpec]:
    """Return the agents this plugin provides.

    Called once the plugin is active. An agent may call only the tools its spec
    allows, named in full or by glob; its full name is ``<plugin>.<agent>``. Each spec
    is checked again when the host receives it: one with a field of the wrong type is
    left out (a warning names the plugin and the field), the others are offered.

    :param ctx: the plugin's context.
    :returns: a list of ``AgentSpec`` (name, instructions, tools) with distinct names.
    """


@hookspec
def jaf_model_providers(ctx: PluginContext) -> Sequence[Any]:
    """Return model providers an agent run may use (messages and tools in, a turn out).

    Called once the plugin is active. A provider of a process-isolated plugin answers
    from its worker: the conversation goes to it as JSON and its turn comes back so.

    :param ctx: the plugin's context.
    :returns: a list of model providers.
    """


@hookspec
def jaf_event_handlers(ctx: PluginContext) -> Mapping[str, Callable[..., Any]]:
    """Return event subscriptions: a mapping of name patterns to handlers.

    Called once the plugin is active. Patterns are event names with ``*`` wildcards,
    each matching any run of characters, dots included (``order.created``, ``order.*``,
    ``*``); at most 256 characters. A handler is ``handler(event)``, sync or
    async, and runs under the plugin's grants with the hook time limit; a parameter
    annotated ``PluginContext`` receives the plugin's context, one annotated
    ``RunContext`` who caused the delivery (without an agent run's messages).

    :param ctx: the plugin's context.
    :returns: a mapping of patterns to handlers.
    """


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

    Raising refuses the call: ``PermissionDenied`` becomes a ``permission_denied``
    error, ``ToolError(code=...)`` that code, anything else a ``tool_error``; the
    caller always gets a structured error, never a crash. A plain (non-wrapper)
    implementation that returns something other than None answers the call without
    running the tool (a cache); wrappers still see it. Called in a worker thread, only
    when at least one plugin implements it; without the ``observe`` permission a
    plugin's middleware wraps only calls of its own tools. What it returns is made
    plain JSON data; the tool runs with ``call.arguments`` as the middleware leaves
    them (validated again), except that a call the user confirmed is refused if they
    changed.

    :param call: the call (``jafhost.ToolCall``): ``name`` (``plugin.tool``),
        ``plugin``, ``tool`` (a copy of its description), the validated ``arguments``
        as JSON data, ``id`` and ``meta``, a dict middleware may use to talk to each
        other; ``caller`` and ``agent`` say who made the call.
    :returns: the call's result.
    """


# -- 5. shut-down -------------------------------------------------------------------


@hookspec
def jaf_deactivate(ctx: PluginContext) -> None:
    """Stop serving and release what the plugin holds.

    Called on shut-down, on ``jafhost disable`` of a running host, before a reload,
    and after a failed ``jaf_activate``: in reverse activation order, so a plugin is
    deactivated before the plugins it depends on. Errors are reported, not raised.

    :param ctx: the plugin's context, the same object ``jaf_initialize`` received.
    """
