"""``Host.stats()``: per plugin start times, calls, errors by code, call time percentiles,
and for a worker its live pid, resident memory and restarts, after real calls of a real
plugin in either isolation mode."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site
from jafhost.host.host import Host
from jafhost.host.sync import SyncHost
from jafhost.runtime.isolation.launch import worker_of
from jafhost.runtime.stats import HostStats, PluginStats, phases_from

MakeHost = Callable[..., Host]

TIMED = '''
import os, time
from jafhost import ToolError


def nap(ms: int) -> int:
    """Sleep ``ms`` milliseconds."""
    time.sleep(ms / 1000)
    return ms


def fail() -> str:
    """Always fails."""
    raise ToolError("told to fail")


def pid() -> int:
    """The pid of the process running this code, as the host sees it."""
    return int(os.readlink("/proc/self"))


@hookimpl
def jaf_tools():
    return [nap, fail, pid]
'''


def _timed(site: Site, make_host: MakeHost, isolation: str, name: str = "timed") -> Host:
    site.plugin(name, code=TIMED)
    host = make_host()
    host.enable([name], isolation=isolation, approve=lambda info, new: True)
    return host


def _ok(result: object) -> None:
    assert getattr(result, "ok", False), result


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_calls_errors_and_percentiles_after_real_calls(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _timed(site, make_host, isolation)

    async def scenario() -> tuple[HostStats, HostStats]:
        async with host:
            before = host.stats()
            for ms in (0, 0, 0, 0, 0, 0, 0, 0, 0, 60):
                _ok(await host.call("timed.nap", {"ms": ms}))
            assert not (await host.call("timed.fail")).ok
            assert not (await host.call("timed.nap", {"ms": "many"})).ok
            assert not (await host.call("timed.nap", {"ms": 3000}, timeout=0.3)).ok
            assert not (await host.call("nobody.nap", {"ms": 0})).ok  # no such plugin
            return before, host.stats()

    before, after = asyncio.run(scenario())
    assert before.plugin("timed").calls == 0
    assert before.plugin("timed").p50_ms is None
    stats = after.plugin("timed")
    assert (stats.status, stats.isolation) == ("active", isolation)
    assert stats.calls == 13
    assert stats.errors == {"invalid_arguments": 1, "timeout": 1, "tool_error": 1}
    assert stats.p50_ms is not None and stats.p95_ms is not None
    # nine quick naps, one of 60 ms and a time-out of 300 ms: the median is a quick one
    assert 0 <= stats.p50_ms < 60 <= stats.p95_ms
    assert [p.name for p in after.plugins] == ["timed"]  # a made-up name is not kept
    data = json.loads(json.dumps(after.to_json()))
    assert data["plugins"][0]["errors"]["timeout"] == 1
    assert data["plugins"][0]["calls"] == 13


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_start_times_cover_import_initialize_and_activate(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _timed(site, make_host, isolation)

    async def scenario() -> PluginStats:
        async with host:
            return host.stats().plugin("timed")

    stats = asyncio.run(scenario())
    start = stats.start
    assert start is not None
    phases = (start.import_ms, start.initialize_ms, start.activate_ms)
    assert all(ms is not None and ms >= 0 for ms in phases), start
    assert start.total_ms >= sum(ms or 0 for ms in phases)
    if isolation == "process":
        assert start.worker_ms is not None and start.worker_ms > 0
        assert start.total_ms >= start.worker_ms
        assert stats.restarts == 0
    else:
        assert start.worker_ms is None
        assert (stats.workers, stats.restarts) == ([], None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("isolation", ISOLATION_MODES[1:])
def test_a_worker_is_a_live_process_with_memory_and_its_restarts_are_counted(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _timed(site, make_host, isolation)

    async def scenario() -> tuple[int, PluginStats, PluginStats, int]:
        async with host:
            first = await host.call("timed.pid")
            _ok(first)
            running = host.stats().plugin("timed")
            assert _alive(running.workers[0].pid)
            loaded = host.loaded("timed")
            assert loaded is not None
            worker = worker_of(loaded)
            assert worker is not None
            worker.kill()  # as a crash would: the next call starts a new one
            second = await host.call("timed.pid")
            _ok(second)
            return first.result, running, host.stats().plugin("timed"), second.result

    first_pid, running, restarted, second_pid = asyncio.run(scenario())
    assert [w.pid for w in running.workers] == [first_pid]
    rss = running.workers[0].rss_bytes
    assert rss is not None and rss > 0
    assert running.restarts == 0
    assert restarted.restarts == 1
    assert [w.pid for w in restarted.workers] == [second_pid] != [first_pid]
    assert not _alive(first_pid)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_an_idle_plugin_is_shown_idle_until_its_first_call_starts_it(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _timed(site, make_host, isolation, "lazy")

    async def record() -> None:
        async with host:  # the first host records what it offers
            pass

    asyncio.run(record())
    again = make_host()

    async def scenario() -> tuple[PluginStats, PluginStats]:
        async with again:
            idle = again.stats().plugin("lazy")
            _ok(await again.call("lazy.nap", {"ms": 0}))
            return idle, again.stats().plugin("lazy")

    idle, started = asyncio.run(scenario())
    assert (idle.status, idle.start, idle.calls) == ("idle", None, 0)
    assert started.status == "active" and started.start is not None
    assert started.calls == 1


def test_sync_host_reads_stats_on_its_loop(site: Site, make_host: MakeHost, home: Path) -> None:
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    with SyncHost(_timed(site, make_host, "inprocess")) as host:
        _ok(host.call("timed.nap", {"ms": 0}))
        assert host.stats().plugin("timed").calls == 1


def test_a_worker_reports_only_finite_seconds_of_known_phases() -> None:
    """The start reply is the worker's, so the plugin's, to shape: what is kept of it."""
    assert phases_from({"import": 0.5, "initialize": 0, "activate": 1}) == {
        "import": 0.5,
        "initialize": 0.0,
        "activate": 1.0,
    }
    forged = {
        "import": float("nan"),
        "initialize": -1.0,
        "activate": True,
        "worker": 0.0,  # the host measures this one itself
        "extra": 1.0,
    }
    assert phases_from(forged) == {}
    assert phases_from({"import": "fast", "activate": float("inf")}) == {}
    assert phases_from(["import", 1.0]) == {}
