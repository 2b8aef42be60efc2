"""Workers forked by the zygote must not inherit what the zygote was handed for other
workers: each fork request carries that worker's environment, granted secrets included,
and whatever the zygote's heap still holds of it is copied into every later child.

Only the child parses its request, and the zygote zeroes its one request buffer after
each fork: the zygote keeps no granted value (the second test reads its memory), so no
later child can inherit one (the first test reads the child's, as a plugin can).

A real zygote, two real plugins: one granted a secret variable, one granted nothing
that reads its own memory (``/proc/self/mem``, its own process: no grant needed) for
the variable's name, and returns what follows each hit.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator

import pytest

from conftest import GUARD_OFF, Site
from jafhost.host.host import Host
from jafhost.runtime.isolation import zygote

MakeHost = Callable[..., Host]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

SECRET = "zygote-heap-secret-4242"
VALUE = "-".join([SECRET] * 1000)  # a key or token: a few kilobytes
VARIABLE = "JAF_ZYGOTE_HELD_SECRET"

HOLDER = """
import os

def held() -> bool:
    return bool(os.environ.get("JAF_ZYGOTE_HELD_SECRET"))

@hookimpl
def jaf_tools():
    return [held]
"""

SNOOP = (
    GUARD_OFF
    + """
def scan(needle: str) -> list[str]:
    _guard_off()  # hostile code: the kernel is the boundary
    found = []
    wanted = needle.encode()
    with open("/proc/self/maps") as maps:
        regions = maps.read().splitlines()
    with open("/proc/self/mem", "rb", buffering=0) as mem:
        for line in regions:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, OverflowError, ValueError):  # [vvar] and the like
                continue
            at = data.find(wanted)
            while at >= 0 and len(found) < 200:
                found.append(data[at : at + 120].decode("latin-1"))
                at = data.find(wanted, at + 1)
    return found

def renew() -> None:
    import os
    os._exit(0)  # its next call is served by a new worker, forked after the holder's

@hookimpl
def jaf_tools():
    return [scan, renew]
"""
)


@pytest.fixture(autouse=True)
def forked_workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(zygote.ZYGOTE_VARIABLE, "1")
    monkeypatch.setenv(VARIABLE, VALUE)
    zygote.stop_all()
    yield
    zygote.stop_all()


def test_a_forked_worker_holds_nothing_of_another_workers_environment(
    site: Site, make_host: MakeHost
) -> None:
    site.plugin("holder", code=HOLDER, manifest=f'[permissions]\nenv = ["{VARIABLE}"]\n')
    site.plugin("snoop", code=SNOOP, manifest="")
    host = make_host(approve=True)
    host.enable(["holder", "snoop"], isolation="process")

    async def scenario() -> list[str]:
        async with host:
            held = await host.call("holder.held", {})
            assert held.ok and held.result is True, held  # the holder's worker got it
            await host.call("snoop.renew", {})
            scanned = await host.call("snoop.scan", {"needle": "zygote-heap-secret"})
            assert scanned.ok, scanned
            hits = list(scanned.result)
            assert hits, "the scan found not even its own request: it proves nothing"
            return hits

    hits = asyncio.run(scenario())
    leaked = [hit for hit in hits if SECRET in hit]
    assert not leaked, f"plugin snoop read the holder's secret in its memory: {leaked[:3]}"


def _occurrences(pid: int, needle: bytes) -> int:
    """How often ``needle`` is in the readable memory of process ``pid`` (read by the
    test, which runs as the zygote's user)."""
    count = 0
    with open(f"/proc/{pid}/maps") as maps:
        regions = maps.read().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in regions:
            fields = line.split()
            if "r" not in fields[1]:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                count += mem.read(end - start).count(needle)
            except (OSError, OverflowError, ValueError):
                continue
    return count


def test_the_zygote_keeps_no_granted_value_after_a_fork(site: Site, make_host: MakeHost) -> None:
    site.plugin("holder", code=HOLDER, manifest=f'[permissions]\nenv = ["{VARIABLE}"]\n')
    host = make_host(approve=True)
    host.enable(["holder"], isolation="process")

    async def scenario() -> int:
        async with host:
            held = await host.call("holder.held", {})
            assert held.ok and held.result is True, held
            return _occurrences(zygote.zygote_for(sys.executable).proc.pid, SECRET.encode())

    assert asyncio.run(scenario()) == 0, "the zygote holds the granted value"
