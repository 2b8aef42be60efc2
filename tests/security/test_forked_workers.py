"""A worker forked by the zygote (the default of a long-lived host) must be as closed
to its neighbours as a spawned one: it comes from the same parent as every other
plugin's worker, so whatever that parent held or could be reached through is shared.

Each test runs with spawned and with forked workers (``JAFHOST_WORKER_ZYGOTE``) and
checks ground truth from a hostile plugin granted ``ffi`` (its audit guard switched
off: the kernel is the boundary), next to a plugin granted a secret variable:

- the secret is in none of the snoop's ``os.environ``, ``/proc/self/environ`` or its
  readable memory, scanned through ctypes;
- the snoop cannot signal, trace or read the zygote or the holder's worker where the
  kernel scopes Landlock domains (``landlock-scope``): all still run, untraced, and
  the holder's worker still serves;
- the snoop holds no descriptor of the zygote's or the host's (an inheritable file and
  listening socket opened by the host before any worker) beyond its three pipes;
- ``doctor`` reports the same protections and proofs for forked and spawned workers.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import GUARD_OFF, Site, run_cli
from jafhost.host.host import Host
from jafhost.runtime.isolation import zygote
from jafhost.runtime.isolation.client import WorkerClient
from jafhost.runtime.isolation.launch import worker_of

MakeHost = Callable[..., Host]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

PREFIX = "forked-neighbour-secret"
SECRET = f"{PREFIX}-5150"
VALUE = "-".join([SECRET] * 500)  # a key or token: longer than the snoop's own request
VARIABLE = "JAF_FORKED_HELD_SECRET"
WORKERS = ["spawned", "forked"]

HOLDER = """
import os

def held() -> bool:
    return bool(os.environ.get("JAF_FORKED_HELD_SECRET"))

@hookimpl
def jaf_tools():
    return [held]
"""

SNOOP = (
    GUARD_OFF
    + '''
import ctypes
import ctypes.util
import os
import stat

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
SKIPPED = ("[vvar]", "[vvar_vclock]", "[vsyscall]")


def environment(needle: str) -> dict:
    """Where the process's own environment shows ``needle``."""
    _guard_off()
    try:
        with open("/proc/self/environ", "rb") as f:
            block = f.read().decode("latin-1")
    except OSError as exc:
        block = repr(exc)
    values = " ".join(f"{k}={v}" for k, v in os.environ.items())
    return {"os.environ": needle in values, "/proc/self/environ": needle in block,
            "getenv": bool(_libc.getenv(b"JAF_FORKED_HELD_SECRET"))}


def memory(needle: str) -> dict:
    """Every readable mapping of this process read through ctypes: what follows each
    occurrence of ``needle``, and how many bytes were read."""
    _guard_off()
    wanted = needle.encode()
    found, scanned = [], 0
    with open("/proc/self/maps") as maps:
        regions = maps.read().splitlines()
    for line in regions:
        fields = line.split()
        name = fields[5] if len(fields) > 5 else ""
        if not fields[1].startswith("r") or name in SKIPPED:
            continue
        if name.startswith("/") and not os.path.exists(name):
            continue  # a file mapping may end before its last page: not worth a SIGBUS
        start, end = (int(x, 16) for x in fields[0].split("-"))
        data = ctypes.string_at(start, end - start)
        scanned += len(data)
        at = data.find(wanted)
        while at >= 0 and len(found) < 500:
            found.append(data[at : at + 120].decode("latin-1"))
            at = data.find(wanted, at + 1)
    return {"hits": found, "scanned": scanned}


def _errno(result: int) -> str:
    return "ok" if result >= 0 else os.strerror(ctypes.get_errno())


def attack(pids: list[int]) -> dict:
    """For each pid: signal it (SIGSTOP, then SIGKILL), trace it, read its memory and
    signal it through a pidfd of its /proc folder; what each attempt gave."""
    _guard_off()
    _libc.syscall.restype = ctypes.c_long
    out = {}
    for pid in pids:
        seen = {}
        seen["kill-SIGSTOP"] = _errno(_libc.kill(pid, 19))
        seen["kill-SIGKILL"] = _errno(_libc.kill(pid, 9))
        seen["ptrace-attach"] = _errno(_libc.ptrace(16, pid, None, None))
        seen["ptrace-seize"] = _errno(_libc.ptrace(0x4206, pid, None, None))
        buffer = ctypes.create_string_buffer(64)
        local = (ctypes.c_void_p * 2)(ctypes.addressof(buffer), 64)
        remote = (ctypes.c_void_p * 2)(0x400000, 64)
        seen["process_vm_readv"] = _errno(
            _libc.syscall(310, pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        )
        try:
            with open(f"/proc/{pid}/mem", "rb") as f:
                f.read(1)
            seen["/proc/PID/mem"] = "ok"
        except OSError as exc:
            seen["/proc/PID/mem"] = exc.strerror or repr(exc)
        try:
            fd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            seen["pidfd_send_signal"] = f"no /proc/PID: {exc.strerror}"
        else:
            seen["pidfd_send_signal"] = _errno(_libc.syscall(424, fd, 9, None, 0))
            os.close(fd)
        out[str(pid)] = seen
    return out


def descriptors() -> list:
    """Every open descriptor: number, type, device and inode."""
    _guard_off()
    found = []
    for fd in range(4096):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        found.append([fd, stat.S_IFMT(st.st_mode), st.st_dev, st.st_ino])
    return found


@hookimpl
def jaf_tools():
    return [environment, memory, attack, descriptors]
'''
)


@pytest.fixture(params=WORKERS)
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every worker of the test spawned, or forked by a zygote of its own."""
    monkeypatch.setenv(zygote.ZYGOTE_VARIABLE, "1" if request.param == "forked" else "0")
    monkeypatch.setenv(VARIABLE, VALUE)
    zygote.stop_all()
    yield str(request.param)
    zygote.stop_all()


def neighbours(site: Site, make_host: MakeHost) -> Host:
    site.plugin("holder", code=HOLDER, manifest=f'[permissions]\nenv = ["{VARIABLE}"]\n')
    site.plugin("snoop", code=SNOOP, manifest="[permissions]\nffi = true\n")
    host = make_host(approve=True)
    host.enable(["holder", "snoop"], isolation="process")
    return host


def client(host: Host, name: str, workers: str) -> WorkerClient:
    loaded = host.loaded(name)
    assert loaded is not None
    found = worker_of(loaded)
    assert found is not None, f"{name} has no worker ({loaded.status}: {loaded.error})"
    assert found.forked == (workers == "forked"), found.fork_problem
    return found


async def call(host: Host, tool: str, **args: Any) -> Any:
    result = await host.call(tool, args)
    assert result.ok, result.to_json()
    return result.result


def test_a_worker_holds_no_value_granted_to_another_plugin(
    site: Site, make_host: MakeHost, workers: str
) -> None:
    host = neighbours(site, make_host)

    async def scenario() -> tuple[dict[str, bool], dict[str, Any]]:
        async with host:
            assert await call(host, "holder.held") is True  # its worker holds the secret
            client(host, "holder", workers)
            seen = await call(host, "snoop.environment", needle=PREFIX)
            client(host, "snoop", workers)
            return seen, await call(host, "snoop.memory", needle=PREFIX)

    environment, memory = asyncio.run(scenario())
    assert not any(environment.values()), f"plugin snoop sees the holder's secret: {environment}"
    assert memory["hits"], "the scan found not even its own argument: it proves nothing"
    leaked = [hit for hit in memory["hits"] if SECRET in hit]
    assert not leaked, f"plugin snoop read the holder's secret in its memory: {leaked[:3]}"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X", "T", "t")
    except FileNotFoundError:
        return False


def tracer(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    raise AssertionError(f"no TracerPid in /proc/{pid}/status")


def test_a_worker_cannot_signal_trace_or_read_the_zygote_or_a_sibling(
    site: Site, make_host: MakeHost, workers: str
) -> None:
    host = neighbours(site, make_host)

    async def scenario() -> dict[str, Any]:
        async with host:
            assert await call(host, "holder.held") is True
            await call(host, "snoop.descriptors")  # started
            holder, snoop = client(host, "holder", workers), client(host, "snoop", workers)
            if "landlock-scope" not in snoop.protections:
                pytest.skip(f"landlock-scope is not in force here: {snoop.missing}")
            assert holder.proc is not None and holder.plugin_pid is not None
            targets = [holder.proc.pid, holder.plugin_pid, os.getpid()]
            if workers == "forked":
                targets.append(zygote.zygote_for(sys.executable).proc.pid)
            before = holder.plugin_pid
            said = await call(host, "snoop.attack", pids=targets)
            for pid in targets:  # while the host runs: its end stops the workers
                assert alive(pid), f"process {pid} was stopped or killed by plugin snoop: {said}"
                assert tracer(pid) == 0, f"process {pid} is traced: {said}"
            assert await call(host, "holder.held") is True
            assert holder.plugin_pid == before, "the holder's worker did not survive the attack"
            return dict(said)

    said = asyncio.run(scenario())
    granted = [(pid, attempt) for pid, seen in said.items() for attempt, r in seen.items()
               if r == "ok"]  # fmt: skip
    assert not granted, f"plugin snoop got through: {granted}"


def fds_of(pid: int | str) -> set[tuple[int, int, int]]:
    """(type, device, inode) of every descriptor process ``pid`` holds."""
    found = set()
    folder = Path(f"/proc/{pid}/fd")
    for name in os.listdir(folder):
        try:
            st = os.stat(folder / name)
        except OSError:  # the listing's own descriptor, closed since
            continue
        found.add((stat.S_IFMT(st.st_mode), st.st_dev, st.st_ino))
    return found


def test_a_worker_inherits_no_descriptor_beyond_its_three(
    site: Site, make_host: MakeHost, workers: str, secret: Path
) -> None:
    host = neighbours(site, make_host)
    kept = os.open(secret, os.O_RDONLY)  # the host's, inheritable: no worker may hold it
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    os.set_inheritable(kept, True)
    listener.set_inheritable(True)

    async def scenario() -> tuple[list[list[int]], set[tuple[int, int, int]], set[int]]:
        async with host:
            assert await call(host, "holder.held") is True
            seen = await call(host, "snoop.descriptors")
            snoop = client(host, "snoop", workers)
            pipe = snoop._pipe
            assert pipe is not None and snoop._output is not None
            own = {os.fstat(fd).st_ino for fd in (pipe._read_fd, pipe._write_fd)}
            own.add(os.fstat(snoop._output.read_fd).st_ino)
            others = fds_of("self")
            if workers == "forked":
                others |= fds_of(zygote.zygote_for(sys.executable).proc.pid)
            return seen, others, own

    try:
        seen, others, own = asyncio.run(scenario())
    finally:
        os.close(kept)
        listener.close()
    held = {(kind, dev, ino) for _, kind, dev, ino in seen}
    pipes = {ino for _, kind, _, ino in seen if kind == stat.S_IFIFO}
    assert pipes == own, f"pipes other than its protocol and output pipes: {seen}"
    null = os.stat(os.devnull)
    shared = {
        (kind, dev, ino)
        for kind, dev, ino in held & others
        if ino not in own  # the host's ends of its pipes
        and kind != 0  # anonymous inodes (epoll, eventfd): one inode for all, no tell
        and not (kind == stat.S_IFCHR and ino == null.st_ino)  # its stdin, /dev/null
    }
    assert not shared, f"plugin snoop holds descriptors of the host or the zygote: {shared}"


def test_doctor_reports_the_same_protections_for_forked_and_spawned_workers(
    site: Site, home: Path
) -> None:
    site.plugin("holder", code=HOLDER, manifest=f'[permissions]\nenv = ["{VARIABLE}"]\n')
    enabled = run_cli("enable", "holder", "--yes", "--isolation", "process", site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    reports = {}
    for workers in WORKERS:
        env = {zygote.ZYGOTE_VARIABLE: "1" if workers == "forked" else "0"}
        ran = run_cli("doctor", "--json", site=site, home=home, env=env)
        assert ran.returncode == 0, ran.stderr
        reports[workers] = json.loads(ran.stdout)
    for workers, report in reports.items():
        (stats,) = [s for s in report["stats"] if s["name"] == "holder"]
        assert {w["started"] for w in stats["workers"]} == {workers}, stats

    def protections(report: dict[str, Any]) -> dict[str, Any]:
        (plugin,) = [p for p in report["plugins"] if p["name"] == "holder"]
        proofs = report["proofs"]
        return {
            "protections": plugin["protections"],
            "missing": plugin["missing"],
            "proofs": proofs["status"],
            "proven": {c["protection"]: c["proven"] for c in proofs["checks"]},
        }

    spawned, forked = (protections(reports[w]) for w in WORKERS)
    assert spawned["protections"], spawned
    assert forked == spawned
