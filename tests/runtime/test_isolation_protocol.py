"""The parts of process isolation that need no worker: exceptions across the boundary,
exit-code text, and the request lock that outlives an event loop."""

from __future__ import annotations

import asyncio
import signal

import pytest

from jafhost.errors import PermissionDenied, ToolError
from jafhost.runtime.isolation.exits import EXIT_MEMORY, describe_exit
from jafhost.runtime.isolation.lock import RequestLock
from jafhost.runtime.isolation.protocol import (
    RemoteError,
    decode,
    encode,
    error_from_json,
    error_to_json,
)
from jafhost.runtime.runner import HookTimeout, PluginExit


def across(exc: BaseException) -> BaseException:
    """``exc`` raised in a worker, as the host raises it again (through the JSON wire)."""
    try:
        raise exc
    except BaseException as raised:
        data = decode(encode(error_to_json(raised)))
    return error_from_json(data, "boxed")


def test_errors_keep_their_meaning_across_the_boundary() -> None:
    denied = across(PermissionDenied("no", plugin="boxed", permission="read:/etc"))
    assert isinstance(denied, PermissionDenied)
    assert denied.permission == "read:/etc" and denied.plugin == "boxed"

    coded = across(ToolError("no such thing", code="not_found"))
    assert isinstance(coded, ToolError) and coded.code == "not_found"

    assert isinstance(across(HookTimeout("slow")), HookTimeout)
    exited = across(SystemExit(3))
    assert isinstance(exited, PluginExit) and str(exited) == "plugin boxed raised SystemExit: 3"


def test_other_exceptions_keep_their_class_name_and_traceback() -> None:
    exc = across(KeyError("missing"))
    assert isinstance(exc, RemoteError) and type(exc).__name__ == "KeyError"
    [note] = [note for note in exc.__notes__ if "in the worker of plugin boxed" in note]
    assert "KeyError" in note  # the worker's traceback
    assert type(across(KeyError("again"))) is type(exc)  # one stand-in class per name


def test_memory_errors_say_a_new_worker_starts() -> None:
    exc = error_from_json({"kind": "memory", "message": "memory limit of 64 MB reached"}, "boxed")
    assert type(exc).__name__ == "MemoryError"
    assert "a new one starts on the next call" in str(exc)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (None, "stopped answering"),
        (3, "exited with status 3"),
        (EXIT_MEMORY, "ran out of memory (limit 64 MB)"),
        (-signal.SIGSEGV, "was killed by SIGSEGV (a segmentation fault)"),
        (-signal.SIGXCPU, "was killed by SIGXCPU (its CPU time limit of 5 s per request)"),
    ],
)
def test_exit_codes_in_words(code: int | None, text: str) -> None:
    assert describe_exit(code, cpu_seconds=5, memory_mb=64) == text


def test_the_request_lock_serves_one_at_a_time_on_any_loop() -> None:
    lock = RequestLock()
    order: list[str] = []

    async def hold(name: str) -> None:
        await lock.acquire()
        try:
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")
        finally:
            lock.release()

    async def both() -> None:
        await asyncio.gather(hold("a"), hold("b"))

    asyncio.run(both())
    asyncio.run(both())  # a second loop: the lock is not bound to the first
    assert order == ["a in", "a out", "b in", "b out"] * 2
