"""The operator's deny rules cap every grant, in both isolation modes.

A plugin is granted broadly (a folder holding the secret, a loopback port, a program,
an environment variable, ctypes); an administrator's policy file (``JAFHOST_POLICY``)
denies part or all of it. Ground truth: the secret's text never reaches the output, no
listener is hit, no marker file is made, the variable's value never seen. Where the
grant lies wholly inside a rule the worker's sandbox never gets it, so the kernel
refuses even with the guard switched off in the worker; where a rule takes part of a
broader grant the guard refuses it (Landlock cannot subtract: docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import GUARD_OFF, ISOLATION_MODES, Site
from jafhost.host.host import Host
from jafhost.types import CallResult

MakeHost = Callable[..., Host]

PLUGIN = (
    GUARD_OFF
    + '''
import os
import socket
import subprocess


def peek(path: str, guard_off: bool = False) -> str:
    """Read a file."""
    if guard_off:
        _guard_off()
    with open(path) as f:
        return f.read()


def ring(port: int, guard_off: bool = False) -> str:
    """Connect to a loopback port."""
    if guard_off:
        _guard_off()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"hello")
    return "rang"


def touch(path: str, guard_off: bool = False) -> str:
    """Make a marker file through a shell."""
    if guard_off:
        _guard_off()
    subprocess.run(["sh", "-c", "echo x > " + path], check=True, timeout=20)
    return "ran"


def variable(name: str) -> str:
    """An environment variable's value as the plugin sees it."""
    return os.environ.get(name, "<absent>")


def native() -> str:
    """Load the C library through ctypes."""
    import ctypes

    return str(ctypes.CDLL(None).getpid())


def where() -> int:
    return os.getpid()


def update(path: str) -> str:
    """Open a file read-write, read it, and append to it."""
    with open(path, "r+") as f:
        text = f.read()
        f.write("!")
    return text


def on_probe(event) -> None:
    """An event handler: read ``event.data["path"]``, write what came of it to ``out``."""
    try:
        with open(event.data["path"]) as f:
            outcome = "read " + f.read()
    except Exception as exc:
        outcome = "refused " + type(exc).__name__
    with open(event.data["out"], "w") as f:
        f.write(outcome)


@hookimpl
def jaf_tools():
    return [peek, ring, touch, variable, native, where, update]


@hookimpl
def jaf_event_handlers():
    return {"probe.read": on_probe}
'''
)


def _manifest(*grants: str) -> str:
    kinds: dict[str, list[str]] = {}
    flags = []
    for grant in grants:
        kind, _, value = grant.partition(":")
        if not value:
            flags.append(kind)
        else:
            kinds.setdefault(kind, []).append(value)
    lines = ["[permissions]"]
    lines += [f"{kind} = {json.dumps(values)}" for kind, values in kinds.items()]
    lines += [f"{flag} = true" for flag in flags]
    return "\n".join(lines) + "\n"


def _policy(path: Path, *deny: str, isolation: str | None = None) -> Path:
    text = f"[policy]\ndeny = {json.dumps(list(deny))}\n"
    if isolation:
        text += f'isolation = "{isolation}"\n'
    path.write_text(text)
    return path


Capped = Callable[..., tuple[Host, Path]]


@pytest.fixture
def capped(
    site: Site, make_host: MakeHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Capped:
    """``capped(isolation, grants, *deny)``: the plugin enabled with ``grants`` before the
    policy exists (as an operator adding a rule over grants already given), then a host
    under an administrator's policy file denying ``deny``; the host and the file."""

    def make(
        isolation: str, grants: tuple[str, ...], *deny: str, minimum: str | None = None
    ) -> tuple[Host, Path]:
        policy = _policy(tmp_path / "policy.toml", *deny, isolation=minimum)
        site.plugin("cap", code=PLUGIN, manifest=_manifest(*grants))
        first = make_host()
        first.enable(["cap"], approve=lambda info, new: True, isolation=isolation)
        monkeypatch.setenv("JAFHOST_POLICY", str(policy))
        return make_host(), policy

    return make


def _calls(host: Host, *actions: tuple[str, dict[str, Any]]) -> list[CallResult]:
    async def scenario() -> list[CallResult]:
        async with host:
            return [await host.call(name, args) for name, args in actions]

    return asyncio.run(scenario())


def _denied(result: CallResult, rule: str, policy: Path) -> None:
    assert not result.ok and result.error is not None, result
    assert result.error.code == "permission_denied", result.error
    assert f"denied by policy rule {rule} ({policy})" in result.error.message


def _refused(result: CallResult, rule: str, policy: Path, guard_off: bool) -> None:
    """Failed; with the guard on, as ``permission_denied`` naming the rule (with it off
    in a worker, the kernel's refusal is whatever error the plugin's code met)."""
    assert not result.ok, result
    if not guard_off:
        _denied(result, rule, policy)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback TCP listener; the list holds what each connection sent."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    hits: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    hits.append(conn.recv(100))
                except OSError:
                    hits.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_deny_rule_beats_a_broader_read_grant(
    capped: Capped,
    secret: Path,
    tmp_path: Path,
    isolation: str,
) -> None:
    allowed = tmp_path / "notes.txt"
    allowed.write_text("fine to read")
    host, policy = capped(isolation, (f"read:{tmp_path}",), f"read:{secret.parent}")
    assert host.isolation_of("cap") == isolation
    read, denied = _calls(
        host, ("cap.peek", {"path": str(allowed)}), ("cap.peek", {"path": str(secret)})
    )
    assert read.ok and read.result == "fine to read", read
    _denied(denied, f"read:{secret.parent}", policy)
    assert "TOP-SECRET-KEY" not in json.dumps(denied.to_json())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_read_grant_inside_a_deny_rule_is_gone_even_from_the_kernel(
    capped: Capped,
    secret: Path,
    tmp_path: Path,
    isolation: str,
) -> None:
    """In a worker the guard is switched off: only the sandbox stands, built without
    the grant the rule covers whole."""
    host, policy = capped(isolation, (f"read:{secret.parent}",), f"read:{tmp_path}")
    guard_off = isolation == "process"
    (result,) = _calls(host, ("cap.peek", {"path": str(secret), "guard_off": guard_off}))
    _refused(result, f"read:{tmp_path}", policy, guard_off)
    assert "TOP-SECRET-KEY" not in json.dumps(result.to_json())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_net_grant_matched_by_a_deny_rule_reaches_no_listener(
    capped: Capped,
    isolation: str,
    listener: tuple[int, list[bytes]],
) -> None:
    port, hits = listener
    host, policy = capped(isolation, (f"net:127.0.0.1:{port}",), "net:127.0.0.1")
    guard_off = isolation == "process"
    (result,) = _calls(host, ("cap.ring", {"port": port, "guard_off": guard_off}))
    _refused(result, "net:127.0.0.1", policy, guard_off)
    assert hits == []


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_net_deny_rule_narrows_a_wildcard_grant(
    capped: Capped,
    isolation: str,
    listener: tuple[int, list[bytes]],
) -> None:
    port, hits = listener
    host, policy = capped(isolation, ("net:127.0.0.1:*",), f"net:127.0.0.1:{port}")
    (result,) = _calls(host, ("cap.ring", {"port": port}))
    _denied(result, f"net:127.0.0.1:{port}", policy)
    assert hits == []


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_run_star_denies_every_program(
    capped: Capped,
    tmp_path: Path,
    isolation: str,
) -> None:
    marker = tmp_path / "marker"
    grants = ("run:sh", f"write:{tmp_path}")
    host, policy = capped(isolation, grants, "run:*")
    guard_off = isolation == "process"
    (result,) = _calls(host, ("cap.touch", {"path": str(marker), "guard_off": guard_off}))
    _refused(result, "run:*", policy, guard_off)
    assert not marker.exists()


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_an_env_deny_rule_hides_a_granted_variable(
    capped: Capped,
    isolation: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAP_TOKEN_SECRET", "VERY-SECRET-TOKEN")
    monkeypatch.setenv("CAP_TOKEN_PUBLIC", "public-value")
    host, _ = capped(isolation, ("env:CAP_TOKEN_*",), "env:CAP_TOKEN_S*")
    hidden, shown = _calls(
        host,
        ("cap.variable", {"name": "CAP_TOKEN_SECRET"}),
        ("cap.variable", {"name": "CAP_TOKEN_PUBLIC"}),
    )
    assert shown.ok and shown.result == "public-value", shown
    assert "VERY-SECRET-TOKEN" not in json.dumps(hidden.to_json())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_an_ffi_deny_rule_takes_ctypes_away(
    capped: Capped,
    isolation: str,
) -> None:
    host, policy = capped(isolation, ("ffi",), "ffi")
    (result,) = _calls(host, ("cap.native", {}))
    _denied(result, "ffi", policy)


def test_config_toml_cannot_loosen_an_administrators_policy(
    capped: Capped, secret: Path, home: Path, tmp_path: Path
) -> None:
    """``config.toml`` with an empty ``[policy]`` and ``[host] isolation = "inprocess"``,
    a plugin enabled ``--isolation inprocess`` before the policy: the administrator's
    deny rule and minimum isolation still hold."""
    (home / "config.toml").write_text(
        '[host]\nisolation = "inprocess"\n\n[policy]\ndeny = []\nisolation = "inprocess"\n'
    )
    rule = f"read:{secret.parent}"
    host, policy = capped("inprocess", (f"read:{tmp_path}",), rule, minimum="process")
    assert host.isolation_of("cap") == "process"
    pid, denied = _calls(host, ("cap.where", {}), ("cap.peek", {"path": str(secret)}))
    assert pid.ok and pid.result != os.getpid(), pid
    _denied(denied, f"read:{secret.parent}", policy)
    assert "TOP-SECRET-KEY" not in json.dumps(denied.to_json())


def test_registering_in_memory_is_refused_under_a_process_minimum(
    make_host: MakeHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object the program hands over runs in the host's process: not allowed when the
    operator demands workers for every plugin."""
    from jafhost import hookimpl
    from jafhost.errors import PluginError

    class Local:
        @hookimpl
        def jaf_tools(self) -> list[Any]:
            return []

    policy = _policy(tmp_path / "policy.toml", isolation="process")
    monkeypatch.setenv("JAFHOST_POLICY", str(policy))
    host = make_host()
    with pytest.raises(PluginError, match=f'policy .{policy}. sets .policy. isolation = "process"'):
        host.register(Local(), name="local", grant=True)
    assert [v.name for v in host.plugins()] == []


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_read_rule_is_not_bypassed_through_a_write_grant(
    capped: Capped,
    secret: Path,
    tmp_path: Path,
    isolation: str,
) -> None:
    """A file opened read-write is read through the same handle: under a read rule, a
    broader write grant does not open it."""
    host, policy = capped(isolation, (f"write:{tmp_path}",), f"read:{secret.parent}")
    (result,) = _calls(host, ("cap.update", {"path": str(secret)}))
    _denied(result, f"read:{secret.parent}", policy)
    assert "TOP-SECRET-KEY" not in json.dumps(result.to_json())
    assert secret.read_text() == "TOP-SECRET-KEY"


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_an_event_handler_is_capped_too(
    capped: Capped,
    secret: Path,
    tmp_path: Path,
    isolation: str,
) -> None:
    out = tmp_path / "outcome.txt"
    grants = (f"read:{tmp_path}", f"write:{tmp_path}")
    host, _ = capped(isolation, grants, f"read:{secret.parent}")

    async def scenario() -> None:
        async with host:
            await host.emit("probe.read", {"path": str(secret), "out": str(out)})

    asyncio.run(scenario())
    assert out.read_text() == "refused PermissionDenied"
