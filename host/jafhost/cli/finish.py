"""How the ``jafhost`` console script ends once its command returned: the interpreter's
own exit steps, then ``os._exit``, without the teardown that follows them.

Python ends a process in this order: it waits for the threads that are not daemons,
runs the exit handlers (``atexit``, and through it ``weakref.finalize`` and logging's
flush), flushes ``sys.stdout`` and ``sys.stderr``, and only then tears down every
module and collects every object left. That teardown is where an in-process plugin's
objects (a ``__del__`` kept in its module's globals, a reference cycle) would run
without the plugin's identity, after the guard's scope is gone; and it costs a
one-shot ``jafhost call`` 10 to 17 ms, a sixth of the whole command. :func:`finish` takes
the first three steps as the interpreter takes them, so every handler a plugin or the
host registered still runs (a plugin's as the plugin, ``security.guard_exit``), and
leaves the process there.

Only the console script asks for it (``entry.main`` called without arguments): a
program or a test calling ``main([...])`` keeps its own interpreter's exit. Should any
step fail (a reader that went away before the flush, a handler that raised an exit),
the command ends the ordinary way, reporting it as Python always does.
"""

from __future__ import annotations

import os
import sys


def finish(code: int) -> int:
    """End the process now with ``code`` after the interpreter's exit steps; ``code``
    back when they cannot all be taken here (the caller returns it as usual)."""
    import atexit

    threading = sys.modules.get("threading")
    shutdown = getattr(threading, "_shutdown", None) if threading is not None else None
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_handlers is None or (threading is not None and shutdown is None):
        return code
    try:
        if shutdown is not None:
            shutdown()  # the threads that are not daemons, joined; threading's exit calls
        run_handlers()  # every atexit handler, the last registered first; then cleared
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except BaseException:  # the interpreter's own exit reports it
        return code
    os._exit(code)
