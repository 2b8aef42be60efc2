"""What host and worker say to each other: length-prefixed JSON frames, and exceptions as JSON.

A frame is a 4-byte big-endian unsigned length followed by that many bytes of JSON, in
both directions. A frame longer than the limit (``[host] max_result_mb``) is refused by
whoever would send it, and by whoever would read it before its body is read
(``FrameTooLarge``), so neither side's memory grows past the limit.

Both sides import this module: the worker (``jafhost.runtime.isolation.worker``) sends
through a ``Channel``; the host's pipe client (``client.WorkerClient``) reads with a
``FrameReader`` (``pipe``).
An exception raised in the worker travels as ``error_to_json`` and is raised again on
the host by ``error_from_json``, so a caller sees the same error in both isolation modes.
Only the standard library is imported up front: the worker imports this module before
its sandbox is applied; pydantic_core comes with the first message, the exception types
when an error crosses.

Requests carry an ``id`` and the reply repeats it (ops: ``init``, ``start``, ``call``,
``event``, ``hook``, ``integration``, ``ping``, ``stop``); notices carry none (``emit``,
``denied``, ``ask``); the host's ``answer`` to an ``ask`` carries its ``ref``.
The host accepts exactly one reply per request id; anything else stops the worker
(``pipe``).
"""

from __future__ import annotations

import os
import struct
import threading
from collections import deque
from typing import Any

NOTICES = ("emit", "denied", "ask")
"""Messages the worker sends on its own, between or during requests. ``ask`` (with a
``ref``) only during a request, one at a time: the worker asks the host for an
integration of another plugin and waits for the host's ``answer`` (same ``ref``)."""

MB = 1024 * 1024
DEFAULT_MAX_MB = 64
"""``[host] max_result_mb`` unless configured: the largest frame either side accepts."""
HEADER = struct.Struct(">I")
"""A frame's header: the length of its JSON body, 4 bytes big-endian unsigned."""
MAX_FRAME = (1 << 32) - 1
"""The longest body a header can announce."""


class FrameTooLarge(ValueError):
    """A frame longer than the limit: refused before it is sent, or before its body is
    read."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a frame of {size} bytes, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


def encode(message: Any) -> bytes:
    """One message as JSON (the body of a frame); anything unknown becomes its repr."""
    import pydantic_core

    return pydantic_core.to_json(message, fallback=repr)


def decode(body: bytes | bytearray) -> Any:
    import pydantic_core

    return pydantic_core.from_json(body)


def frame(body: bytes, limit: int = MAX_FRAME) -> bytes:
    """``body`` with its header; ``FrameTooLarge`` when it is longer than ``limit``."""
    if len(body) > min(limit, MAX_FRAME):
        raise FrameTooLarge(len(body), limit)
    return HEADER.pack(len(body)) + body


class FrameReader:
    """Frames out of a byte stream that arrives in chunks of any size (``feed``).

    A header announcing more than ``limit`` bytes raises ``FrameTooLarge`` as soon as its
    4 bytes are in, before any of the body is read; a body is read into a buffer of its
    announced size, so a large frame costs linear time and at most ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.frames: deque[bytearray] = deque()
        """Complete frame bodies, oldest first."""
        self._header = bytearray()
        self._body: bytearray | None = None
        self._filled = 0

    @property
    def partial(self) -> bool:
        """Part of a frame has arrived, not all of it."""
        return bool(self._header) or self._body is not None

    @property
    def missing(self) -> int:
        """How many bytes the frame being read still lacks (its header's, else its body's)."""
        if self._body is not None:
            return len(self._body) - self._filled
        return HEADER.size - len(self._header)

    def feed(self, data: bytes | bytearray | memoryview) -> int:
        """Take in ``data``; returns how many frames it completed. ``FrameTooLarge`` for a
        header over the limit (the bytes after it are not taken in)."""
        if not self._header and self._body is None and len(data) >= HEADER.size:
            (size,) = HEADER.unpack_from(data)
            if size == len(data) - HEADER.size and size <= self.limit:  # one whole frame
                self.frames.append(bytearray(data[HEADER.size :]))
                return 1
        view = memoryview(data)
        done = 0
        while view:
            if self._body is None:
                take = HEADER.size - len(self._header)
                self._header += view[:take]
                view = view[take:]
                if len(self._header) < HEADER.size:
                    break
                (size,) = HEADER.unpack(self._header)
                self._header.clear()
                if size > self.limit:
                    raise FrameTooLarge(size, self.limit)
                self._body = bytearray(size)
                self._filled = 0
            body = self._body
            take = min(len(body) - self._filled, len(view))
            body[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == len(body):
                self.frames.append(body)
                self._body = None
                done += 1
        return done

    def clear(self) -> None:
        self.frames.clear()
        self._header.clear()
        self._body = None
        self._filled = 0


class Channel:
    """The worker's end: length-prefixed JSON frames over two pipe descriptors, blocking;
    sends are thread-safe (plugin threads send notices). ``limit``: the longest frame
    received or sent (set from ``init``; until then the default)."""

    def __init__(self, read_fd: int, write_fd: int, limit: int = DEFAULT_MAX_MB * MB) -> None:
        self._reader = os.fdopen(read_fd, "rb", buffering=1 << 16)
        self._write_fd = write_fd
        self._lock = threading.Lock()
        self.limit = limit

    def decode(self, body: bytes) -> Any:
        return decode(body)

    def encode(self, message: Any) -> bytes:
        return encode(message)

    def receive(self) -> Any:
        """The next message; None once the host closed its end. ``FrameTooLarge`` for a
        header over the limit."""
        header = self._reader.read(HEADER.size)
        if len(header) < HEADER.size:
            return None
        (size,) = HEADER.unpack(header)
        if size > self.limit:
            raise FrameTooLarge(size, self.limit)
        body = self._reader.read(size)
        if len(body) < size:
            return None
        return self.decode(body)

    def send(self, message: Any) -> None:
        """Send one message; ``FrameTooLarge`` (nothing sent) when it is over the limit."""
        self.send_bytes(frame(self.encode(message), self.limit))

    def send_bytes(self, data: bytes) -> None:
        """Write bytes as they are (whole frames: ``frame``)."""
        view = memoryview(data)
        with self._lock:
            while view:
                written = os.write(self._write_fd, view)
                view = view[written:]


class JsonChannel(Channel):
    """A ``Channel`` that needs no pydantic_core for plain data (the one-shot worker):
    the standard library's ``json``; anything it cannot write exactly (not finite
    floats, other types) is written by ``encode`` as every worker writes it."""

    def decode(self, body: bytes) -> Any:
        return json_decode(body)

    def encode(self, message: Any) -> bytes:
        return json_encode(message)


def json_encode(message: Any) -> bytes:
    """``message`` as ``encode`` writes it, by the standard library when it can."""
    import json

    try:
        return json.dumps(
            message, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):
        return encode(message)


def json_decode(body: bytes | bytearray) -> Any:
    import json

    return json.loads(body)


# -- exceptions across the boundary ---------------------------------------------------------


def error_to_json(exc: BaseException, with_traceback: bool = True) -> dict[str, Any]:
    """An exception raised in the worker, as the host raises it again (``kind`` says how)."""
    import traceback

    from jafhost.errors import HookTimeout, PermissionDenied, PluginExit, ToolError, describe
    from jafhost.runtime.dispatch import ERROR_CODES
    from jafhost.runtime.scope import _denial

    data: dict[str, Any]
    exc = _denial(exc) or exc  # a denial a library wrapped (urllib's URLError) is still one
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
    elif not isinstance(exc, Exception) or isinstance(exc, PluginExit):
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
    elif kind == "exit":  # named here: "KeyboardInterrupt" alone reads like the user's Ctrl-C
        exc = PluginExit(
            message if message.startswith("plugin ") else f"plugin {plugin} raised {message}"
        )
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
