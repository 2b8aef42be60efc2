"""``StartRecord``: the failed starts in a row of one plugin's workers.

A worker that crashed is started again on the next request; a start that fails too makes
the one after it wait (``BACKOFF_FIRST`` seconds, doubling up to ``BACKOFF_CAP``), and
after ``MAX_FAILED_STARTS`` in a row the plugin is ``broken`` with the last failure: its
requests fail at once with ``unavailable`` (``WorkerUnavailable``) instead of starting a
worker each, until it is reloaded or enabled again. The workers of one plugin
(``pool.WorkerPool``) share one record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from jafhost.errors import ToolError

LOGGER = logging.getLogger("jafhost")


class WorkerUnavailable(ToolError):
    """The plugin's worker failed to start too many times in a row: it is broken, and
    no call starts another until it is reloaded or enabled again."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message, plugin=plugin, code="unavailable")


MAX_FAILED_STARTS = 5
"""Starts of a plugin's worker that may fail in a row before the plugin is ``broken``."""
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 8.0
"""Seconds before the start after a failed one, doubling with each failure up to the cap."""


class StartRecord:
    """The failed starts in a row of one plugin's workers: the back-off before the next,
    and ``broken`` (with the last failure) once there were ``MAX_FAILED_STARTS``."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.failures = 0
        self.last_failure: str | None = None
        self.broken: str | None = None
        """Why the plugin is broken (None while it is not)."""
        self.on_broken: Callable[[str], None] | None = None
        self._next_at = 0.0

    def delay(self) -> float:
        """The back-off the next start waits: none after a success."""
        if self.failures == 0:
            return 0.0
        return float(min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (self.failures - 1)))

    def check(self) -> None:
        """``WorkerUnavailable`` once broken, naming the plugin, the reason and the fix."""
        if self.broken is not None:
            name = self.plugin
            raise WorkerUnavailable(
                f"plugin {name} is broken: {self.broken}; see jafhost doctor {name}, then "
                f"reload it, or jafhost disable {name} and jafhost enable {name}",
                plugin=name,
            )

    def due(self) -> bool:
        """Whether a start may be tried now (no failure, or its back-off has passed)."""
        return self.failures == 0 or time.monotonic() >= self._next_at

    async def wait_turn(self) -> None:
        """Wait out the back-off, then allow one start (or refuse: broken)."""
        self.check()
        wait = self._next_at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self.check()

    def failed(self, reason: str) -> None:
        self.failures += 1
        self.last_failure = reason
        self._next_at = time.monotonic() + self.delay()
        if self.failures >= MAX_FAILED_STARTS and self.broken is None:
            self.broken = (
                f"its worker failed to start {self.failures} times in a row "
                f"(the last time: {reason})"
            )
            LOGGER.warning("plugin %s: %s", self.plugin, self.broken)
            if self.on_broken is not None:
                self.on_broken(self.broken)

    def succeeded(self) -> None:
        self.failures, self.last_failure, self._next_at = 0, None, 0.0
