"""No process a plugin starts outlives its worker.

A plugin may ``fork()`` without any grant, and the child may ``setsid()``: it then
leaves the worker's process group and, ``PR_SET_PDEATHSIG`` being cleared at fork,
would keep running after the worker and the host are gone. Two ways to bind them:

- ``pidns``: the worker enters a new PID namespace (``unshare(CLONE_NEWPID)``, inside a
  new user namespace when the host is not root) and forks; the child, PID 1 of the
  namespace, becomes the worker and dies with its parent (``PR_SET_PDEATHSIG``). When
  PID 1 ends, the kernel kills every process of the namespace: no way out. The parent
  stays outside the sandbox running no plugin code: it waits for the child and ends as
  it ended, so the host's process (the one it kills and reaps) is still the worker's.
- ``subreaper``: where no namespace can be made, the worker becomes a child subreaper
  (``PR_SET_CHILD_SUBREAPER``): orphans of its descendants are re-parented to it, and it
  kills every one of them before it exits (``kill_descendants``). The host kills the
  worker's whole process tree on a time limit (``jafhost.runtime.isolation.client``).
  A worker killed by the kernel or the host ``SIGKILL`` cannot clean up: the host's tree
  kill covers the time limit, not a host killed with ``kill -9``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections.abc import Iterable
from typing import NoReturn

from jafhost.security.sandbox.kernel import (
    SandboxError,
    check,
    prctl,
)
from jafhost.security.sandbox.netns import enter_namespaces
from jafhost.security.sandbox.privileges import set_pdeathsig

CLONE_NEWPID = 0x20000000
PR_SET_CHILD_SUBREAPER = 36
MAX_ROUNDS = 64
"""``kill_descendants`` gives up after this many rounds of new children (a fork bomb
racing it); whatever is left is then still killed with the namespace or by the host."""


class Containment:
    """How this worker's descendants are bound to it, and why the stronger way did not
    apply (``pidns`` or ``subreaper``). ``children_fd``: ``/proc/self/task/PID/children``
    opened before the guard (subreaper only). A plain class: the worker imports this on
    its way to ``ready``."""

    def __init__(
        self, kind: str, missing: list[str] | None = None, children_fd: int | None = None
    ) -> None:
        self.kind = kind
        self.missing: list[str] = [] if missing is None else missing
        self.children_fd = children_fd

    def __repr__(self) -> str:
        return f"Containment({self.kind!r}, {self.missing!r}, {self.children_fd!r})"

    def end(self) -> None:
        """Kill every descendant before this process exits (subreaper only: in a PID
        namespace the kernel does it when PID 1 ends)."""
        if self.kind == "subreaper" and self.children_fd is not None:
            kill_descendants(self.children_fd)


def enter_pid_namespace() -> str:
    """Make this process's next child PID 1 of a new PID namespace; returns how
    (``root`` or ``userns``)."""
    return enter_namespaces(CLONE_NEWPID, "unshare(CLONE_NEWPID)")


def contain(parent_pid: int, close: Iterable[int] = (), *, allow_pidns: bool = True) -> Containment:
    """Bind every future descendant of this (single-threaded) process to it.

    With a PID namespace this forks: the caller continues in the child (PID 1), while
    the original process waits for it, ends as it ended and never returns (it closes
    ``close`` first: the protocol pipe is the child's alone). Else the process becomes
    a child subreaper. ``allow_pidns`` False chooses the subreaper (tests of it)."""
    set_pdeathsig(parent_pid)
    missing: list[str] = []
    try:
        if not allow_pidns:
            raise SandboxError("not tried (the host asked for the subreaper)")
        enter_pid_namespace()
    except SandboxError as exc:
        missing.append(f"pidns: {exc}")
    else:
        return _fork_into_namespace(close)
    check(prctl(PR_SET_CHILD_SUBREAPER, 1), "prctl(PR_SET_CHILD_SUBREAPER)")
    children = os.open(f"/proc/self/task/{os.getpid()}/children", os.O_RDONLY | os.O_CLOEXEC)
    return Containment("subreaper", missing, children)


def _fork_into_namespace(close: Iterable[int]) -> Containment:
    """Three processes: this one, outside, waits; its child is PID 1 of the namespace
    and only reaps; the grandchild (PID 2, ordinary signal handling, unlike PID 1, which
    ignores e.g. ``SIGXCPU``) returns and becomes the worker. Each dies with its parent;
    the worker's exit status travels back up so the host sees how it ended."""
    ready_read, ready_write = os.pipe()
    status_read, status_write = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(ready_write)
        os.close(status_read)
        set_pdeathsig(0)  # the parent is outside the namespace: getppid() says 0 here
        alive = os.read(ready_read, 1) == b"1"  # EOF: the parent died before we could
        os.close(ready_read)
        if not alive:
            os._exit(1)
        worker = os.fork()
        if worker == 0:
            os.close(status_write)
            set_pdeathsig(0)
            return Containment("pidns")
        _close(close)
        _reap_until(worker, status_write)
    os.close(ready_read)
    os.close(status_write)
    _close(close)
    os.write(ready_write, b"1")
    os.close(ready_write)
    _end_as(init, status_read)


def _close(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _quiet() -> None:
    """Only SIGKILL (the host's, or the parent's death) ends the waiting processes."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(number, signal.SIG_IGN)


def _reap_until(worker: int, status_write: int) -> NoReturn:
    """PID 1: reap every process re-parented here until the worker ends, pass on its
    wait status, and exit (the kernel then kills what is left in the namespace)."""
    _quiet()
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
        if pid == worker:
            os.write(status_write, status.to_bytes(4, "little"))
            os._exit(0)


def _end_as(init: int, status_read: int) -> NoReturn:
    """Wait for the namespace's PID 1, then end as the worker ended (its status or
    signal, as passed on; PID 1's own end if none was)."""
    _quiet()
    while True:
        try:
            _, status = os.waitpid(init, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
    passed = os.read(status_read, 4)
    if len(passed) == 4:
        status = int.from_bytes(passed, "little")
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def read_children(fd: int) -> list[int]:
    """The pids a ``/proc/.../children`` file lists now (read again from offset 0)."""
    text = os.pread(fd, 1 << 16, 0).decode("ascii", "replace")
    return [int(word) for word in text.split() if word.isdigit()]


def kill_descendants(children_fd: int) -> None:
    """SIGKILL this process's children and reap them until none is left: orphans of
    deeper descendants are re-parented to this subreaper and killed in a later round."""
    for _ in range(MAX_ROUNDS):
        children = read_children(children_fd)
        if not children:
            return
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` as ``/proc`` shows it now, parents first (the
    host's view: it kills a worker's whole tree on a time limit)."""
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 1 << 16:
        parent = todo.pop(0)
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as f:
                    children = [int(word) for word in f.read().split()]
            except (OSError, ValueError):
                continue
            for child in children:
                if child not in found:
                    found.append(child)
                    todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    """Stop ``pid`` and every descendant (so none forks or re-parents meanwhile), then
    SIGKILL them all, and wait (a second at most) until none of the descendants runs:
    a host that ends right after leaves none of them behind, not even for the moment
    their SIGKILL takes. Only the caller's own children are reaped (by the caller)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGSTOP)
    stopped: list[int] = []
    for _ in range(4):  # children forked between a listing and their parent's stop
        fresh = [p for p in descendants(pid) if p not in stopped]
        if not fresh:
            break
        for child in fresh:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGSTOP)
        stopped += fresh
    for target in (pid, *stopped):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)
    _wait_gone(stopped, 1.0)


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (its exit done, only its reaping left)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(pids: list[int], seconds: float) -> None:
    import time

    deadline = time.monotonic() + seconds
    pending = list(pids)
    while pending:
        pending = [p for p in pending if _running(p)]
        if not pending or time.monotonic() > deadline:
            return
        time.sleep(0.001)
