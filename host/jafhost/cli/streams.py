"""Standard output for the host's own output, whatever plugin code writes.

Output meant for a pipe holds only JSON; what plugin code prints goes to stderr.
:func:`claim` moves the real stdout to a private descriptor (written through :func:`out`)
and points fd 1 at stderr; :func:`plugin_code` points ``sys.stdout`` at stderr once
plugin code may run; :func:`release` puts everything back and reports a reader that went
away. Why each step: docs/architecture.md, "Standard output in the CLI".
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO


class _Claim:
    """A plain class: every ``jafhost`` command imports this module, and a dataclass
    costs more to define than the claim does."""

    __slots__ = ("original", "out", "private")

    def __init__(self, original: TextIO, out: TextIO, private: bool) -> None:
        self.original = original
        """``sys.stdout`` before the claim (restored by :func:`release`)."""
        self.out = out
        """Where the host's own output goes: a private duplicate of fd 1, or
        ``original``."""
        self.private = private
        """``out`` is a private duplicate and fd 1 points at stderr."""


_CLAIM: _Claim | None = None


def claim() -> None:
    """Keep the real stdout for the host's own output and point fd 1 at stderr."""
    global _CLAIM
    if _CLAIM is not None:
        return
    original = sys.stdout
    _CLAIM = _Claim(original, original, False)
    if original is None:
        return
    try:
        if original.fileno() != 1:
            return
        original.flush()
        private = os.dup(1)  # not inheritable: programs plugin code starts never get it
    except (AttributeError, OSError, ValueError):
        return  # no descriptor behind sys.stdout (embedded, captured): nothing to move
    kept = open(  # noqa: SIM115 - closed by release()
        private,
        "w",
        encoding=original.encoding,
        errors=original.errors,
        buffering=1 if getattr(original, "line_buffering", False) else -1,
    )
    try:
        os.dup2(2, 1)
    except OSError:  # no stderr to point at: leave fd 1 alone
        kept.close()
        return
    _CLAIM = _Claim(original, kept, True)
    sys.stdout = kept


def plugin_code() -> None:
    """From now on plugin code may run: ``sys.stdout`` points at stderr."""
    if _CLAIM is not None and sys.stderr is not None:
        sys.stdout = sys.stderr


def out() -> TextIO:
    """The stream for the host's own output: the real stdout at every moment."""
    return _CLAIM.out if _CLAIM is not None else sys.stdout


def claimed() -> TextIO | None:
    """The real stdout when the CLI has claimed it (see :func:`claim`), else None."""
    return _CLAIM.out if _CLAIM is not None else None


def _to_devnull(fd: int) -> None:
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)


def closed_pipe() -> None:
    """The reader of stdout went away: what is still buffered goes to the null device."""
    stream = out()
    with contextlib.suppress(AttributeError, OSError, ValueError):
        _to_devnull(stream.fileno())


def release() -> bool:
    """Flush the host's output and restore stdout; True if the output did not get
    through: its reader went away, or writing failed (a full device: said on stderr,
    as Python says it for a program whose last flush fails)."""
    global _CLAIM
    state, _CLAIM = _CLAIM, None
    stream = state.out if state is not None else sys.stdout
    broken = False
    if stream is not None:
        try:
            stream.flush()
        except BrokenPipeError:
            broken = True
            with contextlib.suppress(AttributeError, OSError, ValueError):
                _to_devnull(stream.fileno())
        except OSError as exc:  # ENOSPC, EIO...: the result is lost, the command failed
            broken = True
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"error: cannot write the output: {exc.strerror or exc}\n")
            with contextlib.suppress(AttributeError, OSError, ValueError):
                _to_devnull(stream.fileno())
        except ValueError:  # closed: nothing was buffered there
            pass
    if state is None:
        return broken
    if state.private:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(state.out.fileno(), 1)
        with contextlib.suppress(OSError, ValueError):
            state.out.close()
    sys.stdout = state.original
    return broken


__all__ = ["claim", "claimed", "closed_pipe", "out", "plugin_code", "release"]
