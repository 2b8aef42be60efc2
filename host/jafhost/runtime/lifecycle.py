"""Bring one plugin up and down: import, register, configure, initialize, activate.

Each step runs the plugin's code with the hook time limit, under its identity: the
hooks through ``plugin_manager.PluginHooks``, the import and integrations through
``runner.call_plugin``. The first step that fails leaves the plugin ``broken`` with a
reason naming the step; whatever it had set up is torn down (``jaf_deactivate`` runs
when ``jaf_initialize`` had succeeded) and it is unregistered from pluggy, so the other
plugins never see a half-loaded one.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pluggy import PluginValidationError
from pydantic import BaseModel, ValidationError

from jafhost.atomic import write_atomic
from jafhost.errors import ConfigError, EventError, HookTimeout, ToolDefinitionError, describe
from jafhost.home.config import (
    env_settings,
    needed_settings,
    secrets_in_file,
    unknown_key_warnings,
    validation_problems,
)
from jafhost.runtime.dispatch import called_plugin
from jafhost.runtime.events import subscriptions
from jafhost.runtime.hook_names import mistakes
from jafhost.runtime.plugin_import import import_object as import_object
from jafhost.runtime.plugin_manager import PluginHooks
from jafhost.runtime.runner import call_plugin
from jafhost.runtime.scope import exact_str, host_error, plain, plugin_scope
from jafhost.security.guard import CURRENT_PLUGIN
from jafhost.security.narrowing import effective
from jafhost.tools import build_tool
from jafhost.types import AgentSpec, Integration, PluginContext, ToolCall

if TYPE_CHECKING:
    import pluggy

    from jafhost.discovery.records import PluginInfo
    from jafhost.runtime.events import Subscription
    from jafhost.tools import Tool

RuntimeStatus = Literal["inactive", "idle", "starting", "active", "broken", "blocked"]
"""``idle``: recorded, started at first use; ``starting``: a start is in flight."""
LOGGER = logging.getLogger("jafhost")


@dataclass
class LoadedPlugin:
    """A plugin's runtime record: where it is in its lifecycle, and what went wrong."""

    info: PluginInfo
    status: RuntimeStatus = "inactive"
    error: str | None = None
    traceback: str | None = None
    obj: Any = None
    ctx: PluginContext | None = None
    initialized: bool = False
    tools: list[Tool] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    integrations: dict[str, tuple[Integration, Any]] = field(default_factory=dict)
    """Connected integrations by short name: the spec and its client, in connect order."""
    requires: list[str] = field(default_factory=list)
    """Plugins this one depends on (optional ones included): whose integrations it may use."""
    agents: list[AgentSpec] = field(default_factory=list)
    providers: list[Any] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """What is wrong but does not stop the plugin (an unknown key in its config table),
    found when it started; ``doctor`` reports them."""

    observe: bool = False
    """Whether the user granted it ``observe``: its middleware wraps every tool call and
    it receives host events about other plugins; without it, only its own."""

    phases: dict[str, float] = field(default_factory=dict)
    """Seconds its start spent importing, initializing and activating (those it reached:
    ``runtime.stats`` reports them)."""

    identity: str = ""
    """The name the guard knows this load by (a ``guard.PluginIdentity`` carrying its
    grants); the plain name when nothing is enforced."""

    def __post_init__(self) -> None:
        self.identity = self.identity or self.info.name

    @property
    def name(self) -> str:
        return self.info.name


class StepFailed(Exception):
    """A lifecycle step failed; the message is ready for the user."""


def plugin_context(
    name: str,
    config: Any,
    data_dir: Path,
    *,
    emit: Callable[[str, str, Any], Any] | None,
    integration: Callable[[str], Any] | None,
) -> PluginContext:
    """The ``PluginContext`` plugin ``name`` gets, in the host process or a worker alike;
    ``emit`` and ``integration`` are how events and integrations reach the host there.

    Both are bound to ``name`` here, whatever the plugin does to its context
    (``ctx.name`` is read-only, and what it says must never decide whose events or
    integrations these are)."""
    bound_emit = None
    if emit is not None:
        send = emit

        def bound_emit(_claimed: str, event: str, data: Any) -> Any:
            return send(name, event, data)

    bound_integration = None
    if integration is not None:
        reach = integration

        def bound_integration(_claimed: str, target: str) -> Any:
            return reach(target)

    return PluginContext(
        name=name,
        config=config,
        data_dir=data_dir,
        logger=logging.getLogger(f"jafhost.plugin.{name}"),
        _emit=bound_emit,
        _integration=bound_integration,
    )


def hooks_of(pm: pluggy.PluginManager, loaded: LoadedPlugin, timeout: float | None) -> PluginHooks:
    """The hooks of ``loaded``, called under its identity and the time limit."""
    return PluginHooks(pm, loaded.name, identity=loaded.identity, timeout=timeout)


async def import_plugin(loaded: LoadedPlugin, timeout: float) -> Any:
    """Import the plugin's entry point under its identity (and so its grants)."""
    token = CURRENT_PLUGIN.set(loaded.identity)
    try:
        return await call_plugin(
            import_object,
            loaded.info.entry_point,
            timeout=timeout,
            label=f"plugin {loaded.name}: import",
        )
    finally:
        CURRENT_PLUGIN.reset(token)


def plugin_modules(entry_point: str) -> list[str]:
    """The ``sys.modules`` names that belong to a plugin: its top-level package and below."""
    top = entry_point.replace(" ", "").partition(":")[0].split(".", 1)[0]
    return [n for n in sys.modules if n == top or n.startswith(top + ".")]


def _call_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolCall | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, ToolCall):
            return value
    return None


def _settle_arguments(call: ToolCall | None) -> None:
    """In the middleware's scope: what it left in ``call.arguments`` as plain data, so the
    tool's plugin (which validates them next) never touches the middleware's objects."""
    if call is not None:
        call.arguments = plain(call.arguments)


def as_plugin(
    fn: Callable[..., Any], identity: str, wrapper: bool, observe: bool = True
) -> Callable[..., Any]:
    """``fn`` (a hook implementation pluggy calls directly, such as middleware) running
    under ``identity``, so the guard checks it against its own plugin's grants.

    A new-style wrapper is a generator: each of its steps runs under the identity, and
    what pluggy sends or throws into it is passed through. What it returns, what it
    leaves in ``call.arguments`` and what it raises become plain data or the host's own
    exception in its scope. Without ``observe`` it steps aside (passes the call through
    untouched) for calls of other plugins' tools.
    """
    name = str(identity)

    def wraps_this_call() -> bool:
        owner = called_plugin()
        return observe or owner is None or str.__eq__(str(owner), name)

    if not wrapper:

        @functools.wraps(fn)
        def plain_impl(*args: Any, **kwargs: Any) -> Any:
            if not wraps_this_call():
                return None
            token = CURRENT_PLUGIN.set(effective(identity))
            try:
                try:
                    result = fn(*args, **kwargs)
                    _settle_arguments(_call_of(args, kwargs))
                    return None if result is None else plain(result)
                except BaseException as exc:  # rebuilt as the host's own
                    error = host_error(exc)
                raise error
            finally:
                CURRENT_PLUGIN.reset(token)

        return plain_impl

    @functools.wraps(fn)
    def generator(*args: Any, **kwargs: Any) -> Any:
        if not wraps_this_call():
            return (yield)
        call = _call_of(args, kwargs)
        inner = fn(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            error: BaseException | None = None
            finished, result, returned = False, None, None
            token = CURRENT_PLUGIN.set(effective(identity))
            try:
                try:
                    if isinstance(thrown, GeneratorExit):
                        inner.close()
                        raise thrown
                    try:
                        _ = inner.throw(thrown) if thrown is not None else inner.send(sent)
                        del _
                    except StopIteration as stop:
                        finished, returned = True, stop.value
                        del stop  # it holds the value: converted below, not in this handler
                    if finished:
                        result = None if returned is None else plain(returned)
                        del returned
                    else:
                        _settle_arguments(call)
                except GeneratorExit:
                    raise
                except BaseException as exc:  # rebuilt as the host's own
                    error = host_error(exc)
            finally:
                CURRENT_PLUGIN.reset(token)
            if error is not None:
                raise error
            if finished:
                return result
            try:
                sent, thrown = (yield None), None
            except BaseException as exc:  # thrown into the plugin's step
                sent, thrown = None, exc

    return generator


def register_plugin(pm: pluggy.PluginManager, loaded: LoadedPlugin) -> None:
    """Register the imported plugin with ``pm`` (its hooks checked); ``StepFailed`` says
    what is wrong."""
    _register(pm, loaded)


def _register(pm: pluggy.PluginManager, loaded: LoadedPlugin) -> None:
    problems = mistakes(pm, loaded.obj)
    if problems:
        raise StepFailed("; ".join(problems))
    try:
        pm.register(loaded.obj, name=loaded.name)
    except PluginValidationError as exc:
        raise StepFailed(f"hook implementation rejected: {exc}") from None
    except ValueError as exc:
        raise StepFailed(f"cannot register: {exc}") from None
    for impl in pm.hook.jaf_tool_call.get_hookimpls():
        if impl.plugin is loaded.obj:
            if impl.hookwrapper:
                pm.unregister(loaded.obj)
                raise StepFailed(
                    "jaf_tool_call: old-style hookwrapper=True is not supported; "
                    "use @hookimpl(wrapper=True)"
                )
            impl.function = as_plugin(  # type: ignore[misc]
                impl.function, loaded.identity, impl.wrapper, loaded.observe
            )
    unknown = [c.name for c in pm.get_hookcallers(loaded.obj) or [] if c.spec is None]
    if unknown:
        pm.unregister(loaded.obj)
        raise StepFailed(f"implements unknown hook(s) {', '.join(sorted(unknown))}")


def _build_tools(
    plugin: str, functions: Any, known: Mapping[str, dict[str, Any]] | None = None
) -> list[Tool]:
    """The plugin's tools; ``known``: input schemas by tool name from its valid record,
    whose tools build their pydantic models at their first call instead of here."""
    if functions is None:
        return []
    if not isinstance(functions, list | tuple):
        raise StepFailed(
            f"jaf_tools must return a list of functions, not {type(functions).__name__}"
        )
    tools: dict[str, Tool] = {}
    for fn in functions:
        try:
            built = build_tool(plugin, fn, known)
        except ToolDefinitionError as exc:
            raise StepFailed(f"jaf_tools: {exc}") from None
        built.name = exact_str(built.name)
        built.description = exact_str(built.description)
        if known is None or built.input_schema is not known.get(built.name):
            built.input_schema = plain(built.input_schema)  # the plugin's own: plain data
        built.confirm = bool(built.confirm)
        if built.name in tools:
            raise StepFailed(f"jaf_tools: two tools are named {built.name!r}")
        tools[built.name] = built
    return list(tools.values())


def _providers(providers: Any) -> list[Any]:
    return list(providers or [])


def _subscriptions(plugin: str, handlers: Any) -> list[Subscription]:
    try:
        return subscriptions(plugin, handlers)
    except EventError as exc:
        raise StepFailed(f"jaf_event_handlers: {exc}") from None


async def _connect_integrations(
    hooks: PluginHooks, loaded: LoadedPlugin, ctx: PluginContext, timeout: float
) -> None:
    """Connect each integration in order; what connected before a failure is closed."""
    specs = await hooks.integrations(ctx)
    if specs is None:
        return
    if not isinstance(specs, list | tuple):
        raise StepFailed(
            f"jaf_integrations must return a list of Integration, not {type(specs).__name__}"
        )
    for spec in specs:
        if not isinstance(spec, Integration):
            raise StepFailed(f"jaf_integrations returned {spec!r}, not an Integration")
        if spec.name in loaded.integrations:
            raise StepFailed(f"jaf_integrations: two integrations are named {spec.name!r}")
        try:
            client = await run_as(
                loaded, spec.connect, timeout, f"integration {spec.name}: connect"
            )
        except HookTimeout as exc:
            raise StepFailed(f"jaf_integrations: {exc}") from None
        except Exception as exc:
            problem = describe(exc, first_line=True)
            raise StepFailed(
                f"jaf_integrations: connecting {loaded.name}.{spec.name} failed: {problem}"
            ) from None
        loaded.integrations[spec.name] = (spec, client)


async def in_scope(
    loaded: LoadedPlugin, timeout: float | None, what: str, fn: Callable[..., Any], *args: Any
) -> Any:
    """Host code that looks at what the plugin handed over (calling its validators,
    schema hooks, ``repr``...), run as the plugin: a worker thread, its identity, the
    time limit. ``StepFailed`` passes through; anything else comes back as the host's
    own exception."""

    def body() -> tuple[Any, str | None]:
        try:
            return fn(*args), None
        except StepFailed as exc:
            return None, str.__str__(str(exc))

    token = CURRENT_PLUGIN.set(loaded.identity)
    try:
        value, failed = await call_plugin(
            body, timeout=timeout, label=f"plugin {loaded.name}: {what}"
        )
    finally:
        CURRENT_PLUGIN.reset(token)
    if failed is not None:
        raise StepFailed(failed)
    return value


async def run_as(loaded: LoadedPlugin, fn: Any, timeout: float, what: str, *args: Any) -> Any:
    """Run plugin code (sync or async) under the plugin's identity and the time limit."""
    token = CURRENT_PLUGIN.set(loaded.identity)
    try:
        return await call_plugin(fn, *args, timeout=timeout, label=f"plugin {loaded.name}: {what}")
    finally:
        CURRENT_PLUGIN.reset(token)


async def close_integrations(loaded: LoadedPlugin, timeout: float) -> list[str]:
    """Close connected integrations in reverse order; returns the problems met."""
    problems: list[str] = []
    for name, (spec, client) in reversed(list(loaded.integrations.items())):
        if spec.close is None:
            continue
        try:
            await run_as(loaded, spec.close, timeout, f"integration {name}: close", client)
        except Exception as exc:
            problems.append(
                f"closing {loaded.name}.{name} failed: {describe(exc, first_line=True)}"
            )
    loaded.integrations.clear()
    return problems


AGENT_FIELDS = ("name", "instructions", "tools", "description", "model")


def _check_agents(specs: Any) -> tuple[list[AgentSpec], list[str]]:
    """In the plugin's scope: what ``jaf_agents`` returned, read into plain values and
    checked again (a spec built around ``AgentSpec``'s own checks, a subclass, anything
    else); the good agents, and one problem per agent left out, naming its field."""
    if specs is None:
        return [], []
    if not isinstance(specs, list | tuple):
        raise StepFailed(f"jaf_agents must return a list of AgentSpec, not {type(specs).__name__}")
    items = []
    problems = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, AgentSpec):
            problems.append(
                f"jaf_agents item {index} is {type(spec).__name__}, not an AgentSpec; "
                "it is not offered"
            )
            continue
        items.append(plain({key: getattr(spec, key) for key in AGENT_FIELDS}))
    agents, more = agents_from_data(items)
    return agents, problems + more


def agents_from_data(items: Any) -> tuple[list[AgentSpec], list[str]]:
    """Agents from plain data (a ``jaf_agents`` result read in the plugin's scope, a
    worker's ``start`` reply, an activation record): each checked by ``AgentSpec``
    itself, with exact types only; a bad one is left out with a problem naming its
    field, and a second agent of one name is left out too."""
    agents: list[AgentSpec] = []
    problems: list[str] = []
    if not isinstance(items, list):
        return [], [f"agents must be a list, not {type(items).__name__}"]
    for index, data in enumerate(items):
        label = f"jaf_agents item {index}"
        if not isinstance(data, dict) or set(data) - set(AGENT_FIELDS):
            problems.append(f"{label} is not an agent; it is not offered")
            continue
        tools = data.get("tools", ())
        if isinstance(tools, list):  # plain data has lists; a str stays a str, refused
            data = {**data, "tools": tuple(tools)}
        try:
            spec = AgentSpec(**data)
        except (TypeError, ValueError) as exc:
            problems.append(f"{exc}; it is not offered")
            continue
        if any(a.name == spec.name for a in agents):
            problems.append(
                f"jaf_agents: two agents are named {spec.name!r}; the second is not offered"
            )
            continue
        agents.append(spec)
    return agents, problems


def _config_schema(model: Any) -> Any:
    """In the plugin's scope: the model's JSON schema as plain data (its schema hooks
    are its code), or None when it cannot be made."""
    try:
        return plain(model.model_json_schema())
    except (TypeError, ValueError) as exc:
        LOGGER.warning("could not make the config schema: %s", describe(exc))
        return None


def _record_schema(schema_file: Path, model: Any) -> None:
    """Write ``model``'s schema (host data only: a worker's, as it sent it)."""
    _write_schema(schema_file, model.model_json_schema())


def _write_schema(schema_file: Path, schema: Any) -> None:
    try:
        schema_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(schema_file, json.dumps(schema, indent=2).encode("utf-8"), durable=False)
    except (OSError, TypeError, ValueError) as exc:
        LOGGER.warning("could not record the config schema of %s: %s", schema_file, exc)


async def _configure(
    hooks: PluginHooks,
    loaded: LoadedPlugin,
    table: dict[str, Any],
    schema_file: Path,
    file_table: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Any:
    """Validate the effective config (file + environment) against the plugin's model.

    With ``file_table`` (the ``config.toml`` part alone), a secret field written in the
    file is refused; with ``environ``, an error names the variable that set the value.
    Every problem is reported, each naming its field; values never appear.
    """
    model = await hooks.config_schema()
    if model is None:
        return None
    instance, schema, warnings = await in_scope(
        loaded,
        hooks.timeout,
        "config",
        _validated_config,
        model,
        loaded,
        table,
        file_table,
        environ,
    )
    if schema is not None:
        _write_schema(schema_file, schema)
    loaded.warnings += warnings
    return instance


def _validated_config(
    model: Any,
    loaded: LoadedPlugin,
    table: dict[str, Any],
    file_table: dict[str, Any] | None,
    environ: Mapping[str, str] | None,
) -> tuple[Any, Any, list[str]]:
    """In the plugin's scope (its model's schema hooks and validators are its code): the
    validated instance, the schema as plain data (or None) and warnings."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise StepFailed(f"jaf_config_schema returned {model!r}, not a pydantic model class")
    schema = _config_schema(model)
    problems = secrets_in_file(model, loaded.name, file_table) if file_table else []
    needs: dict[str, str] = {}
    try:
        instance = model.model_validate(table)
    except ValidationError as exc:
        problems += validation_problems(exc, env_settings(loaded.name, environ or {}))
        needs = needed_settings(exc, model, loaded.name)
    if problems:
        raise StepFailed(str(ConfigError(loaded.name, problems, needs))) from None
    warnings = plain(unknown_key_warnings(model, loaded.name, table, environ or {}))
    return instance, schema, warnings


def _phase(loaded: LoadedPlugin, phase: str, since: float) -> float:
    """Note the seconds ``phase`` took since ``since``; returns now, the next one's start."""
    now = time.perf_counter()
    loaded.phases[phase] = now - since
    return now


async def start(
    pm: pluggy.PluginManager,
    loaded: LoadedPlugin,
    *,
    config_table: dict[str, Any],
    data_dir: Path,
    schema_file: Path,
    timeout: float,
    make_context: Callable[[LoadedPlugin, Any, Path], PluginContext],
    obj: Any = None,
    file_table: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    known_schemas: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """Import (unless ``obj`` is the already imported plugin), register, configure,
    initialize and activate; on failure mark broken. ``known_schemas``: the input
    schemas its valid record holds, by tool name (``_build_tools``)."""
    step = "import"
    mark = time.perf_counter()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        loaded.obj = obj if obj is not None else await import_plugin(loaded, timeout)
        mark = _phase(loaded, "import", mark)
        step = "register"
        await in_scope(loaded, timeout, step, _register, pm, loaded)
        hooks = hooks_of(pm, loaded, timeout)
        step = "config"
        config = await _configure(hooks, loaded, config_table, schema_file, file_table, environ)
        loaded.ctx = ctx = make_context(loaded, config, data_dir)
        step = "jaf_initialize"
        await hooks.initialize(ctx)
        loaded.initialized = True
        step = "jaf_integrations"
        await _connect_integrations(hooks, loaded, ctx, timeout)
        mark = _phase(loaded, "initialize", mark)
        step = "jaf_activate"
        await hooks.activate(ctx)
        step = "jaf_tools"
        loaded.tools = await in_scope(
            loaded,
            timeout,
            step,
            _build_tools,
            loaded.identity,
            await hooks.tools(ctx),
            known_schemas,
        )
        step = "jaf_agents"
        loaded.agents, problems = await in_scope(
            loaded, timeout, step, _check_agents, await hooks.agents(ctx)
        )
        for problem in problems:
            LOGGER.warning("plugin %s: %s", loaded.name, problem)
        loaded.warnings += problems
        step = "jaf_model_providers"
        loaded.providers = await in_scope(
            loaded, timeout, step, _providers, await hooks.model_providers(ctx)
        )
        step = "jaf_event_handlers"
        loaded.subscriptions = await in_scope(
            loaded, timeout, step, _subscriptions, loaded.name, await hooks.event_handlers(ctx)
        )
        _phase(loaded, "activate", mark)
    except asyncio.CancelledError:
        await _abandon(pm, loaded, timeout, f"{step} was cancelled", None)
        raise
    except StepFailed as exc:
        await _abandon(
            pm,
            loaded,
            timeout,
            f"{step}: {exc}"
            if step == "config" and not str(exc).startswith(("config", "plugin "))
            else str(exc),
            None,
        )
    except HookTimeout:
        await _abandon(pm, loaded, timeout, f"{step} timed out after {timeout:g} s", None)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from plugin code must not end the host
        await _abandon(pm, loaded, timeout, f"{step} failed: {describe(exc, first_line=True)}", exc)
    else:
        loaded.status, loaded.error = "active", None


async def _abandon(
    pm: pluggy.PluginManager,
    loaded: LoadedPlugin,
    timeout: float,
    message: str,
    exc: BaseException | None,
) -> None:
    loaded.traceback = "".join(traceback.format_exception(exc)) if exc is not None else None
    problem = await stop(pm, loaded, timeout)
    if problem:  # secondary to ``message``, and reported nowhere else
        LOGGER.warning("plugin %s: %s", loaded.name, problem)
    loaded.status, loaded.error = "broken", message


async def stop(pm: pluggy.PluginManager, loaded: LoadedPlugin, timeout: float) -> str | None:
    """Deactivate (if it was initialized) and unregister. Returns what went wrong (every
    problem, joined) or None; the caller reports it, once (a worker returns it to the
    host, which reports it)."""
    problems: list[str] = []
    if loaded.initialized and loaded.ctx is not None:
        try:
            await hooks_of(pm, loaded, timeout).deactivate(loaded.ctx)
        except Exception as exc:
            problems.append(f"jaf_deactivate failed: {describe(exc, first_line=True)}")
    problems += await close_integrations(loaded, timeout)
    loaded.initialized = False
    loaded.tools, loaded.agents, loaded.providers = [], [], []
    loaded.subscriptions = []
    if loaded.obj is not None:
        with plugin_scope(loaded.identity):  # pluggy compares with ==: the plugin's __eq__
            if pm.is_registered(loaded.obj):
                pm.unregister(loaded.obj)
    if loaded.status == "active":
        loaded.status = "inactive"
    return "; ".join(problems) or None
