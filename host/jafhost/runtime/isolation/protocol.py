"""What host and worker say to each other: newline-delimited JSON, and exceptions as JSON.

Both sides import this module: the worker (``jafhost.runtime.isolation.worker``) sends
through a ``Channel``; the host's pipe client (``client.WorkerClient``) reads with ``decode``.
An exception raised in the worker travels as ``error_to_json`` and is raised again on
the host by ``error_from_json``, so a caller sees the same error in both isolation modes.
Only the standard library is imported up front: the worker imports this module before
its sandbox is applied; pydantic_core comes with the first message, the exception types
when an error crosses.

Requests carry an ``id`` and the reply repeats it (ops: ``init``, ``start``, ``call``,
``event``, ``hook``, ``ping``, ``stop``); notices carry none (``emit``, ``denied``).
The host accepts exactly one reply per request id; anything else stops the worker
(``pipe``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

NOTICES = ("emit", "denied")
"""Messages the worker sends on its own, between or during requests."""


def encode(message: Any) -> bytes:
    """One message as JSON (without the newline); anything unknown becomes its repr."""
    import pydantic_core

    return pydantic_core.to_json(message, fallback=repr)


def decode(line: bytes) -> Any:
    import pydantic_core

    return pydantic_core.from_json(line)


class Channel:
    """The worker's end: newline-delimited JSON over two pipe descriptors, blocking;
    sends are thread-safe (plugin threads send notices)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._reader = os.fdopen(read_fd, "rb", buffering=1 << 16)
        self._write_fd = write_fd
        self._lock = threading.Lock()

    def receive(self) -> Any:
        line = self._reader.readline()
        if not line:
            return None
        return decode(line)

    def send(self, message: Any) -> None:
        self.send_bytes(encode(message) + b"\n")

    def send_bytes(self, data: bytes) -> None:
        view = memoryview(data)
        with self._lock:
            while view:
                written = os.write(self._write_fd, view)
                view = view[written:]


# -- exceptions across the boundary ---------------------------------------------------------


def error_to_json(exc: BaseException, with_traceback: bool = True) -> dict[str, Any]:
    """An exception raised in the worker, as the host raises it again (``kind`` says how)."""
    import traceback

    from jafhost.errors import HookTimeout, PermissionDenied, ToolError, describe
    from jafhost.runtime.dispatch import ERROR_CODES

    data: dict[str, Any]
    if isinstance(exc, PermissionDenied):
        data = {
            "kind": "permission_denied",
            "message": str(exc),
            "permission": exc.permission,
            "plugin": exc.plugin,
        }
    elif isinstance(exc, ToolError) and exc.code in ERROR_CODES:
        data = {"kind": "coded", "code": exc.code, "message": str(exc)}
    elif isinstance(exc, HookTimeout):
        data = {"kind": "timeout", "message": str(exc)}
    elif not isinstance(exc, Exception):
        data = {"kind": "exit", "message": describe(exc)}
    else:
        data = {"kind": "exception", "type": type(exc).__name__, "message": str(exc)}
    if with_traceback:
        data["traceback"] = "".join(traceback.format_exception(exc))
    return data


class RemoteError(Exception):
    """Base of the stand-ins for exceptions raised in a worker (same class name)."""


_REMOTE_TYPES: dict[str, type[RemoteError]] = {}


def remote_type(name: str) -> type[RemoteError]:
    """The stand-in class for an exception class of the worker called ``name``."""
    found = _REMOTE_TYPES.get(name)
    if found is None:
        found = type(name, (RemoteError,), {"__module__": __name__})
        _REMOTE_TYPES[name] = found
    return found


def error_from_json(error: dict[str, Any], plugin: str) -> BaseException:
    """The exception to raise on the host for an ``error`` of the worker of ``plugin``."""
    from jafhost.errors import HookTimeout, PermissionDenied, PluginExit, ToolError

    kind = error.get("kind")
    message = str(error.get("message", ""))
    exc: BaseException
    if kind == "permission_denied":
        exc = PermissionDenied(
            message,
            plugin=error.get("plugin") or plugin,
            permission=error.get("permission") or "",
        )
    elif kind == "invalid":
        exc = ToolError(message, plugin=plugin, code="invalid_arguments")
        exc.fields = error.get("fields", [])  # type: ignore[attr-defined]
    elif kind == "coded":
        exc = ToolError(message, plugin=plugin, code=str(error.get("code")))
    elif kind == "timeout":
        exc = HookTimeout(message)
    elif kind == "exit":
        exc = PluginExit(message)
    elif kind == "memory":  # the worker exits after this answer
        exc = remote_type("MemoryError")(
            f"plugin {plugin}: {message}; its worker was stopped and a new one "
            "starts on the next call"
        )
    else:
        exc = remote_type(str(error.get("type") or "Exception"))(message)
    remote = error.get("traceback")
    if remote:
        exc.add_note(f"in the worker of plugin {plugin}:\n{remote.rstrip()}")
    return exc
