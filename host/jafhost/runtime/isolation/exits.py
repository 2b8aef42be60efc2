"""How a worker process ended, in words the user can act on.

``EXIT_MEMORY`` is the status a worker exits with after answering a ``MemoryError``
(its state is suspect); both sides use this one constant.
"""

from __future__ import annotations

EXIT_MEMORY = 75

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


def describe_exit(returncode: int | None, cpu_seconds: int = 0, memory_mb: int = 0) -> str:
    """How a worker ended, in words: ``exited with status 3``, ``killed by SIGSEGV (...)``."""
    import signal  # here: the worker imports this module only for ``EXIT_MEMORY``

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
