"""Run one piece of plugin code with a time limit, sync or async, from async host code.

Sync code runs in a daemon thread of its own: a plugin that never returns cannot block
the event loop, and cannot keep the process alive at exit either (the default
executor's threads are joined at interpreter shut-down; daemon threads are not). The
caller's context variables travel with the call, so per-plugin context (which plugin
is running) is visible inside the thread. Coroutines of an in-process plugin run on its
own loop (``plugin_loops``), so one that never yields cannot hold the host's loop or its
time limits. Whatever the plugin raises, ``KeyboardInterrupt`` and ``SystemExit``
included, comes back as the host's own exception (``scope.host_error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import queue
import threading
from collections.abc import Callable
from typing import Any

from jafhost.errors import HookTimeout, PluginExit
from jafhost.runtime import plugin_loops


def _host_error(exc: BaseException) -> BaseException:
    """What plugin code raised, rebuilt as the host's own exception in the plugin's
    scope (its ``__str__`` is plugin code too: ``scope.host_error``)."""
    from jafhost.runtime.scope import host_error

    return host_error(exc)


async def _guarded(awaitable: Any) -> Any:
    try:
        return await awaitable
    except BaseException as exc:  # rebuilt, raised outside the handler
        error = _host_error(exc)
    raise error


def _scrubbed(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, BaseException | None]:
    """``fn``'s result, or the host's own rebuild of what it raised (made here, in the
    plugin's context, where reading the exception is checked against its grants)."""
    try:
        return fn(*args, **kwargs), None
    except BaseException as exc:
        error = _host_error(exc)
    return None, error


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class DaemonWorkers:
    """A pool of daemon threads that grows on demand and shrinks when idle.

    Starting a thread per call costs ~100 µs; reusing one costs a queue hand-off.
    Threads are daemons so plugin code that never returns cannot hold the process at
    exit, and a hung call only ever occupies its own thread: the pool starts another
    when none is free.
    """

    def __init__(self, idle_seconds: float = 30.0) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._idle_seconds = idle_seconds

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1  # an idle worker is reserved for this job
            else:
                # started in an empty context: the thread serves every plugin, so it must
                # not be attributed to the one whose call happened to need it
                thread = threading.Thread(target=self._work, name="jafhost-worker", daemon=True)
                contextvars.Context().run(thread.start)
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._idle:  # an unreserved idle slot: ours to give up
                        self._idle -= 1
                        return
                continue  # we were reserved: a job is on its way
            job()
            with self._lock:
                self._idle += 1


WORKERS = DaemonWorkers()


async def _in_thread(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def target() -> None:
        try:
            result, error = context.run(_scrubbed, fn, args, kwargs)
        except BaseException:  # even the rebuild failed: out of memory...
            result, error = None, PluginExit("plugin code failed in a way that cannot be shown")
        # RuntimeError: the loop is gone, and nobody waits for this result any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, future, result, error)

    WORKERS.submit(target)
    return await future


async def call_plugin(
    fn: Callable[..., Any],
    *args: Any,
    timeout: float | None,
    label: str = "plugin code",
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """Call ``fn(*args, **kwargs)``; await it if it is (or returns) a coroutine; raise
    ``HookTimeout``. The plugin's keyword arguments travel in ``kwargs`` (a dict), so a
    tool parameter may be called ``timeout`` or ``label`` without clashing.

    The running plugin is the caller's ``CURRENT_PLUGIN``: its coroutines run on its own
    loop when it has one (in process), else on the caller's."""
    kwargs = kwargs or {}
    own = plugin_loops.serving()
    try:
        async with asyncio.timeout(timeout):
            if inspect.iscoroutinefunction(fn):
                if own is not None:
                    return await own.run(lambda: fn(*args, **kwargs), label)
                return await _guarded(fn(*args, **kwargs))
            result = await _in_thread(fn, args, kwargs)
            if inspect.isawaitable(result):
                if own is not None:
                    return await own.run(lambda: result, label)
                result = await _guarded(result)
            return result
    except HookTimeout:
        raise  # a nested call's own limit, already named
    except TimeoutError:
        raise HookTimeout(f"{label} did not finish within {timeout:g} s") from None
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        # nobody cancelled the caller: the plugin raised it (from a thread, or on the loop)
        raise PluginExit(f"{_raised('CancelledError')} ({label})") from None


def _raised(kind: str) -> str:
    from jafhost.security.guard import running_plugin

    plugin = running_plugin()
    return f"plugin {plugin} raised {kind}" if plugin else f"plugin code raised {kind}"
