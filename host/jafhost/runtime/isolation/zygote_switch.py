"""Whether workers are forked from a zygote: read by every ``WorkerSpec``, kept apart
from ``zygote`` so that building a spec imports none of the zygote's machinery.

Forked by default on Linux, where a process may start more than one worker over its
life (a program's ``Host``, ``jafhost mcp``, ``doctor``, ``run``, ``emit``); spawned in
a command that starts one worker and ends (``one_shot``): a new zygote and its first
worker take longer than one spawned worker (bench/RESULTS.md, "Worker start: forked by
default"). ``JAFHOST_WORKER_ZYGOTE=0`` or ``1`` decides for every worker.
"""

from __future__ import annotations

import os
import sys

ZYGOTE_VARIABLE = "JAFHOST_WORKER_ZYGOTE"
"""``1``: every worker is forked from a zygote; ``0``: every worker is spawned; unset:
forked, but in a one-shot command (``one_shot``) spawned (``wanted``)."""

_ONE_SHOT = False


def one_shot() -> None:
    """This process is a command that starts one worker and ends (``jafhost call``,
    ``config show``/``set``): its workers are spawned unless ``JAFHOST_WORKER_ZYGOTE=1``.
    A zygote pays off from the second worker of a process on."""
    global _ONE_SHOT
    _ONE_SHOT = True


def unavailable() -> str | None:
    """Why workers cannot be forked by a zygote here, or None."""
    if not sys.platform.startswith("linux"):
        return f"workers are forked by a zygote on Linux only (this is {sys.platform})"
    if not hasattr(os, "fork"):
        return "this Python has no os.fork"
    return None


def wanted() -> bool:
    """Whether workers are forked from a zygote (``WorkerSpec.zygote``'s default):
    ``JAFHOST_WORKER_ZYGOTE`` if set to ``0`` or ``1``, else forked but in a one-shot
    command (``one_shot``) or where no zygote can fork (``unavailable``)."""
    value = os.environ.get(ZYGOTE_VARIABLE, "").strip()
    if value in ("0", "1"):
        return value == "1"
    if value:
        warn_once(f"{ZYGOTE_VARIABLE}={value!r} is neither 0 nor 1; it is ignored")
    return not _ONE_SHOT and unavailable() is None


_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """Log ``message`` as a warning, once per process."""
    import logging

    if message not in _WARNED:
        _WARNED.add(message)
        logging.getLogger("jafhost").warning("%s", message)
