"""A worker's stdout and stderr: one pipe the host owns, copied to the host's stderr.

Handing the worker the host's own stderr would let any process the plugin starts keep
it open: a caller reading ``jafhost call``'s stderr would wait for that process, not for
the host. Through a pipe only the host writes to its stderr; the copy stops when the
worker is gone (``close``), whoever still holds the pipe's other end.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading

CHUNK = 1 << 16
POLL_SECONDS = 0.2
"""How often the copier looks whether it was told to stop while the pipe is quiet."""


def stderr_fd() -> int | None:
    """The host's stderr descriptor, None when it has none (the output is dropped)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None


class OutputCopy:
    """Copies everything written to a worker's output pipe to ``target`` (a descriptor,
    or None to drop it), in a daemon thread, until ``close``."""

    def __init__(self, read_fd: int, target: int | None, name: str) -> None:
        self.read_fd = read_fd
        self.target = target
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"jafhost-output-{name}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop copying once what the pipe holds now is copied (the worker is gone; a
        process it left behind may still hold the pipe: it is not waited for)."""
        self._stop.set()

    def _write(self, data: bytes) -> None:
        if self.target is None:
            return
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.target, view)
            except InterruptedError:
                continue
            except OSError:  # the host's stderr is gone: keep draining the pipe
                self.target = None
                return
            view = view[written:]

    def _drain(self) -> bool:
        """Copy what is waiting; False at end of file."""
        while True:
            try:
                data = os.read(self.read_fd, CHUNK)
            except BlockingIOError:
                return True
            except InterruptedError:
                continue
            except OSError:
                return False
            if not data:
                return False
            self._write(data)

    def _run(self) -> None:
        os.set_blocking(self.read_fd, False)
        poller = select.poll()
        poller.register(self.read_fd, select.POLLIN)
        try:
            while True:
                stopping = self._stop.is_set()
                readable = poller.poll(POLL_SECONDS * 1000)
                if readable and not self._drain():
                    return
                if stopping:
                    return
        finally:
            with contextlib.suppress(OSError):
                os.close(self.read_fd)
