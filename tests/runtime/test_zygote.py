"""Workers forked from the zygote: sandboxed exactly as spawned ones, with a zygote that
never holds a grant, a thread or plugin code, and that ends with the host.

Real processes throughout: a real plugin in a temporary site, real workers forked by a
real zygote, ground truth read from ``/proc`` (parents, threads, command lines,
environments) and from what the plugin's own code can reach.
"""

from __future__ import annotations

import asyncio
import dataclasses
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

from conftest import Site
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
