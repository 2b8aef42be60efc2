"""Route one agent action to a tool: validate, check, run, and shape the outcome.

Every call ends in a ``CallResult``: the tool's result as JSON-ready data, or a
structured error whose ``code`` is one of ``invalid_arguments``, ``not_found``,
``permission_denied``, ``timeout``, ``tool_error`` or ``unavailable`` (the tool's plugin
is known but not active). Nothing a tool does (raise,
hang, exit) escapes as an exception to the caller.

Two paths: ``call_inline`` runs a sync tool in the caller's thread (validation, the
plugin's context, the call: the fast path, no time limit; a Ctrl-C that interrupts the
tool there is reported as its error) and ``call`` (async) runs sync tools in a worker
thread and async tools on their plugin's own loop (``plugin_loops``), both under a time
limit, and passes through the ``jaf_tool_call`` middleware when any plugin provides it.

Validation (the tool's pydantic validators), the call and the conversion of the result
to JSON-ready data (its serializers, ``__repr__``...) all run as the tool's plugin
(``scope``): what comes back to the host is plain data or the host's own exception. In
an agent's call whose policy names that plugin, "as the plugin" means under its narrowed
identity (``security.narrowing.effective``): the guard checks grants AND policy.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from jafhost.errors import HookTimeout, PermissionDenied, ToolError, describe
from jafhost.hookspecs import hookimpl
from jafhost.runtime.call_origin import current_origin
from jafhost.runtime.runner import call_plugin
from jafhost.runtime.scope import ERROR_CODES as ERROR_CODES
from jafhost.runtime.scope import _denial, plain, plugin_scope, run_in_scope
from jafhost.security.narrowing import effective
from jafhost.types import CallError, CallResult, ToolCall

if TYPE_CHECKING:
    from jafhost.tools import Tool
    from jafhost.types import PluginContext, RunContext


def jsonable(value: Any) -> Any:
    """The host's own data as JSON-ready data: pydantic models, dataclasses, paths, sets,
    dates... (what a plugin returns goes through ``scope.plain`` in its scope instead)."""
    return to_jsonable_python(value, fallback=repr)


def in_process(tool: Tool) -> bool:
    """Whether the tool's code runs in this process (a process-isolated plugin's tools
    are stand-ins whose arguments and results are the host's own JSON)."""
    return tool.extras.get("isolation") != "process"


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
    tool: Tool, kwargs: dict[str, Any], ctx: PluginContext | None, run: RunContext | None = None
) -> tuple[list[Any], dict[str, Any]]:
    """The call's positional and keyword arguments, with the ``PluginContext`` and the
    ``RunContext`` (``run``, else the origin of the call being routed) where it asks."""
    if tool.context_param is not None:
        kwargs[tool.context_param] = ctx
    if tool.run_context_param is not None:
        kwargs[tool.run_context_param] = run or current_origin().run_context(True)
    if not tool.positional:
        return [], kwargs
    return [kwargs.pop(name) for name in tool.positional], kwargs


@dataclass(frozen=True)
class Converted:
    """A tool's result, already converted to plain data in its plugin's scope."""

    value: Any


def _call_converted(tool: Tool, kwargs: dict[str, Any], ctx: PluginContext | None) -> Any:
    """In the tool's scope: call it and convert what it returns (an awaitable is handed
    back to be awaited, then converted by ``convert``)."""
    args, kwargs = arguments_for(tool, kwargs, ctx)
    value = tool.function(*args, **kwargs)
    if inspect.isawaitable(value):
        return value
    return Converted(plain(value))


def _validated_call(tool: Tool, arguments: Any, ctx: PluginContext | None) -> Any:
    """In the tool's scope: validate, then call and convert; an ``invalid_arguments``
    ``CallError`` when the arguments do not validate."""
    kwargs = validate(tool, arguments)
    if isinstance(kwargs, CallError):
        return kwargs
    return _call_converted(tool, kwargs, ctx)


def checked_arguments(tool: Tool, arguments: Any) -> dict[str, Any] | CallError:
    """In the tool's scope: the validated arguments as plain JSON data (what a user
    confirms and middleware sees), or the ``invalid_arguments`` error."""
    kwargs = validate(tool, arguments)
    if isinstance(kwargs, CallError):
        return kwargs
    shown = plain(kwargs)
    return shown if isinstance(shown, dict) else {}


def convert(value: Any) -> Any:
    """In the tool's scope: ``value`` as plain data (idempotent on ``Converted``)."""
    return value.value if isinstance(value, Converted) else plain(value)


def call_inline(
    tool: Tool, arguments: Any, ctx: PluginContext | None, debug: bool = False
) -> CallResult:
    """The fast path: validate and run a tool in this thread, with no time limit.

    Async tools are refused here (they need the event loop); use ``call``.
    """
    started = time.perf_counter()
    try:
        outcome = run_in_scope(effective(tool.plugin), _validated_call, tool, arguments, ctx)
        if isinstance(outcome, CallError):
            return CallResult(tool.full_name, False, error=outcome)
        value = convert(outcome) if isinstance(outcome, Converted) else None
        if not isinstance(outcome, Converted):  # an awaitable from a sync function
            with plugin_scope(effective(tool.plugin)):
                if inspect.iscoroutine(outcome):
                    outcome.close()
                del outcome
            raise ToolError(f"tool {tool.full_name} returned an awaitable: call it with await")
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        error = error_from_exception(tool, exc, debug)
        return CallResult(tool.full_name, False, error=error, seconds=time.perf_counter() - started)
    return CallResult(tool.full_name, True, result=value, seconds=time.perf_counter() - started)


async def run_tool(
    tool: Tool, arguments: Any, ctx: PluginContext | None, timeout: float | None
) -> Any:
    """Validate ``arguments``, run the tool and convert its result to plain data, all
    under its plugin's identity and within the time limit. Returns the plain result;
    raises ``ToolError(code="invalid_arguments")`` when the arguments do not validate,
    and the host's own rebuild of whatever the tool raised. (An async tool's arguments
    are validated and its result converted on the loop, as the call itself runs.)"""
    label = f"tool {tool.full_name}"
    if not in_process(tool):  # validated in its worker; here only a JSON object
        if arguments is not None and not isinstance(arguments, dict):
            refused = validate(tool, arguments)
            if isinstance(refused, CallError):
                raise _invalid(refused)
        kwargs = dict(arguments) if arguments is not None else {}
        timed = tool.extras.get("timed")
        if timed is not None:  # its workers apply the limit: counted once one takes the call
            return await timed(kwargs, timeout)
        return await call_plugin(tool.function, timeout=timeout, label=label, kwargs=kwargs)
    with plugin_scope(effective(tool.plugin)):
        if tool.is_async:
            # validation, the coroutine and the conversion in one step on the plugin's
            # loop (none of its code, a validator included, runs on the host's loop)
            outcome = await call_plugin(
                _run_async, tool, arguments, ctx, timeout=timeout, label=label
            )
            if isinstance(outcome, CallError):
                raise _invalid(outcome)
            return outcome
        outcome = await call_plugin(
            _validated_call, tool, arguments, ctx, timeout=timeout, label=label
        )
        if isinstance(outcome, CallError):
            raise _invalid(outcome)
        if isinstance(outcome, Converted):
            return outcome.value
        # a sync function that returned an awaitable: awaited, then converted here
        value = await call_plugin(_awaited, outcome, timeout=timeout, label=label)
        del outcome
        result = run_in_scope(effective(tool.plugin), convert, value)
        del value
        return result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


async def _run_async(tool: Tool, arguments: Any, ctx: PluginContext | None) -> Any:
    """As the tool's plugin, on its loop: validate, await the call, convert the result
    to plain data; an ``invalid_arguments`` ``CallError`` when the arguments do not
    validate."""
    outcome = _validated_call(tool, arguments, ctx)
    if isinstance(outcome, CallError | Converted):
        return outcome.value if isinstance(outcome, Converted) else outcome
    value = await outcome
    del outcome
    return plain(value)


def _invalid(error: CallError) -> ToolError:
    exc = ToolError(error.message, plugin=error.plugin, code="invalid_arguments")
    exc.fields = list(error.fields)  # type: ignore[attr-defined]
    return exc


async def check_arguments(
    tool: Tool, arguments: Any, timeout: float | None
) -> dict[str, Any] | CallError:
    """``checked_arguments`` in a worker thread under the tool's plugin and the time
    limit (a process-isolated tool's arguments are checked in its worker: here they
    only need to be a JSON object)."""
    if not in_process(tool):
        if arguments is None:
            return {}
        return dict(arguments) if isinstance(arguments, dict) else validate(tool, arguments)
    with plugin_scope(effective(tool.plugin)):
        return await call_plugin(  # type: ignore[no-any-return]
            checked_arguments, tool, arguments, timeout=timeout, label=f"tool {tool.full_name}"
        )


@dataclass
class PendingCall:
    """What the innermost step of the middleware chain runs: kept by the host, never in
    the ``ToolCall`` middleware gets (which it may change at will)."""

    call: ToolCall
    tool: Tool
    ctx: PluginContext | None
    loop: asyncio.AbstractEventLoop
    timeout: float | None
    arguments: Any
    """The arguments as the caller gave them: what runs when middleware left them be."""
    shown: dict[str, Any]
    """The validated arguments as plain data, as middleware first saw them (and, for a
    ``confirm=True`` tool, as the user confirmed them)."""


_PENDING: contextvars.ContextVar[PendingCall | None] = contextvars.ContextVar(
    "jafhost_pending_call", default=None
)


def called_plugin() -> str | None:
    """The plugin whose tool the middleware chain running in this thread was started
    for (None outside a chain): middleware without ``observe`` wraps only its own."""
    pending = _PENDING.get()
    return None if pending is None else pending.tool.plugin


@dataclass(frozen=True)
class ToolView:
    """What middleware sees of the tool being called (``types.ToolInfo``): a copy, so
    no middleware can change the catalog's tool, its function or its validator."""

    plugin: str
    name: str
    full_name: str
    description: str
    input_schema: dict[str, Any]

    @classmethod
    def of(cls, tool: Tool) -> ToolView:
        return cls(
            str(tool.plugin),
            tool.name,
            tool.full_name,
            tool.description,
            plain(tool.input_schema),
        )


def run_through_middleware(hook: Callable[..., Any], pending: PendingCall) -> Any:
    """In a worker thread: the pluggy hook call whose innermost step runs the tool.

    Async tools are sent back to the loop and awaited from here, so middleware always
    sees the tool's actual result.
    """
    _PENDING.set(pending)
    return hook(call=pending.call)


class Terminal:
    """The host's own ``jaf_tool_call`` implementation: the innermost step, the tool.

    Registered ``trylast`` so caches (plain implementations returning a value) answer
    before it, and every wrapper sees what it returns. It runs the tool the call was
    made for with the arguments as middleware left them, validated again; a confirmed
    call runs only with the arguments the user confirmed.
    """

    @hookimpl(trylast=True)
    def jaf_tool_call(self, call: ToolCall) -> Any:
        pending = _PENDING.get()
        if pending is None or pending.call is not call:
            raise ToolError("a tool call reached the host outside of its own call")
        tool = pending.tool
        changed = call.arguments != pending.shown
        arguments = call.arguments if changed else pending.arguments
        if changed and tool.confirm:
            raise PermissionDenied(
                f"tool {tool.full_name} was confirmed with other arguments: middleware "
                "changed them after the confirmation, so the call was refused",
                plugin=tool.plugin,
                permission="confirm",
            )
        running = run_tool(tool, arguments, pending.ctx, pending.timeout)
        try:
            future = asyncio.run_coroutine_threadsafe(running, pending.loop)
        except RuntimeError:  # the host's loop is closed: the call was given up long ago
            running.close()
            raise
        return future.result()
