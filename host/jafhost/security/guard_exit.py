"""Callbacks a plugin leaves for the interpreter's exit run as that plugin.

``atexit`` handlers, ``threading``'s exit callbacks and ``weakref.finalize`` callbacks
run when the interpreter exits, on the main thread, where no plugin identity is set:
registered by plugin code (at import, in a tool), they would run with the host's rights
once ``jafhost call`` has printed its result, and no audit check would stop them. The
wrappers here bind each callback to the plugin that registered it, as
``guard_calls``' ``ThreadPoolExecutor.submit`` does for submitted work.

``logging`` flushes and closes every handler at the exit (``logging.shutdown``, an
``atexit`` handler of whoever imported ``logging`` first): each handler plugin code made
is flushed and closed as that plugin instead (``_own_logging``), whoever registered it.

Files plugin code opens (``open``, ``io.open``: ``guard_calls``) are remembered with the
plugin that opened them, so that one still open when the ``jafhost`` console script
ends (``cli.finish``, which skips the interpreter's teardown that would otherwise flush
it) is flushed then, as that plugin (``flush_left_open``).

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


class Owners:
    """Objects plugin code made, each with its plugin, by ``id``: held weakly (and
    forgotten with the object), never hashed or compared (no plugin code runs)."""

    def __init__(self) -> None:
        self.kept: dict[int, tuple[weakref.ref[Any], str]] = {}

    def add(self, obj: Any, plugin: str) -> None:
        key = id(obj)

        def forget(_: weakref.ref[Any], key: int = key) -> None:
            self.kept.pop(key, None)

        try:
            self.kept[key] = (weakref.ref(obj, forget), plugin)
        except TypeError:  # not weakly referable: nothing to do for it later
            return

    def owner(self, obj: Any) -> str | None:
        """The plugin whose code made ``obj``, or None (the host's, or not known)."""
        found = self.kept.get(id(obj))
        return found[1] if found is not None and found[0]() is obj else None

    def alive(self) -> list[tuple[Any, str]]:
        """Every object still alive, with its plugin."""
        found = ((ref(), plugin) for ref, plugin in list(self.kept.values()))
        return [(obj, plugin) for obj, plugin in found if obj is not None]


_LEFT_OPEN = Owners()
"""Files plugin code opened (forgotten when the file is)."""


def opened(file: Any, plugin: str) -> None:
    """Remember ``file``, just opened by ``plugin``'s code."""
    _LEFT_OPEN.add(file, plugin)


def _flush(file: Any) -> None:
    if not file.closed:
        file.flush()


def flush_left_open() -> None:
    """Flush every file plugin code opened that is still open, each as its plugin (what
    the interpreter's teardown would have done, without the plugin's identity)."""
    for file, plugin in _LEFT_OPEN.alive():
        try:
            AsPlugin(_flush, plugin)(file)
        except Exception:  # as the teardown: a file that cannot be flushed is passed by
            continue


_HANDLERS = Owners()
"""Logging handlers plugin code made."""
_REGISTER = atexit.register
"""``atexit.register`` as it was: the host's own exit handler is bound to no plugin."""


def _wrap_handler_init(original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        plugin = guard.running_plugin()
        if plugin is not None:
            _HANDLERS.add(self, plugin)

    __init__.__doc__ = original.__doc__
    setattr(__init__, "_jafhost_owned", True)  # noqa: B010 - a mark on a function
    return __init__


def _own_logging(logging: Any) -> None:
    """Record which plugin makes each handler, and flush and close handlers at the exit
    each as its plugin (the host's as the host), in ``logging.shutdown``'s order."""
    handler = logging.Handler
    if not getattr(handler.__init__, "_jafhost_owned", False):
        handler.__init__ = _wrap_handler_init(handler.__init__)
    shutdown = logging.shutdown

    def shut_down_as_owners() -> None:
        for ref in reversed(list(logging._handlerList)):
            found = ref()
            owner = None if found is None else _HANDLERS.owner(found)
            if owner is None:
                shutdown([ref])
            else:
                AsPlugin(shutdown, owner)([ref])

    atexit.unregister(shutdown)  # the wrapped one too: ``AsPlugin`` equals what it wraps
    _REGISTER(shut_down_as_owners)


def install() -> None:
    """Put the wrappers in place (``guard.install`` calls this once)."""
    from jafhost.security import on_import

    on_import.when_imported("logging", _own_logging)
    atexit.register = _wrap_register(atexit.register)
    threading._register_atexit = _wrap_register(threading._register_atexit)  # type: ignore[attr-defined]
    weakref.finalize.__init__ = _wrap_finalize(weakref.finalize.__init__)  # type: ignore[method-assign]
