"""How a worker process is started and ended: one set of steps for every worker.

A pool worker (``client.WorkerClient``) and the one-shot worker of ``jafhost call``
(``one_shot_call``) are started by these same functions, so both get the same program
(``python -I -S`` running ``boot_program``: the import gate first), the same
environment (``worker_env``: only granted variables), the same sandbox description
and the same ``init`` message; and both are ended the same way (``end_process``: the
whole process tree and group). Standard library and jafhost's own light modules only:
the one-shot path imports no asyncio.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
from typing import TYPE_CHECKING, Any

from jafhost.runtime.isolation import gate
from jafhost.runtime.isolation.protocol import MB
from jafhost.security.sandbox import worker_env

if TYPE_CHECKING:
    from jafhost.runtime.isolation.spec import WorkerSpec
    from jafhost.security.sandbox import SandboxSpec

POOL_MAIN = "jafhost.runtime.isolation.worker"
"""The module whose ``main`` a pool worker runs (it serves requests until stopped)."""
ONE_SHOT_MAIN = "jafhost.runtime.isolation.one_shot"
"""The module whose ``main`` a one-shot worker runs (one call, then it exits)."""


def boot_program(module: str = POOL_MAIN) -> str:
    """The worker's program (``python -c``): the import path the host computed, the
    import gate run from its file, then ``module.main()``."""
    return (
        "import os, sys; "
        "given = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]; "
        "sys.path[:] = given + [p for p in sys.path if p not in given]; "
        "gate = os.environ['JAFHOST_WORKER_GATE']; "
        "exec(compile(open(gate, encoding='utf-8').read(), gate, 'exec'), "
        "{'__name__': 'jafhost_gate'}); "
        f"from {module} import main; main()"
    )


def command(python: str, module: str = POOL_MAIN) -> list[str]:
    """The worker's command line. ``-I -S`` (isolated, no ``site``): no ``.pth`` file,
    no user site, no ``PYTHON*`` variable acts before the sandbox."""
    return [python, "-I", "-S", "-B", "-u", "-c", boot_program(module)]


class Launch:
    """What one worker start needs, computed from the spec at that moment (a plain
    class: the one-shot call's way to its worker imports no ``dataclasses``)."""

    def __init__(self, grants: list[str], sandbox: SandboxSpec, env: dict[str, str]) -> None:
        self.grants = grants
        self.sandbox = sandbox
        self.env = env
        """The worker's whole environment, without the pipe descriptors (``with_fds``)."""

    def with_fds(self, read_fd: int, write_fd: int) -> dict[str, str]:
        return {**self.env, "JAFHOST_WORKER_FDS": f"{read_fd},{write_fd}"}


def prepare(spec: WorkerSpec) -> Launch:
    """The grants in force now, the sandbox and the environment of a new worker of
    ``spec`` (its data and cache folders made)."""
    from jafhost.discovery.folders import plugin_folder  # not needed to import this module

    grants = spec.effective_grants()
    sandbox = spec.sandbox(grants)
    spec.data_dir.mkdir(parents=True, exist_ok=True)
    spec.cache_dir.mkdir(parents=True, exist_ok=True)
    env = worker_env(
        grants,
        str(spec.cache_dir),
        paths=spec.paths,
        own=plugin_folder(spec.info),
        deny_env=[r.value for r in spec.ceiling.rules if r.kind == "env"],
    )
    env[gate.GATE_VARIABLE] = gate.__file__
    env[gate.TRUSTED_VARIABLE] = gate.trusted()
    return Launch(grants, sandbox, env)


def init_message(spec: WorkerSpec, sandbox: SandboxSpec) -> dict[str, Any]:
    """The first message a worker reads: its sandbox, its plugin, its limits."""
    return {
        "op": "init",
        "sandbox": sandbox.to_json(),
        "info": spec.info.to_json(),
        "max_frame": spec.max_result_mb * MB,
        "site_dirs": list(spec.site_dirs),
        "pidns": spec.pidns,
    }


def end_process(proc: Any) -> bool:
    """SIGKILL the worker, every process below it and its process group (a process
    group id is not reused while any member is alive, so programs it started go too);
    False when it could not be reaped within 10 s (stuck in the kernel)."""
    if proc.poll() is None:  # not reaped: its pid, and its children's, are still its
        from jafhost.security.sandbox.process_tree import kill_tree

        kill_tree(proc.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    return _reaped(proc, 10.0)


def _reaped(proc: Any, seconds: float) -> bool:
    """Reap ``proc`` once it is gone, within ``seconds``: woken by its pidfd the moment
    it ends (``Popen.wait`` with a time limit polls, sleeping up to 50 ms between
    looks), else by ``Popen.wait`` alone where there is no pidfd (before Linux 5.3).
    The pidfd only for a child of this process (a ``Popen``) still unreaped once the
    pidfd is open: then it is that child's (a worker forked by the zygote is the
    zygote's child: its pid may be another process's once the zygote reaped it)."""
    if proc.returncode is None and isinstance(proc, subprocess.Popen):
        try:
            pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            pidfd = -1
        if pidfd >= 0:
            try:
                # still unreaped after the pidfd was opened: the pidfd is this child's
                if proc.poll() is None and not select.select([pidfd], [], [], seconds)[0]:
                    return False
            finally:
                os.close(pidfd)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True
