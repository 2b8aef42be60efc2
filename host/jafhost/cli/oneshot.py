"""``jafhost call``'s one-shot lane: one recorded in-process tool, without the host's
event loop, pydantic, typer or rich.

A one-shot ``jafhost call`` of a lazy plugin with a valid activation record starts that
plugin alone and calls one tool; the full path (``with_host`` + ``Host.call``) pays for
asyncio, pydantic and the whole host to do it. The lane takes the same steps with the
same functions when it can tell, before any plugin code runs, that the full path would
do nothing more (``decide``):

- ``config.toml`` is plainly valid (``home.config_fast``) and holds only ``[host]`` and
  ``[plugins]``; no operator policy file is in play; the state file reads without repair;
- the plugin is enabled in the current resolution and its files are what discovery
  recorded (``Catalog.known``, ``Catalog.holds``); it runs ``inprocess``, needs no other
  plugin, and no enabled plugin is ``eager`` or granted ``observe`` (nothing would start
  beside it);
- its record is valid under the key a host computes (``Runtime.record_key``'s inputs:
  files, config, grants, isolation, host version), says it implements only ``jaf_tools``
  (without a context), and has no config model, middleware, event patterns,
  integrations, providers or agents (so no event can be sent or received); the tool is
  synchronous, needs no confirmation and takes only plain parameters
  (``runtime.plain_params``).

Once these checks passed, the plugin's summary (``lane_summary``) keeps what they
found (the plan: timeouts, the tools the lane can call), keyed on every byte they read,
so a warm call parses no TOML and loads no record; the grants are read from the
state's bytes at every call, never from the summary, and whether an operator policy
applies is ``home.operator_policy.policy_sources``' to say, at every call.

Anything else (and ``--debug``, whose tracebacks are the full path's) returns None
before plugin code runs, and the full path serves. The guard comes from
``host.guard_setup.armed_identity``, as for every in-process start, armed before
the import; the import, the registration, ``jaf_tools`` and the tool run under the
plugin's identity in a daemon thread joined within ``hook_timeout`` (the tool within
``--timeout`` or ``call_timeout``). Arguments of exactly the plain types are passed as
they are; any others go through the tool's real pydantic validation, imported then.
Errors are shaped by the full path's own functions, imported when one happens.

Should the plugin, once imported, not match its record (other hooks, a tool that is no
longer plain: code that is not deterministic) or fail to start, the lane hands the
command to the full path, which carries on with the module already imported and reports
what happens exactly as it would have.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jafhost.cli import streams
from jafhost.cli._common import settings
from jafhost.errors import HookTimeout

if TYPE_CHECKING:
    from jafhost.cli import lane_summary
    from jafhost.discovery.records import PluginInfo
    from jafhost.home.paths import HomeLayout
    from jafhost.home.state import State
    from jafhost.host.catalog import Catalog
    from jafhost.runtime.activation_records import ActivationRecord
    from jafhost.runtime.isolation.one_shot_call import Early
    from jafhost.security.ceiling import Ceiling
    from jafhost.types import CallError, CallResult

TRACE = "JAFHOST_TRACE_CALL"
"""Set to ``1``: ``jafhost call`` says on stderr which path served it and why."""
SWITCH = "JAFHOST_CALL_LANE"
"""Set to ``0``: the full path serves every call (to compare, or to rule the lane out)."""


class HandOver(Exception):
    """The lane cannot serve this call exactly as the full path would; the message says
    why (shown with ``JAFHOST_TRACE_CALL=1``)."""


def trace(path: str, why: str = "") -> None:
    """Which path served the call, on stderr, when ``JAFHOST_TRACE_CALL=1``."""
    if os.environ.get(TRACE) == "1":
        sys.stderr.write(f"jafhost call: {path} path{f' ({why})' if why else ''}\n")


class PlannedTool:
    """The recorded tool the lane calls: its name and its plain parameters. (The small
    values on a call's path are plain classes: a ``NamedTuple`` costs a compile of each
    annotation and of its constructor as its module is imported.)"""

    __slots__ = ("name", "plain")

    def __init__(self, name: str, plain: dict[str, Any]) -> None:
        self.name = name
        self.plain = plain


class Plan:
    """What ``decide`` found: the plugin, its recorded tool, its grants, the limits, and
    where it runs (``process``: a one-shot sandboxed worker calls the tool,
    ``one_shot_lane``). A plain class: a dataclass costs more to define than a warm
    call spends deciding."""

    def __init__(
        self,
        layout: HomeLayout,
        info: PluginInfo,
        tool: PlannedTool,
        hook_timeout: float,
        call_timeout: float,
        import_folders: list[str],
        grants: list[str],
        ceiling: Ceiling,
        isolation: str = "inprocess",
        record_key: str | None = None,
    ) -> None:
        self.layout = layout
        self.info = info
        self.tool = tool
        self.hook_timeout = hook_timeout
        self.call_timeout = call_timeout
        self.import_folders = import_folders
        self.grants = grants
        self.ceiling = ceiling
        self.isolation = isolation
        self.early: Early | None = None
        """The plugin's one-shot worker, started while the lane decided (``process``)."""
        self.record_key = record_key
        """Set while the plugin has no record: the key to record it under once its
        ``jaf_tools`` answered (``_first_record``); the tool is then a stand-in naming it."""


# -- deciding, before any plugin code runs ---------------------------------------------


def _read(path: str, limit: int) -> bytes | None:
    """A home file's bytes (None: no file); ``HandOver`` when unreadable (the full path
    names the file and the reason)."""
    from jafhost.safe_read import read_bytes

    try:
        return read_bytes(path, limit)
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise HandOver(f"{os.path.basename(path)}: {exc}") from None


def _plugin_folders(layout: HomeLayout) -> list[str]:
    """The plugin folders, as ``Catalog`` reads them."""
    from jafhost.discovery.folders import plugin_folders
    from jafhost.errors import StateError
    from jafhost.home.paths import CONFIG

    try:
        return plugin_folders(layout.at(CONFIG))
    except StateError:
        return plugin_folders(None)


def decide(plugin: str, tool: str, timeout: float | None) -> Plan:
    """The plan for calling ``plugin.tool`` in the lane; ``HandOver`` saying why not.
    From the plugin's summary when it holds a plan and still holds (``lane_summary``),
    else from the full checks (``_decide_in_full``), which then write one."""
    from jafhost.cli import lane_summary
    from jafhost.home.operator_policy import policy_sources
    from jafhost.home.paths import CONFIG, STATE, HomeLayout, home_folder
    from jafhost.safe_read import CONFIG_LIMIT, STATE_LIMIT

    layout = HomeLayout(home_folder())
    # the one decision on an operator policy: its files are looked for on every call;
    # ``[policy]`` in config.toml is the full checks' to see (the key holds its bytes)
    if policy_sources({}, os.environ):
        raise HandOver("an operator policy applies")
    config = _read(layout.at(CONFIG), CONFIG_LIMIT)
    state = _read(layout.at(STATE), STATE_LIMIT)
    folders = _plugin_folders(layout)
    key = lane_summary.Key.current(layout, config, state, folders)
    summary = lane_summary.load(layout, plugin, key)
    if summary is not None and summary.plan is not None:
        if not summary.holds(key):
            summary = None
        else:
            if summary.restamp and key.paths is not None:
                lane_summary.store(layout, plugin, key, summary)
            return _planned(layout, summary, tool, timeout, state)
    return _decide_in_full(layout, plugin, tool, timeout, key, summary, state)


def _planned(
    layout: HomeLayout,
    summary: lane_summary.Summary,
    tool: str,
    timeout: float | None,
    state_bytes: bytes | None,
) -> Plan:
    """The plan a summary holds for ``tool``, once the plugin's files match ``RECORD``;
    its grants read from the state's bytes (the key's), never from the summary."""
    from jafhost.discovery.integrity import require_intact
    from jafhost.home.paths import CACHE
    from jafhost.home.state import StateStore
    from jafhost.security.ceiling import NO_CEILING

    plan, info = summary.plan, summary.info
    try:
        state = StateStore.parse_one(state_bytes, info.name)
    except (ValueError, UnicodeDecodeError):
        raise HandOver("the state file needs repair") from None
    assert plan is not None
    mine = state.plugins.get(info.name)
    isolation = (mine.isolation if mine is not None else None) or plan["isolation"]
    if isolation not in ("inprocess", "process"):
        raise HandOver(f"plugin {info.name} runs with isolation {isolation!r}")
    plain = plan["tools"].get(tool)
    if plain is None:
        raise HandOver(f"no recorded tool {info.name}.{tool} the lane can call")
    if isolation == "process":
        early = _early_worker(layout, info)
    else:  # a worker started for the call, by a hint now out of date: not needed
        from jafhost.cli import early_worker

        early_worker.end_unused()
        early = None
    try:
        require_intact(info, layout.at(CACHE))  # its files against RECORD, before any import
        hook_timeout = plan["hook_timeout"]
        call_timeout = plan["call_timeout"] if timeout is None else timeout
        planned = Plan(
            layout,
            info,
            PlannedTool(tool, plain),
            hook_timeout,
            call_timeout,
            summary.import_folders,
            state.grants_of(info),
            NO_CEILING,  # no operator policy: ``decide`` hands over where one applies
            isolation,
        )
    except BaseException:
        if early is not None:
            early.end()
        raise
    planned.early = early
    return planned


def _early_worker(layout: HomeLayout, info: PluginInfo) -> Early | None:
    """The plugin's one-shot worker, started now so that its start overlaps the rest of
    the lane's work (``one_shot_call.start_early``: no grant, no plugin code before the
    lane sends ``init``); None where it would not be used (workers forked from a
    zygote) or could not start (the lane's own start then says why)."""
    from jafhost.cli import early_worker
    from jafhost.runtime.isolation import one_shot_call, zygote_switch

    zygote_switch.one_shot()
    started = early_worker.take(info.name)
    if zygote_switch.wanted():
        if started is not None:
            started.end()
        return None
    if started is not None:
        return started
    try:
        return one_shot_call.start_early(layout, info)
    except Exception:
        return None


def _early_hint(info: PluginInfo) -> dict[str, Any]:
    """What the next call needs to start the plugin's one-shot worker at once
    (``cli.early_worker``), kept in its summary: its plugin folder."""
    from jafhost.discovery.folders import plugin_folder

    return {"own": plugin_folder(info)}


def _config(layout: HomeLayout, key: lane_summary.Key) -> dict[str, Any]:
    """``config.toml`` as a table, when plainly valid, holding nothing the lane skips
    and still the bytes ``key`` holds."""
    import tomllib

    from jafhost.cli import lane_summary
    from jafhost.home.config_fast import plainly_valid
    from jafhost.safe_read import CONFIG_LIMIT, read_text

    try:
        text = read_text(layout.config, CONFIG_LIMIT)
    except FileNotFoundError:
        text = None
    except Exception as exc:  # the full path names the file and the reason
        raise HandOver(f"config.toml: {exc}") from None
    raw = None if text is None else text.encode("utf-8", "surrogateescape")
    if lane_summary.digest(raw) != key.config:
        raise HandOver("config.toml changed while read")
    if text is None:
        return {}
    if not plainly_valid(text):
        raise HandOver("config.toml needs the full check")
    table = tomllib.loads(text)
    if set(table) - {"host", "plugins"} or not isinstance(table.get("plugins", {}), dict):
        raise HandOver("config.toml holds more than [host] and [plugins]")
    return table


def _seconds(host: dict[str, Any], key: str, default: float) -> float:
    return float(host.get(key, default))


def _decide_in_full(
    layout: HomeLayout,
    plugin: str,
    tool: str,
    timeout: float | None,
    key: lane_summary.Key,
    summary: lane_summary.Summary | None,
    state_bytes: bytes | None,
) -> Plan:
    """``decide`` from config.toml, the state, discovery and the record; the summary
    written with its plan when the plugin is fit for the lane."""
    from jafhost.cli import lane_summary
    from jafhost.home.config_fast import (
        DEFAULT_CALL_TIMEOUT,
        DEFAULT_HOOK_TIMEOUT,
        PLATFORM_ISOLATION,
    )
    from jafhost.home.operator_policy import policy_sources
    from jafhost.home.plugin_tables import plugin_config_table
    from jafhost.home.state import StateStore
    from jafhost.runtime.activation_records import RecordStore, record_key

    key.fingerprint()  # the path as it is before discovery is read (``Key.fingerprint``)
    table = _config(layout, key)
    if policy_sources(table, os.environ):
        raise HandOver("an operator policy applies")
    host = table.get("host", {})
    store = StateStore(layout)
    state, state_digest = store.load_keyed()
    if store.warnings or state_digest is None:
        raise HandOver("the state file was repaired")
    if state_digest != key.state:
        raise HandOver("the state file changed while read")
    mine = state.plugins.get(plugin)
    isolation = mine.isolation if mine is not None and mine.isolation else host.get("isolation")
    default = host.get("isolation") or PLATFORM_ISOLATION  # the plan keeps it
    isolation = isolation or default
    if isolation not in ("inprocess", "process"):
        raise HandOver(f"plugin {plugin} runs with isolation {isolation!r}")
    summary, storable = _discovered(layout, plugin, key, summary, state)
    info = summary.info
    summary.early = _early_hint(info) if isolation == "process" else None
    grants = state.grants_of(info)
    config = plugin_config_table(table, plugin, os.environ)
    key_of_record = record_key(info, isolation, config, grants)
    record = RecordStore(layout.cache / "activation").load(plugin, key_of_record)
    if record is None:
        return _unrecorded(layout, summary, tool, host, timeout, grants, isolation, key_of_record)
    if record.hooks != {"jaf_tools": []}:
        raise HandOver(f"plugin {plugin} implements hooks beyond jaf_tools()")
    extras = (record.middleware, record.patterns, record.integrations, record.providers)
    if record.config_schema is not None or any(extras) or record.agents:
        raise HandOver(f"plugin {plugin} has more than tools")
    tools = {
        t.name: t.plain for t in record.tools if not (t.is_async or t.confirm or t.plain is None)
    }
    summary.plan = {
        "isolation": default,
        "hook_timeout": _seconds(host, "hook_timeout", DEFAULT_HOOK_TIMEOUT),
        "call_timeout": _seconds(host, "call_timeout", DEFAULT_CALL_TIMEOUT),
        "tools": tools,
    }
    if storable:
        lane_summary.store(layout, plugin, key, summary)
    if not any(t.name == tool for t in record.tools):
        raise HandOver(f"no recorded tool {plugin}.{tool}")
    return _planned(layout, summary, tool, timeout, state_bytes)


def _unrecorded(
    layout: HomeLayout,
    summary: lane_summary.Summary,
    tool: str,
    host: dict[str, Any],
    timeout: float | None,
    grants: list[str],
    isolation: str,
    key: str | None,
) -> Plan:
    """The plan for an in-process plugin without a record: started here, and recorded
    once its ``jaf_tools`` shows it offers only plain tools (``runtime.plain_record``),
    as the full path would record it; else ``HandOver``. A process-isolated plugin is
    started and recorded by the full path (its worker reports what it offers)."""
    from jafhost.discovery.integrity import require_intact
    from jafhost.home.config_fast import DEFAULT_CALL_TIMEOUT, DEFAULT_HOOK_TIMEOUT
    from jafhost.security.ceiling import NO_CEILING

    info = summary.info
    if isolation != "inprocess":
        raise HandOver(f"plugin {info.name} runs isolated and has no valid record")
    if key is None:
        raise HandOver(f"plugin {info.name} cannot be recorded")
    if os.path.lexists(layout.schema_file(info.name)):
        raise HandOver(f"plugin {info.name} has a config schema")
    require_intact(info, layout.cache)  # its files against RECORD, before any import
    return Plan(
        layout,
        info,
        PlannedTool(tool, {}),
        _seconds(host, "hook_timeout", DEFAULT_HOOK_TIMEOUT),
        _seconds(host, "call_timeout", DEFAULT_CALL_TIMEOUT) if timeout is None else timeout,
        summary.import_folders,
        grants,
        NO_CEILING,  # no operator policy: ``decide`` hands over where one applies
        isolation,
        record_key=key,
    )


def _discovered(
    layout: HomeLayout,
    plugin: str,
    key: lane_summary.Key,
    summary: lane_summary.Summary | None,
    state: State,
) -> tuple[lane_summary.Summary, bool]:
    """The plugin as discovered and resolved, and the plugin folders its import needs,
    when it is enabled, needs no other plugin and none would start beside it (else
    ``HandOver``): from its summary while nothing the checks read changed, else from
    the full checks (discovery, the resolution of all N), which then write the summary;
    whether the summary may be kept (with a plan)."""
    from jafhost.cli import lane_summary
    from jafhost.home.state import StateStore

    if summary is None:
        summary = lane_summary.load(layout, plugin, key)
    if summary is not None and summary.holds(key):
        return summary, True
    catalog, info = _full_checks(layout, plugin, state)
    fresh = lane_summary.Summary(info, [], {}, catalog.import_folders())
    cached = catalog.cached_plugin(plugin)
    if (
        cached is not None
        and catalog.plugin_folders == list(key.folders)
        and key.cache_unchanged()
        and StateStore(layout).load_keyed()[1] == key.state  # what the checks resolved
    ):
        fresh.named, fresh.watched = cached
        lane_summary.store(layout, plugin, key, fresh)
        return fresh, True
    return fresh, False


def _full_checks(layout: HomeLayout, plugin: str, state: State) -> tuple[Catalog, PluginInfo]:
    """Discovery (its plugins checked as used) and the resolution of all plugins: the
    plugin enabled as discovered, needing no other plugin, none eager or granted
    ``observe`` (nothing would start beside it); else ``HandOver``."""
    from jafhost.home.state import StateStore
    from jafhost.host.catalog import Catalog

    catalog = Catalog(layout, StateStore(layout))
    catalog.defer_checks()
    resolution = catalog.known([plugin])
    entry = resolution.get(plugin)
    if entry is None or entry.status != "enabled" or not catalog.holds(entry.info):
        raise HandOver(f"plugin {plugin} is not enabled as discovered")
    if entry.requires_plugins(optional=True):
        raise HandOver(f"plugin {plugin} needs other plugins")
    for name in resolution.order:
        other = resolution.get(name)
        assert other is not None
        if other.info.activation == "eager" or "observe" in state.grants_of(other.info):
            raise HandOver(f"plugin {name} would start beside it")
    return catalog, entry.info


# -- running, as the plugin ------------------------------------------------------------


class _Outcome:
    value: Any = None
    error: BaseException | None = None
    raised = False
    """Set once plugin code raised in ``run_as``: its traceback's frames may hold the
    plugin's objects in reference cycles (``_release`` collects them in its scope)."""


def run_as(identity: str, seconds: float, label: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` as the plugin (``CURRENT_PLUGIN`` set to ``identity``) in a daemon
    thread, joined within ``seconds`` (``HookTimeout`` naming ``label`` after that, the
    thread left behind: the process ends soon). What it raises comes back as the host's
    own exception, read in the plugin's scope (``scope.host_error``)."""
    from jafhost.runtime.scope import host_error
    from jafhost.security.guard import CURRENT_PLUGIN, THREAD_ATTRIBUTE

    outcome = _Outcome()
    context = contextvars.Context()  # nothing of the host's context, as the thread pool

    def body() -> None:
        CURRENT_PLUGIN.set(identity)
        try:
            outcome.value = fn(*args)
        except BaseException as exc:
            _Outcome.raised = True
            outcome.error = host_error(exc)

    thread = threading.Thread(target=context.run, args=(body,), name="jafhost-lane", daemon=True)
    # the thread is the plugin's from its start to its end: what it drops as it ends
    # (the context and its values) is dropped as the plugin
    setattr(thread, THREAD_ATTRIBUTE, identity)
    del context
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise HookTimeout(f"{label} did not finish within {seconds:g} s")
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


def _first_record(plan: Plan, identity: str, functions: Any) -> ActivationRecord:
    """In the plugin's scope: its record (``runtime.plain_record``), the plan's tool
    taken from it; ``HandOver`` when only the full path can record it or call the tool."""
    from jafhost.runtime.plain_record import plain_record

    assert plan.record_key is not None
    name = plan.tool.name
    record = plain_record(identity, plan.info.name, plan.record_key, functions)
    if record is None:
        raise HandOver("its tools are not all plain")
    found = [t for t in record.tools if t.name == name]
    if not found or found[0].is_async or found[0].confirm or found[0].plain is None:
        raise HandOver(f"tool {plan.info.name}.{name}: absent, async, confirmed or not plain")
    plan.tool = PlannedTool(name, found[0].plain)
    return record


def _settled(value: Any) -> Any:
    """In the plugin's scope: a result as plain data (``scope.plain``, the full path's
    conversion), an awaitable a sync function handed back awaited first, as there."""
    import inspect

    from jafhost.runtime.scope import plain

    if inspect.isawaitable(value):
        import asyncio

        async def awaited() -> Any:
            return await value

        value = asyncio.run(awaited())
    return plain(value)


def _call(fn: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    """In the plugin's scope: the call with arguments pydantic would pass unchanged."""
    return _settled(fn(**arguments))


def _validated_call(
    plugin: str, fn: Callable[..., Any], arguments: Any
) -> tuple[Any, CallError | None, Any]:
    """In the plugin's scope: the full path's tool, validation and call (pydantic
    imported now), for arguments that are not exactly the plain types: the tool, the
    ``invalid_arguments`` error (or None) and the plain result."""
    from jafhost.runtime.dispatch import Converted
    from jafhost.runtime.dispatch import _validated_call as validated_call
    from jafhost.tools import build_tool
    from jafhost.types import CallError

    tool = build_tool(plugin, fn)
    outcome = validated_call(tool, arguments, None)
    if isinstance(outcome, CallError):
        return tool, outcome, None
    return tool, None, outcome.value if isinstance(outcome, Converted) else _settled(outcome)


# -- the command -------------------------------------------------------------------------


def serve(name: str, arguments: Any, timeout: float | None) -> CallResult | Answer | None:
    """Call tool ``name`` (``plugin.tool``) in the lane: its result, as the full path's
    ``Host.call`` gives it (an ``Answer`` when it succeeded), or None (nothing of the
    plugin has run) when the full path must serve."""
    if os.environ.get(SWITCH) == "0":
        trace("full", f"{SWITCH}=0")
        return None
    if settings.debug:  # tracebacks name the full path's frames: it shows them
        trace("full", "--debug")
        return None
    from jafhost.cli.early_worker import tracing

    if tracing():  # spans are made by the full path's router
        trace("full", "tracing is on (OTEL_*)")
        return None
    plugin, dot, tool = name.partition(".")
    if "__" in name or not (dot and plugin and tool):
        trace("full", "not named plugin.tool")
        return None
    try:
        plan = decide(plugin, tool, timeout)
    except HandOver as exc:
        trace("full", str(exc))
        return None
    except Exception as exc:  # whatever is wrong, the full path reports it
        trace("full", f"{type(exc).__name__}: {exc}")
        return None
    try:
        return _serve(plan, arguments)
    finally:
        if plan.early is not None:  # not taken by the process lane: nothing keeps it
            plan.early.end()


def _serve(plan: Plan, arguments: Any) -> CallResult | Answer | None:
    from functools import partial

    from jafhost.cli import logs
    from jafhost.host.catalog import place_imports
    from jafhost.host.guard_setup import armed_identity
    from jafhost.security import on_import

    info, layout = plan.info, plan.layout
    # log records show as the full path shows them; ``logging`` is imported only when
    # something logs (a plugin, the guard's setup), and gets the handler then, from
    # ``logs`` imported now (never a file read under the plugin's grants)
    on_import.when_imported("logging", partial(logs.install, settings.debug))
    if plan.isolation == "process":
        from jafhost.runtime.isolation.one_shot_lane import serve_isolated

        return serve_isolated(plan, arguments, trace, Answer)
    # the host's own modules the steps below use (pluggy with them), imported before the
    # guard is armed, as a start imports them: under the plugin's identity, every file of
    # theirs would be checked against its grants, for nothing
    from jafhost.runtime import (  # noqa: F401
        hook_names,
        plain_params,
        plugin_import,
        plugin_manager,
        recorded_start,
        scope,
    )

    if plan.record_key is not None:
        from jafhost.runtime import plain_record  # noqa: F401
    from jafhost.cli import early_worker, finish

    early_worker.end_unused()  # one started for this call by a hint out of date: not needed
    finish.wait_for_threads(plan.hook_timeout)  # the plugin's threads, at exit
    streams.plugin_code()
    os.makedirs(layout.data_folder(info.name), exist_ok=True)
    place_imports(plan.import_folders)
    identity = armed_identity(layout, info, plan.grants, plan.ceiling)
    held: list[Any] = []
    try:
        return _serve_inprocess(plan, identity, arguments, held)
    finally:
        _release(identity, held)


def _release(identity: str, held: list[Any]) -> None:
    """Drop what the plugin handed back (its entry point, what ``jaf_tools`` returned)
    in its scope, once the host's own frames holding it are gone: a ``__del__`` of its
    then runs as the plugin, never in the host's code."""
    import gc

    def release() -> None:
        held.clear()
        if _Outcome.raised:  # what a traceback's frames hold in cycles (not paid otherwise)
            gc.collect()

    # a ``__del__`` that hangs or fails: its thread is left behind, as at a timeout
    with contextlib.suppress(Exception):
        run_as(identity, 1.0, f"plugin {identity}: release", release)


def _serve_inprocess(
    plan: Plan, identity: str, arguments: Any, held: list[Any]
) -> CallResult | Answer | None:
    """The in-process start and call; every object of the plugin's it gets also goes
    to ``held`` (released by ``_serve`` in the plugin's scope after this returns)."""
    from jafhost.runtime.plugin_import import import_object
    from jafhost.runtime.recorded_start import find_tool, tools_hook

    info, layout = plan.info, plan.layout
    limit = plan.hook_timeout
    try:
        step = f"plugin {info.name}:"
        obj = run_as(identity, limit, f"{step} import", import_object, info.entry_point)
        held.append(obj)
        hook = run_as(identity, limit, f"{step} register", tools_hook, info.name, obj)
        held.append(hook)
        functions = run_as(identity, limit, f"{step} jaf_tools", hook)
        held.append(functions)
        record = None
        if plan.record_key is not None:  # no record yet: made as the full path makes it
            record = run_as(
                identity, limit, f"{step} jaf_tools", _first_record, plan, identity, functions
            )
        fn, facts = run_as(
            identity, limit, f"{step} jaf_tools", find_tool, functions, plan.tool.name
        )
        held.append(fn)
    except Exception as exc:  # not as recorded, or its start failed: the full path says
        trace("full", f"handed over after the import: {exc}")
        return None
    if facts != plan.tool.plain:
        trace("full", "handed over after the import: its tool changed")
        return None
    if record is not None:
        from jafhost.runtime.activation_records import RecordStore

        RecordStore(layout.cache / "activation").store(record)
    trace("lane")
    return _call_tool(plan, identity, fn, facts, arguments)


def _call_tool(
    plan: Plan, identity: str, fn: Callable[..., Any], facts: Any, arguments: Any
) -> CallResult | Answer:
    from jafhost.runtime.plain_params import fits_exactly

    full_name = f"{identity}.{plan.tool.name}"
    label = f"tool {full_name}"
    tool: Any = _Named(identity, plan.tool.name)
    try:
        if fits_exactly(facts, arguments):
            value = run_as(identity, plan.call_timeout, label, _call, fn, dict(arguments))
        else:
            tool, invalid, value = run_as(
                identity, plan.call_timeout, label, _validated_call, identity, fn, arguments
            )
            if invalid is not None:
                return _failed(full_name, invalid)
    except HookTimeout:
        from jafhost.types import CallError

        error = CallError(
            "timeout",
            f"timed out after {float(plan.call_timeout)} s",
            tool=full_name,
            plugin=identity,
        )
        return _failed(full_name, error)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        from jafhost.runtime.dispatch import error_from_exception

        return _failed(full_name, error_from_exception(tool, exc, settings.debug))
    return Answer(full_name, value)


class _Named:
    """What the full path's error shaping reads of a tool."""

    __slots__ = ("name", "plugin")

    def __init__(self, plugin: str, name: str) -> None:
        self.plugin = plugin
        self.name = name

    @property
    def full_name(self) -> str:
        return f"{self.plugin}.{self.name}"


class Answer:
    """A call the lane served with a result: what ``jafhost call`` reads of a successful
    ``CallResult`` (``ok``, ``result``, ``error``), without importing ``jafhost.types``
    (its dataclasses cost more at start-up than the rest of the answer)."""

    ok = True
    error = None

    def __init__(self, tool: str, result: Any) -> None:
        self.tool = tool
        self.result = result


def _failed(full_name: str, error: CallError) -> CallResult:
    from jafhost.types import CallResult

    return CallResult(full_name, False, error=error)
