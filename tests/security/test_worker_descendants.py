"""No process a plugin starts outlives its worker, and the caller never waits for one.

A plugin may ``fork()`` with no grant at all; its child may ``setsid()`` (leaving the
worker's process group) and fork again (``PR_SET_PDEATHSIG`` is cleared at fork). The
grandchild below does exactly that, keeps the worker's stdout and stderr open and
sleeps. Ground truth: the grandchild's pid, as the host sees it, is gone once the worker
is stopped or killed, with a PID namespace (where one can be made) and with the child
subreaper (the fallback), and ``jafhost call`` returns with its output closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import GUARD_OFF, Site
from jafhost.host.host import Host
from jafhost.runtime.isolation.client import WorkerClient
from jafhost.runtime.isolation.spec import WorkerSpec

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
MakeHost = Callable[..., Host]
SCRIPT = str(Path(sys.executable).with_name("jafhost"))

LEAVER = (
    GUARD_OFF
    + """
_guard_off()
import os, time

def leave() -> int:
    '''Leave a process behind: fork, new session, fork again; the grandchild keeps
    stdout and stderr open and sleeps. Returns its pid as the host sees it.'''
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                os.write(write, os.readlink("/proc/self").encode())
                os.close(write)
                time.sleep(120)
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    pid = int(os.read(read, 32))
    os.close(read)
    return pid

@hookimpl
def jaf_tools():
    return [leave]
"""
)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (neither absent nor a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def leaver_spec(site: Site, make_host: MakeHost, *, pidns: bool) -> WorkerSpec:
    site.plugin("leaver", code=LEAVER)
    host = make_host()
    host.enable(["leaver"], isolation="process")
    entry = host.resolution().get("leaver")
    assert entry is not None
    spec = host.runtime.worker_spec(entry.info, {})
    return dataclasses.replace(spec, paths=[str(site.root), *spec.paths], pidns=pidns)


def leave_then(spec: WorkerSpec, end: str) -> tuple[int, list[str]]:
    """Start a worker, have it leave a grandchild, end the worker (``stop``: asked to
    stop; ``kill``: killed, as on a time limit); the grandchild's pid, seen alive before
    the end, and the protections the worker reported."""

    async def scenario() -> tuple[int, list[str]]:
        client = WorkerClient(spec)
        try:
            await client.boot()
            pid = await client.call("leave", {})
            assert isinstance(pid, int) and alive(pid)
            if end == "stop":
                await client.stop(5)
            else:
                client.kill("the test's time limit")
            return pid, client.protections
        finally:
            client.kill()

    return asyncio.run(scenario())


@pytest.mark.parametrize("end", ["stop", "kill"])
def test_a_pid_namespace_takes_every_process_along(
    site: Site, make_host: MakeHost, end: str
) -> None:
    spec = leaver_spec(site, make_host, pidns=True)
    pid, protections = leave_then(spec, end)
    if "pidns" not in protections:
        pytest.skip("no PID namespace here (the worker reports why under missing)")
    assert gone(pid), f"process {pid} of the plugin outlived its worker"


@pytest.mark.parametrize("end", ["stop", "kill"])
def test_the_subreaper_fallback_takes_every_process_along(
    site: Site, make_host: MakeHost, end: str
) -> None:
    spec = leaver_spec(site, make_host, pidns=False)
    pid, protections = leave_then(spec, end)
    assert "subreaper" in protections and "pidns" not in protections
    assert gone(pid), f"process {pid} of the plugin outlived its worker"


def test_the_worker_reports_how_its_processes_are_bound(site: Site, make_host: MakeHost) -> None:
    async def started(spec: WorkerSpec) -> tuple[list[str], list[str]]:
        client = WorkerClient(spec)
        try:
            await client.boot()
            return client.protections, client.missing
        finally:
            await client.stop(5)

    fallback = leaver_spec(site, make_host, pidns=False)
    protections, missing = asyncio.run(started(fallback))
    assert "subreaper" in protections
    assert any(m.startswith("pidns: ") for m in missing), missing
    protections, missing = asyncio.run(started(dataclasses.replace(fallback, pidns=True)))
    assert ("pidns" in protections) != any(m.startswith("pidns: ") for m in missing)


def test_jafhost_call_returns_with_its_output_closed(home: Path, site: Site) -> None:
    site.plugin("leaver", code=LEAVER)  # requests nothing: enabled at once
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    environment = {k: v for k, v in os.environ.items() if k not in ("JAFHOST_DEBUG", "PYTHONPATH")}
    environment.update(PYTHONPATH=str(site.root), JAFHOST_HOME=str(home))
    # capture_output reads stdout and stderr to their end: a process holding either
    # open would keep this waiting until the hang guard below fails the test
    ran = subprocess.run(
        [SCRIPT, "call", "leaver.leave"],
        cwd=home,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert ran.returncode == 0, ran.stderr
    pid = json.loads(ran.stdout)
    assert gone(pid), f"process {pid} of the plugin outlived the host"
