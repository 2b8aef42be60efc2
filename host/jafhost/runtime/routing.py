"""The tool catalog of the active plugins and the one entry point for calling a tool.

``ToolRouter`` is the choke point every agent action passes: the CLI's ``call``, the
MCP server, agent runs and embedding programs all end in ``ToolRouter.call``. It finds
the tool by ``plugin.tool`` or its export form ``plugin__tool``, validates, asks for
confirmation where the tool wants it, applies the time limit and the middleware, and
always answers with a ``CallResult``.
"""

from __future__ import annotations

import asyncio
import difflib
import fnmatch
import shlex
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from jafhost.errors import HookTimeout, quoted
from jafhost.runtime import telemetry
from jafhost.runtime.activation import failed_step, is_recorded
from jafhost.runtime.call_origin import current_origin
from jafhost.runtime.dispatch import (
    PendingCall,
    Terminal,
    ToolView,
    call_inline,
    check_arguments,
    checked_arguments,
    error_from_exception,
    jsonable,
    run_through_middleware,
    run_tool,
)
from jafhost.runtime.runner import call_plugin
from jafhost.runtime.scope import plain, run_in_scope
from jafhost.security.narrowing import NARROWED, effective
from jafhost.tools import Tool, split_name, to_mcp, to_openai
from jafhost.types import CallError, CallResult, ToolCall

if TYPE_CHECKING:
    import pluggy

    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.runtime.stats import StatsRecorder
    from jafhost.security.narrowing import Narrowing
    from jafhost.types import AgentLimits

Confirm = Callable[[Tool, dict[str, Any]], bool]
"""Asked before a ``confirm=True`` tool runs, with its validated arguments as plain
JSON data; True lets it run. Middleware cannot change a confirmed call's arguments (the
call is refused if it does), so what was confirmed is what runs."""


FIXES = {
    "disabled": "to enable it: jafhost enable {plugin}",
    "needs-approval": "to approve its permissions and enable it: jafhost enable {plugin}",
}
"""What fixes a plugin in each status that one command fixes; the other statuses'
messages carry their reason (a missing dependency, a bad manifest, what failed)."""


def unavailable(plugin: str, tool: str, status: str) -> CallError:
    """The ``unavailable`` error for a tool of a known plugin that is not active;
    ``status`` is ``"disabled"`` or ``"STATUS: reason"``."""
    code = status.split(":")[0]
    message = f"plugin {plugin} is {status}; tool {plugin}.{tool} is not available"
    fix = FIXES.get(code)
    if fix is not None:
        message += f" ({fix.format(plugin=shlex.quote(plugin))})"
    step = failed_step(status.partition(": ")[2]) if code == "broken" else None
    return CallError(
        "unavailable", message, tool=f"{plugin}.{tool}", plugin=plugin, status=code, step=step
    )


class ToolRouter:
    """Indexes the tools of active plugins and routes calls to them."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        loaded: Callable[[str], LoadedPlugin | None],
        describe_inactive: Callable[[str], str | None],
        call_timeout: Callable[[], float],
    ) -> None:
        self._pm = pm
        self._loaded = loaded
        self._describe_inactive = describe_inactive
        self._call_timeout = call_timeout
        self._tools: dict[str, Tool] = {}
        self._by_export: dict[str, Tool] = {}
        self._by_plugin: dict[str, dict[str, None]] = {}
        """Each plugin's tools' full names, in catalog order (together there): a start,
        a replace or a removal touches its own tools only (at N plugins, a scan of the
        catalog for each made a host's start quadratic in N)."""
        self.confirm: Confirm | None = None
        self.observer: Callable[[CallResult], Awaitable[None]] | None = None
        """Told about every finished call (the host publishes ``tool.called``/``tool.failed``)."""
        self.observing: Callable[[], bool] = lambda: False
        """Whether anybody listens: the inline fast path steps aside when someone does."""
        self.observes: Callable[[str], bool] = lambda plugin: False
        """Whether a plugin was granted ``observe`` (its middleware wraps every call)."""
        self.failed_observers: Callable[[], list[tuple[str, str]]] = lambda: []
        """Plugins granted ``observe`` that failed to start, with their status: every
        call fails closed (``unavailable``) while one of them is down."""
        self.narrowings: Callable[[Mapping[str, AgentLimits]], Mapping[str, Narrowing]] | None
        self.narrowings = None
        """For an agent's call: the narrowings of the plugins its policy names, by plugin
        (``security.narrowing``), in force while the call runs (after any lazy start)."""
        self.prepare: Callable[[str], Awaitable[None]] | None = None
        """Before a call: start the named plugin if it is idle (recorded, started at
        first use), and wait for ``observe`` middleware still starting."""
        self.stats: StatsRecorder | None = None
        """Told about every routed call (``runtime.stats``)."""
        self.debug = False
        self._terminal = Terminal()
        pm.register(self._terminal, name="jafhost-terminal")

    # -- the catalog ---------------------------------------------------------------

    def add(self, plugin: LoadedPlugin) -> None:
        """Add ``plugin``'s tools at the end of the catalog (``replace`` when it has
        tools there: a plugin's tools stay together)."""
        if plugin.name in self._by_plugin:
            self.replace(plugin)
            return
        for tool in plugin.tools:
            self._tools[tool.full_name] = tool
            self._by_export[tool.export_name] = tool
            self._by_plugin.setdefault(tool.plugin, {})[tool.full_name] = None

    def replace(self, plugin: LoadedPlugin) -> None:
        """Put ``plugin``'s tools where its previous ones (recorded, or of an earlier
        start) were in the catalog, or at its end."""
        mine = list(self._by_plugin.get(plugin.name, ()))
        if not mine:
            self.add(plugin)
            return
        if [t.full_name for t in plugin.tools] == mine and all(
            t.export_name == self._tools[t.full_name].export_name for t in plugin.tools
        ):  # the same tools (a recorded plugin started): each takes its place
            for tool in plugin.tools:
                old = self._tools[tool.full_name]
                self._tools[tool.full_name] = tool
                if self._by_export.get(tool.export_name) is old:
                    self._by_export[tool.export_name] = tool
            return
        tools: dict[str, Tool] = {}
        for name, tool in self._tools.items():
            if name == mine[0]:
                tools.update((t.full_name, t) for t in plugin.tools)
            elif tool.plugin != plugin.name:
                tools[name] = tool
        self._tools = tools
        self._by_export = {t.export_name: t for t in tools.values()}
        self._by_plugin = {}
        for tool in tools.values():
            self._by_plugin.setdefault(tool.plugin, {})[tool.full_name] = None

    def remove(self, plugin: str) -> None:
        for name in self._by_plugin.pop(plugin, ()):
            tool = self._tools.pop(name)
            self._by_export.pop(tool.export_name, None)

    def tools(self, patterns: Iterable[str] | None = None) -> list[Tool]:
        """Active tools in activation order, optionally only those matching globs."""
        tools = list(self._tools.values())
        if patterns is None:
            return tools
        allowed = list(patterns)
        return [t for t in tools if any(fnmatch.fnmatchcase(t.full_name, p) for p in allowed)]

    def find(self, name: str) -> Tool | CallError:
        """The tool called ``name`` (either form); else ``unavailable`` when its plugin is
        known but not active (the message says its status and what fixes it), or
        ``not_found``."""
        tool = self._tools.get(name) or self._by_export.get(name)
        if tool is not None:
            return tool
        parts = split_name(name)
        if parts is not None:
            status = self._describe_inactive(parts[0])
            if status is not None:
                return unavailable(parts[0], parts[1], status)
        close = difflib.get_close_matches(name, list(self._tools), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return CallError("not_found", f"unknown tool {quoted(name)}{hint}", tool=name)

    def has_middleware(self) -> bool:
        impls = self._pm.hook.jaf_tool_call.get_hookimpls()
        return any(impl.plugin is not self._terminal for impl in impls)

    def wrapped(self, tool: Tool) -> bool:
        """Whether any middleware wraps calls of ``tool``: its own plugin's, or that of
        a plugin granted ``observe``."""
        for impl in self._pm.hook.jaf_tool_call.get_hookimpls():
            if impl.plugin is self._terminal:
                continue
            if impl.plugin_name == tool.plugin or self.observes(impl.plugin_name):
                return True
        return False

    def _observers_down(self, tool: Tool) -> CallError | None:
        down = self.failed_observers()
        if not down:
            return None
        plugin, status = down[0]
        message = (
            f"plugin {plugin} observes every tool call and is {status}; no tool runs "
            f"without it, so {tool.full_name} is not available "
            f"(fix or disable it: jafhost disable {shlex.quote(plugin)})"
        )
        return CallError(
            "unavailable", message, tool=tool.full_name, plugin=plugin, status=status.split(":")[0]
        )

    # -- calling -------------------------------------------------------------------

    def _refused(
        self, tool: Tool, shown: dict[str, Any], confirm: Confirm | None
    ) -> CallResult | None:
        """Ask for confirmation of a ``confirm=True`` tool; the refusal, if any."""
        if not tool.confirm:
            return None
        policy = confirm or self.confirm
        if policy is not None and policy(tool, shown):
            return None
        message = f"tool {tool.full_name} needs your confirmation and " + (
            "it was refused" if policy else "there was nobody to ask"
        )
        error = CallError(
            "permission_denied",
            message,
            tool=tool.full_name,
            plugin=tool.plugin,
            permission="confirm",
        )
        return CallResult(tool.full_name, False, error=error)

    def _context(self, tool: Tool) -> Any:
        plugin = self._loaded(tool.plugin)
        return plugin.ctx if plugin is not None else None

    async def call(
        self,
        name: str,
        arguments: Any = None,
        *,
        timeout: float | None = None,
        confirm: Confirm | None = None,
    ) -> CallResult:
        """Route one call; never raises for anything the tool or middleware does."""
        with telemetry.tool_span(name) as span:
            result = await self._call(name, arguments, timeout, confirm)
            span.ended(result)
        if self.stats is not None:
            self.stats.record(result)
        if self.observer is not None and self.observing():
            await self.observer(result)
        return result

    async def _call(
        self, name: str, arguments: Any, timeout: float | None, confirm: Confirm | None
    ) -> CallResult:
        loop = asyncio.get_running_loop()
        if self.prepare is not None:
            parts = split_name(name) if isinstance(name, str) else None
            await self.prepare(parts[0] if parts is not None else "")
        started = loop.time()
        found = self.find(name)
        if isinstance(found, CallError):
            return CallResult(name, False, error=found)
        tool = found
        down = self._observers_down(tool)
        if down is not None:
            return CallResult(tool.full_name, False, error=down)
        limits = current_origin().limits
        if not limits or self.narrowings is None:
            return await self._run(tool, arguments, timeout, confirm, loop, started)
        try:
            narrowed = self.narrowings(limits)
        except Exception as exc:  # a policy that cannot be applied: nothing runs
            error = CallError(
                "permission_denied",
                f"permission denied: an agent's policy cannot be applied: {exc}",
                tool=tool.full_name,
                plugin=tool.plugin,
            )
            return CallResult(tool.full_name, False, error=error)
        token = NARROWED.set(narrowed)
        try:
            return await self._run(tool, arguments, timeout, confirm, loop, started)
        finally:
            NARROWED.reset(token)

    async def _run(
        self,
        tool: Tool,
        arguments: Any,
        timeout: float | None,
        confirm: Confirm | None,
        loop: asyncio.AbstractEventLoop,
        started: float,
    ) -> CallResult:
        """The call of a found tool: validation, confirmation, middleware, the tool."""
        limit = timeout if timeout is not None else self._call_timeout()
        ctx = self._context(tool)
        wrapped = self.wrapped(tool)
        shown: dict[str, Any] = {}
        try:
            if tool.confirm or wrapped:
                checked = await check_arguments(tool, arguments, limit)
                if isinstance(checked, CallError):
                    return CallResult(tool.full_name, False, error=checked)
                shown = checked
                refused = self._refused(tool, shown, confirm)
                if refused is not None:
                    return refused
            if wrapped:
                origin = current_origin()
                call = ToolCall(
                    ToolView.of(tool), plain(shown), caller=origin.caller, agent=origin.agent
                )
                pending = PendingCall(call, tool, ctx, loop, limit, arguments, shown)
                value = await call_plugin(
                    run_through_middleware,
                    self._pm.hook.jaf_tool_call,
                    pending,
                    timeout=limit,
                    label=f"tool {tool.full_name}",
                )
            else:
                value = await run_tool(tool, arguments, ctx, limit)
            result = jsonable(value)
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except (HookTimeout, TimeoutError):
            error = CallError(
                "timeout",
                f"timed out after {float(limit)} s",
                tool=tool.full_name,
                plugin=tool.plugin,
            )
            return CallResult(tool.full_name, False, error=error, seconds=loop.time() - started)
        except BaseException as exc:
            return CallResult(
                tool.full_name,
                False,
                error=error_from_exception(tool, exc, self.debug),
                seconds=loop.time() - started,
            )
        return CallResult(tool.full_name, True, result=result, seconds=loop.time() - started)

    def call_inline(
        self, name: str, arguments: Any = None, *, confirm: Confirm | None = None
    ) -> CallResult | None:
        """The synchronous fast path for a sync tool no middleware wraps: runs in this
        thread with no time limit. Returns None when the call needs the async path."""
        result = self._call_inline(name, arguments, confirm)
        if result is not None and self.stats is not None:
            self.stats.record(result)
        return result

    def _call_inline(self, name: str, arguments: Any, confirm: Confirm | None) -> CallResult | None:
        tool = self._tools.get(name) or self._by_export.get(name)
        if tool is None or tool.is_async or self.wrapped(tool) or self.observing():
            return None
        if current_origin().limits:  # an agent's policy may narrow it: the async path
            return None
        if is_recorded(tool):  # its plugin starts first: the async path
            return None
        with telemetry.tool_span(tool.full_name) as span:
            result = self._inline(tool, arguments, confirm)
            span.ended(result)
        return result

    def _inline(self, tool: Tool, arguments: Any, confirm: Confirm | None) -> CallResult:
        """``call_inline`` of a tool it serves."""
        down = self._observers_down(tool)
        if down is not None:
            return CallResult(tool.full_name, False, error=down)
        if tool.confirm:
            try:
                shown = run_in_scope(effective(tool.plugin), checked_arguments, tool, arguments)
            except Exception as exc:
                return CallResult(
                    tool.full_name, False, error=error_from_exception(tool, exc, self.debug)
                )
            if isinstance(shown, CallError):
                return CallResult(tool.full_name, False, error=shown)
            refused = self._refused(tool, shown, confirm)
            if refused is not None:
                return refused
        return call_inline(tool, arguments, self._context(tool), self.debug)

    def definitions(
        self, format: str = "openai", patterns: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """The catalog as OpenAI tool definitions or MCP tool descriptions."""
        if format == "openai":
            return [to_openai(t) for t in self.tools(patterns)]
        if format == "mcp":
            return [to_mcp(t) for t in self.tools(patterns)]
        if format == "json":
            return [t.to_json() for t in self.tools(patterns)]
        raise ValueError(f"unknown format {format!r} (openai, mcp or json)")


__all__ = ["CallResult", "Confirm", "ToolRouter", "jsonable"]
