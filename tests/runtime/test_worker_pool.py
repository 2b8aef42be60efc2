"""A process-isolated plugin's pool of workers, with real worker processes: calls queued
behind a slow one neither time out nor wait past their own limit (``busy``), a time
limit kills only the worker running that call, and a worker that cannot start again
ends in ``broken`` instead of being respawned at every call."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Site
from jafhost.host.host import Host
from jafhost.runtime.isolation.launch import pool_of
from jafhost.runtime.isolation.starts import BACKOFF_CAP, MAX_FAILED_STARTS, StartRecord
from jafhost.types import CallResult

MakeHost = Callable[..., Host]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

POOLED = """
import os, time

def pid() -> int:
    return int(os.readlink("/proc/self"))

def slow(seconds: float) -> str:
    open("slow-started", "w").close()  # the working folder is the plugin's data folder
    time.sleep(seconds)
    return "done"

@hookimpl
def jaf_tools():
    return [pid, slow]

@hookimpl
def jaf_event_handlers():
    def seen(event):
        with open("events-seen", "a") as f:
            f.write(str(pid()) + "\\n")
    return {"ping.*": seen}
"""


def pooled(site: Site, make_host: MakeHost, config: str) -> Host:
    site.plugin("pooled", code=POOLED)
    host = make_host()
    host.layout.config.parent.mkdir(parents=True, exist_ok=True)
    host.layout.config.write_text(textwrap.dedent(config))
    host.enable(["pooled"], isolation="process")
    return host


async def slow_call_started(host: Host, timeout: float | None = None) -> asyncio.Task[CallResult]:
    """Start ``pooled.slow(60)`` and return once its worker runs it."""
    started = host.layout.data_dir("pooled") / "slow-started"
    started.unlink(missing_ok=True)
    task = asyncio.create_task(host.call("pooled.slow", {"seconds": 60}, timeout=timeout))
    while not started.exists():
        assert not task.done(), task.result().to_json()
        await asyncio.sleep(0.02)
    return task


def gone(pid: int, seconds: float = 5.0) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie of somebody else)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X") or time.monotonic() >= deadline:
            return state in ("Z", "X")
        time.sleep(0.02)


def test_calls_behind_a_slow_one_run_in_another_worker_and_its_timeout_kills_only_its_own(
    site: Site, make_host: MakeHost
) -> None:
    host = pooled(site, make_host, "[host]\ncall_timeout = 5\nworkers_per_plugin = 2\n")

    async def scenario() -> tuple[int, CallResult, list[CallResult], CallResult]:
        async with host:
            loaded = host.loaded("pooled")
            assert loaded is not None
            pool = pool_of(loaded)
            assert pool is not None and len(pool.slots) == 1  # an idle plugin: one worker
            first = pool.slots[0].plugin_pid
            assert first is not None
            slow = await slow_call_started(host)
            fast = await asyncio.gather(*(host.call("pooled.pid", {}) for _ in range(10)))
            timed_out = await slow
            assert gone(first)  # killed at its time limit
            after = await host.call("pooled.pid", {})
            return first, timed_out, fast, after

    first, timed_out, fast, after = asyncio.run(scenario())
    assert [r.ok for r in fast] == [True] * 10, [r.to_json() for r in fast if not r.ok]
    second = fast[0].result
    assert {r.result for r in fast} == {second} and second != first
    assert timed_out.error is not None and timed_out.error.code == "timeout"
    assert timed_out.error.message == "timed out after 5.0 s"
    assert after.ok and after.result == second  # the other worker was never touched


def test_with_one_worker_calls_that_cannot_start_in_time_are_busy_not_timed_out(
    site: Site, make_host: MakeHost
) -> None:
    host = pooled(site, make_host, "[host]\ncall_timeout = 1\nworkers_per_plugin = 1\n")

    async def scenario() -> tuple[list[CallResult], CallResult, int]:
        async with host:
            slow = await slow_call_started(host, timeout=60)
            waiting = await asyncio.gather(*(host.call("pooled.pid", {}) for _ in range(10)))
            slow.cancel()  # the host kills the worker running it
            with pytest.raises(asyncio.CancelledError):
                await slow
            after = await host.call("pooled.pid", {})
            loaded = host.loaded("pooled")
            assert loaded is not None
            pool = pool_of(loaded)
            assert pool is not None
            return waiting, after, len(pool.slots)

    waiting, after, workers = asyncio.run(scenario())
    for result in waiting:
        assert result.error is not None, result.to_json()
        assert result.error.code == "busy", result.to_json()
        assert result.error.message == (
            "no worker of plugin pooled could take a call of tool pooled.pid within 1 s; all 1 busy"
        )
    assert after.ok, after.to_json()
    assert workers == 1


def test_events_go_to_a_free_worker_and_never_start_one_beside_a_live_worker(
    site: Site, make_host: MakeHost
) -> None:
    """An event waits for a worker rather than starting one (it often follows the call
    that caused it, whose worker a plugin counting on memory expects), and uses any
    free worker of the pool."""
    host = pooled(site, make_host, "[host]\ncall_timeout = 30\n")
    seen_file = host.layout.data_dir("pooled") / "events-seen"

    async def scenario() -> tuple[int | None, bool, int, bool, list[str]]:
        async with host:
            loaded = host.loaded("pooled")
            assert loaded is not None
            pool = pool_of(loaded)
            assert pool is not None
            busy = pool.slots[0].plugin_pid
            slow = await slow_call_started(host)
            waited = await host.emit("ping.first", {})  # hook_timeout: 2 s
            grown = len(pool.slots)
            second = await host.call("pooled.pid", {})  # a call starts the second worker
            assert second.ok, second.to_json()
            report = await host.emit("ping.second", {})
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            return (
                busy,
                waited.ok,
                grown,
                report.ok,
                [second.result, *seen_file.read_text().split()],
            )

    busy, waited, grown, delivered, seen = asyncio.run(scenario())
    assert not waited and grown == 1  # no worker was started for the event
    assert delivered
    second, *handled = seen
    assert handled == [str(second)] and second != busy  # by the second worker


SELF_WRAPPED = """
import os

def pid() -> int:
    return int(os.readlink("/proc/self"))

@hookimpl(wrapper=True)
def jaf_tool_call(call):
    result = yield  # the tool runs as a request nested in this one
    return {"middleware": pid(), "tool": result}

@hookimpl
def jaf_tools():
    return [pid]
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_tool_called_through_its_own_middleware_runs_in_the_middlewares_worker(
    site: Site, make_host: MakeHost, workers: int
) -> None:
    site.plugin("wrapped", code=SELF_WRAPPED)
    host = make_host()
    host.layout.config.parent.mkdir(parents=True, exist_ok=True)
    host.layout.config.write_text(f"[host]\ncall_timeout = 5\nworkers_per_plugin = {workers}\n")
    host.enable(["wrapped"], isolation="process")

    async def scenario() -> tuple[CallResult, int]:
        async with host:
            result = await host.call("wrapped.pid", {})
            loaded = host.loaded("wrapped")
            assert loaded is not None
            pool = pool_of(loaded)
            assert pool is not None
            return result, len(pool.slots)

    result, started = asyncio.run(scenario())
    assert result.ok, result.to_json()
    assert result.result["middleware"] == result.result["tool"], result.result
    assert isinstance(result.result["tool"], int) and result.result["tool"] > 1
    assert started == 1


FAILS_TO_RESTART = """
import os

def ok() -> str:
    return "ok"

def crash() -> None:
    os._exit(7)

@hookimpl
def jaf_activate(ctx):
    marker = os.path.join(ctx.data_dir, "started-once")
    if os.path.exists(marker):
        os._exit(3)  # every start after the first fails
    open(marker, "w").close()
    with open(os.path.join(ctx.data_dir, "starts"), "a") as f:
        f.write("x")

@hookimpl
def jaf_tools():
    return [ok, crash]
"""


def test_a_worker_that_cannot_start_again_backs_off_then_its_plugin_is_broken(
    site: Site, make_host: MakeHost
) -> None:
    site.plugin("flaky", code=FAILS_TO_RESTART)
    host = make_host()
    host.enable(["flaky"], isolation="process")

    async def scenario() -> tuple[list[CallResult], str, str | None, CallResult]:
        async with host:
            results = [await host.call("flaky.ok", {}), await host.call("flaky.crash", {})]
            for _ in range(MAX_FAILED_STARTS + 2):
                results.append(await host.call("flaky.ok", {}))
            loaded = host.loaded("flaky")
            assert loaded is not None
            status, error = loaded.status, loaded.error
            # fixed (its start works again), a reload brings it back
            (host.layout.data_dir("flaky") / "started-once").unlink()
            report = await host.reload("flaky")
            assert report.ok, report
            return results, status, error, await host.call("flaky.ok", {})

    results, status, error, fixed = asyncio.run(scenario())
    assert fixed.ok and fixed.result == "ok", fixed.to_json()
    assert results[0].ok and not results[1].ok
    failed_starts = results[2 : 2 + MAX_FAILED_STARTS]
    for result in failed_starts:
        assert result.error is not None and result.error.code == "tool_error", result.to_json()
        assert result.error.message.startswith(
            "plugin flaky: its worker could not be started again (its worker process "
            "exited with status 3 during start); "
        )
    assert status == "broken"
    assert error is not None and f"failed to start {MAX_FAILED_STARTS} times in a row" in error
    for result in results[2 + MAX_FAILED_STARTS :]:
        assert result.error is not None and result.error.code == "unavailable", result.to_json()
        message = result.error.message
        assert message.startswith("plugin flaky is broken: its worker failed to start")
        assert "jafhost doctor flaky" in message and "jafhost enable flaky" in message


def test_the_back_off_doubles_to_a_cap_and_a_start_clears_it() -> None:
    record = StartRecord("p")
    assert record.delay() == 0.0 and record.due()
    seen = []
    for _ in range(MAX_FAILED_STARTS - 1):
        record.failed("exited with status 3")
        seen.append(record.delay())
    assert seen == [0.5, 1.0, 2.0, 4.0][: MAX_FAILED_STARTS - 1]
    record.failures = 10
    assert record.delay() == BACKOFF_CAP
    record.succeeded()
    assert record.delay() == 0.0 and record.due() and record.broken is None
    broken: list[str] = []
    record.on_broken = broken.append
    for _ in range(MAX_FAILED_STARTS):
        record.failed("exited with status 3")
    assert record.broken is not None and broken == [record.broken]


def test_workers_per_plugin_is_checked(make_host: MakeHost, home: Path) -> None:
    for bad in ("0", "17", '"two"'):
        (home / "config.toml").write_text(f"[host]\nworkers_per_plugin = {bad}\n")
        host = make_host()
        problem = host.config.problem()
        assert problem is not None and "[host] workers_per_plugin" in problem, bad
    (home / "config.toml").write_text("[host]\nworkers_per_plugin = 16\n")
    assert make_host().config.settings.workers_per_plugin == 16
