"""Length-prefixed frames up to ``[host] max_result_mb``, on both ends of the worker pipe.

The framing itself (``protocol.FrameReader``, ``Channel``, ``pipe.Pipe``) is tested on
plain pipes. Then a process-isolated plugin, whose code can reach the protocol pipe its
worker answers on (found as an attacker would, like ``test_protocol_forgery``), writes a
header announcing 4 GiB, an endless line without a header (the old protocol's attack),
or a header under the limit followed by a body without end: the host refuses the frame
before reading its body or stops at its announced end, its peak memory stays bounded
(measured in a fresh process: ``VmHWM``), the call fails with a clear error and the
next call gets a new worker. A result just under the limit passes; one over it is
refused by the worker itself; arguments over the limit are refused before they are sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from conftest import PROTOCOL_FD, Site
from jafhost.home.config import HostSettings
from jafhost.runtime.isolation.pipe import Pipe, ProtocolViolation, TooLarge
from jafhost.runtime.isolation.protocol import (
    MB,
    Channel,
    FrameReader,
    FrameTooLarge,
    decode,
    encode,
    frame,
)

LINUX = sys.platform.startswith("linux")

# -- the framing ---------------------------------------------------------------------------


def test_a_frame_is_a_big_endian_length_then_the_json() -> None:
    body = encode({"id": 7, "ok": True, "result": "é"})
    data = frame(body)
    assert data[:4] == struct.pack(">I", len(body)) and data[4:] == body
    reader = FrameReader(limit=MB)
    assert reader.feed(data) == 1
    assert decode(reader.frames.popleft()) == {"id": 7, "ok": True, "result": "é"}
    assert not reader.partial


@pytest.mark.parametrize("step", [1, 2, 3, 5, 4096])
def test_frames_arrive_in_pieces_of_any_size(step: int) -> None:
    """Split headers, split bodies, several frames in one piece, an empty body."""
    messages = [{"n": n, "text": "x" * n * 37} for n in range(20)]
    data = b"".join(frame(encode(m)) for m in messages) + frame(b"")
    reader = FrameReader(limit=MB)
    for start in range(0, len(data), step):
        reader.feed(data[start : start + step])
    bodies = list(reader.frames)
    assert [decode(b) for b in bodies[:-1]] == messages
    assert bodies[-1] == b"" and not reader.partial


def test_a_header_over_the_limit_is_refused_before_its_body() -> None:
    reader = FrameReader(limit=1000)
    header = struct.pack(">I", 1001)
    reader.feed(header[:3])
    assert reader.partial and reader.missing == 1
    with pytest.raises(FrameTooLarge) as raised:
        reader.feed(header[3:] + b"x" * 1001)
    assert raised.value.size == 1001 and raised.value.limit == 1000
    exact = FrameReader(limit=1000)
    exact.feed(frame(b"1" * 1000))
    assert len(exact.frames) == 1


def test_a_frame_over_the_limit_is_never_built() -> None:
    with pytest.raises(FrameTooLarge):
        frame(b"x" * 11, limit=10)
    assert len(frame(b"x" * 10, limit=10)) == 14


def test_a_large_frame_is_read_in_linear_time() -> None:
    """50 MB in 64 KB pieces: no piece copies what came before it (the old protocol
    searched the whole buffer for a newline at each piece)."""
    import time

    body = b'"' + b"A" * (50 * MB) + b'"'
    data = memoryview(frame(body))
    reader = FrameReader(limit=64 * MB)
    began = time.perf_counter()
    for start in range(0, len(data), 1 << 16):
        reader.feed(data[start : start + (1 << 16)])
    assert time.perf_counter() - began < 2.0
    assert reader.frames.popleft() == body


def test_the_workers_channel_speaks_frames_and_keeps_its_limit() -> None:
    host_read, worker_write = os.pipe()
    worker_read, host_write = os.pipe()
    channel = Channel(worker_read, worker_write, limit=100)
    try:
        os.write(host_write, frame(encode({"op": "ping", "id": 1})))
        assert channel.receive() == {"op": "ping", "id": 1}
        channel.send({"id": 1, "ok": True})
        reader = FrameReader(limit=100)
        reader.feed(os.read(host_read, 1000))
        assert decode(reader.frames.popleft()) == {"id": 1, "ok": True}
        with pytest.raises(FrameTooLarge):  # nothing is written
            channel.send({"id": 2, "result": "x" * 100})
        os.set_blocking(host_read, False)
        with pytest.raises(BlockingIOError):
            os.read(host_read, 10)
        os.write(host_write, struct.pack(">I", 101))
        with pytest.raises(FrameTooLarge):  # refused before its body
            channel.receive()
        os.close(host_write)
        assert channel.receive() is None  # the host closed its end
    finally:
        os.close(host_read)
        channel._reader.close()
        os.close(worker_write)


def pipe_pair(limit: int) -> tuple[Pipe, int, int, list[dict[str, Any]]]:
    """A host ``Pipe`` and the worker's two descriptors (it writes, it reads)."""
    host_read, worker_write = os.pipe()
    worker_read, host_write = os.pipe()
    os.set_blocking(host_read, False)
    os.set_blocking(host_write, False)
    notices: list[dict[str, Any]] = []
    return (
        Pipe(host_read, host_write, notices.append, limit=limit),
        worker_write,
        worker_read,
        notices,
    )


def test_the_hosts_pipe_reads_replies_and_notices_in_frames() -> None:
    pipe, write, read, notices = pipe_pair(limit=1000)

    async def run() -> dict[str, Any]:
        pipe.before_request()
        await pipe.send({"op": "ping", "id": 1})
        os.write(write, frame(encode({"op": "emit", "name": "e"}))[:3])  # a split header
        os.write(write, frame(encode({"op": "emit", "name": "e"}))[3:])
        reply = frame(encode({"id": 1, "ok": True}))
        os.write(write, reply[:6])
        asyncio.get_running_loop().call_later(0.05, os.write, write, reply[6:])
        return await pipe.receive(1)

    try:
        assert asyncio.run(run()) == {"id": 1, "ok": True}
        assert notices == [{"op": "emit", "name": "e"}]
        reader = FrameReader(limit=1000)
        reader.feed(os.read(read, 1000))
        assert decode(reader.frames.popleft()) == {"op": "ping", "id": 1}
    finally:
        pipe.close()
        os.close(write)
        os.close(read)


def test_a_reply_begun_before_its_request_is_a_violation() -> None:
    """Half a reply on the pipe before the request is written cannot answer it."""
    pipe, write, read, _ = pipe_pair(limit=1000)
    reply = frame(encode({"id": 1, "ok": True}))

    async def run() -> dict[str, Any]:
        os.write(write, reply[:2])
        pipe.before_request()
        await pipe.send({"op": "ping", "id": 1})
        os.write(write, reply[2:])
        return await pipe.receive(1)

    try:
        with pytest.raises(ProtocolViolation, match="written before its request"):
            asyncio.run(run())
    finally:
        pipe.close()
        os.close(write)
        os.close(read)


def test_the_hosts_pipe_refuses_a_frame_over_its_limit_both_ways() -> None:
    pipe, write, read, _ = pipe_pair(limit=1000)

    async def run() -> dict[str, Any]:
        with pytest.raises(FrameTooLarge):
            await pipe.send({"op": "call", "id": 1, "args": {"x": "y" * 1000}})
        pipe.before_request()
        await pipe.send({"op": "ping", "id": 1})
        os.write(write, struct.pack(">I", 1 << 31) + b"A" * 4096)
        return await pipe.receive(1)

    try:
        with pytest.raises(TooLarge) as raised:
            asyncio.run(run())
        assert raised.value.size == 1 << 31
        reader = FrameReader(limit=1000)  # only the ping was written
        reader.feed(os.read(read, 10000))
        assert [decode(b) for b in reader.frames] == [{"op": "ping", "id": 1}]
    finally:
        pipe.close()
        os.close(write)
        os.close(read)


def test_max_result_mb_is_validated() -> None:
    assert HostSettings().max_result_mb == 64
    assert HostSettings(max_result_mb=8).max_result_mb == 8
    for bad in (0, -1, 4096):
        with pytest.raises(ValidationError):
            HostSettings(max_result_mb=bad)


# -- a plugin against the host ----------------------------------------------------------------

WRITER = (
    """
import fcntl, os, stat, struct

MB = 1024 * 1024


"""
    + PROTOCOL_FD
    + '''

def flood(how: str) -> str:
    """Write straight to the protocol pipe, without end (until the host stops this)."""
    fd = _protocol_fd()
    chunk = b"A" * MB
    if how == "huge-header":  # 4 GiB announced
        os.write(fd, struct.pack(">I", 0xFFFFFFFF))
    elif how == "endless-body":  # under the limit announced, then more than that
        os.write(fd, struct.pack(">I", 7 * MB) + b'"')
    # "endless-line": what the old protocol read without limit (a header of 'AAAA')
    while True:
        os.write(fd, chunk)


def sized(mb: float, margin: int = 0) -> str:
    """A string result whose reply frame is ``margin`` bytes under ``mb`` MB."""
    return "A" * (int(mb * MB) - margin)


def echo(text: str) -> int:
    """The length of its argument."""
    return len(text)


def pid() -> int:
    return int(os.readlink("/proc/self"))  # as the host sees it (getpid() is the PID namespace's)


@hookimpl
def jaf_tools():
    return [flood, sized, echo, pid]
'''
)

CHILD = """
import asyncio, json, sys
from jafhost.host.host import Host

home, site, calls = sys.argv[1], sys.argv[2], json.load(sys.stdin)

async def main():
    host = Host(home, paths=[site], hook_timeout=5)
    host.enable(["writer"], isolation="process")
    results = []
    async with host:
        await host.call("writer.pid", {})
        for tool, args in calls:
            results.append((await host.call(tool, args)).to_json())
    return results

results = asyncio.run(main())
# VmHWM: this process's own peak RSS (ru_maxrss would count the parent's pages at fork)
with open("/proc/self/status") as status:
    [peak_kb] = [int(l.split()[1]) for l in status if l.startswith("VmHWM:")]
peak_mb = peak_kb / 1024
print(json.dumps({"results": results, "peak_mb": peak_mb}))
"""

Calls = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def run_host(home: Path, site: Site) -> Callable[..., dict[str, Any]]:
    """Run ``calls`` on a host in a fresh process (its peak RSS is its own)."""
    site.plugin("writer", code=WRITER)

    def run(calls: Calls, config: str = "max_result_mb = 8\n") -> dict[str, Any]:
        (home / "config.toml").write_text(f"[host]\ncall_timeout = 20\n{config}")
        env = {k: v for k, v in os.environ.items() if k != "JAFHOST_DEBUG"}
        env["PYTHONPATH"] = str(site.root)
        ran = subprocess.run(
            [sys.executable, "-c", CHILD, str(home), str(site.root)], input=json.dumps(calls),
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        return json.loads(ran.stdout.strip().splitlines()[-1])

    return run


def failed(result: dict[str, Any]) -> str:
    assert not result["ok"], result
    assert result["error"]["code"] == "tool_error", result
    return str(result["error"]["message"])


pytestmark_linux = pytest.mark.skipif(not LINUX, reason="Linux workers")


@pytestmark_linux
@pytest.mark.parametrize("how", ["huge-header", "endless-line", "endless-body"])
def test_a_flood_on_the_protocol_pipe_keeps_the_hosts_memory_bounded(
    how: str, run_host: Callable[..., dict[str, Any]]
) -> None:
    ran = run_host([("writer.pid", {}), ("writer.flood", {"how": how}),
                    ("writer.pid", {}), ("writer.pid", {})])  # fmt: skip
    first, flooded, after, again = ran["results"]
    message = failed(flooded)
    if how == "endless-body":  # 7 MB read, then not JSON (nor a frame after it)
        assert "plugin writer: its worker broke the protocol" in message, message
    else:
        assert message == (
            "plugin writer: its result is larger than [host] max_result_mb = 8 MB; "
            "the worker was stopped and a new one starts on the next call"
        )
    assert after["ok"] and after["result"] != first["result"], after
    assert again["result"] == after["result"]
    assert ran["peak_mb"] < 150, ran["peak_mb"]


@pytestmark_linux
def test_results_up_to_max_result_mb_pass_and_larger_ones_fail(
    run_host: Callable[..., dict[str, Any]],
) -> None:
    """With ``max_result_mb = 8``: a reply frame 64 bytes under 8 MB passes; 9 MB (which
    the default of 64 would let through) is refused by the worker, which carries on."""
    ran = run_host([("writer.pid", {}), ("writer.sized", {"mb": 8, "margin": 64}),
                    ("writer.sized", {"mb": 9}), ("writer.pid", {})])  # fmt: skip
    _, under, over, after = ran["results"]
    assert under["ok"] and len(under["result"]) == 8 * MB - 64
    message = failed(over)
    assert "plugin writer: its result is larger than [host] max_result_mb = 8 MB" in message
    assert after["ok"]


@pytestmark_linux
def test_a_larger_max_result_mb_is_honoured(run_host: Callable[..., dict[str, Any]]) -> None:
    ran = run_host([("writer.sized", {"mb": 1}), ("writer.sized", {"mb": 1.5})],
                   config="max_result_mb = 2\n")  # fmt: skip
    one, more = ran["results"]
    assert one["ok"] and more["ok"] and len(more["result"]) == int(1.5 * MB)
    ran = run_host([("writer.sized", {"mb": 1.5})], config="max_result_mb = 1\n")
    assert "max_result_mb = 1 MB" in failed(ran["results"][0])


@pytestmark_linux
def test_arguments_over_max_result_mb_are_refused_before_they_are_sent(
    run_host: Callable[..., dict[str, Any]],
) -> None:
    ran = run_host([("writer.pid", {}), ("writer.echo", {"text": "x" * (2 * MB)}),
                    ("writer.echo", {"text": "x" * 1000}), ("writer.pid", {})],
                   config="max_result_mb = 1\n")  # fmt: skip
    first, big, small, after = ran["results"]
    assert "is larger than [host] max_result_mb = 1 MB" in failed(big)
    assert small["ok"] and small["result"] == 1000
    assert after["result"] == first["result"]  # the same worker: nothing was written
