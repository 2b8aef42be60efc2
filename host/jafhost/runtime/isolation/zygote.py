"""Workers forked from a pre-started parent (the zygote) instead of a new interpreter each.

A spawned worker spends most of its start-up before its sandbox: the interpreter, then
jafhost's sandbox and guard modules and ``pydantic_core``. The zygote does that once: it
is started like a worker (``python -I -S -B -u``, the import gate first, the same
filtered environment without any plugin's grants), imports exactly what a worker
imports before its sandbox, and then only forks. Each child becomes a worker from the
first line of ``worker.main``: it reads its ``init``, binds its processes, applies its
own sandbox and guard, processes the site folders and imports pydantic, as a spawned
worker does. So the zygote never runs plugin code, never processes a ``.pth`` file and
never holds a grant; it is single-threaded whenever it forks (checked before each fork).

The host asks over a ``SOCK_SEQPACKET`` socket pair: one message per worker (its
environment and working folder) with its three descriptors (protocol pipe ends, output)
passed along (``SCM_RIGHTS``); the zygote answers with the child's pid, and reports each
child's wait status when it ends (only a parent can reap, so ``ForkedProcess`` stands in
for ``subprocess.Popen`` on the host's side). The zygote dies with the host
(``PR_SET_PDEATHSIG``) or when the host closes the socket, and each child with the
zygote, so no worker outlives the host.

What differs from a spawned worker, by construction: ``/proc/PID/environ`` shows the
zygote's environment block (built without grants, so it holds no secret; the worker's
own variables are in ``os.environ`` and reach the programs it runs), and the workers
share the zygote's address space layout and hash seed (docs/security.md, "Limits").
"""

from __future__ import annotations

import array
import contextlib
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from jafhost.runtime.isolation.zygote_switch import ZYGOTE_VARIABLE as ZYGOTE_VARIABLE
from jafhost.runtime.isolation.zygote_switch import wanted as wanted

SOCKET_VARIABLE = "JAFHOST_ZYGOTE_FD"
HOST_VARIABLE = "JAFHOST_ZYGOTE_HOST"
REPLY_SECONDS = 30.0
"""How long the host waits for the zygote to answer a fork (it only forks: far less)."""
MESSAGE_BYTES = 1 << 20

BOOT = (
    "import os, sys; base = list(sys.path); "
    "given = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]; "
    "sys.path[:] = given + [p for p in base if p not in given]; "
    "gate = os.environ['JAFHOST_WORKER_GATE']; "
    "exec(compile(open(gate, encoding='utf-8').read(), gate, 'exec'), "
    "{'__name__': 'jafhost_gate'}); "
    "from jafhost.runtime.isolation.zygote import serve; serve(base)"
)
"""The zygote's program: as the worker's ``BOOT`` (``client.BOOT``), then ``serve``;
``base`` is the interpreter's own import path, which each child extends with its own."""

PRELOADED = (
    "jafhost.runtime.isolation.worker",
    "jafhost.runtime.isolation.gate",
    "pydantic_core",
    "jafhost.security.sandbox",
    "jafhost.security.sandbox.features",
    "jafhost.security.sandbox.landlock",
    "jafhost.security.sandbox.mounts",
    "jafhost.security.sandbox.netns",
    "jafhost.security.sandbox.privileges",
    "jafhost.security.sandbox.seccomp",
    "jafhost.security.guard",
    "jafhost.security.guard_calls",
    "jafhost.security.guard_environ",
    "jafhost.security.guard_readline",
    "jafhost.security.guard_sqlite",
    "jafhost.discovery.records",
)
"""What the zygote imports, under the import gate: what a worker imports before it is
ready, but for pydantic itself (imported by each child after its site folders, as a
spawned worker does)."""


class ZygoteError(RuntimeError):
    """The zygote could not be started or did not answer."""


# -- the zygote process ------------------------------------------------------------------


def serve(base: list[str]) -> NoReturn:
    """The zygote's loop: fork a worker per request, report each child's end."""
    from importlib import import_module

    control = socket.socket(fileno=int(os.environ.pop(SOCKET_VARIABLE)))
    host = int(os.environ.pop(HOST_VARIABLE))
    for name in PRELOADED:
        import_module(name)
    gc.freeze()  # the children's collections leave these objects (and their pages) alone
    from jafhost.security.sandbox.privileges import set_pdeathsig

    set_pdeathsig(host)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host's Ctrl-C is the host's
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda number, frame: None)
    request = bytearray(MESSAGE_BYTES)
    while True:
        readable, _, _ = select.select([control.fileno(), wake_read], [], [])
        if wake_read in readable:
            while _drain(wake_read):
                pass
        if control.fileno() in readable:
            try:
                size, fds = _receive_request(control, request)
            except OSError:
                os._exit(0)
            if not size:  # the host closed its end: it is gone or done with us
                os._exit(0)
            try:
                close = (control.fileno(), wake_read, wake_write)
                pid = _fork(request, size, fds, base, close)
                answer: dict[str, Any] = {"pid": pid}
            except Exception as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                request[:size] = bytes(size)  # the worker's variables: not for the next child
                for fd in fds:
                    os.close(fd)
            _send(control, answer)
        _report_ended(control)


def _receive_request(control: socket.socket, request: bytearray) -> tuple[int, list[int]]:
    """One fork request read into ``request`` (the zygote's one buffer, zeroed after each
    fork) and the descriptors passed with it. A request carries its worker's environment,
    granted secrets included: only the child parses it, so no copy of it stays in the
    zygote's heap for the workers forked after."""
    fds = array.array("i")
    size, ancillary, _, _ = control.recvmsg_into([request], socket.CMSG_LEN(8 * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return size, list(fds)


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    try:
        control.send(json.dumps(message).encode())
    except OSError:  # the host is gone: so are we (and our children, with us)
        os._exit(0)


def _drain(fd: int) -> bool:
    try:
        return bool(os.read(fd, 512))
    except BlockingIOError:
        return False


def _report_ended(control: socket.socket) -> None:
    """Reap every child that ended and tell the host its wait status."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(control, {"exit": pid, "status": status})


def _fork(
    request: bytearray, size: int, fds: list[int], base: list[str], close: Sequence[int]
) -> int:
    if len(fds) != 3:
        raise ValueError(f"expected 3 descriptors, got {len(fds)}")
    if len(os.listdir("/proc/self/task")) != 1:  # never: nothing here starts a thread
        raise RuntimeError("the zygote is not single-threaded; it does not fork")
    zygote = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    try:
        _become_worker(json.loads(bytes(request[:size])), fds, base, close, zygote)
    except BaseException:  # on the worker's output, which the host shows with its name
        import traceback

        traceback.print_exc()
    finally:
        os._exit(70)


def _become_worker(
    request: dict[str, Any], fds: list[int], base: list[str], close: Sequence[int], zygote: int
) -> None:
    """In the child: the process state a spawned worker starts with, then its ``main``."""
    from jafhost.runtime.isolation import gate, worker
    from jafhost.security.sandbox.privileges import set_pdeathsig

    set_pdeathsig(zygote)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for fd in close:
        os.close(fd)
    os.setsid()
    read_fd, write_fd, out_fd = fds
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    _close_all_but((0, 1, 2, read_fd, write_fd))  # as ``Popen(close_fds=True)`` leaves it
    env = {k: str(v) for k, v in dict(request["env"]).items()}
    for name in (gate.GATE_VARIABLE, gate.TRUSTED_VARIABLE):
        env.pop(name, None)  # popped by the gate in a spawned worker
    env["JAFHOST_WORKER_FDS"] = f"{read_fd},{write_fd}"
    os.environ.clear()
    os.environ.update(env)
    given = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = given + [p for p in base if p not in given]
    for finder in list(sys.path_importer_cache.values()):
        # folders may have changed since the zygote listed them (not
        # ``importlib.invalidate_caches``: it imports ``importlib.metadata``)
        if finder is not None and hasattr(finder, "invalidate_caches"):
            finder.invalidate_caches()
    os.chdir(str(request["cwd"]))
    worker.main(parent_pid=zygote)


def _close_all_but(keep: Sequence[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:  # (the listing's own descriptor is closed already)
            with contextlib.suppress(OSError):
                os.close(fd)


# -- the host's side -----------------------------------------------------------------------


class ForkedProcess:
    """A worker forked by the zygote, as ``client.WorkerClient`` uses a ``Popen``: its
    pid, whether and how it ended (as the zygote reports), and killing it."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote = zygote
        self.pid = pid
        self.returncode: int | None = None
        self.args = ["<forked by the zygote>"]

    def poll(self) -> int | None:
        return self._status(0.0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._status(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def _status(self, timeout: float | None) -> int | None:
        if self.returncode is None:
            status = self.zygote.status(self.pid, timeout)
            if status is not None:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, number: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The host's end of one zygote process."""

    def __init__(self, python: str, env: dict[str, str]) -> None:
        from jafhost.runtime.isolation import gate

        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**env, SOCKET_VARIABLE: str(theirs.fileno()), HOST_VARIABLE: str(os.getpid())}
        env[gate.GATE_VARIABLE] = gate.__file__
        env[gate.TRUSTED_VARIABLE] = gate.trusted()
        try:
            self.proc = _start_kept(
                [python, "-I", "-S", "-B", "-u", "-c", BOOT], env, theirs.fileno()
            )
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self.control = mine
        self.lock = threading.Lock()
        self.ended: dict[int, int] = {}
        """Wait statuses the zygote reported, by pid, not yet taken."""
        self.alive = True

    def fork(self, env: dict[str, str], cwd: str, fds: Sequence[int]) -> ForkedProcess:
        """A new worker process with ``fds`` (protocol read, protocol write, output)."""
        message = json.dumps({"env": env, "cwd": cwd}).encode()
        with self.lock:
            if not self.alive:
                raise ZygoteError("the zygote has ended")
            try:
                socket.send_fds(self.control, [message], list(fds))
            except OSError as exc:
                self._gone()
                raise ZygoteError(f"cannot reach the zygote: {exc}") from None
            while True:
                answer = self._receive(REPLY_SECONDS)
                if answer is None:
                    self.stop()
                    raise ZygoteError(f"the zygote did not answer within {REPLY_SECONDS:g} s")
                if "pid" in answer:
                    return ForkedProcess(self, int(answer["pid"]))
                if "error" in answer:
                    raise ZygoteError(f"the zygote could not fork: {answer['error']}")

    def status(self, pid: int, timeout: float | None) -> int | None:
        """``pid``'s wait status once the zygote reports it; None if not within
        ``timeout`` seconds (None: wait as long as it takes)."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while pid not in self.ended:
                if not self.alive:  # its children died with it (PR_SET_PDEATHSIG)
                    return signal.SIGKILL
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if self._receive(left) is None and left is not None and left <= 0:
                    return None
            return self.ended.pop(pid)

    def _receive(self, timeout: float | None) -> dict[str, Any] | None:
        """One message of the zygote (exit reports are filed on the way); None if none
        came within ``timeout`` or the zygote is gone."""
        if not self.alive:
            return None
        readable, _, _ = select.select([self.control], [], [], timeout)
        if not readable:
            return None
        try:
            data = self.control.recv(MESSAGE_BYTES)
        except OSError:
            data = b""
        if not data:
            self._gone()
            return None
        message = json.loads(data)
        if "exit" in message:
            self.ended[int(message["exit"])] = int(message["status"])
        return dict(message)

    def _gone(self) -> None:
        self.alive = False
        self.control.close()  # the zygote exits when it reads the end (its keeper reaps it)

    def stop(self) -> None:
        """End the zygote (its workers die with it)."""
        if self.alive:
            self.proc.kill()
            self._gone()


def _start_kept(argv: list[str], env: dict[str, str], fd: int) -> subprocess.Popen[bytes]:
    """Start the zygote from a thread of its own that lives as long as it does: the
    zygote's ``PR_SET_PDEATHSIG`` fires when the thread that started it ends, and the
    thread asking for a worker may be short-lived."""
    started: list[subprocess.Popen[bytes] | BaseException] = []
    ready = threading.Event()

    def keep() -> None:
        try:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(fd,),
                start_new_session=True,
            )
        except BaseException as exc:
            started.append(exc)
            ready.set()
            return
        started.append(proc)
        ready.set()
        proc.wait()

    threading.Thread(target=keep, name="jafhost-zygote", daemon=True).start()
    ready.wait()
    if isinstance(started[0], BaseException):
        raise started[0]
    return started[0]


_ZYGOTES: dict[str, Zygote] = {}
_STARTING = threading.Lock()


def zygote_for(python: str) -> Zygote:
    """The running zygote of interpreter ``python``, started on first use (and again
    if it ended)."""
    with _STARTING:
        found = _ZYGOTES.get(python)
        if found is None or not found.alive:
            found = _ZYGOTES[python] = Zygote(python, _zygote_env())
        return found


def stop_all() -> None:
    """End every zygote of this host (the workers they forked end with them)."""
    with _STARTING:
        for zygote in _ZYGOTES.values():
            zygote.stop()
        _ZYGOTES.clear()


def _zygote_env() -> dict[str, str]:
    """A worker's environment without any plugin's grants or folders."""
    import tempfile

    from jafhost.security.sandbox.env import host_paths, worker_env

    return worker_env([], tempfile.gettempdir(), paths=host_paths())


def fork_worker(python: str, env: dict[str, str], cwd: str, fds: Sequence[int]) -> ForkedProcess:
    """A worker forked by ``python``'s zygote; one retry with a new zygote if the
    running one has ended."""
    try:
        return zygote_for(python).fork(env, cwd, fds)
    except ZygoteError:
        return zygote_for(python).fork(env, cwd, fds)
