"""``Pipe``: the host's end of a worker's pipe pair, read and written without blocking.

The read end stays registered with the event loop while the pipe is open (no
registration per request); ``_on_readable`` fills the buffer and wakes the request
waiting for a reply. Notices the worker sends between requests are handed on at once,
those that arrive during a request on the way to its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from jafhost.runtime.isolation.protocol import NOTICES, decode, encode


class PipeClosed(Exception):
    """The worker's end is gone; ``delivered`` is False when nothing of the message
    was written (the worker had ended before it)."""

    def __init__(self, delivered: bool) -> None:
        super().__init__("the worker's pipe is closed")
        self.delivered = delivered


class Pipe:
    """Newline-delimited JSON to and from one worker; ``on_notice`` gets its notices."""

    def __init__(
        self, read_fd: int, write_fd: int, on_notice: Callable[[dict[str, Any]], None]
    ) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._on_notice = on_notice
        self._buffer = bytearray()
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None
        self._reader_loop: asyncio.AbstractEventLoop | None = None

    @property
    def closed(self) -> bool:
        """The worker closed its end (it ended), or ``close`` was called."""
        return self._eof or self._read_fd < 0

    def close(self) -> None:
        self._unwatch()
        self._eof = True
        for fd in (self._read_fd, self._write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._read_fd = self._write_fd = -1

    # -- reading -----------------------------------------------------------------------

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._reader_loop is loop or self._read_fd < 0:
            return
        self._unwatch()
        loop.add_reader(self._read_fd, self._on_readable)
        self._reader_loop = loop

    def _unwatch(self) -> None:
        loop, self._reader_loop = self._reader_loop, None
        if loop is not None and not loop.is_closed() and self._read_fd >= 0:
            with contextlib.suppress(Exception):  # another thread's loop, or closing
                loop.remove_reader(self._read_fd)

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._read_fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self._buffer += chunk
        else:
            self._eof = True
            self._unwatch()
        waiter = self._waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
        elif chunk:
            self._drain_notices()

    def _drain_notices(self) -> None:
        """Between requests: handle complete notices now (nothing else is expected)."""
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            with contextlib.suppress(ValueError):
                message = decode(line)
                if isinstance(message, dict) and "id" not in message:
                    self._on_notice(message)

    async def receive(self) -> dict[str, Any]:
        """The next message that is not a notice (notices are handled on the way);
        ``PipeClosed`` once the worker's end is gone."""
        loop = asyncio.get_running_loop()
        self._watch(loop)
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                message = decode(line)
                if not isinstance(message, dict):
                    continue
                if "id" not in message and message.get("op") in NOTICES:
                    self._on_notice(message)
                    continue
                return message
            if self.closed:
                raise PipeClosed(delivered=True)
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None

    def spin(self, seconds: float) -> None:
        """Wait briefly for a reply without the event loop: a small call answers in
        tens of microseconds, sooner than the loop's own wake-up would notice."""
        deadline = time.perf_counter() + seconds
        while b"\n" not in self._buffer and not self._eof:
            try:
                chunk = os.read(self._read_fd, 1 << 16)
            except BlockingIOError:
                if time.perf_counter() >= deadline:
                    return
                continue
            except OSError:
                return
            if not chunk:
                self._eof = True
                self._unwatch()
                return
            self._buffer += chunk

    # -- writing -----------------------------------------------------------------------

    async def send(self, message: Any) -> None:
        """Write one message, waiting while the pipe is full; ``PipeClosed`` when the
        worker's end is gone."""
        data = memoryview(encode(message) + b"\n")
        loop = asyncio.get_running_loop()
        first = True
        while data:
            try:
                written = os.write(self._write_fd, data)
            except BlockingIOError:
                await self._writable(loop)
                continue
            except OSError:  # EPIPE, or closed: the worker is gone
                raise PipeClosed(delivered=not first) from None
            first = False
            data = data[written:]

    async def _writable(self, loop: asyncio.AbstractEventLoop) -> None:
        future: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not future.done():
                future.set_result(None)

        loop.add_writer(self._write_fd, ready)
        try:
            await future
        finally:
            loop.remove_writer(self._write_fd)
