"""``WorkerPool``: the workers of one process-isolated plugin, one request at a time each.

A plugin gets up to ``[host] workers_per_plugin`` workers (``WorkerSpec.workers``), each
running the plugin's whole start (import, initialize, activate) in its own sandbox from
the same spec. An idle plugin costs one worker: the next starts only when a request has
found every current one busy for ``GROW_AFTER`` seconds (an event never starts one). A
request takes the first free worker (so calls one after another always reach the same
one), else waits for one; a tool call waits at most its own time limit (``busy`` after
that) and its limit counts only from when a worker took it, so a slow call never makes
the calls queued behind it time out. A time limit kills
only the worker running that call. Requests nested in one in flight (middleware
proceeding to a tool of its own plugin) go to the worker already in that request.

Workers share no memory: what a plugin keeps between calls belongs in its data folder
(README.md, "Writing a plugin"). Starts that fail in a row back off and end in
``broken`` (``starts.StartRecord``).

An agent's calls whose policy narrows the plugin's grants go to a pool of their own
(``narrowed``), one per narrowed grant set, whose workers start with those grants (so
the sandbox, not only the guard, holds them to it), on demand; they end with the
plugin's. Its failed starts never make the plugin ``broken`` for its other callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from jafhost.errors import HookTimeout, ToolError
from jafhost.runtime.isolation.client import NESTED, WorkerClient
from jafhost.runtime.isolation.spec import WorkerSpec
from jafhost.runtime.isolation.starts import StartRecord

if TYPE_CHECKING:
    from jafhost.security.narrowing import Narrowing

Proceed = Callable[[dict[str, Any], WorkerClient], Awaitable[Any]]
"""Serves a ``proceed`` ask of a worker's middleware: the message, and the worker asking
(the rest of the chain nests its requests in that worker's)."""


GROW_AFTER = 0.5
"""Seconds a request waits for a busy worker before another worker is started for it:
a start costs more than most calls take, and a call that follows another (an event
its plugin emitted being handled) then still meets the same worker."""


class WorkerBusy(ToolError):
    """No worker of the plugin could take a call within the call's time limit."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message, plugin=plugin, code="busy")


class WorkerPool:
    """Up to ``spec.workers`` workers of one plugin; the first is started by the caller
    and handed over with ``adopt``, the others as requests need them."""

    def __init__(
        self,
        spec: WorkerSpec,
        on_notice: Callable[[dict[str, Any]], None] | None = None,
        on_ask: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
    ) -> None:
        self.spec = spec
        self.size = max(1, spec.workers)
        self.on_notice = on_notice
        self.on_ask = on_ask
        self.record = StartRecord(spec.plugin)
        self.slots: list[WorkerClient] = []
        self._held: set[WorkerClient] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._narrowed: dict[tuple[str, ...], WorkerPool] = {}

    @property
    def plugin(self) -> str:
        return self.spec.plugin

    @property
    def primary(self) -> WorkerClient | None:
        """The first worker (the one requests made one after another reach)."""
        return self.slots[0] if self.slots else None

    def new_worker(self) -> WorkerClient:
        """A worker of this pool's plugin, not started and not yet in the pool."""
        worker = WorkerClient(self.spec, self.on_notice, self.record)
        worker.on_ask = self.on_ask
        return worker

    def adopt(self, worker: WorkerClient) -> None:
        """Make ``worker`` the pool's first (started by the caller, possibly outside the
        pool: a reload's new version); its notices and asks are this pool's from now on."""
        worker.on_notice, worker.on_ask, worker.record = self.on_notice, self.on_ask, self.record
        self.slots = [worker, *(w for w in self.slots if w is not worker)]

    def narrowed(self, narrowing: Narrowing) -> WorkerPool:
        """The pool for calls with ``narrowing``'s grants (made at first use). Its workers
        start with the plugin's grants at that moment narrowed to that set, so a restart
        after a ``revoke`` never brings back what was revoked, and a grant made since
        never widens it."""
        from jafhost.security.narrowing import narrow, policy_of

        key = tuple(narrowing.grants)
        found = self._narrowed.get(key)
        if found is not None:
            return found
        spec, kinds = self.spec, policy_of(key)

        def grants() -> list[str]:
            return narrow(spec.grants(), kinds, spec.data_dir, spec.cache_dir)

        pool = WorkerPool(
            dataclasses.replace(spec, grants=grants, workers=min(2, self.size), schema_file=None),
            self.on_notice,
            self.on_ask,
        )
        self._narrowed[key] = pool
        return pool

    def _all(self) -> list[WorkerPool]:
        return [self, *self._narrowed.values()]

    def by_grants(self) -> list[tuple[tuple[str, ...] | None, WorkerPool]]:
        """This pool (``None``: the plugin's own grants) and each narrowed pool with the
        narrowed grant set it serves: what ``Host.stats`` lists workers by."""
        return [(None, self), *self._narrowed.items()]

    # -- taking a worker ----------------------------------------------------------------

    def _take(self, grow: bool) -> tuple[WorkerClient | None, bool]:
        """A free worker (a live one first, else one to start again, else a new one
        while the pool may grow) and whether it needs a start; ``None``: wait. Without
        ``grow`` nothing starts beside a live worker. While starts are failing, no
        further worker starts beside a live one before the back-off has passed."""
        free = [w for w in self.slots if w not in self._held]
        for worker in free:
            if worker.alive:
                return worker, False
        alive = any(w.alive for w in self.slots)
        if alive and not (grow and self.record.due()):
            return None, False
        if free:
            return free[0], True
        if len(self.slots) < self.size:
            worker = self.new_worker()
            self.slots.append(worker)
            return worker, True
        return None, False

    async def acquire(self, wait: float | None, during: str, grow: bool = True) -> WorkerClient:
        """Take a worker for one request (started first if needed); ``WorkerBusy`` when
        none is free within ``wait`` seconds (None: no limit). ``grow``: a busy pool may
        start another worker for it."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = None if wait is None else now + wait
        grow_at = now + GROW_AFTER if grow else None
        while True:
            self.record.check()
            may_grow = grow_at is not None and loop.time() >= grow_at
            worker, start = self._take(may_grow)
            if worker is None:
                until = deadline
                if grow_at is not None and not may_grow:
                    until = grow_at if deadline is None else min(grow_at, deadline)
                await self._wait(loop, until, deadline, wait, during)
                continue
            self._held.add(worker)
            if not start:
                return worker
            try:
                await worker.ensure_running()
                return worker
            except ToolError:
                self.release(worker)
                if not any(w.alive for w in self.slots):
                    raise
                # another worker serves: wait for it rather than fail this request
            except BaseException:
                self.release(worker)
                raise

    async def _wait(
        self,
        loop: asyncio.AbstractEventLoop,
        until: float | None,
        deadline: float | None,
        wait: float | None,
        during: str,
    ) -> None:
        """Until a worker is released or ``until`` (``WorkerBusy`` at ``deadline``)."""
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append(future)
        try:
            left = None if until is None else until - loop.time()
            if left is None or left > 0:
                async with asyncio.timeout(left):
                    await future
        except TimeoutError:
            pass
        except BaseException:
            if future.done() and not future.cancelled():
                self._wake()  # woken, but leaving: the next waiter takes the turn
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(future)
        woken = future.done() and not future.cancelled()
        if not woken and deadline is not None and loop.time() >= deadline:
            raise WorkerBusy(
                f"no worker of plugin {self.plugin} could take {during} within "
                f"{wait:g} s; all {len(self.slots)} busy",
                plugin=self.plugin,
            )

    def release(self, worker: WorkerClient) -> None:
        self._held.discard(worker)
        self._wake()

    def _wake(self) -> None:
        for future in self._waiters:
            if not future.done():
                with contextlib.suppress(RuntimeError):  # its loop is gone
                    future.set_result(None)
                break

    def _nested(self) -> WorkerClient | None:
        """The worker whose request this one nests in (its middleware proceeding)."""
        worker = NESTED.get()
        return worker if worker is not None and worker in self.slots else None

    async def request(
        self, message: dict[str, Any], during: str, wait: float | None = None
    ) -> dict[str, Any]:
        """One request to a free worker (or the one it nests in)."""
        nested = self._nested()
        if nested is not None:
            return await nested.request(message, during)
        worker = await self.acquire(wait, during)
        try:
            return await worker.request(message, during)
        finally:
            self.release(worker)

    # -- requests -------------------------------------------------------------------------

    async def call(
        self,
        tool: str,
        arguments: dict[str, Any],
        limit: float | None,
        context: dict[str, Any] | None = None,
    ) -> Any:
        """Call a tool: wait up to ``limit`` for a worker (``busy``), then up to ``limit``
        for the call (``HookTimeout``: the worker running it is killed). ``context`` is
        the caller's ``RunContext`` as JSON, for a tool that asks for it."""
        during = f"tool {self.plugin}.{tool}"
        message: dict[str, Any] = {"op": "call", "tool": tool, "args": arguments}
        if context is not None:
            message["context"] = context
        nested = self._nested()
        worker = nested or await self.acquire(limit, f"a call of {during}")
        timer = asyncio.timeout(limit)
        try:
            async with timer:
                reply = await worker.request(message, during)
        except TimeoutError:
            if not timer.expired():
                raise
            raise HookTimeout(f"{during} did not finish within {limit:g} s") from None
        finally:
            if nested is None:
                self.release(worker)
        return worker.result(reply)

    async def _result(self, message: dict[str, Any], during: str, grow: bool = True) -> Any:
        nested = self._nested()
        if nested is not None:
            return nested.result(await nested.request(message, during))
        worker = await self.acquire(None, during, grow)
        try:
            return worker.result(await worker.request(message, during))
        finally:
            self.release(worker)

    async def event(
        self,
        index: int,
        event: dict[str, Any],
        pattern: str,
        context: dict[str, Any] | None = None,
    ) -> None:
        """Deliver an event to a free worker; it never starts one beside a live one: an
        event often follows the call that caused it (fire and forget), and waiting for
        that call's worker keeps a plugin that counts on memory seeing both in one
        process, as it would if nothing else were running."""
        message = {"op": "event", "index": index, "event": event, "context": context}
        await self._result(message, f"handler for {pattern!r}", False)

    async def integration(
        self, short: str, method: str, args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        message = {"op": "integration", "name": short, "method": method,
                   "args": args, "kwargs": kwargs}  # fmt: skip
        return await self._result(message, f"integration {self.plugin}.{short}.{method}")

    async def integration_health(self, short: str) -> Any:
        message = {"op": "integration", "name": short, "health": True}
        return await self._result(message, f"integration {self.plugin}.{short}: health")

    async def provider(
        self, index: int, messages: list[Any], tools: list[Any], model: str | None
    ) -> Any:
        message = {"op": "provider", "index": index, "messages": messages, "tools": tools,
                   "model": model}  # fmt: skip
        return await self._result(message, f"model provider of {self.plugin}")

    async def hook(self, hook: str, **kwargs: Any) -> Any:
        return await self._result({"op": "hook", "hook": hook, "kwargs": kwargs}, hook)

    async def middleware(self, call: dict[str, Any], proceed: Proceed | None = None) -> Any:
        """Run the plugin's ``jaf_tool_call`` around ``call`` in a free worker; its
        ``proceed`` asks are served by ``proceed`` with that worker."""
        during = f"middleware of {self.plugin}"
        worker = await self.acquire(None, during)

        async def serve(message: dict[str, Any]) -> Any:
            assert proceed is not None
            return await proceed(message, worker)

        worker.on_proceed = serve if proceed is not None else None
        try:
            return worker.result(await worker.request({"op": "middleware", "call": call}, during))
        finally:
            worker.on_proceed = None
            self.release(worker)

    # -- ending ---------------------------------------------------------------------------

    async def stop(self, timeout: float) -> str | None:
        """Deactivate the plugin in every worker and end them; the problems, if any."""
        problems = await asyncio.gather(
            *(w.stop(timeout) for pool in self._all() for w in pool.slots)
        )
        found = sorted({p for p in problems if p})
        return "; ".join(found) or None

    def kill(self, reason: str | None = None) -> None:
        for pool in self._all():
            for worker in pool.slots:
                worker.kill(reason)
