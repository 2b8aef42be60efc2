"""Resource limits for the worker: address space, open files, file size, no core dumps,
and a CPU budget re-armed per request (a backstop behind the host's wall-clock timeout).

Python ignores SIGXFSZ, so a write past ``RLIMIT_FSIZE`` fails with EFBIG (``OSError``)
instead of killing the worker; programs a ``run`` grant starts get the default action
back (``subprocess`` restores it) and are killed by SIGXFSZ."""

from __future__ import annotations

import math
import resource
import time

from jafhost.security.sandbox.spec import SandboxSpec


def cpu_budget(call_timeout: float, hook_timeout: float) -> int:
    """CPU seconds a worker may use per request before SIGXCPU ends it (a backstop:
    the per-call wall-clock timeout, after which the host kills the worker, comes first)."""
    return max(60, math.ceil(4 * max(call_timeout, hook_timeout)))


def set_limits(spec: SandboxSpec) -> list[str]:
    done = []
    memory = spec.memory_mb * 1024 * 1024
    file_size = spec.file_size_mb * 1024 * 1024
    for limit, value, name in (
        (resource.RLIMIT_AS, memory, f"rlimit-as:{spec.memory_mb}MB"),
        (resource.RLIMIT_NOFILE, spec.open_files, f"rlimit-nofile:{spec.open_files}"),
        (resource.RLIMIT_FSIZE, file_size, f"rlimit-fsize:{spec.file_size_mb}MB"),
        (resource.RLIMIT_CORE, 0, "no-core-dumps"),
    ):
        _, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, value))
        done.append(name)
    arm_cpu(spec.cpu_seconds)
    done.insert(3, f"rlimit-cpu:{spec.cpu_seconds}s")
    return done


_ARMED_AT = -math.inf


def arm_cpu(seconds: int) -> None:
    """Allow ``seconds`` more CPU time from now (soft limit: SIGXCPU ends the worker).

    Re-arming is skipped while less than a second of CPU was used since the last time
    (a clock read instead of three system calls per request).
    """
    global _ARMED_AT
    used = time.process_time()
    if used - _ARMED_AT < 1.0:
        return
    _ARMED_AT = used
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used) + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
