"""``Pipe``: the host's end of a worker's pipe pair, read and written without blocking.

The read end stays registered with the event loop while the pipe is open (no
registration per request); ``_on_readable`` fills the buffer and wakes the request
waiting for a reply. Notices the worker sends between requests are handed on at once,
those that arrive during a request on the way to its reply.

Messages are length-prefixed frames (``protocol``), at most ``limit`` bytes: a header
announcing more is refused before any of its body is read (``TooLarge``, a
``ProtocolViolation``), so the host's memory never grows past the limit whatever the
worker writes; a body is read into a buffer of its announced size, in linear time.

A request may be nested in the one in flight (the worker's middleware proceeding to one
of its own tools): ``receive`` calls nest, and frames go to the innermost.

Exactly one reply per request id is accepted: anything else the worker writes (a reply
for another id, one written before its request was sent, a second one, a frame that is
not a JSON object, a message without an id that is not a known notice, a frame over the
limit) is a protocol violation. During a request ``receive`` raises
``ProtocolViolation``; between requests ``on_violation`` is told (the client stops the
worker) and the pipe reads no further.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from jafhost.runtime.isolation.protocol import (
    DEFAULT_MAX_MB,
    MB,
    NOTICES,
    FrameReader,
    FrameTooLarge,
    decode,
    encode,
    frame,
)


class PipeClosed(Exception):
    """The worker's end is gone; ``delivered`` is False when nothing of the message
    was written (the worker had ended before it)."""

    def __init__(self, delivered: bool) -> None:
        super().__init__("the worker's pipe is closed")
        self.delivered = delivered


class ProtocolViolation(Exception):
    """The worker wrote something other than the awaited reply or a known notice."""


class TooLarge(ProtocolViolation):
    """The worker began a frame longer than the limit (``size`` bytes)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a frame of {size} bytes, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


def _shown(value: Any) -> str:
    """A value the worker sent, short and printable, for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Pipe:
    """Length-prefixed JSON frames of at most ``limit`` bytes to and from one worker;
    ``on_notice`` gets its notices."""

    def __init__(
        self,
        read_fd: int,
        write_fd: int,
        on_notice: Callable[[dict[str, Any]], None],
        on_violation: Callable[[str], None] | None = None,
        limit: int = DEFAULT_MAX_MB * MB,
    ) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._on_notice = on_notice
        self._on_violation = on_violation
        self.limit = limit
        self._frames = FrameReader(limit)
        self._early: list[bool] = []
        """For each complete frame: whether it began before the request in flight was
        written (no reply can)."""
        self._partial_early = False
        """The frame being read began before the request in flight was written."""
        self._too_large: TooLarge | None = None
        """A frame over the limit began after the complete ones: nothing more is read."""
        self.violation: str | None = None
        """Set once the worker broke the protocol between requests."""
        self._eof = False
        self._receiving: list[int | None] = []
        """The replies awaited, innermost last: a request the host sends while the
        worker waits for the answer to its own ask (tool-call middleware proceeding to
        a tool of the same plugin) is answered before the outer one."""
        self._wakeups: set[asyncio.Future[None]] = set()
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

    def _read_some(self) -> bool:
        """One non-blocking read into the frame being read; False when nothing came
        (``_eof`` is set when the worker's end is gone)."""
        if self._too_large is not None or self._read_fd < 0:
            return False
        try:
            chunk = os.read(self._read_fd, max(1 << 16, min(self._frames.missing, 1 << 20)))
        except BlockingIOError:
            return False
        except OSError:
            chunk = b""
        if not chunk:
            self._eof = True
            self._unwatch()
            return False
        self._take(chunk)
        return True

    def _take(self, chunk: bytes) -> None:
        frames = self._frames.frames
        before = len(frames)
        try:
            self._frames.feed(chunk)
        except FrameTooLarge as exc:
            self._too_large = TooLarge(exc.size, exc.limit)
            self._unwatch()
        completed = len(frames) - before
        if completed:  # only the first can have begun before the request was written
            self._early += [self._partial_early] + [False] * (completed - 1)
            self._partial_early = False

    def _on_readable(self) -> None:
        if not self._read_some() and not self._eof:
            return
        if self._receiving:
            self._wake()
        elif self._frames.frames or self._too_large is not None:
            self._drain_notices()

    def _wake(self) -> None:
        for waiter in list(self._wakeups):
            if not waiter.done():
                waiter.set_result(None)

    def _next_frame(self) -> tuple[bytearray, bool] | None:
        """The next complete frame, and whether it began before the request in flight
        was written; None while no frame is complete; ``TooLarge`` once the complete
        ones are taken and a frame over the limit began."""
        if self._frames.frames:
            return self._frames.frames.popleft(), self._early.pop(0)
        if self._too_large is not None:
            raise self._too_large
        return None

    def _message(self, body: bytearray, expect: int | None, early: bool) -> dict[str, Any] | None:
        """``body`` as the awaited message (``expect``: the request id, None for the
        ``ready`` that answers ``init``, -1 between requests, when nothing is awaited);
        None for a notice, handed on; ``ProtocolViolation`` for anything else."""
        try:
            message = decode(body)
        except ValueError:
            raise ProtocolViolation("a frame that is not JSON") from None
        if not isinstance(message, dict):
            raise ProtocolViolation(f"a JSON {type(message).__name__} instead of an object")
        if "id" not in message:
            op = message.get("op")
            if op in NOTICES:
                self._on_notice(message)
                return None
            if op == "ready" and expect is None:
                return message
            raise ProtocolViolation(f"a message without an id, op {_shown(op)}")
        ident = message["id"]
        if expect is None or expect < 0:
            raise ProtocolViolation(f"a reply for id {_shown(ident)} when none was awaited")
        if type(ident) is not int or ident != expect:
            raise ProtocolViolation(
                f"a reply for id {_shown(ident)} while waiting for the reply to {expect}"
            )
        if early:
            raise ProtocolViolation(f"a reply for id {expect} written before its request")
        return message

    def _drain_notices(self) -> None:
        """Between requests: handle complete notices now (nothing else may come)."""
        while True:
            try:
                taken = self._next_frame()
                if taken is None:
                    return
                self._message(taken[0], -1, taken[1])
            except ProtocolViolation as exc:
                self._violated(str(exc))
                return

    def _violated(self, reason: str) -> None:
        self.violation = reason
        self._frames.clear()
        self._early.clear()
        self._unwatch()
        if self._on_violation is not None:
            self._on_violation(reason)

    def before_request(self) -> None:
        """Before a request is written: read what the worker sent since the last reply;
        notices are handed on, anything else raises ``ProtocolViolation`` (a reply
        written before its request cannot be trusted to answer it)."""
        if self.violation is not None:
            raise ProtocolViolation(self.violation)
        while not self._eof and self._read_some():
            pass
        while (taken := self._next_frame()) is not None:
            self._message(taken[0], -1, taken[1])
        self._partial_early = self._frames.partial

    async def receive(self, expect: int | None) -> dict[str, Any]:
        """The reply to request ``expect`` (None: the ``ready`` that answers ``init``);
        notices are handed on the way. ``ProtocolViolation`` for anything else,
        ``PipeClosed`` once the worker's end is gone."""
        loop = asyncio.get_running_loop()
        self._watch(loop)
        self._receiving.append(expect)
        depth = len(self._receiving)
        try:
            while True:
                if len(self._receiving) == depth:  # the innermost: frames are for it
                    taken = self._next_frame()
                    if taken is not None:
                        message = self._message(taken[0], expect, taken[1])
                        if message is None:
                            continue
                        return message
                    if self.closed:
                        raise PipeClosed(delivered=True)
                waiter: asyncio.Future[None] = loop.create_future()
                self._wakeups.add(waiter)
                try:
                    await waiter
                finally:
                    self._wakeups.discard(waiter)
        finally:
            del self._receiving[depth - 1]
            self._wake()  # the one outside it reads on

    def spin(self, seconds: float) -> None:
        """Wait briefly for a reply without the event loop: a small call answers in
        tens of microseconds, sooner than the loop's own wake-up would notice."""
        deadline = time.perf_counter() + seconds
        while not self._frames.frames and not self._eof and self._too_large is None:
            if not self._read_some() and time.perf_counter() >= deadline:
                return

    # -- writing -----------------------------------------------------------------------

    async def send(self, message: Any) -> None:
        """Write one message, waiting while the pipe is full; ``PipeClosed`` when the
        worker's end is gone, ``FrameTooLarge`` (nothing written) when the message is
        over the limit."""
        data = memoryview(frame(encode(message), self.limit))
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
