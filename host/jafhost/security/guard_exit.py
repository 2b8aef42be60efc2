"""Callbacks a plugin leaves for the interpreter's exit run as that plugin.

``atexit`` handlers, ``threading``'s exit callbacks and ``weakref.finalize`` callbacks
run when the interpreter exits, on the main thread, where no plugin identity is set:
registered by plugin code (at import, in a tool), they would run with the host's rights
once ``jafhost call`` has printed its result, and no audit check would stop them. The
wrappers here bind each callback to the plugin that registered it, as
``guard_calls``' ``ThreadPoolExecutor.submit`` does for submitted work.

Limit (docs/security.md): a ``__del__`` method or a ``weakref.ref`` callback that runs
while the interpreter shuts down runs as whoever drops the last reference.
"""

from __future__ import annotations

import atexit
import contextvars
import threading
import weakref
from collections.abc import Callable
from typing import Any

from jafhost.security import guard


class AsPlugin:
    """``fn`` bound to the plugin that registered it, each call in a fresh context
    carrying that identity; equal to ``fn`` (so ``atexit.unregister(fn)`` finds it)."""

    __slots__ = ("fn", "plugin")

    def __init__(self, fn: Callable[..., Any], plugin: str) -> None:
        self.fn = fn
        self.plugin = plugin

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        context = contextvars.Context()
        context.run(guard.CURRENT_PLUGIN.set, self.plugin)
        return context.run(self.fn, *args, **kwargs)

    def __eq__(self, other: object) -> bool:
        return other is self or other is self.fn

    def __hash__(self) -> int:
        return id(self.fn)


def _bound(fn: Any) -> Any:
    """``fn``, bound to the running plugin when plugin code registers it."""
    plugin = guard.running_plugin()
    return fn if plugin is None else AsPlugin(fn, plugin)


def _wrap_register(original: Callable[..., Any]) -> Callable[..., Any]:
    def register(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        original(_bound(func), *args, **kwargs)
        return func

    register.__doc__ = original.__doc__
    return register


def _wrap_finalize(original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: weakref.finalize, obj: Any, func: Any, /, *args: Any, **kwargs: Any) -> None:  # type: ignore[type-arg]
        original(self, obj, _bound(func), *args, **kwargs)

    __init__.__doc__ = original.__doc__
    return __init__


def install() -> None:
    """Put the wrappers in place (``guard.install`` calls this once)."""
    atexit.register = _wrap_register(atexit.register)
    threading._register_atexit = _wrap_register(threading._register_atexit)  # type: ignore[attr-defined]
    weakref.finalize.__init__ = _wrap_finalize(weakref.finalize.__init__)  # type: ignore[method-assign]
