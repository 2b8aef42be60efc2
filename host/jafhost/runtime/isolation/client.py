"""Process isolation, host side: the pipe client of one plugin's worker process.

A ``WorkerClient`` spawns the worker (``python -I -S -c BOOT``: see ``BOOT``) from a
``WorkerSpec`` (the plugin, its grants, folders and limits) and sends it requests one at
a time over a dedicated pipe pair (``protocol``). A cancelled request (the router's time
limit) kills the worker; a worker that dies fails the request in flight with how it
ended (``exits``); a worker that sends anything but exactly one reply per request (and
the notices it may send) is stopped as untrustworthy and fails the request in flight
(``pipe``); either way the next request starts a new worker with the grants at that
moment. No worker outlives the host, and no process a plugin starts outlives its worker
(``process_tree``); the worker's output reaches the host's stderr through a pipe the
host owns (``output``). Details: docs/architecture.md, "The worker
conversation", and docs/security.md, "Process isolation".
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import logging
import os
import subprocess
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from jafhost.errors import ToolError
from jafhost.runtime.isolation import zygote
from jafhost.runtime.isolation.exits import describe_exit
from jafhost.runtime.isolation.lock import RequestLock
from jafhost.runtime.isolation.output import OutputCopy, stderr_fd
from jafhost.runtime.isolation.pipe import Pipe, PipeClosed, ProtocolViolation, TooLarge
from jafhost.runtime.isolation.protocol import MB, FrameTooLarge, error_from_json
from jafhost.runtime.isolation.spawn import (
    boot_program,
    command,
    end_process,
    init_message,
    prepare,
)
from jafhost.runtime.isolation.spec import WorkerSpec
from jafhost.runtime.isolation.starts import StartRecord, WorkerUnavailable
from jafhost.runtime.isolation.zygote import ForkedProcess, ZygoteError, fork_worker
from jafhost.security import installed_files
from jafhost.security.guard import CURRENT_PLUGIN
from jafhost.security.sandbox.process_tree import descendants

LOGGER = logging.getLogger("jafhost")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


SPIN_SECONDS = 100e-6 if _cpus() > 1 else 0.0
"""How long a request polls the pipe for its reply before yielding to the event loop:
a small call answers within tens of microseconds, faster than a loop wake-up. Never on
a single CPU, where polling would only keep the worker from running."""
_LIVE: weakref.WeakSet[WorkerClient] = weakref.WeakSet()
NESTED: contextvars.ContextVar[WorkerClient | None] = contextvars.ContextVar(
    "jafhost_nested_worker", default=None
)
"""The worker whose middleware is running the rest of the chain here: its requests
nest inside the one in flight."""

BOOT = boot_program()
"""The worker's program (``spawn.boot_program``): the import path the host computed,
the import gate (``gate.py``, run from its file) first, then ``worker.main``."""


class WorkerError(ToolError):
    """The worker could not serve a request; the message names the plugin and why
    (``reason``: the why alone)."""

    def __init__(self, message: str, *, plugin: str | None = None, reason: str = "") -> None:
        super().__init__(message, plugin=plugin, code="tool_error")
        self.reason = reason or message


class WorkerCrash(WorkerError):
    """The worker ended while a request was in flight."""


class WorkerProtocolError(WorkerError):
    """The worker sent something other than the awaited reply or a known notice; it
    was stopped."""


class WorkerResultTooLarge(WorkerError):
    """The worker began a frame longer than ``[host] max_result_mb``; it was stopped."""


class _NotDelivered(Exception):
    """A request could not be written at all: the worker had already ended."""


class WorkerClient:
    """One plugin's worker process: spawned on demand, one request at a time."""

    def __init__(
        self,
        spec: WorkerSpec,
        on_notice: Callable[[dict[str, Any]], None] | None = None,
        record: StartRecord | None = None,
    ) -> None:
        self.spec = spec
        self.on_notice = on_notice
        self.record = record if record is not None else StartRecord(spec.plugin)
        """Restarts in a row that failed, shared by the workers of one plugin: the next
        waits longer, and after ``MAX_FAILED_STARTS`` the plugin is broken."""
        self.on_ask: Callable[[dict[str, Any]], Awaitable[Any]] | None = None
        """Serves what the worker asks of the host while a request is in flight (an
        integration of another plugin); its answer goes back as ``answer``."""
        self.proc: subprocess.Popen[bytes] | ForkedProcess | None = None
        self._output: OutputCopy | None = None
        self._plugin_pid: int | None = None
        self.protections: list[str] = []
        self.missing: list[str] = []
        self.started: dict[str, Any] | None = None
        """The reply to the last ``start``: status, tools, agents, subscriptions."""
        self.starts = 0
        self.last_exit: str | None = None
        self.violation: str | None = None
        """How the current worker broke the protocol, once it did (it is then stopped)."""
        self.forked = False
        """Whether the running worker was forked by the zygote (else spawned)."""
        self.fork_problem: str | None = None
        """Why the last worker was spawned though the spec asked for a forked one."""
        self.ready_seconds: float | None = None
        self.ready_marks: dict[str, float] = {}
        """Seconds from the worker's ``main()`` to each stage of its start-up (and to
        ready, ``main``): where the start-up time goes."""
        self._pipe: Pipe | None = None
        self._init: dict[str, Any] = {}
        self._ids = 0
        self._lock = RequestLock()
        self._in_flight: list[int] = []
        """The ids of the requests awaiting their replies, innermost last: the worker may
        ask only then."""
        self._asks: dict[int, asyncio.Task[None]] = {}
        """The host serving the worker's pending ask, by the request it came during."""
        self.on_proceed: Callable[[dict[str, Any]], Awaitable[Any]] | None = None
        """Serves a ``proceed`` ask: middleware of this plugin running the rest of the
        chain (set by the middleware stand-in while its request is in flight)."""
        self._write_lock: asyncio.Lock | None = None
        self.spin_seconds = SPIN_SECONDS
        _LIVE.add(self)

    @property
    def plugin(self) -> str:
        return self.spec.plugin

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def plugin_pid(self) -> int | None:
        """The process running the plugin's code, as the host sees it: in a PID
        namespace, the grandchild of the one the host started (found at ``ready``,
        before any plugin code ran)."""
        if self.proc is None:
            return None
        return self._plugin_pid or self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- process ---------------------------------------------------------------------

    def _spawn(self) -> None:
        home = self.spec.host_home
        cache = None if home is None else os.path.join(home, "cache")
        refusal = installed_files.worker_refusal(self.plugin, cache)
        if refusal is not None:
            raise WorkerError(refusal, plugin=self.plugin)
        launch = prepare(self.spec)
        child_read, host_write = os.pipe()
        host_read, child_write = os.pipe()
        env = launch.with_fds(child_read, child_write)
        out_read, out_write = os.pipe()
        try:
            forked = self._forked(env, (child_read, child_write, out_write))
            if forked is not None:
                self.proc = forked
            else:
                self.proc = subprocess.Popen(
                    command(self.spec.python),
                    env=env,
                    cwd=str(self.spec.data_dir),
                    stdin=subprocess.DEVNULL,
                    stdout=out_write,
                    stderr=out_write,
                    pass_fds=(child_read, child_write),
                    start_new_session=True,
                )
        except BaseException:
            for fd in (child_read, child_write, host_read, host_write, out_read, out_write):
                os.close(fd)
            raise
        os.close(out_write)
        self._output = OutputCopy(out_read, stderr_fd(), self.plugin)
        os.close(child_read)
        os.close(child_write)
        os.set_blocking(host_read, False)
        os.set_blocking(host_write, False)
        self.violation = None
        self._pipe = Pipe(
            host_read, host_write, self._notice, self._violated_between, limit=self.max_frame
        )
        self.starts += 1
        self._init = init_message(self.spec, launch.sandbox)

    def _forked(self, env: dict[str, str], fds: tuple[int, int, int]) -> ForkedProcess | None:
        """The worker forked by the zygote, if the spec asks for it and a zygote can fork
        it here; else None, the reason kept (``fork_problem``) and logged once, and the
        worker is spawned: a zygote that cannot serve never fails a start."""
        self.forked = False
        if not self.spec.zygote:
            return None
        problem = zygote.unavailable()
        if problem is None:
            try:
                proc = fork_worker(self.spec.python, env, str(self.spec.data_dir), fds)
            except (ZygoteError, OSError) as exc:
                problem = str(exc)
            else:
                self.forked, self.fork_problem = True, None
                return proc
        self.fork_problem = problem
        zygote.warn_once(f"workers are spawned, not forked by a zygote: {problem}")
        return None

    @property
    def max_frame(self) -> int:
        """The longest frame either side sends or accepts: ``[host] max_result_mb``."""
        return self.spec.max_result_mb * MB

    def kill(self, reason: str | None = None) -> str | None:
        """SIGKILL the worker, every process below it and its process group, and reap
        it; returns how it ended."""
        proc = self.proc
        if proc is None:
            return self.last_exit
        if not end_process(proc):  # stuck in the kernel; reaped by atexit at worst
            LOGGER.warning("plugin %s: worker %s did not die after SIGKILL", self.plugin, proc.pid)
        self._close()
        self.last_exit = describe_exit(proc.returncode, self.spec.cpu_seconds, self.spec.memory_mb)
        if reason:
            LOGGER.warning("plugin %s: worker %s killed: %s", self.plugin, proc.pid, reason)
        self.proc = None
        return self.last_exit

    def _close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
        if self._output is not None:
            self._output.close()
            self._output = None

    def _ended(self, during: str) -> WorkerError:
        """The worker is gone (or closed its pipe): reap it and say how it ended."""
        if self.violation is not None:  # stopped by the host for breaking the protocol
            return self._broke(self.violation, during)
        proc = self.proc
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        how = self.kill() or "ended"
        return WorkerCrash(
            f"plugin {self.plugin}: its worker process {how} during {during}; "
            "a new worker starts on the next call",
            plugin=self.plugin,
            reason=f"its worker process {how} during {during}",
        )

    def _broke(self, reason: str, during: str) -> WorkerProtocolError:
        """The worker broke the protocol: stop it (nothing it says can be trusted)."""
        self.violation = reason
        if self.proc is not None:
            self.kill(f"it broke the protocol during {during}: {reason}")
        return WorkerProtocolError(
            f"plugin {self.plugin}: its worker broke the protocol during {during} ({reason}); "
            "it was stopped and a new one starts on the next call",
            plugin=self.plugin,
        )

    def _too_large(self, during: str) -> WorkerResultTooLarge:
        """The worker began a frame over the limit: stop it (the rest is never read)."""
        limit = self.spec.max_result_mb
        if self.proc is not None:
            self.kill(f"during {during}, it began a frame over [host] max_result_mb = {limit} MB")
        what = "its result" if during.startswith("tool ") else f"its reply to {during}"
        return WorkerResultTooLarge(
            f"plugin {self.plugin}: {what} is larger than [host] max_result_mb = {limit} MB; "
            "the worker was stopped and a new one starts on the next call",
            plugin=self.plugin,
        )

    def _violated_between(self, reason: str) -> None:
        """The pipe's report of a violation while no request was in flight."""
        self.violation = reason
        self.kill(f"it broke the protocol between requests: {reason}")

    # -- the pipe ----------------------------------------------------------------------

    async def _send(self, message: dict[str, Any]) -> None:
        """One whole frame, never interleaved with another (answers and requests)."""
        if self._pipe is None:
            raise PipeClosed(delivered=False)
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        async with self._write_lock:
            await self._pipe.send(message)

    async def _write(self, message: dict[str, Any], during: str) -> None:
        try:
            await self._send(message)
        except PipeClosed as exc:
            if not exc.delivered:
                raise _NotDelivered from None
            raise self._ended(during) from None
        except FrameTooLarge:  # nothing was written: the worker is still in step
            raise WorkerError(
                f"plugin {self.plugin}: the request for {during} is larger than "
                f"[host] max_result_mb = {self.spec.max_result_mb} MB",
                plugin=self.plugin,
            ) from None

    async def _read(self, during: str, expect: int | None) -> dict[str, Any]:
        """The reply to request ``expect`` (None: ``ready``); notices are handled on the
        way, anything else stops the worker."""
        if self._pipe is None:
            raise self._ended(during)
        try:
            return await self._pipe.receive(expect)
        except PipeClosed:
            raise self._ended(during) from None
        except TooLarge:
            raise self._too_large(during) from None
        except ProtocolViolation as exc:
            raise self._broke(str(exc), during) from None

    def _notice(self, message: dict[str, Any]) -> None:
        if message.get("op") == "ask":
            self._ask(message)
            return
        if self.on_notice is not None:
            try:
                self.on_notice(message)
            except Exception:  # a listener's bug must not break the call in flight
                LOGGER.exception("plugin %s: handling a worker notice failed", self.plugin)

    def _ask(self, message: dict[str, Any]) -> None:
        """The worker asks the host something (``ask``, with a ``ref``): only while a
        request of the host is in flight, one at a time; else it broke the protocol."""
        if not self._in_flight:
            raise ProtocolViolation("a request to the host while no request was in flight")
        during = self._in_flight[-1]
        pending = self._asks.get(during)
        if pending is not None and not pending.done():
            raise ProtocolViolation("a second request to the host before the first was answered")
        ref = message.get("ref")
        if type(ref) is not int:
            raise ProtocolViolation("a request to the host without an integer ref")
        self._asks[during] = asyncio.get_running_loop().create_task(self._answer(ref, message))

    async def _answer(self, ref: int, message: dict[str, Any]) -> None:
        """Serve one ask and write its answer (an error answer for whatever fails)."""
        from jafhost.runtime.isolation.protocol import error_to_json

        answer: dict[str, Any]
        try:
            serve = self.on_proceed if message.get("kind") == "proceed" else self.on_ask
            if serve is None:
                raise WorkerError(f"plugin {self.plugin}: nothing here answers its worker")
            answer = {"op": "answer", "ref": ref, "ok": True, "result": await serve(message)}
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = error_to_json(exc, with_traceback=False)
            answer = {"op": "answer", "ref": ref, "ok": False, "error": error}
        try:
            await self._send(answer)
        except FrameTooLarge:
            error = {"kind": "coded", "code": "tool_error", "message": "the answer is too large"}
            await self._send({"op": "answer", "ref": ref, "ok": False, "error": error})
        except PipeClosed:
            pass  # the worker is gone; its request fails on its own

    async def _roundtrip(self, message: dict[str, Any], during: str) -> dict[str, Any]:
        self._ids += 1
        ident = message["id"] = self._ids
        if self._pipe is not None:
            try:
                self._pipe.before_request()
            except TooLarge:
                raise self._too_large(during) from None
            except ProtocolViolation as exc:
                raise self._broke(str(exc), during) from None
        self._in_flight.append(ident)
        try:
            await self._write(message, during)
            if self.spin_seconds > 0 and self._pipe is not None and len(self._in_flight) == 1:
                self._pipe.spin(self.spin_seconds)
            return await self._read(during, ident)
        finally:
            self._in_flight.remove(ident)
            asking = self._asks.pop(ident, None)
            if asking is not None and not asking.done():
                asking.cancel()

    # -- starting --------------------------------------------------------------------

    async def _within(
        self, limit: float, step: Awaitable[dict[str, Any]], why: str, what: str
    ) -> dict[str, Any]:
        """``step`` within ``limit`` seconds, else the worker is killed (``why``) and the
        start fails: ``its worker <what> <limit> s``."""
        try:
            async with asyncio.timeout(limit):
                return await step
        except TimeoutError:
            self.kill(why)
            raise WorkerError(
                f"plugin {self.plugin}: its worker {what} {limit:g} s", plugin=self.plugin
            ) from None

    async def _boot(self, start: dict[str, Any] | None = None) -> dict[str, Any]:
        """Spawn, sandbox, start the plugin (or what ``start`` asks instead); returns the
        reply to it."""
        started = time.perf_counter()
        if self.spec.zygote and not zygote.is_ready(self.spec.python):
            # a zygote's first start takes a spawned worker's time: not on the host's loop
            await asyncio.to_thread(zygote.prepare, self.spec.python)
        self._spawn()
        try:
            await self._write(self._init, "start-up")
        except _NotDelivered:
            raise self._ended("start-up") from None
        limit = max(30.0, 3 * self.spec.hook_timeout)
        ready = await self._within(
            limit,
            self._read("start-up", None),
            f"not ready after {limit:g} s",
            "was not ready after",
        )
        self.protections = [*ready.get("protections", []), "kill-on-timeout"]
        self._plugin_pid = None
        if "pidns" in self.protections and self.proc is not None:
            tree = descendants(self.proc.pid)  # the namespace's PID 1, then the worker
            self._plugin_pid = tree[1] if len(tree) == 2 else None
        self.missing = list(ready.get("missing", []))
        if self.missing and self.starts == 1:
            LOGGER.warning(
                "plugin %s: worker protections not available here: %s",
                self.plugin,
                "; ".join(self.missing),
            )
        self.ready_seconds = time.perf_counter() - started
        self.ready_marks = {"main": float(ready.get("seconds") or 0.0), **ready.get("marks", {})}
        limit = 12 * self.spec.hook_timeout + 5
        start = start or {
            "op": "start",
            "config": self.spec.config_table,
            "environ": _configuring(self.plugin),
            "hook_timeout": self.spec.hook_timeout,
            "schemas": self.spec.known_schemas,
        }
        reply = await self._within(
            limit,
            self._roundtrip(start, "start"),
            f"start took longer than {limit:g} s",
            "did not start within",
        )
        if not reply.get("ok"):
            error = reply.get("error") or {}
            self.kill("start failed")
            raise WorkerError(
                f"plugin {self.plugin}: worker start failed: {error.get('message')}",
                plugin=self.plugin,
            )
        self.started = reply
        return reply

    async def boot(self, start: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start the worker now (first activation); the ``start`` reply. ``start``: a
        request to send instead of ``start`` (``load_model``: only import the plugin)."""
        await self._lock.acquire()
        try:
            return await self._boot(start)
        except BaseException:
            self.kill()
            raise
        finally:
            self._lock.release()

    # -- requests ----------------------------------------------------------------------

    async def request(self, message: dict[str, Any], during: str) -> dict[str, Any]:
        """Send one request (starting a worker first if none is running); a cancelled
        request kills the worker, so nothing it started keeps running."""
        # this is host code: spawning and piping must not be checked against the grants
        # of the plugin the caller is running as (its code runs in the worker)
        identity = CURRENT_PLUGIN.set(None)
        if NESTED.get() is self and self._in_flight:
            # inside this worker's own middleware, which waits for the rest of the chain:
            # the request is answered before the one in flight (no lock: it holds it)
            try:
                return await self._roundtrip(message, during)
            finally:
                CURRENT_PLUGIN.reset(identity)
        await self._lock.acquire()
        try:
            for attempt in (1, 2):
                if self.proc is None or self._pipe is None or self._pipe.closed:
                    await self._restart()
                try:
                    return await self._roundtrip(message, during)
                except _NotDelivered:  # it had ended before this request: start a new one
                    self.kill()
                    if attempt == 2:
                        raise self._ended(during) from None
            raise AssertionError("unreachable")
        except asyncio.CancelledError:
            self.kill(f"{during} was cancelled (time limit)")
            raise
        except (WorkerError, WorkerUnavailable):
            raise
        except Exception as exc:  # a garbled message: the worker cannot be trusted further
            self.kill(f"protocol error: {exc!r}")
            raise WorkerError(
                f"plugin {self.plugin}: its worker sent something unreadable during {during}",
                plugin=self.plugin,
            ) from exc
        finally:
            self._lock.release()
            CURRENT_PLUGIN.reset(identity)

    async def _restart(self) -> None:
        """Start a worker again (or a pool's next one), after the back-off the failed
        starts before it earned; a failure counts toward ``broken``."""
        self.kill()
        await self.record.wait_turn()
        try:
            reply = await self._boot()
            if reply.get("status") != "active":
                self.kill("the restarted plugin did not become active")
                raise WorkerError(
                    f"plugin {self.plugin}: its worker was restarted but the plugin "
                    f"did not start: {reply.get('error')}",
                    plugin=self.plugin,
                )
        except WorkerError as exc:
            self.record.failed(exc.reason)
            after = (
                "the plugin is now broken"
                if self.record.broken
                else f"the next start is tried after {self.record.delay():g} s"
            )
            raise WorkerError(
                f"plugin {self.plugin}: its worker could not be started again ({exc.reason}); "
                + after,
                plugin=self.plugin,
                reason=exc.reason,
            ) from None
        self.record.succeeded()

    async def ensure_running(self) -> None:
        """A live worker, started now if there is none (a pool takes a worker this way
        before it sends a call, so the start is not part of the call's running time)."""
        await self._lock.acquire()
        try:
            if self.proc is None or self._pipe is None or self._pipe.closed:
                await self._restart()
        except BaseException:
            self.kill()
            raise
        finally:
            self._lock.release()

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """Call a tool in the worker; its result, or the error it raised, re-raised here."""
        reply = await self.request(
            {"op": "call", "tool": tool, "args": arguments}, f"tool {self.plugin}.{tool}"
        )
        return self.result(reply)

    async def event(self, index: int, event: dict[str, Any], pattern: str) -> None:
        reply = await self.request(
            {"op": "event", "index": index, "event": event}, f"handler for {pattern!r}"
        )
        self.result(reply)

    async def integration(
        self, short: str, method: str, args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        """Call a public method of the client of the plugin's integration ``short``."""
        message = {"op": "integration", "name": short, "method": method,
                   "args": args, "kwargs": kwargs}  # fmt: skip
        return self.result(
            await self.request(message, f"integration {self.plugin}.{short}.{method}")
        )

    async def middleware(self, call: dict[str, Any]) -> Any:
        """Run the plugin's ``jaf_tool_call`` around ``call``: its reply, after any
        ``proceed`` asks (served by ``on_proceed``)."""
        message = {"op": "middleware", "call": call}
        return self.result(await self.request(message, f"middleware of {self.plugin}"))

    async def provider(
        self, index: int, messages: list[Any], tools: list[Any], model: str | None
    ) -> Any:
        """The next turn of the plugin's model provider ``index`` (as JSON)."""
        message = {"op": "provider", "index": index, "messages": messages, "tools": tools,
                   "model": model}  # fmt: skip
        return self.result(await self.request(message, f"model provider of {self.plugin}"))

    async def config_model(self, question: str, args: list[Any]) -> Any:
        """Ask the plugin's config model a question (``home.config.MODEL_QUESTIONS``)."""
        message = {"op": "config_model", "question": question, "args": args}
        return self.result(await self.request(message, f"config {self.plugin}: {question}"))

    async def integration_health(self, short: str) -> Any:
        """Run the health check of the plugin's integration ``short`` in the worker."""
        message = {"op": "integration", "name": short, "health": True}
        return self.result(
            await self.request(message, f"integration {self.plugin}.{short}: health")
        )

    async def hook(self, hook: str, **kwargs: Any) -> Any:
        """Call one of the plugin's hook implementations with JSON-ready arguments."""
        return self.result(await self.request({"op": "hook", "hook": hook, "kwargs": kwargs},
                                               hook))  # fmt: skip

    def result(self, reply: dict[str, Any]) -> Any:
        if reply.get("ok"):
            return reply.get("result")
        raise self._exception(reply.get("error") or {})

    def _exception(self, error: dict[str, Any]) -> BaseException:
        if error.get("kind") == "memory":
            self.kill()  # it exits by itself; make sure, and reap it
        return error_from_json(error, self.plugin)

    async def stop(self, timeout: float) -> str | None:
        """Deactivate the plugin and end the worker (killed if it does not comply)."""
        problem: str | None = None
        if not self.alive:
            self.kill()
            return None
        try:
            async with asyncio.timeout(timeout + 2):
                await self._lock.acquire()
                try:
                    reply = await self._roundtrip({"op": "stop"}, "stop")
                    problem = reply.get("problem")
                finally:
                    self._lock.release()
            deadline = time.monotonic() + 1.0
            while self.alive and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
        except (TimeoutError, WorkerError, _NotDelivered) as exc:
            problem = f"stop: {exc}" if str(exc) else "stop: the worker did not answer"
        finally:
            self.kill()
        return problem


def _configuring(plugin: str) -> dict[str, str]:
    """The environment variables that configure ``plugin`` (``JAFHOST_<PLUGIN>__...``):
    its worker names them in config errors, as the host does (their values are in its
    config already; its environment has no other variable of the host's)."""
    from jafhost.home.config import env_prefix

    prefix = env_prefix(plugin)
    return {k: v for k, v in os.environ.items() if k.startswith(prefix)}


@atexit.register
def _kill_all() -> None:
    """At interpreter exit no worker is left behind, even if nobody stopped it."""
    for worker in list(_LIVE):
        with contextlib.suppress(Exception):
            worker.kill()
