"""Events between real plugins: patterns, order, failures, loops, host events, CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Site, run_cli
from jafhost.host.host import Host
from jafhost.runtime.events import MATCH_CACHE_MAX, MAX_DEPTH, EventBus, subscriptions

# the bus's rules, with handlers in process (a worker's environment filter drops their
# journal variable); both modes: tests/runtime/test_emit_across_modes.py
pytestmark = pytest.mark.usefixtures("inprocess")

MakeHost = Callable[..., Host]

RECORDER = """
import json, os
from jafhost import PluginContext

def record(tag):
    def handler(event, ctx: PluginContext):
        with open(os.environ["JAF_TEST_EVENTS"], "a") as f:
            f.write(json.dumps({"plugin": ctx.name, "tag": tag, "event": event.name,
                                "data": event.data, "source": event.source}) + "\\n")
    return handler

@hookimpl
def jaf_event_handlers():
    return {PATTERNS}
"""


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site) -> Path:
    folder = tmp_path / "events"
    folder.mkdir()
    path = folder / "events.jsonl"
    path.write_text("")
    monkeypatch.setenv("JAF_TEST_EVENTS", str(path))
    site.default_manifest = f'[permissions]\nwrite = ["{folder}"]\nenv = ["JAF_TEST_EVENTS"]\n'
    return path


def _entries(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def recorder(patterns: dict[str, str]) -> str:
    body = ", ".join(f"{p!r}: record({t!r})" for p, t in patterns.items())
    return RECORDER.replace("{PATTERNS}", "{" + body + "}")


def test_patterns_and_activation_order(site: Site, make_host: MakeHost, log: Path) -> None:
    site.plugin("zeta", code=recorder({"order.created": "exact", "order.*": "glob"}))
    site.plugin("alpha", code=recorder({"*": "all"}), requires=["jaf-plugin-zeta"])
    site.plugin("other", code=recorder({"invoice.*": "invoice"}))
    host = make_host(approve=True)

    async def scenario() -> None:
        async with host:
            report = await host.emit("order.created", {"id": 42})
            assert report.ok
            assert report.delivered == [
                {"plugin": "zeta", "pattern": "order.created"},
                {"plugin": "zeta", "pattern": "order.*"},
                {"plugin": "alpha", "pattern": "*"},
            ]
            nobody = await host.emit("unheard.of")
            assert [d["plugin"] for d in nobody.delivered] == ["alpha"]

    asyncio.run(scenario())
    entries = [e for e in _entries(log) if e["event"] in ("order.created", "unheard.of")]
    assert [(e["plugin"], e["tag"]) for e in entries] == [
        ("zeta", "exact"),
        ("zeta", "glob"),
        ("alpha", "all"),
        ("alpha", "all"),
    ]
    assert entries[0]["data"] == {"id": 42} and entries[0]["source"] == "host"


FAILING = """
import asyncio, time

def boom(event):
    raise ValueError("handler broke")

def stuck(event):
    time.sleep(30)

async def stuck_async(event):
    await asyncio.sleep(30)

@hookimpl
def jaf_event_handlers():
    return {"order.*": [boom, stuck, stuck_async]}
"""


def test_failing_and_hanging_handlers_are_reported_and_others_go_on(
    site: Site, make_host: MakeHost, log: Path
) -> None:
    site.plugin("bad", code=FAILING)
    site.plugin(  # event.failed about another plugin: it needs observe
        "good",
        code=recorder({"order.*": "ok", "event.failed": "failure"}),
        manifest=f"{site.default_manifest}observe = true\n",
    )
    host = make_host(approve=True, hook_timeout=0.3)

    async def scenario() -> None:
        async with host:
            report = await host.emit("order.paid")
            assert not report.ok
            failures = {(f["plugin"], f["error"].split(" ")[0]) for f in report.failed}
            assert ("bad", "ValueError:") in failures
            assert [f for f in report.failed if "did not finish within 0.3 s" in f["error"]]
            assert len(report.failed) == 3
            assert report.delivered == [{"plugin": "good", "pattern": "order.*"}]

    asyncio.run(scenario())
    failed = [e for e in _entries(log) if e["event"] == "event.failed"]
    assert len(failed) == 3
    assert {e["data"]["plugin"] for e in failed} == {"bad"}  # type: ignore[index]


LOOP = """
from jafhost import PluginContext

async def ping(event, ctx: PluginContext):
    await ctx.emit("pong", {"n": event.data["n"] + 1})

async def pong(event, ctx: PluginContext):
    await ctx.emit("ping", {"n": event.data["n"] + 1})

@hookimpl
def jaf_event_handlers():
    return {"ping": ping, "pong": pong}
"""


def test_an_event_loop_is_cut_at_the_depth_limit(
    site: Site, make_host: MakeHost, log: Path
) -> None:
    site.plugin("looper", code=LOOP)
    site.plugin("watch", code=recorder({"ping": "seen", "pong": "seen"}))
    host = make_host(approve=True)

    async def scenario() -> None:
        async with host:
            report = await host.emit("ping", {"n": 0})
            assert report.delivered[0] == {"plugin": "looper", "pattern": "ping"}

    asyncio.run(scenario())
    seen = {e["data"]["n"]: e for e in _entries(log) if e["tag"] == "seen"}  # type: ignore[index]
    assert sorted(seen) == list(range(MAX_DEPTH))  # the chain was cut, not endless
    assert seen[0]["source"] == "host" and seen[1]["source"] == "looper"


SYNC_EMITTER = """
from jafhost import PluginContext

def forward(event, ctx: PluginContext):
    report = ctx.emit("audit.forwarded", {"from": event.name})
    assert report.delivered, report

def shout(ctx: PluginContext) -> str:
    report = ctx.emit("audit.shout", {"loud": True})
    return ",".join(d["plugin"] for d in report.delivered)

@hookimpl
def jaf_event_handlers():
    return {"order.created": forward}

@hookimpl
def jaf_tools():
    return [shout]
"""


def test_sync_plugin_code_can_emit(site: Site, make_host: MakeHost, log: Path) -> None:
    site.plugin("emitter", code=SYNC_EMITTER)
    site.plugin("auditor", code=recorder({"audit.*": "audit"}))
    host = make_host(approve=True)

    async def scenario() -> None:
        async with host:
            assert (await host.emit("order.created")).ok
            assert (await host.call("emitter.shout")).result == "auditor"

    asyncio.run(scenario())
    audit = [(e["event"], e["source"]) for e in _entries(log) if e["tag"] == "audit"]
    assert audit == [("audit.forwarded", "emitter"), ("audit.shout", "emitter")]


TOOLS = """
import os
def ok() -> str:
    return "fine"
def nope() -> str:
    raise RuntimeError("nope")
def peek() -> str:
    return open("/etc/shadow-does-not-matter").read()
@hookimpl
def jaf_tools():
    return [ok, nope, peek]
"""


def test_host_events(site: Site, make_host: MakeHost, log: Path) -> None:
    site.plugin(  # host events about other plugins: it needs observe
        "watch",
        code=recorder({"plugin.*": "plugin", "tool.*": "tool", "permission.denied": "denied"}),
        manifest=f"{site.default_manifest}observe = true\n",
    )
    # both depend on the watcher so it is active before them and after them
    site.plugin("tools", code=TOOLS, requires=["jaf-plugin-watch"])
    site.plugin("broken", code="raise RuntimeError('at import')", requires=["jaf-plugin-watch"])
    host = make_host(approve=True)

    async def scenario() -> None:
        async with host:
            await host.call("tools.ok")
            await host.call("tools.nope")
            await host.call("tools.peek")
            await asyncio.sleep(0.05)  # denials are published from the guard's thread

    asyncio.run(scenario())
    entries = _entries(log)
    plugin_events = [
        (e["event"], e["data"]["plugin"])
        for e in entries  # type: ignore[index]
        if e["tag"] == "plugin"
    ]
    assert ("plugin.failed", "broken") in plugin_events
    assert ("plugin.activated", "tools") in plugin_events
    assert ("plugin.deactivated", "tools") in plugin_events
    tools = [(e["event"], e["data"]["tool"]) for e in entries if e["tag"] == "tool"]  # type: ignore[index]
    assert tools == [
        ("tool.called", "tools.ok"),
        ("tool.failed", "tools.nope"),
        ("tool.failed", "tools.peek"),
    ]
    denied = [e["data"] for e in entries if e["tag"] == "denied"]
    assert denied and denied[0]["plugin"] == "tools"  # type: ignore[index]
    assert denied[0]["permission"].startswith("read:")  # type: ignore[index]


def test_handlers_run_under_the_plugins_grants(
    site: Site, make_host: MakeHost, log: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden")
    code = f"""
def snoop(event):
    return open({str(secret)!r}).read()

@hookimpl
def jaf_event_handlers():
    return {{"*": snoop}}
"""
    site.plugin("snoop", code=code)
    host = make_host(approve=True)

    async def scenario() -> None:
        async with host:
            report = await host.emit("anything")
            assert report.failed and "PermissionDenied" in report.failed[0]["error"]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "code,reason",
    [
        ("@hookimpl\ndef jaf_event_handlers():\n    return ['x']\n", "must return a mapping"),
        ("@hookimpl\ndef jaf_event_handlers():\n    return {'a b': print}\n", "bad event pattern"),
        ("@hookimpl\ndef jaf_event_handlers():\n    return {'a': 3}\n", "not callable"),
    ],
)
def test_malformed_subscriptions_break_only_that_plugin(
    site: Site, make_host: MakeHost, code: str, reason: str
) -> None:
    site.plugin("bad", code=code)
    site.plugin("fine")
    host = make_host()

    async def scenario() -> None:
        async with host:
            bad = host.loaded("bad")
            assert bad is not None and bad.status == "broken" and reason in (bad.error or "")
            assert host.active == ["fine"]

    asyncio.run(scenario())


def test_emit_cli(site: Site, home: Path, log: Path) -> None:
    site.plugin("watch", code=recorder({"order.*": "cli"}))
    assert run_cli("enable", "watch", "--yes", site=site, home=home).returncode == 0
    result = run_cli("emit", "order.created", "--data", '{"id": 7}', site=site, home=home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["event"] == "order.created"
    assert report["delivered"] == [{"plugin": "watch", "pattern": "order.*"}]
    assert report["failed"] == [] and report["error"] is None
    assert _entries(log)[-1]["data"] == {"id": 7}
    bad = run_cli("emit", "order created", site=site, home=home)
    assert bad.returncode == 2 and bad.stderr.startswith("error: bad event name")
    bad_json = run_cli("emit", "x", "--data", "{nope", site=site, home=home)
    assert bad_json.returncode == 2 and "--data is not valid JSON" in bad_json.stderr


def test_the_match_cache_stays_bounded_whatever_names_are_emitted() -> None:
    subs = subscriptions("listener", {"order.*": lambda event: None})
    bus = EventBus(lambda: ["listener"], lambda sub, event: None)
    bus.subscribe("listener", subs)
    for n in range(3 * MATCH_CACHE_MAX):
        assert bus.matching(f"order.n{n}") == subs
        assert bus.matching(f"other.n{n}") == []
    assert len(bus._cache) == MATCH_CACHE_MAX
    assert bus.matching("order.again") == subs  # the newest names are still answered right
