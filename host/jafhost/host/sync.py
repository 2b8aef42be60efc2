"""``SyncHost``: the host for scripts, tests and programs without an event loop.

The host is asynchronous (plugins may be async, tools run under time limits). A
``SyncHost`` owns one event loop in a daemon thread and runs every host coroutine
there, and callers simply call methods and get results. (Each async plugin runs on a
loop of its own, the same one between calls: its clients, tasks and locks stay valid.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from jafhost.host.host import Host
from jafhost.runtime.telemetry import carried

if TYPE_CHECKING:
    from jafhost.agents.profiles import AgentProfile
    from jafhost.agents.run import AgentRun
    from jafhost.host.reload import ReloadReport
    from jafhost.runtime.events import DeliveryReport
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.runtime.routing import Confirm
    from jafhost.runtime.stats import HostStats
    from jafhost.types import CallResult

T = TypeVar("T")


class SyncHost:
    """A ``Host`` driven synchronously; ``with SyncHost(...) as host:`` activates all
    enabled plugins and deactivates them on exit. Keyword arguments build the ``Host``."""

    def __init__(self, host: Host | None = None, **kwargs: Any) -> None:
        self.host = host if host is not None else Host(**kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jafhost-loop", daemon=True
        )
        self._thread.start()
        self._closed = False

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run one coroutine on the host's loop and return its result."""
        if self._closed:
            coro.close()
            raise RuntimeError("this SyncHost is closed")
        # the caller's current span (tracing on) stays the parent on the loop's thread
        return asyncio.run_coroutine_threadsafe(carried(coro), self._loop).result(timeout)

    # -- lifecycle ---------------------------------------------------------------------

    def activate_all(self) -> list[LoadedPlugin]:
        return self.run(self.host.activate_all())

    def activate(self, name: str) -> LoadedPlugin:
        return self.run(self.host.activate(name))

    def deactivate(self, name: str) -> None:
        self.run(self.host.deactivate(name))

    def deactivate_all(self) -> None:
        self.run(self.host.deactivate_all())

    def reload(self, name: str) -> ReloadReport:
        return self.run(self.host.reload(name))

    def close(self) -> None:
        """Deactivate every plugin and stop the loop (idempotent)."""
        if self._closed:
            return
        try:
            self.run(self.host.deactivate_all())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> SyncHost:
        self.activate_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- actions -------------------------------------------------------------------------

    def call(
        self,
        name: str,
        arguments: Any = None,
        *,
        timeout: float | None = None,
        confirm: Confirm | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> CallResult:
        """Route one action under the time limit (``call_inline`` skips the thread hop
        and the limit for sync tools, when that is wanted); ``context`` as ``Host.call``."""
        return self.run(
            self.host.call(name, arguments, timeout=timeout, confirm=confirm, context=context)
        )

    def stats(self) -> HostStats:
        """``Host.stats``, read on the host's loop (no start or call changes it midway)."""

        async def read() -> HostStats:
            return self.host.stats()

        return self.run(read())

    def emit(self, name: str, data: Any = None) -> DeliveryReport:
        return self.run(self.host.emit(name, data))

    def run_agent(self, agent: str | AgentProfile, message: str, **options: Any) -> AgentRun:
        return self.run(self.host.run_agent(agent, message, **options))

    # -- read-only views (no loop needed) ---------------------------------------------

    def __getattr__(self, name: str) -> Any:
        """Everything else (``plugins``, ``tools``, ``tool_definitions``, ``enable``...)
        is the ``Host``'s own synchronous API."""
        return getattr(self.host, name)

    def tools(self, patterns: Iterable[str] | None = None) -> list[Any]:
        return self.host.tools(patterns)
