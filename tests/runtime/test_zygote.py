"""Workers forked from the zygote: sandboxed exactly as spawned ones, with a zygote that
never holds a grant, a thread or plugin code, and that ends with the host.

Real processes throughout: a real plugin in a temporary site, real workers forked by a
real zygote, ground truth read from ``/proc`` (parents, threads, command lines,
environments) and from what the plugin's own code can reach.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Site, run_cli
from jafhost.host.host import Host
from jafhost.runtime.isolation import zygote
from jafhost.runtime.isolation.client import WorkerClient
from jafhost.runtime.isolation.spec import WorkerSpec

MakeHost = Callable[..., Host]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

TOOLS = """
import os

def read(path: str) -> str:
    with open(path) as f:
        return f.read()

def env(name: str) -> str | None:
    return os.environ.get(name)

def end(status: int) -> None:
    os._exit(status)

def descriptors() -> int:
    count = 0
    for fd in range(256):  # fstat raises no audit event: the guard lets it through
        try:
            os.fstat(fd)
        except OSError:
            continue
        count += 1
    return count

@hookimpl
def jaf_tools():
    return [read, env, end, descriptors]
"""
MANIFEST = """
[permissions]
env = ["JAF_ZYGOTE_GRANTED"]
"""


@pytest.fixture(autouse=True)
def fresh_zygotes() -> Iterator[None]:
    """Each test starts its own zygote (with the environment it set) and ends it."""
    zygote.stop_all()
    yield
    zygote.stop_all()


def spec_for(site: Site, make_host: MakeHost, *, forked: bool) -> WorkerSpec:
    site.plugin("forked", code=TOOLS, manifest=MANIFEST)
    host = make_host(approve=True)
    host.enable(["forked"], isolation="process")
    entry = host.resolution().get("forked")
    assert entry is not None
    spec = host.runtime.worker_spec(entry.info, {})
    return dataclasses.replace(spec, zygote=forked, paths=[str(site.root), *spec.paths])


def boot_and_call(spec: WorkerSpec, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Start a worker for ``spec``, make ``calls``, stop it: what was seen."""

    async def scenario() -> dict[str, Any]:
        client = WorkerClient(spec)
        try:
            reply = await client.boot()
            assert reply.get("status") == "active", reply
            assert client.proc is not None
            seen: dict[str, Any] = {
                "protections": list(client.protections),
                "missing": list(client.missing),
                "pid": client.proc.pid,
                "parent": parent_of(client.proc.pid),
                "environ": Path(f"/proc/{client.plugin_pid}/environ").read_bytes(),
                "results": [],
            }
            for tool, args in calls:
                try:
                    seen["results"].append(await client.call(tool, args))
                except Exception as exc:
                    seen["results"].append(exc)
            seen["last_exit"] = client.last_exit
            return seen
        finally:
            await client.stop(5)

    return asyncio.run(scenario())


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[1])


def status_field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def test_a_forked_worker_is_sandboxed_as_a_spawned_one(
    site: Site, make_host: MakeHost, secret: Path
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [("read", {"path": str(secret)}), ("descriptors", {})]
    spawned = boot_and_call(spec_for(site, make_host, forked=False), calls)
    forked = boot_and_call(spec_for(site, make_host, forked=True), calls)

    assert forked["protections"] == spawned["protections"]
    assert forked["missing"] == spawned["missing"]
    the_zygote = zygote.zygote_for(sys.executable)
    assert forked["parent"] == the_zygote.proc.pid
    assert spawned["parent"] == os.getpid()
    for seen in (spawned, forked):
        result, _ = seen["results"]
        assert isinstance(result, Exception), f"the secret was read: {result!r}"
        assert "TOP-SECRET-KEY" not in str(result)
    assert forked["results"][1] == spawned["results"][1]  # no descriptor of the zygote's


def test_the_zygote_is_isolated_single_threaded_and_holds_no_grant(
    site: Site, make_host: MakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAF_ZYGOTE_GRANTED", "granted-value")
    monkeypatch.setenv("JAF_ZYGOTE_SECRET", "secret-value")
    spec = spec_for(site, make_host, forked=True)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("env", {"name": "JAF_ZYGOTE_GRANTED"}),
        ("env", {"name": "JAF_ZYGOTE_SECRET"}),
    ]
    seen = boot_and_call(spec, calls)

    granted, hidden = seen["results"]
    assert granted == "granted-value"  # the worker's own environment: its grant
    assert hidden is None
    block = seen["environ"]  # the plugin's process shows the block it was forked with
    assert b"secret-value" not in block and b"granted-value" not in block
    pid = zygote.zygote_for(sys.executable).proc.pid
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert b"-I" in argv and b"-S" in argv
    assert status_field(pid, "Threads") == "1"
    with open(f"/proc/{pid}/environ", "rb") as f:
        block = f.read()
    assert b"secret-value" not in block and b"granted-value" not in block
    assert status_field(pid, "Seccomp") == "0"  # not sandboxed itself: it runs no plugin code


def test_how_a_forked_worker_ended_is_reported(site: Site, make_host: MakeHost) -> None:
    spec = spec_for(site, make_host, forked=True)

    async def scenario() -> tuple[str | None, str | None]:
        client = WorkerClient(spec)
        try:
            await client.boot()
            with pytest.raises(Exception) as ended:
                await client.call("end", {"status": 3})
            return str(ended.value), client.last_exit
        finally:
            await client.stop(5)

    message, last_exit = asyncio.run(scenario())
    assert last_exit == "exited with status 3"
    assert "exited with status 3" in str(message)


HOST_SCRIPT = """
import asyncio, dataclasses, sys
from jafhost.host.host import Host
from jafhost.runtime.isolation.client import WorkerClient
from jafhost.runtime.isolation.zygote import zygote_for

host = Host(sys.argv[1], paths=[sys.argv[2]])
host.enable(["forked"], isolation="process", approve=lambda info, new: True)
spec = host.runtime.worker_spec(host.resolution().get("forked").info, {})
spec = dataclasses.replace(spec, zygote=True, paths=[sys.argv[2], *spec.paths])

async def main():
    client = WorkerClient(spec)
    await client.boot()
    print(zygote_for(sys.executable).proc.pid, client.proc.pid, client.plugin_pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_the_zygote_and_its_workers_end_with_the_host(site: Site, home: Path) -> None:
    site.plugin("forked", code=TOOLS, manifest=MANIFEST)
    script = textwrap.dedent(HOST_SCRIPT)
    host = subprocess.Popen(
        [sys.executable, "-c", script, str(home), str(site.root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert host.stdout is not None
    line = host.stdout.readline()
    pids = [int(word) for word in line.split()]
    assert len(pids) == 3, line
    assert all(Path(f"/proc/{pid}").exists() for pid in pids)

    host.send_signal(signal.SIGKILL)  # no clean-up of any kind
    host.wait()

    left = pids
    for _ in range(200):  # the kernel delivers the parent-death signals; not a speed test
        left = [pid for pid in left if alive(pid)]
        if not left:
            break
        time.sleep(0.05)
    assert not left, f"still running after the host was killed: {left}"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- which workers are forked, and what happens when no zygote can fork ------------------

WAITER = """
import os, time

def wait() -> str:
    for _ in range(3000):  # until the test has looked (a minute at most)
        if os.path.exists("go"):
            return "went"
        time.sleep(0.02)
    return "gave up"

@hookimpl
def jaf_tools():
    return [wait]
"""


def test_a_long_lived_host_forks_its_workers_by_default(
    site: Site, make_host: MakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(zygote.ZYGOTE_VARIABLE, raising=False)
    seen = boot_and_call(spec_for(site, make_host, forked=zygote.wanted()), [])
    assert seen["parent"] == zygote.zygote_for(sys.executable).proc.pid

    monkeypatch.setenv(zygote.ZYGOTE_VARIABLE, "0")  # spawned everywhere
    seen = boot_and_call(spec_for(site, make_host, forked=zygote.wanted()), [])
    assert seen["parent"] == os.getpid()


def descendants_of(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                children.setdefault(parent_of(int(name)), []).append(int(name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def test_jafhost_call_spawns_its_one_worker_and_starts_no_zygote(
    site: Site, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.plugin("waiter", code=WAITER, manifest="")
    monkeypatch.delenv(zygote.ZYGOTE_VARIABLE, raising=False)
    enabled = run_cli("enable", "waiter", "--yes", "--isolation", "process", site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    env = {**os.environ, "JAFHOST_HOME": str(home), "PYTHONPATH": str(site.root)}
    env.pop(zygote.ZYGOTE_VARIABLE, None)
    cli = subprocess.Popen(
        [sys.executable, "-m", "jafhost", "call", "waiter.wait"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    go = home / "plugins" / "waiter" / "data" / "go"
    try:
        lines: list[str] = []
        for _ in range(1500):  # until its worker runs the tool (not a speed test)
            lines = [command_line(pid) for pid in descendants_of(cli.pid)]
            if go.parent.exists() and any("isolation.worker import main" in x for x in lines):
                break
            time.sleep(0.02)
    finally:
        go.parent.mkdir(parents=True, exist_ok=True)
        go.write_text("")
        out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0 and json.loads(out) == "went", err
    assert any("isolation.worker import main" in x for x in lines), lines
    assert not any("isolation.zygote import serve" in x for x in lines), lines


def test_a_worker_is_spawned_when_no_zygote_can_start(
    site: Site, make_host: MakeHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    python = tmp_path / "python"  # a real interpreter, which refuses to be a zygote
    python.write_text(
        "#!/bin/sh\n"
        'case "$*" in *zygote*) echo "no zygote here" >&2; exit 3;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    spec = dataclasses.replace(spec_for(site, make_host, forked=True), python=str(python))

    async def scenario() -> list[tuple[bool, str | None, Any]]:
        seen = []
        for _ in range(2):  # the second start does not try the zygote again
            client = WorkerClient(spec)
            try:
                await client.boot()
                read = await client.call("env", {"name": "JAF_ZYGOTE_GRANTED"})
                seen.append((client.forked, client.fork_problem, read))
            finally:
                await client.stop(5)
        return seen

    with caplog.at_level("WARNING", logger="jafhost"):
        seen = asyncio.run(scenario())
    assert [forked for forked, _, _ in seen] == [False, False]
    problem = seen[0][1]
    assert problem is not None and "exited with status 3" in problem, problem
    assert seen[1][1] == problem
    warned = [r.getMessage() for r in caplog.records if "not forked" in r.getMessage()]
    assert len(warned) == 1 and problem in warned[0], warned


def test_a_killed_zygote_is_replaced_and_its_workers_restart(
    site: Site, make_host: MakeHost
) -> None:
    spec = spec_for(site, make_host, forked=True)

    async def scenario() -> tuple[int, int, int, int]:
        client = WorkerClient(spec)
        try:
            await client.boot()
            first = zygote.zygote_for(sys.executable).proc.pid
            worker = client.plugin_pid
            assert worker is not None
            os.kill(first, signal.SIGKILL)  # as a worker can where landlock-scope is missing
            for _ in range(200):  # its workers die with it (not a speed test)
                if not alive(worker):
                    break
                await asyncio.sleep(0.05)
            assert not alive(worker)
            await client.call("descriptors", {})  # served by a new worker
            assert client.forked and client.proc is not None
            second = zygote.zygote_for(sys.executable).proc.pid
            return first, second, parent_of(client.proc.pid), client.starts
        finally:
            await client.stop(5)

    first, second, parent, starts = asyncio.run(scenario())
    assert second != first and parent == second and starts == 2


def test_a_bad_switch_value_is_named_and_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(zygote.ZYGOTE_VARIABLE, "yes")
    with caplog.at_level("WARNING", logger="jafhost"):
        assert zygote.wanted() is (zygote.unavailable() is None)  # the default
    assert any("JAFHOST_WORKER_ZYGOTE='yes' is neither 0 nor 1" in r.getMessage()
               for r in caplog.records)  # fmt: skip
