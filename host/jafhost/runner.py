"""Run one piece of plugin code with a time limit, sync or async, from async host code.

Sync code runs in a daemon thread of its own: a plugin that never returns cannot block
the event loop, and cannot keep the process alive at exit either (the default
executor's threads are joined at interpreter shut-down; daemon threads are not). The
caller's context variables travel with the call, so per-plugin context (which plugin
is running) is visible inside the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any


class HookTimeout(Exception):
    """Plugin code did not finish within its time limit."""


class PluginExit(Exception):
    """Plugin code raised ``SystemExit`` (or another non-``Exception``): reported, never
    allowed to end the host. The message is ``"SystemExit: 3"``-style."""


def _tame(exc: BaseException) -> BaseException:
    if isinstance(exc, Exception | asyncio.CancelledError | KeyboardInterrupt):
        return exc
    text = str(exc)
    return PluginExit(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


async def _guarded(awaitable: Any) -> Any:
    try:
        return await awaitable
    except (Exception, asyncio.CancelledError, KeyboardInterrupt):
        raise
    except BaseException as exc:
        raise _tame(exc) from None


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def _in_thread(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], name: str
) -> Any:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def target() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = context.run(fn, *args, **kwargs)
        except BaseException as exc:
            error = _tame(exc)
        # RuntimeError: the loop is gone, and nobody waits for this result any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, future, result, error)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


async def call_plugin(
    fn: Callable[..., Any],
    *args: Any,
    timeout: float | None,
    label: str = "plugin code",
    **kwargs: Any,
) -> Any:
    """Call ``fn``; await it if it is (or returns) a coroutine; raise ``HookTimeout``."""
    started = time.monotonic()
    try:
        if inspect.iscoroutinefunction(fn):
            return await asyncio.wait_for(_guarded(fn(*args, **kwargs)), timeout)
        result = await asyncio.wait_for(_in_thread(fn, args, kwargs, f"jafhost: {label}"), timeout)
        if inspect.isawaitable(result):
            remaining = (
                None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            )
            result = await asyncio.wait_for(_guarded(result), remaining)
        return result
    except TimeoutError:
        raise HookTimeout(f"{label} did not finish within {timeout:g} s") from None
