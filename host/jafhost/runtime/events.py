"""Events between plugins: ``Event``, subscriptions by pattern, and delivery.

Plugins subscribe with ``jaf_event_handlers`` (a mapping of patterns to handlers) and
publish with ``ctx.emit``; programs and the CLI publish with ``Host.emit``. Patterns
are event names where ``*`` matches any run of characters, empty or not, dots included
(``order.*`` matches ``order.created`` and ``order.item.added``, ``*`` matches every
event, ``*.failed`` matches ``tool.failed`` and ``event.failed``); every other character
matches itself, and a pattern without ``*`` matches one name exactly. A pattern is at most
``EVENT_NAME_MAX`` characters.

Subscriptions are indexed once, when a plugin is activated, each pattern compiled into a
``Glob`` that matches without backtracking (no ``re``, no ``fnmatch``): one pattern costs
at most O(len(name) * len(pattern)) character comparisons against one name, whatever a
plugin writes. Each event name's list of matching handlers is then cached, so an emit
costs a dictionary lookup plus the handlers themselves.

A host event about a plugin (``tool.*``, ``plugin.*``, ``permission.denied``,
``event.failed``: ``about`` names it) reaches only that plugin's own handlers and those
of plugins granted ``observe``.

Delivery follows activation order (a plugin's handlers run after those of the plugins
it depends on), one handler at a time, each under its plugin's identity and grants and
with the hook time limit. A handler that raises or overruns is reported (and an
``event.failed`` event says so); the others still receive the event. An event chain
(handlers emitting events that trigger handlers...) deeper than ``MAX_DEPTH`` is cut
with an error naming the chain, so a loop cannot run forever.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jafhost.errors import EventError, describe, quoted
from jafhost.tools import _is_context, _parameter_hints
from jafhost.types import Event, RunContext

MAX_DEPTH = 8
EVENT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")
PATTERN = re.compile(r"^[A-Za-z0-9_.:*-]+$")
EVENT_NAME_MAX = 256
"""The longest event name (or pattern): names are identifiers, not payloads."""
_CHAIN: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "jafhost_event_chain", default=()
)


@dataclass(frozen=True)
class Subscription:
    """One handler of one plugin for one pattern."""

    plugin: str
    pattern: str
    handler: Callable[..., Any]
    context_param: str | None
    glob: Glob
    run_context_param: str | None = None
    """The parameter that receives the ``RunContext`` of whoever caused the delivery."""


@dataclass
class DeliveryReport:
    """Who received an event and who failed; ``error`` is set when it was not delivered."""

    event: Event
    delivered: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event.name,
            "id": self.event.id,
            "source": self.event.source,
            "delivered": self.delivered,
            "failed": self.failed,
            "error": self.error,
        }


def check_event_name(name: str) -> str:
    if not isinstance(name, str) or not EVENT_NAME.fullmatch(name):
        raise EventError(f"bad event name {quoted(name)}: use letters, digits, '.', '_', '-', ':'")
    if len(name) > EVENT_NAME_MAX:
        raise EventError(f"bad event name {quoted(name)}: longer than {EVENT_NAME_MAX} characters")
    return name


@dataclass(frozen=True)
class Glob:
    """A compiled event pattern: ``*`` matches any run of characters (dots included).

    ``pieces`` are the pattern's literal parts between stars (empty ones included), so a
    pattern without ``*`` is one piece that must equal the name. Matching never
    backtracks: the first piece must start the name, the last must end it, and each piece
    in between is taken at its leftmost place after the one before. Taking the leftmost
    place is never wrong, since whatever lies after an earlier place also lies after a
    later one and stars absorb the gaps; so one ``str.find`` per piece decides the match.
    """

    pieces: tuple[str, ...]

    @property
    def exact(self) -> bool:
        return len(self.pieces) == 1

    def match(self, name: str) -> bool:
        pieces = self.pieces
        first = pieces[0]
        if len(pieces) == 1:
            return name == first
        last = pieces[-1]
        end = len(name) - len(last)
        if end < len(first) or not name.startswith(first) or not name.endswith(last):
            return False
        position = len(first)
        for piece in pieces[1:-1]:
            if piece:
                found = name.find(piece, position, end)
                if found < 0:
                    return False
                position = found + len(piece)
        return True


def compile_pattern(pattern: str) -> Glob:
    """Check a subscription pattern and compile it; ``EventError`` if malformed."""
    if not isinstance(pattern, str) or not PATTERN.fullmatch(pattern):
        raise EventError(f"bad event pattern {pattern!r}")
    if len(pattern) > EVENT_NAME_MAX:
        raise EventError(
            f"bad event pattern {quoted(pattern)}: longer than {EVENT_NAME_MAX} characters"
        )
    return Glob(tuple(pattern.split("*")))


def _context_params(handler: Callable[..., Any]) -> tuple[str | None, str | None]:
    """The handler's parameters that receive the ``PluginContext`` and the ``RunContext``."""
    try:
        hints = _parameter_hints(handler)
        names = list(inspect.signature(handler).parameters)
    except (TypeError, ValueError, NameError) as exc:
        raise EventError(f"handler {handler!r}: cannot read its signature: {exc}") from None
    ctx = run = None
    for name in names:
        if ctx is None and (_is_context(hints.get(name)) or (name == "ctx" and name not in hints)):
            ctx = name
        elif run is None and _is_context(hints.get(name), RunContext):
            run = name
    return ctx, run


def subscriptions(plugin: str, handlers: Any) -> list[Subscription]:
    """Check a plugin's ``jaf_event_handlers`` result; ``EventError`` if malformed."""
    if handlers is None:
        return []
    if not isinstance(handlers, Mapping):
        raise EventError(
            "jaf_event_handlers must return a mapping of patterns to handlers, not "
            f"{type(handlers).__name__}"
        )
    subs: list[Subscription] = []
    for raw, handler in handlers.items():
        glob = compile_pattern(raw)
        pattern = str.__str__(raw)  # an exact str: a subclass's methods are plugin code
        items = handler if isinstance(handler, list | tuple) else [handler]
        for item in items:
            if not callable(item):
                raise EventError(f"handler for {pattern!r} is not callable: {item!r}")
            ctx, run = _context_params(item)
            subs.append(Subscription(plugin, pattern, item, ctx, glob, run))
    return subs


MATCH_CACHE_MAX = 1024
"""Event names whose subscribers ``EventBus.matching`` remembers; the oldest goes first,
so a plugin emitting ever new names cannot grow the host's memory."""


class EventBus:
    """Subscriptions of the active plugins and delivery to them."""

    def __init__(
        self,
        order: Callable[[], list[str]],
        run: Callable[[Subscription, Event], Any],
        observes: Callable[[str], bool] = lambda plugin: False,
    ) -> None:
        self._order = order
        self._run = run
        self._observes = observes
        self._subs: dict[str, list[Subscription]] = {}
        self._cache: dict[str, list[Subscription]] = {}

    def subscribe(self, plugin: str, subs: list[Subscription]) -> None:
        """Index a plugin's subscriptions (from ``subscriptions``)."""
        self._subs[plugin] = list(subs)
        self._cache.clear()

    def unsubscribe(self, plugin: str) -> None:
        if self._subs.pop(plugin, None) is not None:
            self._cache.clear()

    def matching(self, name: str) -> list[Subscription]:
        cached = self._cache.get(name)
        if cached is None:
            cached = []
            for plugin in self._order():
                for sub in self._subs.get(plugin, ()):
                    if sub.glob.match(name):
                        cached.append(sub)
            if len(self._cache) >= MATCH_CACHE_MAX:  # names are the emitters' to choose
                del self._cache[next(iter(self._cache))]
            self._cache[name] = cached
        return cached

    def has_subscribers(self, name: str) -> bool:
        return bool(self.matching(name))

    def order_changed(self) -> None:
        self._cache.clear()

    def current_chain(self) -> tuple[str, ...]:
        return _CHAIN.get()

    async def emit(
        self,
        name: str,
        data: Any = None,
        source: str = "host",
        chain: tuple[str, ...] | None = None,
        about: str | None = None,
    ) -> DeliveryReport:
        """Deliver one event to every matching handler; never raises for a handler.

        ``about``: the plugin a host event is about; other plugins' handlers receive
        it only when they were granted ``observe``.
        """
        event = Event(check_event_name(name), data, source)
        report = DeliveryReport(event)
        previous = _CHAIN.get() if chain is None else chain
        if len(previous) >= MAX_DEPTH:
            report.error = f"event chain deeper than {MAX_DEPTH}: " + " -> ".join([*previous, name])
            return report
        token = _CHAIN.set((*previous, name))
        try:
            for sub in list(self.matching(name)):
                if about is not None and sub.plugin != about and not self._observes(sub.plugin):
                    continue
                entry = {"plugin": sub.plugin, "pattern": sub.pattern}
                try:
                    await self._run(sub, event)
                except (KeyboardInterrupt, asyncio.CancelledError):
                    raise
                except BaseException as exc:
                    text = describe(exc)
                    report.failed.append({**entry, "error": text})
                    if name != "event.failed":
                        await self.emit(
                            "event.failed",
                            {"event": name, "id": event.id, "plugin": sub.plugin, "error": text},
                            about=sub.plugin,
                        )
                else:
                    report.delivered.append(entry)
        finally:
            _CHAIN.reset(token)
        return report
