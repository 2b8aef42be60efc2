"""A worker's stdout and stderr: one pipe the host owns, copied to the host's stderr.

Handing the worker the host's own stderr would let any process the plugin starts keep
it open: a caller reading ``jafhost call``'s stderr would wait for that process, not for
the host. Through a pipe only the host writes to its stderr; the copy stops when the
worker is gone (``close``), whoever still holds the pipe's other end.

What reaches the user's terminal is text, never commands to it: a worker could
otherwise set the clipboard (OSC 52), clear the screen, or overwrite a line with
``\r`` to show a line the host never wrote. Every control character (C0, C1, DEL, and
Unicode format characters such as bidirectional overrides) but newline and tab is
shown as its escape (``\x1b``), and each line starts with the plugin's name.
"""

from __future__ import annotations

import codecs
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


def shown(text: str) -> str:
    """``text`` with every character a terminal would act on, rather than print,
    written as its Python escape; newlines and tabs are kept."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class OutputText:
    """Turns a worker's output bytes into safe text lines marked with its plugin's name
    (``NAME: ...``), as they come: nothing is held back but the bytes of a character
    split between two reads."""

    def __init__(self, name: str) -> None:
        self.prefix = f"{shown(name)}: "
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line_start = True

    def feed(self, data: bytes, final: bool = False) -> bytes:
        """The text to write for ``data``; ``final`` at the end of the output."""
        out: list[str] = []
        *lines, rest = self._decoder.decode(data, final).split("\n")
        for line in lines:
            out.append(f"{self.prefix if self._line_start else ''}{shown(line)}\n")
            self._line_start = True
        if rest:
            out.append(f"{self.prefix if self._line_start else ''}{shown(rest)}")
            self._line_start = False
        if final and not self._line_start:  # the host's next line starts on its own
            out.append("\n")
            self._line_start = True
        return "".join(out).encode("utf-8")


class _Copier:
    """What both copiers do: write the pipe's text, safely shown, to ``target``."""

    def __init__(self, read_fd: int, target: int | None, name: str) -> None:
        self.read_fd = read_fd
        self.target = target
        self._text = OutputText(name)

    def _write(self, data: bytes, final: bool = False) -> None:
        if self.target is None:
            return
        view = memoryview(self._text.feed(data, final))
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
                self._write(b"", final=True)
                return False
            if not data:
                self._write(b"", final=True)
                return False
            self._write(data)


class OutputCopy(_Copier):
    """Copies everything written to a worker's output pipe to ``target`` (a descriptor,
    or None to drop it), in a daemon thread, until ``close``."""

    def __init__(self, read_fd: int, target: int | None, name: str) -> None:
        super().__init__(read_fd, target, name)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"jafhost-output-{name}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop copying once what the pipe holds now is copied (the worker is gone; a
        process it left behind may still hold the pipe: it is not waited for)."""
        self._stop.set()

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
                    self._write(b"", final=True)
                    return
        finally:
            with contextlib.suppress(OSError):
                os.close(self.read_fd)


class OutputPump(_Copier):
    """Copies a worker's output pipe as ``OutputCopy`` does, in the caller's own thread:
    for a caller that waits on its worker's pipe anyway (the one-shot call), and drains
    this one in the same wait (``fd`` among the descriptors it selects on, ``pump`` when
    it is readable). No thread to start: on a busy machine a new thread's first run can
    be milliseconds away, and starting one waits for it."""

    def __init__(self, read_fd: int, target: int | None, name: str) -> None:
        super().__init__(read_fd, target, name)
        os.set_blocking(read_fd, False)
        self.fd = read_fd
        """The descriptor to wait on; -1 once the pipe is at its end or closed."""

    def pump(self) -> None:
        """Copy what the pipe holds now (at end of file, it is no longer waited on)."""
        if self.fd >= 0 and not self._drain():
            self.fd = -1

    def close(self) -> None:
        """Copy what the pipe holds now, then stop (the worker is gone; a process it
        left behind may still hold the pipe: it is not waited for)."""
        if self.fd >= 0 and self._drain():
            self._write(b"", final=True)
        self.fd = -1
        with contextlib.suppress(OSError):
            os.close(self.read_fd)
