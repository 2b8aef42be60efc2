"""How the ``jafhost`` console script ends once its command returned: the interpreter's
own exit steps, then ``os._exit``, without the teardown that follows them.

Python ends a process in this order: it waits for the threads that are not daemons,
runs the exit handlers (``atexit``, and through it ``weakref.finalize`` and logging's
flush), flushes ``sys.stdout`` and ``sys.stderr``, and only then tears down every
module and collects every object left. That teardown is where an in-process plugin's
objects (a ``__del__`` kept in its module's globals, a reference cycle) would run
without the plugin's identity, after the guard's scope is gone; and it costs a
one-shot ``jafhost call`` 10 to 17 ms, a sixth of the whole command. :func:`finish`
takes the first steps as the interpreter takes them, so every handler a plugin or the
host registered still runs (a plugin's as the plugin, ``security.guard_exit``); files
plugin code opened and left open are flushed as their plugin
(``guard_exit.flush_left_open``, what the teardown would have done); and the process
ends there, whatever a step raised (reported as the interpreter reports it).

The command's output is complete when its ``main`` returns: before the exit steps,
standard output is flushed and its descriptor pointed at standard error, so nothing
a handler or a plugin's thread prints then lands among the results.

Only the console script asks for it (``entry.main`` called without arguments, which
also ends through it when the command itself raised: ``ended``): a program or a test
calling ``main([...])`` keeps its own interpreter's exit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any


def finish(code: int) -> int:
    """End the process now with ``code`` after the interpreter's exit steps (a step
    interrupted by Ctrl-C, as one that fails, is reported and the exit goes on);
    ``code`` back only where those steps cannot be taken here (the caller returns it)."""
    import atexit

    threading = sys.modules.get("threading")
    shutdown = getattr(threading, "_shutdown", None) if threading is not None else None
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_handlers is None or (threading is not None and shutdown is None):
        return code
    _step("flushing the output", _output_done)
    if shutdown is not None:
        _step("on threading shutdown", shutdown)  # non-daemon threads, threading's calls
    _step("in the exit handlers", run_handlers)  # each one's failure reported by atexit
    guard_exit = sys.modules.get("jafhost.security.guard_exit")
    if guard_exit is not None:
        _step("flushing files left open", guard_exit.flush_left_open)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:  # closed or gone: nothing left to say
            continue
    os._exit(code)


def _output_done() -> None:
    """Flush standard output and point its descriptor at standard error (at the null
    device when there is none)."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BaseException:  # its failure was the command's to report
        pass
    try:
        os.dup2(2, 1)
    except OSError:
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.close(null)
        except OSError:
            return


def _step(what: str, step: Callable[[], Any]) -> None:
    """Run one exit step; what it raises is reported, as the interpreter reports a
    failing exit step, and the exit goes on."""
    try:
        step()
    except BaseException as exc:
        try:
            import traceback

            sys.stderr.write(f"Exception ignored {what}:\n")
            traceback.print_exception(exc, file=sys.stderr)
        except BaseException:  # stderr gone: the exit goes on
            pass


def ended(error: BaseException) -> int:
    """The exit code of a command that raised instead of returning one (Ctrl-C as it
    ended, say), reported as the interpreter would report it, so that it too ends
    through :func:`finish`."""
    if isinstance(error, SystemExit):
        return error.code if isinstance(error.code, int) else (0 if error.code is None else 1)
    try:
        if isinstance(error, KeyboardInterrupt):
            sys.stderr.write("error: interrupted\n")
            return 130
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    except BaseException:  # stderr gone: the exit code still says it
        pass
    return 130 if isinstance(error, KeyboardInterrupt) else 1
