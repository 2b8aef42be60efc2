"""Process isolation, host side: one long-lived, sandboxed worker process per plugin.

``start`` (called by ``Host`` for a plugin whose isolation is ``process``) spawns the
worker (``python -m jafhost.runtime.isolation.worker``), which applies
``jafhost.security.sandbox`` before any plugin code runs, then starts the plugin there
exactly as in process (``lifecycle.start``). The host's ``LoadedPlugin`` gets proxies:
tools whose function sends a ``call`` to the worker (arguments are validated there, by
the tool's real pydantic validator), event subscriptions whose handler sends an ``event``.

Requests go one at a time over a dedicated pipe pair (newline-delimited JSON; the
worker's stdout is the host's stderr, so prints never corrupt the protocol). When a
call is cancelled (the router's time limit) the worker is killed with SIGKILL and
reaped at once, so a hung call cannot keep running; a worker that dies (exception at
import, ``os._exit``, a segfault, the CPU or memory limit, the OOM killer) fails the
call in flight with an error naming the plugin and how the worker ended. Either way
the next call starts a new worker, with the grants in the state at that moment.

No worker outlives the host: each has ``PR_SET_PDEATHSIG`` (SIGKILL when the host dies,
even by ``kill -9``), leads its own process group (killed as a group), and is reaped
on stop, on kill and at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from jafhost.errors import HookTimeout, PermissionDenied, PluginExit, ToolError
from jafhost.runtime.isolation.worker import EXIT_MEMORY
from jafhost.security.guard import CURRENT_PLUGIN
from jafhost.security.sandbox import SandboxSpec, cpu_budget, plan, worker_env

if TYPE_CHECKING:
    from jafhost.discovery.records import PluginInfo
    from jafhost.host.host import Host
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.tools import Tool

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

SIGNAL_MEANING = {
    "SIGSEGV": "a segmentation fault",
    "SIGBUS": "a bus error",
    "SIGILL": "an illegal instruction",
    "SIGFPE": "an arithmetic fault",
    "SIGABRT": "an abort (a fatal error in native code, often out of memory there)",
    "SIGKILL": "the kernel's out-of-memory killer, the host after a time limit, or another process",
    "SIGXCPU": "its CPU time limit",
    "SIGSYS": "a forbidden system call",
}


class WorkerError(ToolError):
    """The worker could not serve a request; the message names the plugin and why."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message, plugin=plugin, code="tool_error")


class WorkerCrash(WorkerError):
    """The worker ended while a request was in flight."""


class _NotDelivered(Exception):
    """A request could not be written at all: the worker had already ended."""


def _encode(message: Any) -> bytes:
    import pydantic_core

    return pydantic_core.to_json(message, fallback=repr)


def _decode(line: bytes) -> Any:
    import pydantic_core

    return pydantic_core.from_json(line)


class RemoteError(Exception):
    """Base of the stand-ins for exceptions raised in a worker (same class name)."""


_REMOTE_TYPES: dict[str, type[RemoteError]] = {}


def _remote_type(name: str) -> type[RemoteError]:
    found = _REMOTE_TYPES.get(name)
    if found is None:
        found = type(name, (RemoteError,), {"__module__": "jafhost.runtime.isolation.client"})
        _REMOTE_TYPES[name] = found
    return found


def describe_exit(returncode: int | None, cpu_seconds: int = 0, memory_mb: int = 0) -> str:
    """How a worker ended, in words: ``exited with status 3``, ``killed by SIGSEGV (...)``."""
    if returncode is None:
        return "stopped answering"
    if returncode == EXIT_MEMORY:
        return f"ran out of memory (limit {memory_mb} MB)"
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        return f"was killed by signal {-returncode}"
    meaning = SIGNAL_MEANING.get(name)
    if name == "SIGXCPU" and cpu_seconds:
        meaning = f"its CPU time limit of {cpu_seconds} s per request"
    return f"was killed by {name}" + (f" ({meaning})" if meaning else "")


@dataclass
class WorkerSpec:
    """How to start one plugin's worker; ``grants`` is read again at every start."""

    info: PluginInfo
    data_dir: Path
    cache_dir: Path
    config_table: dict[str, Any]
    grants: Callable[[], list[str]]
    hook_timeout: float = 10.0
    memory_mb: int = 2048
    open_files: int = 256
    cpu_seconds: int = 120
    paths: list[str] = field(default_factory=lambda: list(sys.path))
    python: str = sys.executable

    @property
    def plugin(self) -> str:
        return self.info.name

    def sandbox(self, grants: list[str]) -> SandboxSpec:
        from jafhost.discovery.folders import own_folders

        extra = [p for p in (self.info.location,) if p] + own_folders(self.info)
        if self.info.manifest:
            extra.append(os.path.dirname(self.info.manifest))
        return SandboxSpec(
            plugin=self.plugin,
            grants=tuple(grants),
            data_dir=str(self.data_dir),
            cache_dir=str(self.cache_dir),
            memory_mb=self.memory_mb,
            open_files=self.open_files,
            cpu_seconds=self.cpu_seconds,
            extra_read=tuple(extra),
            parent_pid=os.getpid(),
        )


class _Lock:
    """One request at a time, usable from any event loop (a worker may outlive one)."""

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


class WorkerClient:
    """One plugin's worker process: spawned on demand, one request at a time."""

    def __init__(
        self, spec: WorkerSpec, on_notice: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.spec = spec
        self.on_notice = on_notice
        self.proc: subprocess.Popen[bytes] | None = None
        self.protections: list[str] = []
        self.missing: list[str] = []
        self.started: dict[str, Any] | None = None
        """The reply to the last ``start``: status, tools, agents, subscriptions."""
        self.starts = 0
        self.last_exit: str | None = None
        self.ready_seconds: float | None = None
        self.ready_marks: dict[str, float] = {}
        """Seconds from the worker's ``main()`` to each stage of its start-up (and to
        ready, ``main``): where the start-up time goes."""
        self._read_fd = -1
        self._write_fd = -1
        self._buffer = bytearray()
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None
        self._reader_loop: asyncio.AbstractEventLoop | None = None
        self._init: dict[str, Any] = {}
        self._ids = 0
        self._lock = _Lock()
        self.spin_seconds = SPIN_SECONDS
        _LIVE.add(self)

    @property
    def plugin(self) -> str:
        return self.spec.plugin

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- process ---------------------------------------------------------------------

    def _spawn(self) -> None:
        grants = list(self.spec.grants())
        sandbox = self.spec.sandbox(grants)
        self.spec.data_dir.mkdir(parents=True, exist_ok=True)
        self.spec.cache_dir.mkdir(parents=True, exist_ok=True)
        child_read, host_write = os.pipe()
        host_read, child_write = os.pipe()
        from jafhost.discovery.folders import own_folders

        env = worker_env(
            grants, str(self.spec.cache_dir), paths=self.spec.paths, own=own_folders(self.spec.info)
        )
        env["JAFHOST_WORKER_FDS"] = f"{child_read},{child_write}"
        env["PYTHONUNBUFFERED"] = "1"
        try:
            stdout: int = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            stdout = subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                [self.spec.python, "-B", "-m", "jafhost.runtime.isolation.worker"],
                env=env,
                cwd=str(self.spec.data_dir),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                pass_fds=(child_read, child_write),
                start_new_session=True,
            )
        except BaseException:
            for fd in (child_read, child_write, host_read, host_write):
                os.close(fd)
            raise
        os.close(child_read)
        os.close(child_write)
        os.set_blocking(host_read, False)
        os.set_blocking(host_write, False)
        self._read_fd, self._write_fd = host_read, host_write
        self._buffer.clear()
        self._eof = False
        self.starts += 1
        self._init = {
            "op": "init",
            "sandbox": sandbox.to_json(),
            "info": self.spec.info.to_json(),
        }

    def kill(self, reason: str | None = None) -> str | None:
        """SIGKILL the worker's process group and reap it; returns how it ended."""
        proc = self.proc
        if proc is None:
            return self.last_exit
        # the whole group, even if its leader already ended: programs it started too
        # (a process group id is not reused while any member is alive)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # stuck in the kernel; reaped by atexit at worst
            LOGGER.warning("plugin %s: worker %s did not die after SIGKILL", self.plugin, proc.pid)
        self._close()
        self.last_exit = describe_exit(proc.returncode, self.spec.cpu_seconds, self.spec.memory_mb)
        if reason:
            LOGGER.warning("plugin %s: worker %s killed: %s", self.plugin, proc.pid, reason)
        self.proc = None
        return self.last_exit

    def _close(self) -> None:
        self._unwatch()
        self._eof = True
        for fd in (self._read_fd, self._write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._read_fd = self._write_fd = -1

    def _ended(self, during: str) -> WorkerCrash:
        """The worker is gone (or closed its pipe): reap it and say how it ended."""
        proc = self.proc
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        how = self.kill() or "ended"
        return WorkerCrash(
            f"plugin {self.plugin}: its worker process {how} during {during}; "
            "a new worker starts on the next call",
            plugin=self.plugin,
        )

    # -- the pipe ----------------------------------------------------------------------
    #
    # The read end stays registered with the event loop while the worker lives (no
    # registration per call); ``_on_readable`` fills the buffer and wakes the request
    # waiting for a reply. Notices that arrive between requests are handled at once.

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._reader_loop is loop or self._read_fd < 0:
            return
        self._unwatch()
        loop.add_reader(self._read_fd, self._on_readable)
        self._reader_loop = loop

    def _unwatch(self) -> None:
        loop, self._reader_loop = self._reader_loop, None
        if loop is not None and not loop.is_closed() and self._read_fd >= 0:
            with contextlib.suppress(Exception):  # another thread's loop, or closing
                loop.remove_reader(self._read_fd)

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._read_fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self._buffer += chunk
        else:
            self._eof = True
            self._unwatch()
        waiter = self._waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
        elif chunk:
            self._drain_notices()

    def _drain_notices(self) -> None:
        """Between requests: handle complete notices now (nothing else is expected)."""
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            with contextlib.suppress(ValueError):
                message = _decode(line)
                if isinstance(message, dict) and "id" not in message:
                    self._notice(message)

    async def _write(self, message: dict[str, Any], during: str) -> None:
        data = memoryview(_encode(message) + b"\n")
        loop = asyncio.get_running_loop()
        first = True
        while data:
            try:
                written = os.write(self._write_fd, data)
            except BlockingIOError:
                await self._writable(loop)
                continue
            except OSError:  # EPIPE, or closed: the worker is gone
                if first:
                    raise _NotDelivered from None
                raise self._ended(during) from None
            first = False
            data = data[written:]

    async def _writable(self, loop: asyncio.AbstractEventLoop) -> None:
        future: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not future.done():
                future.set_result(None)

        loop.add_writer(self._write_fd, ready)
        try:
            await future
        finally:
            loop.remove_writer(self._write_fd)

    async def _read(self, during: str) -> dict[str, Any]:
        """The next message that is not a notice (notices are handled on the way)."""
        loop = asyncio.get_running_loop()
        self._watch(loop)
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                message = _decode(line)
                if not isinstance(message, dict):
                    continue
                if "id" not in message and message.get("op") in ("emit", "denied"):
                    self._notice(message)
                    continue
                return message
            if self._eof or self._read_fd < 0:
                raise self._ended(during)
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None

    def _notice(self, message: dict[str, Any]) -> None:
        if self.on_notice is not None:
            try:
                self.on_notice(message)
            except Exception:  # a listener's bug must not break the call in flight
                LOGGER.exception("plugin %s: handling a worker notice failed", self.plugin)

    def _spin(self) -> None:
        """Wait briefly for the reply without the event loop: a small call answers in
        tens of microseconds, sooner than the loop's own wake-up would notice."""
        deadline = time.perf_counter() + self.spin_seconds
        while b"\n" not in self._buffer and not self._eof:
            try:
                chunk = os.read(self._read_fd, 1 << 16)
            except BlockingIOError:
                if time.perf_counter() >= deadline:
                    return
                continue
            except OSError:
                return
            if not chunk:
                self._eof = True
                self._unwatch()
                return
            self._buffer += chunk

    async def _roundtrip(self, message: dict[str, Any], during: str) -> dict[str, Any]:
        self._ids += 1
        message["id"] = self._ids
        await self._write(message, during)
        if self.spin_seconds > 0:
            self._spin()
        while True:
            reply = await self._read(during)
            if reply.get("id") == self._ids:
                return reply

    # -- starting --------------------------------------------------------------------

    async def _boot(self) -> dict[str, Any]:
        """Spawn, sandbox, start the plugin; returns the ``start`` reply."""
        started = time.perf_counter()
        self._spawn()
        try:
            await self._write(self._init, "start-up")
        except _NotDelivered:
            raise self._ended("start-up") from None
        limit = max(30.0, 3 * self.spec.hook_timeout)
        try:
            async with asyncio.timeout(limit):
                ready = await self._read("start-up")
        except TimeoutError:
            self.kill(f"not ready after {limit:g} s")
            raise WorkerError(
                f"plugin {self.plugin}: its worker was not ready after {limit:g} s",
                plugin=self.plugin,
            ) from None
        self.protections = [*ready.get("protections", []), "kill-on-timeout"]
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
        try:
            async with asyncio.timeout(limit):
                reply = await self._roundtrip(
                    {
                        "op": "start",
                        "config": self.spec.config_table,
                        "hook_timeout": self.spec.hook_timeout,
                    },
                    "start",
                )
        except TimeoutError:
            self.kill(f"start took longer than {limit:g} s")
            raise WorkerError(
                f"plugin {self.plugin}: its worker did not start within {limit:g} s",
                plugin=self.plugin,
            ) from None
        if not reply.get("ok"):
            error = reply.get("error") or {}
            self.kill("start failed")
            raise WorkerError(
                f"plugin {self.plugin}: worker start failed: {error.get('message')}",
                plugin=self.plugin,
            )
        self.started = reply
        return reply

    async def boot(self) -> dict[str, Any]:
        """Start the worker now (first activation); the ``start`` reply."""
        await self._lock.acquire()
        try:
            return await self._boot()
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
        await self._lock.acquire()
        try:
            for attempt in (1, 2):
                if self.proc is None or self._eof:
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
        except WorkerError:
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
        self.kill()
        reply = await self._boot()
        if reply.get("status") != "active":
            self.kill("the restarted plugin did not become active")
            raise WorkerError(
                f"plugin {self.plugin}: its worker was restarted but the plugin "
                f"did not start: {reply.get('error')}",
                plugin=self.plugin,
            )

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """Call a tool in the worker; its result, or the error it raised, re-raised here."""
        reply = await self.request(
            {"op": "call", "tool": tool, "args": arguments}, f"tool {self.plugin}.{tool}"
        )
        return self._result(reply)

    async def event(self, index: int, event: dict[str, Any], pattern: str) -> None:
        reply = await self.request(
            {"op": "event", "index": index, "event": event}, f"handler for {pattern!r}"
        )
        self._result(reply)

    async def hook(self, hook: str, **kwargs: Any) -> Any:
        """Call one of the plugin's hook implementations with JSON-ready arguments."""
        return self._result(await self.request({"op": "hook", "hook": hook, "kwargs": kwargs},
                                               hook))  # fmt: skip

    def _result(self, reply: dict[str, Any]) -> Any:
        if reply.get("ok"):
            return reply.get("result")
        raise self._exception(reply.get("error") or {})

    def _exception(self, error: dict[str, Any]) -> BaseException:
        kind = error.get("kind")
        message = str(error.get("message", ""))
        exc: BaseException
        if kind == "permission_denied":
            exc = PermissionDenied(
                message,
                plugin=error.get("plugin") or self.plugin,
                permission=error.get("permission") or "",
            )
        elif kind == "invalid":
            exc = ToolError(message, plugin=self.plugin, code="invalid_arguments")
            exc.fields = error.get("fields", [])  # type: ignore[attr-defined]
        elif kind == "coded":
            exc = ToolError(message, plugin=self.plugin, code=str(error.get("code")))
        elif kind == "timeout":
            exc = HookTimeout(message)
        elif kind == "exit":
            exc = PluginExit(message)
        elif kind == "memory":
            self.kill()  # it exits by itself; make sure, and reap it
            exc = _remote_type("MemoryError")(
                f"plugin {self.plugin}: {message}; its worker was stopped and a new one "
                "starts on the next call"
            )
        else:
            exc = _remote_type(str(error.get("type") or "Exception"))(message)
        remote = error.get("traceback")
        if remote:
            exc.add_note(f"in the worker of plugin {self.plugin}:\n{remote.rstrip()}")
        return exc

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


# -- proxies -----------------------------------------------------------------------------


class PassThrough:
    """Stands in for a tool's validator on the host: arguments go to the worker as they
    are and are validated there by the real one."""

    def validate_python(self, data: Any) -> Any:
        namespace = SimpleNamespace()
        namespace.__dict__.update(data)
        return namespace


def _tool_proxy(worker: WorkerClient, name: str) -> Callable[..., Any]:
    async def proxy(**arguments: Any) -> Any:
        return await worker.call(name, arguments)

    proxy.__name__ = name
    proxy.__qualname__ = f"worker.{worker.plugin}.{name}"
    return proxy


def _handler_proxy(worker: WorkerClient, index: int, pattern: str) -> Callable[..., Any]:
    async def handler(event: Any) -> None:
        await worker.event(index, event.to_json(), pattern)

    handler.__qualname__ = f"worker.{worker.plugin}.handler[{pattern}]"
    return handler


def proxy_tools(worker: WorkerClient, described: list[dict[str, Any]]) -> list[Tool]:
    from jafhost.tools import Tool

    tools = []
    for item in described:
        tools.append(
            Tool(
                plugin=worker.plugin,
                name=item["name"],
                description=item.get("description") or item["name"],
                input_schema=item.get("input_schema") or {"type": "object", "properties": {}},
                function=_tool_proxy(worker, item["name"]),
                validator=PassThrough(),
                is_async=True,
                confirm=bool(item.get("confirm")),
                extras={"isolation": "process", "worker_is_async": bool(item.get("is_async"))},
            )
        )
    return tools


# -- what the host calls -------------------------------------------------------------------


def worker_of(loaded: LoadedPlugin) -> WorkerClient | None:
    """The worker of a process-isolated plugin, or None."""
    found = loaded.extras.get("worker")
    return found if isinstance(found, WorkerClient) else None


def spec_for(host: Host, info: PluginInfo, config_table: dict[str, Any]) -> WorkerSpec:
    """A worker spec from the host's layout, settings and (re-read at each start) grants."""
    name = info.name
    settings = host.settings

    def grants() -> list[str]:
        record = host.state().plugins.get(name)
        return list(record.grants) if record else []

    return WorkerSpec(
        info=info,
        data_dir=host.layout.data_dir(name),
        cache_dir=host.layout.cache_dir(name),
        config_table=config_table,
        grants=grants,
        hook_timeout=host.hook_timeout,
        memory_mb=settings.memory_mb,
        open_files=settings.open_files,
        cpu_seconds=cpu_budget(settings.call_timeout, host.hook_timeout),
    )


def predicted(host: Host, info: PluginInfo) -> list[str]:
    """The protections a worker for this plugin would get here (no plugin code runs)."""
    spec = spec_for(host, info, {})
    return plan(spec.sandbox(spec.grants()))


def _on_notice(host: Host, loaded: LoadedPlugin) -> Callable[[dict[str, Any]], None]:
    tasks: set[asyncio.Task[Any]] = set()
    plugin = loaded.name

    def notice(message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "denied":  # the guard in the worker refused something: tell our listeners
            from jafhost.security import guard

            guard._deny(loaded.identity, str(message.get("permission")), str(message.get("action")))
        elif op == "emit":
            emit = getattr(host, "emit", None)
            if emit is None:
                return
            task = asyncio.get_running_loop().create_task(
                emit(str(message.get("name")), message.get("data"), source=plugin)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    return notice


def _record_schema(host: Host, name: str, schema: Any) -> None:
    from jafhost.runtime.lifecycle import _record_schema as record

    if schema is not None:
        record(host.layout.schema_file(name), SimpleNamespace(model_json_schema=lambda: schema))


async def start(host: Host, loaded: LoadedPlugin, config_table: dict[str, Any]) -> None:
    """Start ``loaded`` in a new worker; on failure it is left ``broken`` with the reason."""
    from jafhost.types import AgentSpec

    worker = WorkerClient(spec_for(host, loaded.info, config_table), _on_notice(host, loaded))
    loaded.extras["worker"] = worker
    try:
        reply = await worker.boot()
    except WorkerError as exc:
        loaded.status, loaded.error = "broken", str(exc)
        return
    except Exception as exc:  # could not even spawn it (no such interpreter, no fds...)
        loaded.status, loaded.error = "broken", f"cannot start a worker process: {exc}"
        return
    loaded.extras["protections"] = list(worker.protections)
    loaded.warnings = [str(w) for w in reply.get("warnings", [])]
    _record_schema(host, loaded.name, reply.get("config_schema"))
    if reply.get("status") != "active":
        worker.kill()
        loaded.status = "broken"
        loaded.error = str(reply.get("error") or "the plugin did not start in its worker")
        loaded.traceback = reply.get("traceback")
        return
    for note in reply.get("notes", []):
        LOGGER.warning("plugin %s (process isolation): %s", loaded.name, note)
    loaded.tools = proxy_tools(worker, list(reply.get("tools", [])))
    loaded.agents = [
        AgentSpec(**{**a, "tools": tuple(a.get("tools", ()))}) for a in reply.get("agents", [])
    ]
    patterns = list(reply.get("subscriptions", []))
    if patterns:
        from jafhost.runtime.events import subscriptions

        subs = []
        for index, pattern in enumerate(patterns):
            proxy = _handler_proxy(worker, index, pattern)
            subs.extend(subscriptions(loaded.name, {pattern: proxy}))
        loaded.subscriptions = subs
    loaded.status, loaded.error = "active", None


async def stop(loaded: LoadedPlugin, timeout: float) -> None:
    """Deactivate the plugin in its worker and end the worker (the host then clears
    ``loaded`` with ``lifecycle.stop`` as for any plugin)."""
    worker = worker_of(loaded)
    if worker is None:
        return
    problem = await worker.stop(timeout)
    if problem:
        LOGGER.warning("plugin %s: %s", loaded.name, problem)


def protections(loaded: LoadedPlugin | None) -> list[str] | None:
    """What is in force for a running plugin (None if it has no worker)."""
    if loaded is None:
        return None
    worker = worker_of(loaded)
    if worker is None:
        return None
    return list(worker.protections or loaded.extras.get("protections", []))


@atexit.register
def _kill_all() -> None:
    """At interpreter exit no worker is left behind, even if nobody stopped it."""
    for worker in list(_LIVE):
        with contextlib.suppress(Exception):
            worker.kill()
