"""The audit-log plugin in a real host, through the ``jafhost_factory`` fixture of
``jafhost.testing`` (the pytest plugin jafhost registers; no conftest needed).

Needs the distribution installed (``pip install -e sample_plugins/jaf-plugin-audit-log``).
The audited tools belong to test-only plugins, real distributions (``*.dist-info`` with
a ``jaf.plugins`` entry point, plus their packages) written to a temporary folder put on
``sys.path`` for this module, as pip would lay them out:

- ``calc``: tools that succeed, fail, read a file (denied: it is granted nothing) and take
  secrets as arguments. Its name sorts after ``audit-log`` and neither depends on the
  other, so the host activates audit-log first (activation order: dependencies, then
  name) and the trail has calc's ``plugin.activated``.
- ``aardvark``: sorts before ``audit-log``, so it is activated before the audit plugin
  subscribes: its ``plugin.activated`` is not in the trail, its calls still are.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Factory = Callable[..., Any]

CALC = '''
import time
from jafhost import ToolError, hookimpl


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def fail(message: str) -> None:
    """Always fails."""
    raise ValueError(message)


def refuse(reason: str) -> None:
    """Fails with a chosen structured error code."""
    raise ToolError(reason, code="invalid_arguments")


def peek(path: str) -> str:
    """Read a file (calc is granted nothing, so only its own data folder works)."""
    with open(path) as handle:
        return handle.read()


def login(user: str, password: str, options: dict | None = None) -> str:
    """Takes secrets that must never reach the audit trail."""
    return f"welcome {user}"


def nap(seconds: float) -> str:
    time.sleep(seconds)
    return "rested"


@hookimpl
def jaf_tools():
    return [add, fail, refuse, peek, login, nap]
'''

AARDVARK = '''
from jafhost import hookimpl


def dig(depth: int = 1) -> str:
    """Dig a hole."""
    return "hole" * depth


@hookimpl
def jaf_tools():
    return [dig]
'''


def _install(site: Path, name: str, code: str) -> None:
    module = f"jaf_test_audit_{name}"
    (site / module).mkdir()
    (site / module / "__init__.py").write_text(textwrap.dedent(code))
    (site / module / "jaf-plugin.toml").write_text('[plugin]\nkinds = ["tool"]\n')
    dist_info = site / f"jaf_test_audit_{name}-1.0.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: jaf-test-audit-{name}\nVersion: 1.0.0\n"
        "Requires-Dist: jafhost>=0.1,<1\n\n"
    )
    (dist_info / "entry_points.txt").write_text(f"[jaf.plugins]\n{name} = {module}\n")
    (dist_info / "RECORD").write_text("")


@pytest.fixture(scope="module", autouse=True)
def audited_plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    site = tmp_path_factory.mktemp("audit-test-site")
    _install(site, "calc", CALC)
    _install(site, "aardvark", AARDVARK)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    yield site
    sys.path.remove(str(site))
    importlib.invalidate_caches()


def _recent(host: Any, **arguments: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = host.call_ok("audit-log.recent", {"limit": 1000, **arguments})
    return result


def _wait_for(host: Any, kind: str, count: int = 1) -> list[dict[str, Any]]:
    """Events such as ``permission.denied`` are published on the host's loop just after
    the call that caused them returns: give them a moment."""
    deadline = time.monotonic() + 5
    while True:
        found = _recent(host, kind=kind)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def _trail(home: Path) -> list[dict[str, Any]]:
    path = home / "plugins" / "audit-log" / "data" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_needs_only_observe_and_is_activated_first(jafhost_factory: Factory) -> None:
    host = jafhost_factory("audit-log", "calc")
    view = host.plugin("audit-log")
    assert (view.status, view.runtime, view.info.permissions) == ("enabled", "active", ("observe",))
    assert view.info.kinds == ("event", "tool")
    assert host.active == ["audit-log", "calc"]
    assert [t.full_name for t in host.tools(["audit-log.*"])] == ["audit-log.recent"]


def test_trail_records_success_failure_denial_and_redacts(
    jafhost_factory: Factory, jafhost_home: Path, tmp_path: Path
) -> None:
    secret_file = tmp_path / "outside" / "secret.txt"
    secret_file.parent.mkdir()
    secret_file.write_text("top secret")
    host = jafhost_factory("audit-log", "calc")

    assert host.call_ok("calc.add", {"a": 2, "b": 3}) == 5
    failed = host.call("calc.fail", {"message": "boom"})
    assert failed.error.code == "tool_error"
    denied = host.assert_denied(
        "calc.peek", {"path": str(secret_file)}, permission=f"read:{secret_file.resolve()}"
    )
    refused = host.call("calc.refuse", {"reason": "no such thing"})
    assert refused.error.code == "invalid_arguments"
    assert (
        host.call_ok(
            "calc.login",
            {"user": "ann", "password": "hunter2", "options": {"api_token": "t0k3n", "n": 1}},
        )
        == "welcome ann"
    )

    calls = _recent(host, kind="call")
    assert [(c["tool"], c["ok"]) for c in calls] == [
        ("calc.add", True),
        ("calc.fail", False),
        ("calc.peek", False),
        ("calc.refuse", False),
        ("calc.login", True),
    ]
    add, fail, peek, refuse, login = calls
    assert add["arguments"] == {"a": 2, "b": 3}
    assert add["plugin"] == "calc" and "error" not in add
    assert all(c["caller"] == "api" and c["agent"] is None for c in calls)
    assert all(c["duration_ms"] >= 0 for c in calls)
    assert len({c["id"] for c in calls}) == 5 and all(c["id"].startswith("call-") for c in calls)
    assert fail["error"] == {"code": "tool_error", "message": "ValueError: boom"}
    assert peek["error"]["code"] == "permission_denied"
    assert peek["error"]["permission"] == denied.permission == f"read:{secret_file.resolve()}"
    assert refuse["error"]["code"] == "invalid_arguments"
    assert login["arguments"] == {
        "user": "ann",
        "password": "[redacted]",
        "options": {"api_token": "[redacted]", "n": 1},
    }

    [denial] = _wait_for(host, "permission.denied")
    assert denial["source"] == "host"
    assert denial["data"]["plugin"] == "calc"
    assert denial["data"]["permission"] == f"read:{secret_file.resolve()}"
    assert str(secret_file) in denial["data"]["action"]

    # the host's own tool.* events: one per call, in order
    events = [(e["kind"], e["data"]["tool"]) for e in _recent(host, kind="tool.*")]
    assert events == [
        ("tool.called", "calc.add"),
        ("tool.failed", "calc.fail"),
        ("tool.failed", "calc.peek"),
        ("tool.failed", "calc.refuse"),
        ("tool.called", "calc.login"),
    ]
    host.close()
    raw = (jafhost_home / "plugins" / "audit-log" / "data" / "audit.jsonl").read_text()
    assert "hunter2" not in raw and "t0k3n" not in raw and "top secret" not in raw


def test_calls_refused_before_any_tool_ran_are_in_the_tool_events(
    jafhost_factory: Factory,
) -> None:
    # in process: a worker plugin's arguments are validated in its worker, after middleware
    host = jafhost_factory("audit-log", "calc", isolation="inprocess")
    assert host.call("calc.add", {"a": "x"}).error.code == "invalid_arguments"
    assert host.call("calc.nope").error.code == "not_found"
    assert _recent(host, kind="call") == []  # no tool ran, so the wrapper saw nothing
    failures = _recent(host, kind="tool.failed")
    assert [(e["data"]["tool"], e["data"]["error"]["code"]) for e in failures] == [
        ("calc.add", "invalid_arguments"),
        ("calc.nope", "not_found"),
    ]


def test_timeouts_are_recorded(jafhost_factory: Factory) -> None:
    host = jafhost_factory("audit-log", "calc")
    assert host.call("calc.nap", {"seconds": 2}, timeout=0.2).error.code == "timeout"
    deadline = time.monotonic() + 5
    calls: list[dict[str, Any]] = []
    while not calls and time.monotonic() < deadline:
        calls = _recent(host, kind="call")  # written when the tool gives up
        time.sleep(0.05)
    [call] = calls
    assert (call["tool"], call["ok"], call["error"]["code"]) == ("calc.nap", False, "timeout")


def test_recent_returns_entries_in_order(jafhost_factory: Factory) -> None:
    host = jafhost_factory("audit-log", "calc")
    for a in range(5):
        host.call_ok("calc.add", {"a": a, "b": 0})
    everything = _recent(host)
    times = [e["time"] for e in everything]
    assert times == sorted(times)
    last_two = host.call_ok("audit-log.recent", {"limit": 2, "kind": "call"})
    assert [e["arguments"]["a"] for e in last_two] == [3, 4]
    assert host.call("audit-log.recent", {"limit": 0}).error.code == "invalid_arguments"


def test_plugin_events_follow_activation_order(
    jafhost_factory: Factory, jafhost_home: Path
) -> None:
    host = jafhost_factory("audit-log", "calc", "aardvark")
    assert host.active == ["aardvark", "audit-log", "calc"]  # no dependencies: by name
    assert host.call_ok("aardvark.dig", {"depth": 2}) == "holehole"
    activated = [e["data"]["plugin"] for e in _recent(host, kind="plugin.activated")]
    assert activated == ["audit-log", "calc"]  # aardvark started before audit-log listened
    assert [c["tool"] for c in _recent(host, kind="call")] == ["aardvark.dig"]
    host.close()
    # deactivation runs in reverse: calc stops while audit-log still listens, aardvark after
    deactivated = [
        e["data"]["plugin"] for e in _trail(jafhost_home) if e["kind"] == "plugin.deactivated"
    ]
    assert deactivated == ["calc"]


def test_own_calls_are_left_out_unless_asked(jafhost_factory: Factory) -> None:
    quiet = jafhost_factory("audit-log")
    _recent(quiet)
    _recent(quiet)
    assert [e["kind"] for e in _recent(quiet)] == ["plugin.activated"]
    quiet.close()

    chatty = jafhost_factory(
        "audit-log", config={"plugins": {"audit-log": {"record_own_calls": True}}}
    )
    _recent(chatty)
    kinds = [e["kind"] for e in _recent(chatty)]
    assert kinds[-2:] == ["call", "tool.called"]


def test_rotation_size_redaction_and_events_from_the_config(
    jafhost_factory: Factory, jafhost_home: Path
) -> None:
    config = {
        "max_bytes": 1024,
        "backups": 2,
        "redact_keys": ["user"],
        "events": ["permission.denied"],
    }
    host = jafhost_factory(  # in process: middleware sees the validated arguments
        "audit-log", "calc", config={"plugins": {"audit-log": config}}, isolation="inprocess"
    )
    for n in range(30):
        host.call_ok("calc.login", {"user": f"user-{n}", "password": "p"})
    data = jafhost_home / "plugins" / "audit-log" / "data"
    names = sorted(p.name for p in data.iterdir())
    assert names == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(os.path.getsize(data / name) <= 1024 for name in names)
    entries = _recent(host)
    assert {e["kind"] for e in entries} == {"call"}  # tool.* and plugin.* not configured
    ids = [int(e["id"].removeprefix("call-")) for e in entries]
    assert ids == sorted(ids) and len(ids) < 30  # the oldest rotated out
    assert all(
        e["arguments"] == {"user": "[redacted]", "password": "[redacted]", "options": None}
        for e in entries
    )


def test_bad_config_keeps_the_plugin_inactive(jafhost_factory: Factory) -> None:
    host = jafhost_factory("audit-log", config={"plugins": {"audit-log": {"max_bytes": 10}}})
    assert host.active == []
    assert "max_bytes" in (host.loaded("audit-log").error or "")
