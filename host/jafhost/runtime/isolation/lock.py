"""``RequestLock``: one request at a time to a worker, from whichever event loop asks.

``asyncio.Lock`` binds to the first loop that waits on it; a worker can outlive that
loop (a ``SyncHost`` thread, ``asyncio.run`` called twice), so its lock must not.
"""

from __future__ import annotations

import asyncio
import contextlib


class RequestLock:
    """A lock usable from any event loop; waiters are woken in order."""

    def __init__(self) -> None:
        self._busy = False
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire(self) -> None:
        while self._busy:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(future)
        self._busy = True

    def release(self) -> None:
        self._busy = False
        for future in self._waiters:
            if not future.done():
                with contextlib.suppress(RuntimeError):  # its loop is gone
                    future.set_result(None)
                break
