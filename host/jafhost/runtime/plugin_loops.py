"""Each in-process plugin's own event loop, on a daemon thread, watched by the host.

A coroutine that never yields (``while True: pass`` in an ``async def``) holds the loop
that runs it. On the host's loop it would stop every other plugin and the time limits
themselves (a time limit is a callback on that same loop). So every coroutine of an
in-process plugin runs on a loop of the plugin's own, in a daemon thread started at its
first coroutine; the host awaits the result from its loop, under the time limit. The
plugin keeps that one loop from start to stop, so the clients, locks and tasks it binds
to it in ``jaf_activate`` keep working in its tools and handlers.

When the host gives up on a coroutine (its time ran out, or its caller was cancelled),
the plugin's task is cancelled. If it has not ended ``GRACE`` seconds later and the
plugin's loop does not answer the host within ``GRACE`` more, the plugin's code is
holding its loop: the loop is marked blocked, ``on_blocked`` tells the host (which marks
the plugin broken) and every later coroutine of the plugin is refused at once with
``unavailable``. The thread is abandoned, with ``LoopAbandoned`` raised in it (between
two bytecodes: a pure Python busy loop ends there, unless it catches everything), so it
does not keep taking the interpreter lock from the host; it is a daemon, so it cannot
keep the process alive either. A C call that holds the interpreter lock holds every
thread of the process, the host's included, until it returns (the documented in-process
limit).

Loops are registered by the identity object a plugin's code runs under
(``LoadedPlugin.identity``, held in ``CURRENT_PLUGIN``), which is how
``runner.call_plugin`` finds the one of the plugin it runs. Code without a registered
loop (a process-isolated plugin's stand-ins are host code; in a worker process the whole
process is the plugin's) is awaited on the caller's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from jafhost.errors import PluginExit, ToolError
from jafhost.security import guard

GRACE = 0.5
"""Seconds the host waits for a cancelled coroutine to end, then as long again for the
plugin's loop to answer, before it calls the loop blocked."""

LOGGER = logging.getLogger("jafhost")
_LOOPS: dict[int, PluginLoop] = {}


def _what(label: str) -> str:
    """``plugin NAME: jaf_activate`` -> ``jaf_activate``; other labels as they are."""
    if label.startswith("plugin ") and ": " in label:
        return label.split(": ", 1)[1]
    return label


class LoopAbandoned(BaseException):
    """Raised in the thread of a plugin loop the host gave up on, to end what holds it."""


class _Job:
    """One coroutine on a plugin's loop: its task, once the loop has started it."""

    __slots__ = ("task",)

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None


class PluginLoop:
    """The event loop of one in-process plugin (``identity``), started at first use."""

    def __init__(self, identity: str, on_blocked: Callable[[str], None] | None = None) -> None:
        self.identity = identity
        self.plugin = str.__str__(identity)
        self.on_blocked = on_blocked
        self.blocked: str | None = None
        """Why the loop is given up (``its event loop is blocked by ...``), or None."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._lock = threading.Lock()

    # -- the thread ----------------------------------------------------------------------

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closing:
                raise ToolError(
                    f"plugin {self.plugin} was stopped", plugin=self.plugin, code="unavailable"
                )
            if self._loop is None:
                # made as host code (no plugin's grants apply), in an empty context
                self._loop = contextvars.Context().run(self._start_thread)
            return self._loop

    def _start_thread(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._serve, args=(loop,), name=f"jafhost-loop-{self.plugin}", daemon=True
        )
        thread.start()
        self._thread = thread
        return loop

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """The thread: everything it runs is the plugin's (so is every thread it starts)."""
        setattr(threading.current_thread(), guard.THREAD_ATTRIBUTE, self.identity)
        asyncio.set_event_loop(loop)
        while not self._closing:
            try:
                loop.run_forever()
            except BaseException as exc:  # a task of its own raised KeyboardInterrupt...
                LOGGER.warning(
                    "plugin %s: a task on its event loop raised %s; the loop goes on",
                    self.plugin,
                    type(exc).__name__,
                )
        self._finish(loop)

    @staticmethod
    def _finish(loop: asyncio.AbstractEventLoop) -> None:
        """Cancel what the plugin left running, give it ``GRACE`` to end, close the loop."""
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=GRACE))
            loop.run_until_complete(loop.shutdown_asyncgens())
        except BaseException as exc:
            LOGGER.warning("a plugin's event loop did not shut down cleanly: %r", type(exc))
        finally:
            loop.close()

    def close(self) -> None:
        """Stop the loop once what runs there now is done (a blocked one is abandoned)."""
        with self._lock:
            self._closing = True
            loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # closed already
                loop.call_soon_threadsafe(loop.stop)

    # -- running coroutines --------------------------------------------------------------

    def refusal(self) -> ToolError:
        return ToolError(
            f"plugin {self.plugin} is broken: {self.blocked}",
            plugin=self.plugin,
            code="unavailable",
        )

    async def run(self, make: Callable[[], Awaitable[Any]], label: str) -> Any:
        """Await ``make()`` (plugin code: called there) on the plugin's loop, in the
        caller's context (its ``CURRENT_PLUGIN``, event chain...). What the plugin raises
        comes back as the host's own exception; a cancellation of the caller cancels the
        plugin's task and watches its loop (see the module docstring)."""
        if self.blocked is not None:
            raise self.refusal()
        if self._closing:
            raise ToolError(
                f"plugin {self.plugin} was stopped", plugin=self.plugin, code="unavailable"
            )
        loop = self._started()
        caller = asyncio.get_running_loop()
        outcome: asyncio.Future[Any] = caller.create_future()
        context = contextvars.copy_context()
        job = _Job()

        def settle(task: asyncio.Task[Any]) -> None:  # on the plugin's loop
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone
                caller.call_soon_threadsafe(_copy_outcome, outcome, task)

        def begin() -> None:  # on the plugin's loop
            job.task = loop.create_task(_body(make), context=context)
            job.task.add_done_callback(settle)

        try:
            loop.call_soon_threadsafe(begin)
        except RuntimeError:  # closed under us
            raise ToolError(
                f"plugin {self.plugin} was stopped", plugin=self.plugin, code="unavailable"
            ) from None
        try:
            return await outcome
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is None or not current.cancelling():
                raise PluginExit(f"plugin {self.plugin} raised CancelledError ({label})") from None
            await self._give_up(loop, job, label)
            raise

    async def _give_up(self, loop: asyncio.AbstractEventLoop, job: _Job, label: str) -> None:
        """Cancel the job; mark the loop blocked if it neither ends nor answers in time."""
        caller = asyncio.get_running_loop()
        ended: asyncio.Future[None] = caller.create_future()
        answered: asyncio.Future[None] = caller.create_future()

        def tell(future: asyncio.Future[None]) -> None:
            with contextlib.suppress(RuntimeError):
                caller.call_soon_threadsafe(_resolve, future)

        def cancel() -> None:  # on the plugin's loop
            task = job.task
            if task is None or task.done():
                tell(ended)
                return
            task.add_done_callback(lambda _: tell(ended))
            task.cancel()

        try:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(cancel)
            await asyncio.wait({ended}, timeout=GRACE)
            if ended.done():
                return
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(tell, answered)
            await asyncio.wait({answered}, timeout=GRACE)
        except asyncio.CancelledError:
            return  # cancelled once more (the host is shutting down): stop watching
        if not answered.done():
            self.mark_blocked(label)

    def mark_blocked(self, label: str) -> None:
        if self.blocked is not None:
            return
        self.blocked = f"its event loop is blocked by {_what(label)}"
        LOGGER.warning("plugin %s: %s", self.plugin, self.blocked)
        if self.on_blocked is not None:
            self.on_blocked(self.blocked)
        self.close()
        try:
            contextvars.Context().run(self._interrupt)  # host code: no plugin's grants apply
        except Exception as exc:  # in a worker the guard may refuse ctypes: it exits anyway
            LOGGER.warning("plugin %s: its event loop's thread runs on: %s", self.plugin, exc)

    def _interrupt(self) -> None:
        """Raise ``LoopAbandoned`` in the loop's thread (nothing if it has ended)."""
        thread = self._thread
        if thread is None or thread.ident is None or not thread.is_alive():
            return
        import ctypes

        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(LoopAbandoned)
        )


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _copy_outcome(outcome: asyncio.Future[Any], task: asyncio.Task[Any]) -> None:
    """On the caller's loop: the plugin task's outcome (already the host's own data or
    exception: ``_body``) onto the future the caller awaits."""
    if outcome.done():
        return
    if task.cancelled():
        outcome.cancel()
        return
    error = task.exception()
    if error is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(task.result())


async def _body(make: Callable[[], Awaitable[Any]]) -> Any:
    """On the plugin's loop, as the plugin: ``await make()``; what it raises is rebuilt as
    the host's own exception. A ``KeyboardInterrupt`` or ``SystemExit`` must never reach
    the task (asyncio would re-raise it out of the loop): it is the plugin's error."""
    from jafhost.runtime.scope import host_error

    try:
        return await make()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the host cancelled it
        error: BaseException = PluginExit(
            f"plugin {guard.running_plugin() or 'code'} raised CancelledError"
        )
    except BaseException as exc:  # rebuilt, raised outside the handler
        error = host_error(exc)
    raise error


# -- the registry ------------------------------------------------------------------------


def open_loop(identity: str, on_blocked: Callable[[str], None] | None = None) -> PluginLoop:
    """Register a loop for the plugin running as ``identity`` (its thread starts at its
    first coroutine); ``on_blocked(reason)`` is called, on the host's loop, if it blocks."""
    found = _LOOPS.get(id(identity))
    if found is not None and found.identity is identity:
        return found
    plugin_loop = PluginLoop(identity, on_blocked)
    _LOOPS[id(identity)] = plugin_loop
    return plugin_loop


def close_loop(identity: str) -> None:
    """Stop and forget the loop of ``identity`` (nothing if it has none). A blocked loop
    stays registered, so whatever still holds that identity is refused at once instead
    of running on the caller's loop."""
    found = _LOOPS.get(id(identity))
    if found is not None and found.identity is identity:
        if found.blocked is None:
            del _LOOPS[id(identity)]
        found.close()


def loop_of(identity: str | None) -> PluginLoop | None:
    """The loop registered for ``identity`` (the very object; for a narrowed identity,
    the one it stands for: ``security.narrowing``), or None."""
    if identity is None:
        return None
    identity = getattr(identity, "base", identity)
    found = _LOOPS.get(id(identity))
    return found if found is not None and found.identity is identity else None


def serving() -> PluginLoop | None:
    """The loop of the plugin whose code is about to run here (``CURRENT_PLUGIN``)."""
    return loop_of(guard.CURRENT_PLUGIN.get())
