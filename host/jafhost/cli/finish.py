"""How the ``jafhost`` console script ends once its command returned: the interpreter's
own exit steps, then ``os._exit``, without the teardown that follows them.

Python ends a process in this order: it waits for the threads that are not daemons
(here for ``hook_timeout`` at most: a plugin's thread that never ends is named and left),
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
import signal
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
    if threading is not None and shutdown is not None:
        # threading's exit calls, then every thread that is not a daemon joined, in this
        # (the main) thread as the interpreter does; a watchdog ends the exit without
        # them once the wait is over
        ending = threading.Lock()
        watchdog = threading.Timer(_thread_wait, _gave_up, args=(code, ending, run_handlers))
        watchdog.daemon = True
        _step("on threading shutdown", lambda: _joined(shutdown, watchdog))
        if not ending.acquire(blocking=False):  # the watchdog is ending the process
            while True:
                try:
                    threading.Event().wait()
                except BaseException:  # Ctrl-C again: the watchdog still ends it
                    continue
    _rest(code, run_handlers)
    return code


def _joined(shutdown: Callable[[], Any], watchdog: Any) -> None:
    """``threading``'s shutdown with ``watchdog`` running beside it. The watchdog
    blocks every signal, so that Ctrl-C reaches this thread, waiting in the shutdown,
    as it would without the watchdog."""
    mask = getattr(signal, "pthread_sigmask", None)
    try:
        if mask is not None:  # a thread starts with the mask of the one starting it
            before = mask(signal.SIG_BLOCK, signal.valid_signals())
            try:
                watchdog.start()
            finally:
                mask(signal.SIG_SETMASK, before)
        else:
            watchdog.start()
        shutdown()
    finally:
        watchdog.cancel()


THREAD_WAIT = 10.0
"""How long the exit waits for threads that are not daemons, in seconds, until the
command names the host's ``hook_timeout`` (``wait_for_threads``). Python waits for
ever: an in-process plugin's thread that never ends would keep a one-shot command
from ending once its result was out."""
_thread_wait = THREAD_WAIT


def wait_for_threads(seconds: float) -> None:
    """Wait ``seconds`` at most for threads at exit: the host's ``hook_timeout``, which
    the command learns with its configuration (a plugin's thread is given the time a
    hook of the plugin is given)."""
    global _thread_wait
    _thread_wait = seconds


def _rest(code: int, run_handlers: Callable[[], Any]) -> None:
    """The exit steps after the threads: the exit handlers, files left open, the
    standard streams flushed; then the end."""
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


def _gave_up(code: int, ending: Any, run_handlers: Callable[[], Any]) -> None:
    """The watchdog's end of the exit, the threads not all joined in time: each one left
    is named on stderr (with the plugin that started it) and ends with the process, as
    a daemon would; the rest of the exit is taken here."""
    if not ending.acquire(blocking=False):  # the main thread got there first
        return
    import threading

    guard = sys.modules.get("jafhost.security.guard")
    attribute = getattr(guard, "THREAD_ATTRIBUTE", None)
    for thread in threading.enumerate():
        if thread.daemon or thread is threading.main_thread() or not thread.is_alive():
            continue
        owner = getattr(thread, attribute, None) if attribute else None
        who = f"plugin {getattr(owner, 'name', owner)}" if owner is not None else "the host"
        try:
            sys.stderr.write(
                f"warning: {who} left thread {thread.name!r} running; not waited for "
                f"beyond {_thread_wait:g} s\n"
            )
        except BaseException:  # stderr gone: the exit goes on
            break
    _rest(code, run_handlers)


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
