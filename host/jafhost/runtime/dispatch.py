"""Route one agent action to a tool: validate, check, run, and shape the outcome.

Every call ends in a ``CallResult``: the tool's result as JSON-ready data, or a
structured error whose ``code`` is one of ``invalid_arguments``, ``not_found``,
``permission_denied``, ``timeout``, ``tool_error`` or ``unavailable`` (the tool's plugin
is known but not active). Nothing a tool does (raise,
hang, exit) escapes as an exception to the caller.

Two paths: ``call_inline`` runs a sync tool in the caller's thread (validation, the
plugin's context, the call: the fast path, no time limit) and ``call`` (async) runs
sync tools in a worker thread and async tools on the loop, both under a time limit,
and passes through the ``jaf_tool_call`` middleware when any plugin provides it.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from jafhost.errors import HookTimeout, PermissionDenied, ToolError, describe
from jafhost.hookspecs import hookimpl
from jafhost.runtime.runner import call_plugin
from jafhost.security.guard import CURRENT_PLUGIN
from jafhost.types import CallError, CallResult, ToolCall

if TYPE_CHECKING:
    from jafhost.tools import Tool
    from jafhost.types import PluginContext

ERROR_CODES = (
    "invalid_arguments",
    "not_found",
    "permission_denied",
    "timeout",
    "tool_error",
    "unavailable",
)


def jsonable(value: Any) -> Any:
    """Results as JSON-ready data: pydantic models, dataclasses, paths, sets, dates..."""
    return to_jsonable_python(value, fallback=repr)


def invalid_arguments(tool: Tool, errors: list[dict[str, Any]]) -> CallError:
    fields = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ())) or "(arguments)"
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "extra_forbidden":
            message = "unexpected argument"
        fields.append({"field": where, "message": message})
    text = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return CallError(
        "invalid_arguments",
        f"invalid arguments: {text}",
        tool=tool.full_name,
        plugin=tool.plugin,
        fields=fields,
    )


def validate(tool: Tool, arguments: Any) -> dict[str, Any] | CallError:
    """Validated keyword arguments, or the ``invalid_arguments`` error naming each field."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return CallError(
            "invalid_arguments",
            "invalid arguments: the arguments must be a JSON object",
            tool=tool.full_name,
            plugin=tool.plugin,
        )
    try:
        return dict(tool.validator.validate_python(arguments).__dict__)
    except ValidationError as exc:
        return invalid_arguments(tool, exc.errors())  # type: ignore[arg-type]


def _denial(exc: BaseException) -> PermissionDenied | None:
    """The guard's denial behind ``exc``, if any: libraries wrap it (urllib raises
    ``URLError(reason=PermissionDenied(...))``, others chain it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, PermissionDenied):
            return current
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        if isinstance(reason, PermissionDenied):
            return reason
        current = current.__cause__ or current.__context__
    return None


def error_from_exception(tool: Tool, exc: BaseException, debug: bool = False) -> CallError:
    """Map what a tool (or middleware) raised to a structured error."""
    exc = _denial(exc) or exc
    if isinstance(exc, PermissionDenied):
        return CallError(
            "permission_denied",
            f"permission denied: {exc}",
            tool=tool.full_name,
            plugin=exc.plugin or tool.plugin,
            permission=exc.permission or None,
        )
    if isinstance(exc, ToolError) and exc.code in ERROR_CODES:
        return CallError(
            exc.code,
            str(exc),
            tool=tool.full_name,
            plugin=tool.plugin,
            fields=list(getattr(exc, "fields", None) or []),
        )
    if isinstance(exc, HookTimeout | asyncio.TimeoutError):
        return CallError("timeout", str(exc), tool=tool.full_name, plugin=tool.plugin)
    kind = exc.__class__.__name__
    return CallError(
        "tool_error",
        describe(exc),
        tool=tool.full_name,
        plugin=tool.plugin,
        exception=kind,
        traceback="".join(traceback.format_exception(exc)) if debug else None,
    )


def arguments_for(
    tool: Tool, kwargs: dict[str, Any], ctx: PluginContext | None
) -> tuple[list[Any], dict[str, Any]]:
    if tool.context_param is not None:
        kwargs[tool.context_param] = ctx
    if not tool.positional:
        return [], kwargs
    return [kwargs.pop(name) for name in tool.positional], kwargs


def call_inline(
    tool: Tool, arguments: Any, ctx: PluginContext | None, debug: bool = False
) -> CallResult:
    """The fast path: validate and run a tool in this thread, with no time limit.

    Async tools are refused here (they need the event loop); use ``call``.
    """
    started = time.perf_counter()
    kwargs = validate(tool, arguments)
    if isinstance(kwargs, CallError):
        return CallResult(tool.full_name, False, error=kwargs)
    args, kwargs = arguments_for(tool, kwargs, ctx)
    token = CURRENT_PLUGIN.set(tool.plugin)
    try:
        value = tool.function(*args, **kwargs)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        error = error_from_exception(tool, exc, debug)
        return CallResult(tool.full_name, False, error=error, seconds=time.perf_counter() - started)
    finally:
        CURRENT_PLUGIN.reset(token)
    return CallResult(
        tool.full_name, True, result=jsonable(value), seconds=time.perf_counter() - started
    )


async def run_tool(
    tool: Tool, kwargs: dict[str, Any], ctx: PluginContext | None, timeout: float | None
) -> Any:
    """Run the tool itself under its plugin's identity and the time limit."""
    args, kwargs = arguments_for(tool, dict(kwargs), ctx)
    token = CURRENT_PLUGIN.set(tool.plugin)
    try:
        return await call_plugin(
            tool.function, *args, timeout=timeout, label=f"tool {tool.full_name}", kwargs=kwargs
        )
    finally:
        CURRENT_PLUGIN.reset(token)


def run_through_middleware(
    hook: Callable[..., Any],
    tool: Tool,
    call: ToolCall,
    ctx: PluginContext | None,
    loop: asyncio.AbstractEventLoop,
    timeout: float | None,
) -> Any:
    """In a worker thread: the pluggy hook call whose innermost step runs the tool.

    Async tools are sent back to the loop and awaited from here, so middleware always
    sees the tool's actual result.
    """
    call.meta["_jafhost_run"] = lambda: asyncio.run_coroutine_threadsafe(
        run_tool(tool, call.arguments, ctx, timeout), loop
    ).result()
    return hook(call=call)


class Terminal:
    """The host's own ``jaf_tool_call`` implementation: the innermost step, the tool.

    Registered ``trylast`` so caches (plain implementations returning a value) answer
    before it, and every wrapper sees what it returns.
    """

    @hookimpl(trylast=True)
    def jaf_tool_call(self, call: ToolCall) -> Any:
        return call.meta.pop("_jafhost_run")()
