"""The host's side of a one-shot worker (``one_shot``): one call of a plain tool of a
process-isolated plugin, for ``jafhost call``'s lane, without asyncio or pydantic.

The worker is started from the plugin's ``WorkerSpec`` (the one ``Runtime.worker_spec``
builds) by the pool's own steps (``spawn``), its output copied to stderr marked with
the plugin's name (``output``), and ended with its whole process tree and group
(``spawn.end_process``) whatever happens. The waits are a pool worker's: ``ready``
within ``max(30, 3 * hook_timeout)`` s, the plugin found within ``12 * hook_timeout + 5``
s, the call within its time limit (counted from when the worker starts it). Failures
read as a pool worker's: ``HookTimeout`` at the time limit, a crash, a frame over
``[host] max_result_mb``, anything off the protocol, and the tool's own error
(``protocol.error_from_json``). Before the worker calls the tool, whatever goes wrong
(the plugin not as recorded, a start that fails or hangs, no worker at all) returns
``HandOver``: the full path serves the call and reports it as it always does.

The lane may start the worker early (``start_early``), as soon as its plugin's summary
says the call goes to a worker: its interpreter starts and imports its sandbox while the
host still decides. It is started with the environment of no grant and gets nothing
before ``init``, which is sent only once every check passed (with the granted variables
it lacks); a lane that hands over ends it first (``Early.end``), and a worker whose
host went away reads no ``init`` and exits.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jafhost.errors import HookTimeout, ToolError
from jafhost.runtime.isolation.exits import describe_exit
from jafhost.runtime.isolation.output import OutputPump, stderr_fd
from jafhost.runtime.isolation.protocol import (
    MB,
    FrameReader,
    FrameTooLarge,
    error_from_json,
    frame,
    json_decode,
    json_encode,
)
from jafhost.runtime.isolation.spawn import (
    ONE_SHOT_MAIN,
    command,
    end_process,
    init_message,
    prepare,
)

if TYPE_CHECKING:
    from pathlib import Path

    from jafhost.discovery.records import PluginInfo
    from jafhost.home.paths import HomeLayout
    from jafhost.runtime.isolation.spec import WorkerSpec

CHUNK = 1 << 16


def _warn(message: str, *args: object) -> None:
    """Log a warning on the ``jafhost`` logger (``logging`` imported only when one is
    due: the call's way to its worker and back does without it)."""
    import logging

    logging.getLogger("jafhost").warning(message, *args)


class HandOver:
    """The one-shot worker did not call the tool; ``why`` says why (the full path
    serves). Plain classes here: the one-shot call imports no ``dataclasses``."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"HandOver({self.why!r})"


class Called:
    """The tool's plain result, and the worker's stage times (seconds from its start)."""

    def __init__(self, value: Any, marks: dict[str, float]) -> None:
        self.value = value
        self.marks = marks

    def __repr__(self) -> str:
        return f"Called({self.value!r})"


class _Gone(Exception):
    """The worker closed its pipe (it ended)."""


class _Late(Exception):
    """The wait ran out."""


class _Broke(Exception):
    """The worker sent something off the protocol."""


def _installed(plugin: str, home: str | Path | None) -> None:
    """``ToolError`` when jafhost's own files changed: it applies the sandbox, changed
    it may not, so no worker is started (the stamps of matching files are kept in the
    cache of jafhost's ``home``)."""
    from jafhost.security import installed_files

    cache = None if home is None else os.path.join(home, "cache")
    refusal = installed_files.worker_refusal(plugin, cache)
    if refusal is not None:
        raise ToolError(refusal, plugin=plugin)


class _Worker:
    """One spawned one-shot worker and its pipe (``spec`` None: started early, its spec
    not built yet)."""

    def __init__(self, spec: WorkerSpec | None, identity: str, plugin: str = "") -> None:
        self.spec = spec
        self.plugin = spec.plugin if spec is not None else plugin
        self.identity = identity
        self.proc: subprocess.Popen[bytes] | None = None
        self.output: OutputPump | None = None
        self.reader = FrameReader((spec.max_result_mb if spec is not None else 64) * MB)
        self.read_fd = -1
        self.write_fd = -1
        self.pending = memoryview(b"")
        """What ``send_ahead`` left to send once the worker is ready."""
        self.how = "ended"
        self.python = self.cwd = ""

    def spawn(self) -> None:
        assert self.spec is not None
        _installed(self.spec.plugin, self.spec.host_home)
        launch = prepare(self.spec)
        self.start(self.spec.python, launch.with_fds, str(self.spec.data_dir))
        self.send(init_message(self.spec, launch.sandbox))

    def adopt(self, spec: WorkerSpec) -> None:
        """The spec of a worker started early, before anything was read from it."""
        self.spec = spec
        self.reader = FrameReader(spec.max_result_mb * MB)

    def start(self, python: str, env: Callable[[int, int], dict[str, str]], cwd: str) -> None:
        """Start the interpreter: ``env(read_fd, write_fd)`` its whole environment."""
        self.python, self.cwd = python, cwd
        child_read, host_write = os.pipe()
        host_read, child_write = os.pipe()
        out_read, out_write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                command(python, ONE_SHOT_MAIN),
                env=env(child_read, child_write),
                cwd=cwd,
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
        for fd in (out_write, child_read, child_write):
            os.close(fd)
        self.output = OutputPump(out_read, stderr_fd(), self.plugin)
        self.read_fd, self.write_fd = host_read, host_write

    def send(self, message: dict[str, Any]) -> None:
        data = memoryview(frame(json_encode(message), self.reader.limit))
        try:
            while data:
                data = data[os.write(self.write_fd, data) :]
        except (BrokenPipeError, OSError):
            raise _Gone from None

    def send_ahead(self, message: dict[str, Any]) -> None:
        """Queue ``message`` behind ``init`` before the worker is ready, so that it
        finds it there once ready instead of waiting for the host to read ``ready``
        and answer: as much of its frame as the pipe takes now without waiting (the
        worker reads it only once ready, and might meanwhile wait for its own output
        to be read); the rest goes with ``send_rest``."""
        data = memoryview(frame(json_encode(message), self.reader.limit))
        os.set_blocking(self.write_fd, False)
        try:
            while data:
                data = data[os.write(self.write_fd, data) :]
        except BlockingIOError:
            pass
        except OSError:
            raise _Gone from None
        finally:
            os.set_blocking(self.write_fd, True)
        self.pending = data

    def send_rest(self) -> None:
        """What ``send_ahead`` could not queue (the worker is ready: it reads it)."""
        data, self.pending = self.pending, memoryview(b"")
        try:
            while data:
                data = data[os.write(self.write_fd, data) :]
        except OSError:
            raise _Gone from None

    def receive(self, deadline: float) -> dict[str, Any]:
        """The next message, notices handled on the way (``denied``)."""
        while True:
            while self.reader.frames:
                try:
                    message = json_decode(self.reader.frames.popleft())
                except ValueError:
                    raise _Broke("a message that is not JSON") from None
                if not isinstance(message, dict):
                    raise _Broke("a message that is not an object")
                if message.get("op") != "denied":
                    return message
                from jafhost.security import guard

                guard.report_denial(
                    self.identity, str(message.get("permission")), str(message.get("action"))
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Late
            output = self.output  # its output copied while waiting (``OutputPump``)
            out_fd = output.fd if output is not None else -1
            waited = [self.read_fd] if out_fd < 0 else [self.read_fd, out_fd]
            ready, _, _ = select.select(waited, [], [], left)
            if out_fd >= 0 and out_fd in ready and output is not None:
                output.pump()
            if self.read_fd not in ready:
                continue
            data = os.read(self.read_fd, CHUNK)
            if not data:
                raise _Gone
            self.reader.feed(data)  # FrameTooLarge for a header over the limit

    def expect(self, deadline: float, *ops: str) -> dict[str, Any]:
        message = self.receive(deadline)
        if message.get("op") not in ops:
            raise _Broke(f"{message.get('op')!r} where {' or '.join(map(repr, ops))} was due")
        return message

    def end(self) -> str:
        """Kill the worker's tree, stop copying its output; how it ended (once: a
        reaped worker's pid and group id may belong to another process later)."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            if not end_process(proc):
                _warn("plugin %s: worker %s did not die after SIGKILL", self.plugin, proc.pid)
            spec = self.spec
            limits = (spec.cpu_seconds, spec.memory_mb) if spec is not None else (0, 0)
            self.how = describe_exit(proc.returncode, *limits)
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.write_fd = -1
        if self.output is not None:
            self.output.close()
            self.output = None
        return self.how

    def wait_exit(self) -> None:
        """Give a worker that closed its pipe a moment to be reaped (its exit status)."""
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=2)


class Early:
    """A one-shot worker started before the lane's checks ended (``start_early``): its
    interpreter up and waiting for ``init``, with the environment a worker of the plugin
    gets without any grant (``base``). ``call`` sends it ``init``; whoever does not
    call it ends it (``end``)."""

    def __init__(self, worker: _Worker, base: dict[str, str]) -> None:
        self.worker = worker
        self.base = base

    def end(self) -> None:
        self.worker.end()

    def granted(self, full: dict[str, str]) -> dict[str, str] | None:
        """What ``full`` (the environment a worker started now would get) adds to the
        one this worker started with; None when it would differ otherwise (then it is
        not used)."""
        if any(full.get(name) != value for name, value in self.base.items()):
            return None
        return {name: value for name, value in full.items() if name not in self.base}


def start_early(layout: HomeLayout, info: PluginInfo) -> Early:
    """Start ``info``'s one-shot worker now, before the lane's checks end, so that its
    interpreter start and its imports overlap them (``start_early_at``)."""
    from jafhost.discovery.folders import plugin_folder

    return start_early_at(
        info.name, str(layout.home), str(layout.data_dir(info.name)),
        str(layout.cache_dir(info.name)), plugin_folder(info),
    )  # fmt: skip


def start_early_at(plugin: str, home: str, data_dir: str, cache_dir: str, own: list[str]) -> Early:
    """Start ``plugin``'s one-shot worker (of the host ``home``) in ``data_dir``, with
    the environment a worker of it gets without any grant (``cache_dir`` its ``TMPDIR``,
    ``own`` its plugin folder: ``spawn.prepare``'s, from the same host paths). It holds
    no granted variable and reads nothing of the plugin before ``init`` (``call``),
    which is sent only once every check passed; where what it was started with differs
    from what the checks give (``_adopted``), it is ended unused. jafhost's own files are
    checked first, as for every worker start: until ``init`` it runs jafhost's code
    with the host's rights."""
    import sys

    from jafhost.runtime.isolation import gate
    from jafhost.security.sandbox import worker_env
    from jafhost.security.sandbox.env import host_paths

    _installed(plugin, home)
    base = worker_env([], cache_dir, paths=host_paths(), own=own)
    base[gate.GATE_VARIABLE] = gate.__file__
    base[gate.TRUSTED_VARIABLE] = gate.trusted()
    os.makedirs(data_dir, exist_ok=True)
    os.makedirs(cache_dir, exist_ok=True)
    worker = _Worker(None, plugin, plugin)

    def env(read_fd: int, write_fd: int) -> dict[str, str]:
        return {**base, "JAFHOST_WORKER_FDS": f"{read_fd},{write_fd}"}

    worker.start(sys.executable, env, data_dir)
    return Early(worker, base)


def call(
    spec: WorkerSpec,
    identity: str,
    tool: str,
    plain: Any,
    arguments: Any,
    limit: float,
    early: Early | None = None,
) -> Called | HandOver:
    """Call ``tool`` of ``spec``'s plugin in a one-shot worker within ``limit`` seconds
    (``early``'s, when its environment fits the spec's): its result, ``HandOver`` when
    the worker did not call it, else the error as a pool worker's call raises it."""
    worker = _Worker(spec, identity)
    try:
        if early is not None:
            worker = _adopted(early, spec, identity) or worker
        return _call(worker, tool, plain, arguments, limit)
    finally:
        worker.end()
        if early is not None:
            early.end()


def _adopted(early: Early, spec: WorkerSpec, identity: str) -> _Worker | None:
    """``early``'s worker sent its ``init`` (the granted variables with it), when it
    was started for this spec's plugin and interpreter with the same environment but
    the grants; else None (it is ended, and a worker is spawned as usual)."""
    worker = early.worker
    if worker.plugin != spec.plugin or worker.identity != identity or worker.proc is None:
        return None
    if (spec.python, str(spec.data_dir)) != (worker.python, worker.cwd):
        return None
    launch = prepare(spec)
    extra = early.granted(launch.env)
    if extra is None:
        return None
    worker.adopt(spec)
    message = init_message(spec, launch.sandbox)
    message["env"] = extra
    try:
        worker.send(message)
    except _Gone:
        return None
    return worker


def _call(
    worker: _Worker, tool: str, plain: Any, arguments: Any, limit: float
) -> Called | HandOver:
    spec = worker.spec
    assert spec is not None
    hook_timeout = spec.hook_timeout
    try:
        if worker.proc is None:
            worker.spawn()
        # the call waits in the pipe behind ``init``: read by the worker once ready
        worker.send_ahead({"op": "call", "tool": tool, "args": arguments, "plain": plain,
                           "hook_timeout": hook_timeout})  # fmt: skip
        # what ends the worker's tree, imported while the worker readies itself rather
        # than once the result is in (``end_process`` needs it then)
        from jafhost.security.sandbox import process_tree  # noqa: F401

        ready = worker.expect(time.monotonic() + max(30.0, 3 * hook_timeout), "ready")
        missing = [str(m) for m in ready.get("missing", [])]
        if missing:
            _warn(
                "plugin %s: worker protections not available here: %s",
                spec.plugin,
                "; ".join(missing),
            )
        worker.send_rest()
        started = worker.expect(time.monotonic() + 12 * hook_timeout + 5, "calling", "handover")
    except (_Gone, _Late, _Broke, FrameTooLarge, OSError, ToolError) as exc:
        # nothing was called: the full path starts a pool worker and reports it
        return HandOver(f"the one-shot worker did not start: {type(exc).__name__} {exc}")
    if started.get("op") == "handover":
        return HandOver(f"the one-shot worker found: {started.get('why')}")
    marks = _marks(ready)
    value = _result(worker, tool, limit, marks)
    return Called(value, marks)


def _marks(message: dict[str, Any]) -> dict[str, float]:
    """The worker's stage times (seconds from its ``main``), as far as they are numbers."""
    given = message.get("marks")
    if not isinstance(given, dict):
        return {}
    return {str(k): float(v) for k, v in given.items() if isinstance(v, int | float)}


def _result(worker: _Worker, tool: str, limit: float, marks: dict[str, float]) -> Any:
    """The tool's result, or the error a pool worker's call gives."""
    plugin = worker.plugin
    during = f"tool {plugin}.{tool}"
    pid = worker.proc.pid if worker.proc is not None else None
    try:
        reply = worker.expect(time.monotonic() + limit, "result")
    except _Late:
        _warn(
            "plugin %s: worker %s killed: %s", plugin, pid, f"{during} was cancelled (time limit)"
        )
        raise HookTimeout(f"{during} did not finish within {limit:g} s") from None
    except _Gone:
        worker.wait_exit()
        how = worker.end()
        raise ToolError(
            f"plugin {plugin}: its worker process {how} during {during}; "
            "a new worker starts on the next call",
            plugin=plugin,
        ) from None
    except FrameTooLarge:
        mb = worker.spec.max_result_mb if worker.spec is not None else 64
        _warn(
            "plugin %s: worker %s killed: %s",
            plugin,
            pid,
            f"during {during}, it began a frame over [host] max_result_mb = {mb} MB",
        )
        raise ToolError(
            f"plugin {plugin}: its result is larger than [host] max_result_mb = {mb} MB; "
            "the worker was stopped and a new one starts on the next call",
            plugin=plugin,
        ) from None
    except _Broke as exc:
        _warn(
            "plugin %s: worker %s killed: %s",
            plugin,
            pid,
            f"it broke the protocol during {during}: {exc}",
        )
        raise ToolError(
            f"plugin {plugin}: its worker broke the protocol during {during} ({exc}); "
            "it was stopped and a new one starts on the next call",
            plugin=plugin,
        ) from None
    marks.update(_marks(reply))
    if reply.get("ok"):
        return reply.get("result")
    raise error_from_json(dict(reply.get("error") or {}), plugin)
