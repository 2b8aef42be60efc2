"""Every failure of a command as one ``error:`` line and the contract's exit code.

Shared by the full CLI (``jafhost.cli.app``, which first maps typer's and click's own
outcomes) and the fast path of ``call`` (``jafhost.cli.entry``), which must answer
exactly as the full CLI does without importing typer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from jafhost.cli import streams
from jafhost.cli._common import Failed, settings
from jafhost.errors import PluginError, StateError, UsageError


def error(message: str, code: int) -> int:
    """Write ``error: MESSAGE`` (on one line) to stderr; returns ``code``."""
    text = " ".join(str(message).split())
    sys.stderr.write(f"error: {text}\n")
    return code


def trace() -> None:
    """The traceback of the exception being handled, with ``--debug``."""
    if settings.debug:
        import traceback

        traceback.print_exc()


def mapped(work: Callable[[], int]) -> int:
    """``work()``'s exit code, or the code and ``error:`` line of what it raised:
    2 bad usage, 1 a failed operation, 130 interrupted."""
    try:
        return work()
    except BrokenPipeError:
        raise
    except UsageError as exc:
        trace()
        return error(str(exc), 2)
    except (Failed, PluginError, StateError) as exc:
        trace()
        return error(str(exc), 1)
    except KeyboardInterrupt:
        return error("interrupted", 130)
    except Exception as exc:
        trace()
        return error(f"unexpected {type(exc).__name__}: {exc}", 1)


def guarded(work: Callable[[], int]) -> int:
    """Run one command with the CLI's own stdout claimed (``jafhost.cli.streams``):
    plugin code's output goes to stderr, and a reader that goes away (``| head -1``)
    ends the command quietly with exit status 1, as Python's documentation on SIGPIPE
    suggests."""
    streams.claim()
    code = 1
    try:
        code = work()
    except BrokenPipeError:
        streams.closed_pipe()
    except SystemExit as exc:  # click ends a command whose stdout went away with exit(1)
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        if streams.release():
            code = code or 1
    return code
