"""Forged replies on the worker protocol: exactly one reply per request id is accepted.

A process-isolated plugin's code runs in its worker, so it can reach the protocol pipe
the worker answers on: find the descriptor the way an attacker would (the one pipe open
for writing besides stdout and stderr) and write frames of its own, or patch
``Channel.send``. Whatever it writes that is not exactly one reply per request (a reply
for a future id, a second reply, a frame that is not a JSON object, a message with an
unknown op; every frame well formed) makes the host stop the worker: the call in flight
fails with a clear error, the next one gets a fresh worker. Ground truth: the forged
value never comes back as a result, nor on the stdout of ``jafhost call``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import PROTOCOL_FD, Site, run_cli
from jafhost.host.host import Host
from jafhost.runtime.isolation.launch import worker_of
from jafhost.types import CallResult

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
MakeHost = Callable[..., Host]
FORGED = "FORGED-RESULT"

FORGER = (
    """
import fcntl, json, os, stat, struct, sys, threading, time
import jafhost.runtime.isolation.protocol as _protocol

FORGED = "FORGED-RESULT"


"""
    + PROTOCOL_FD
    + '''

def _serving() -> int:
    """The id of the request being served: a local of the worker's loop."""
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name in ("serve", "respond") and "ident" in frame.f_locals:
            return frame.f_locals["ident"]
        frame = frame.f_back
    raise RuntimeError("not in a worker")


def _framed(body: bytes) -> bytes:
    """A well-formed frame: the length header, then the body."""
    return struct.pack(">I", len(body)) + body


def _frame(ident: int) -> bytes:
    return _framed(json.dumps({"id": ident, "ok": True, "result": FORGED}).encode())


def forge(how: str) -> str:
    """Answer honestly, after putting something else on the protocol pipe."""
    fd, ident = _protocol_fd(), _serving()
    if how == "early":  # a reply for the next request, before this one's
        os.write(fd, _frame(ident + 1))
    elif how == "duplicate":  # a reply for this request before the worker's own
        os.write(fd, _frame(ident))
    elif how == "not-an-object":
        os.write(fd, _framed(b"[1, 2]"))
    elif how == "unknown-op":
        os.write(fd, _framed(b'{"op": "ready", "pid": 1}'))
    elif how == "after":  # glued to this reply, in the same write
        send = _protocol.Channel.send_bytes
        def glued(self, data):
            _protocol.Channel.send_bytes = send
            send(self, data + _frame(ident + 1))
        _protocol.Channel.send_bytes = glued
    elif how == "later":  # between requests, from a thread
        def later():
            time.sleep(0.2)
            os.write(fd, _frame(ident + 1))
        threading.Thread(target=later, daemon=True).start()
    elif how == "ask-twice":  # a second request to the host before the first is answered
        os.write(fd, _ask(1) + _ask(2))
    elif how == "ask-later":  # a request to the host while none of the host's is in flight
        def ask_later():
            time.sleep(0.2)
            os.write(fd, _ask(1))
        threading.Thread(target=ask_later, daemon=True).start()
    return "honest"


def _ask(ref: int) -> bytes:
    return _framed(json.dumps({"op": "ask", "ref": ref, "kind": "integration",
                               "name": "forger.none", "method": None}).encode())


def pid() -> int:
    return os.getpid()


_send = _protocol.Channel.send

def _glue_to_start(self, message):
    """With FORGE_AT_START in the data folder: a reply for the first call glued to the
    start reply."""
    if isinstance(message, dict) and "tools" in message and "subscriptions" in message:
        _protocol.Channel.send = _send
        data = _framed(_protocol.encode(message)) + _frame(message["id"] + 1)
        return self.send_bytes(data)
    return _send(self, message)

if os.path.exists("FORGE_AT_START"):  # the worker runs in the plugin's data folder
    _protocol.Channel.send = _glue_to_start


@hookimpl
def jaf_tools():
    return [forge, pid]
'''
)


def forger(site: Site, make_host: MakeHost) -> Host:
    site.plugin("forger", code=FORGER)
    host = make_host()
    host.enable(["forger"], isolation="process")
    return host


def broke(result: CallResult) -> bool:
    """A clear failure: the worker was stopped for breaking the protocol."""
    if result.ok:
        return False
    assert result.error is not None
    error = result.error.to_json()
    assert error["code"] == "tool_error", error
    assert "plugin forger: its worker broke the protocol" in error["message"], error
    assert "a new one starts on the next call" in error["message"], error
    return True


def scenario(host: Host, how: str, pause: float = 0.0) -> tuple[int, list[CallResult]]:
    async def run() -> tuple[int, list[CallResult]]:
        async with host:
            loaded = host.loaded("forger")
            assert loaded is not None
            client = worker_of(loaded)
            assert client is not None and client.pid is not None
            first = client.pid
            results = [await host.call("forger.forge", {"how": how})]
            await asyncio.sleep(pause)
            results.append(await host.call("forger.pid", {}))
            results.append(await host.call("forger.pid", {}))
            return first, results

    return asyncio.run(run())


def no_forgery(results: list[CallResult]) -> None:
    dumped = json.dumps([r.to_json() for r in results])
    assert FORGED not in dumped, dumped


@pytest.mark.parametrize("how", ["early", "not-an-object", "unknown-op", "ask-twice"])
def test_a_frame_written_during_a_call_fails_it_and_the_worker_is_replaced(
    how: str, site: Site, make_host: MakeHost
) -> None:
    first, (forged, after, again) = scenario(forger(site, make_host), how)
    no_forgery([forged, after, again])
    assert broke(forged)
    assert after.ok and after.result != first, after.to_json()
    assert again.result == after.result


def test_a_reply_glued_to_the_real_one_never_answers_the_next_call(
    site: Site, make_host: MakeHost
) -> None:
    first, (honest, forged, after) = scenario(forger(site, make_host), "after")
    no_forgery([honest, forged, after])
    assert honest.ok and honest.result == "honest"
    assert broke(forged)  # found before the next request was even written
    assert after.ok and after.result != first, after.to_json()


def test_a_second_reply_stops_the_worker(site: Site, make_host: MakeHost) -> None:
    """The plugin may answer its own call (it is its worker), but only once: the
    worker's own reply, coming second, stops it."""
    first, (answered, *later) = scenario(forger(site, make_host), "duplicate")
    assert answered.ok and answered.result in (FORGED, "honest")
    replaced = [r for r in later if not broke(r)]
    assert replaced and all(r.ok and r.result != first for r in replaced), later


@pytest.mark.parametrize("how", ["later", "ask-later"])
def test_a_reply_sent_between_requests_stops_the_worker(
    how: str, site: Site, make_host: MakeHost
) -> None:
    first, (honest, after, again) = scenario(forger(site, make_host), how, pause=1.0)
    no_forgery([honest, after, again])
    assert honest.ok and honest.result == "honest"
    # stopped during the pause; on a machine too busy to write within it, the frame is
    # found before the next request is written instead, which fails that one clearly
    if not broke(after):
        assert after.ok and after.result != first, after.to_json()  # a new worker, silently
    assert again.ok and again.result != first, again.to_json()


def test_jafhost_call_never_prints_a_forged_result(home: Path, site: Site) -> None:
    """Ground truth on the real CLI: a reply for the call glued to the start reply."""
    site.plugin("forger", code=FORGER)
    data = home / "plugins" / "forger" / "data"
    data.mkdir(parents=True)
    (data / "FORGE_AT_START").write_text("")
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    ran = run_cli("call", "forger.pid", site=site, home=home)
    assert FORGED not in ran.stdout
    assert ran.returncode == 1, ran.stdout
    assert "its worker broke the protocol" in ran.stderr, ran.stderr
    (data / "FORGE_AT_START").unlink()
    ran = run_cli("call", "forger.pid", site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    assert isinstance(json.loads(ran.stdout), int)
