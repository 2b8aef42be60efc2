"""Handling what plugin code hands the host, under the plugin's identity.

Plugin code does not only run when the host calls a hook or a tool: a returned object's
``__repr__``, ``__str__``, ``__iter__`` or ``__del__``, an exception's ``__str__``, a
pydantic validator or serializer of a tool's types, a string annotation evaluated by
``typing.get_type_hints`` all run plugin code when the host merely looks at what it got.
Had the host looked with no plugin attributed, that code would run with the host's
full rights. So the host looks only here, in the plugin's scope (``CURRENT_PLUGIN`` set
to its identity, so the guard checks its grants), and what leaves is plain data:

- ``plain``: a JSON-ready copy made of exact ``dict``, ``list``, ``str``, ``int``,
  ``float``, ``bool`` and ``None`` (a JSON round trip, so no subclass or object of the
  plugin's survives to be touched later by host code);
- ``host_error``: an exception the plugin code raised, rebuilt as the host's own (the
  same stand-ins a worker's errors become, ``isolation.protocol``), its text read here;
  a ``__str__`` that fails gives a text naming the plugin instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from jafhost.errors import HookTimeout, PermissionDenied, PluginExit, ProviderError, ToolError
from jafhost.security.guard import CURRENT_PLUGIN, running_plugin

T = TypeVar("T")
ERROR_CODES = (
    "busy",
    "invalid_arguments",
    "not_found",
    "permission_denied",
    "timeout",
    "tool_error",
    "unavailable",
)


class plugin_scope:  # named like a function: ``with plugin_scope(identity):``
    """Run the block as plugin ``identity``: the guard checks its grants."""

    __slots__ = ("identity", "token")

    def __init__(self, identity: str) -> None:
        self.identity = identity

    def __enter__(self) -> None:
        self.token = CURRENT_PLUGIN.set(self.identity)

    def __exit__(self, *exc: object) -> None:
        CURRENT_PLUGIN.reset(self.token)


def run_in_scope(identity: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` as plugin ``identity``; what it raises is rebuilt as the host's own."""
    token = CURRENT_PLUGIN.set(identity)
    try:
        try:
            return fn(*args)
        except BaseException as exc:  # rebuilt below, outside the handler
            error = host_error(exc)
        raise error
    finally:
        CURRENT_PLUGIN.reset(token)


class _NotPlain(Exception):
    """Raised by ``_copy`` for anything but small data of exact built-in types."""


_SCALARS = frozenset({str, int, float, bool, type(None)})
_BUDGET = 256
"""Values ``_copy`` walks before handing a large result to the (C) JSON round trip."""


def _copy(value: Any, budget: list[int]) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    budget[0] -= 1
    if budget[0] < 0:
        raise _NotPlain
    if kind is dict:
        copy = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            copy[key] = _copy(item, budget)
        return copy
    if kind is list:
        return [_copy(item, budget) for item in value]
    raise _NotPlain


def plain(value: Any) -> Any:
    """A JSON-ready copy of ``value`` of exact built-in types only (call it in the scope
    of the plugin ``value`` came from: its serializers and ``__repr__`` run). Small data
    that already is plain is copied directly; anything else takes a JSON round trip."""
    try:
        return _copy(value, [_BUDGET])
    except _NotPlain:
        pass
    from pydantic_core import to_jsonable_python  # only for data that is not plain already

    return json.loads(json.dumps(to_jsonable_python(value, fallback=repr)))


def exact_str(value: Any) -> str:
    """``value`` as an exact ``str`` (a subclass's methods could run plugin code later)."""
    text = value if isinstance(value, str) else str(value)
    return str.__str__(text)


def _name() -> str:
    plugin = running_plugin()
    return f"plugin {plugin}" if plugin else "plugin code"


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


def _error_data(exc: BaseException) -> dict[str, Any]:
    denial = _denial(exc)
    if denial is not None:
        return {
            "kind": "permission_denied",
            "message": str(denial),
            "permission": str(denial.permission or ""),
            "plugin": str(denial.plugin or ""),
        }
    if isinstance(exc, ToolError) and exc.code in ERROR_CODES:
        data: dict[str, Any] = {"kind": "coded", "code": str(exc.code), "message": str(exc)}
        fields = getattr(exc, "fields", None)
        if fields:
            data["fields"] = plain(list(fields))
        return data
    if isinstance(exc, HookTimeout):
        return {"kind": "timeout", "message": str(exc)}
    text = str(exc).strip()
    if not isinstance(exc, Exception) or isinstance(exc, PluginExit):
        if isinstance(exc, PluginExit):
            return {"kind": "exit", "message": text}
        return {"kind": "exit", "message": f"{type(exc).__name__}: {text}".rstrip(": ")}
    return {"kind": "exception", "type": str(type(exc).__name__), "message": text}


def host_error(exc: BaseException) -> BaseException:
    """``exc`` (raised by plugin code, caught in its scope) rebuilt as the host's own
    exception, its text read here. A cancellation passes as a new ``CancelledError``
    (the caller tells the host's own from the plugin's); ``KeyboardInterrupt``,
    ``SystemExit`` and every other ``BaseException`` become ``PluginExit`` naming the
    plugin. Plugin code runs in daemon threads and on its own loop, where no signal is
    delivered, so what it raises is its own, never the user's Ctrl-C (except where the
    caller runs it in its own thread: ``call_inline``)."""
    import asyncio

    from jafhost.runtime.isolation.protocol import error_from_json

    if isinstance(exc, asyncio.CancelledError):
        return asyncio.CancelledError()
    name = _name()
    if isinstance(exc, ProviderError):  # its message is written for the user: kept as is
        try:
            return ProviderError(plain(str(exc)))
        except BaseException:
            return ProviderError(f"{name}: a model provider failed in a way that cannot be shown")
    try:
        data = plain(_error_data(exc))
        import traceback

        data["traceback"] = plain("".join(traceback.format_exception(exc)))
    except BaseException:  # its text cannot be read: say so instead
        data = {
            "kind": "exception",
            "type": "Exception",
            "message": f"{name} raised an exception whose text cannot be shown",
        }
    fields = data.pop("fields", None)
    error = _local(error_from_json(data, name.removeprefix("plugin ")))
    if fields:
        error.fields = fields  # type: ignore[attr-defined]
    return error


def _local(error: BaseException) -> BaseException:
    """The worker's note says "in the worker": here the traceback is the host's own."""
    notes = getattr(error, "__notes__", None)
    if notes:
        error.__notes__ = [
            n.replace("in the worker of plugin", "raised by plugin", 1) for n in notes
        ]
    return error
