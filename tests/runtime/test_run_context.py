"""``RunContext``: who is calling a tool, injected where a tool asks for it, in both
isolation modes, from the Python API (with its metadata), an agent run (its name, run id
and messages so far) and the CLI; never part of the tool's schema. Middleware and the
host's ``tool.*`` events see which agent made a call.

Ground truth: what the tool itself returns (and writes to its data folder) about the
context it received, in its own process.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import ISOLATION_MODES, Site, run_cli
from jafhost.host.host import Host

MakeHost = Callable[..., Host]

WHO = """
import json, os
from jafhost import AgentSpec, PluginContext, RunContext

def who(note: str, run: RunContext, ctx: PluginContext) -> dict:
    '''Say who is calling.'''
    seen = {"caller": run.caller, "agent": run.agent, "run_id": run.run_id,
            "messages": [dict(m) for m in run.messages], "metadata": dict(run.metadata),
            "note": note, "pid": os.getpid(), "type": type(run).__name__}
    with open(ctx.data_dir / "seen.jsonl", "a") as f:
        f.write(json.dumps(seen) + "\\n")
    return seen

async def later(run: RunContext) -> str:
    '''Async, too.'''
    return run.caller

def blind(note: str) -> str:
    '''Does not ask who calls.'''
    return note

@hookimpl(wrapper=True)
def jaf_tool_call(call):
    with open(DATA / "middleware.jsonl", "a") as f:
        f.write(json.dumps({"tool": call.name, "caller": call.caller, "agent": call.agent}) + "\\n")
    return (yield)

@hookimpl
def jaf_activate(ctx):
    global DATA
    DATA = ctx.data_dir

def noted(event):
    with open(DATA / "events.jsonl", "a") as f:
        f.write(json.dumps(event.data) + "\\n")

def pinged(event, run: RunContext):
    with open(DATA / "pinged.jsonl", "a") as f:
        f.write(json.dumps({"caller": run.caller, "agent": run.agent,
                            "messages": list(run.messages), "type": type(run).__name__}) + "\\n")

@hookimpl
def jaf_event_handlers():
    return {"tool.*": noted, "ping.*": pinged}

@hookimpl
def jaf_tools():
    return [who, later, blind]

@hookimpl
def jaf_agents():
    return [AgentSpec("asker", "Ask who calls.", tools=["ctx.*"])]
"""


@pytest.fixture
def plugin(site: Site) -> Site:
    site.plugin("ctx", code=WHO)
    return site


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_the_api_and_an_agent_run(
    plugin: Site, make_host: MakeHost, isolation: str, tmp_path: Path
) -> None:
    host = make_host()
    host.enable(["ctx"], isolation=isolation)
    script = tmp_path / "who.jsonl"
    script.write_text(
        json.dumps({"tool_calls": [{"id": "c1", "name": "ctx__who", "arguments": {"note": "a"}}]})
        + "\n"
        + json.dumps({"content": "done"})
        + "\n"
    )

    async def scenario() -> None:
        async with host:
            tool = host.tool("ctx.who")
            assert set(tool.input_schema["properties"]) == {"note"}
            assert host.tool("ctx.later").input_schema["properties"] == {}

            plain = await host.call("ctx.who", {"note": "x"})
            assert plain.ok, plain.error
            assert plain.result["type"] == "RunContext"
            assert {k: plain.result[k] for k in ("caller", "agent", "run_id", "messages")} == {
                "caller": "api",
                "agent": None,
                "run_id": None,
                "messages": [],
            }
            assert plain.result["metadata"] == {}
            given = await host.call("ctx.who", {"note": "y"}, context={"user": "ann", "n": [1]})
            assert given.result["metadata"] == {"user": "ann", "n": [1]}
            later = await host.call("ctx.later", {})
            assert later.ok and later.result == "api"
            report = await host.emit("ping.one")
            assert report.failed == [], report.failed

            refused = await host.call("ctx.who", {"note": "z"}, context={"when": object()})
            assert refused.error is not None and refused.error.code == "invalid_arguments"
            assert "context must be JSON-serializable" in refused.error.message
            assert refused.error.fields[0]["field"] == "context"

            run = await host.run_agent("asker", "Who calls?", model=f"scripted:{script}")
            assert run.ok, run.error
            seen = run.tool_results[0].result
            assert seen["caller"] == "agent" and seen["agent"] == "ctx.asker"
            assert seen["run_id"] == run.run_id and len(run.run_id) == 32
            assert [m["role"] for m in seen["messages"]] == ["system", "user", "assistant"]
            assert seen["messages"][1] == {"role": "user", "content": "Who calls?"}
            assert seen["messages"][2]["tool_calls"][0]["function"]["name"] == "ctx__who"

    asyncio.run(scenario())
    events = _lines(host.layout.data_dir("ctx") / "events.jsonl")
    assert _lines(host.layout.data_dir("ctx") / "pinged.jsonl") == [
        {"caller": "api", "agent": None, "messages": [], "type": "RunContext"}
    ]
    middleware = _lines(host.layout.data_dir("ctx") / "middleware.jsonl")
    assert {"tool": "ctx.who", "caller": "agent", "agent": "ctx.asker"} in middleware
    assert {"tool": "ctx.who", "caller": "api", "agent": None} in middleware
    assert any(e.get("agent") == "ctx.asker" and e.get("caller") == "agent" for e in events)
    assert any(e.get("agent") is None and e.get("caller") == "api" for e in events)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_the_cli(plugin: Site, home: Path, isolation: str) -> None:
    enabled = run_cli("enable", "ctx", "--isolation", isolation, "--yes", site=plugin, home=home)
    assert enabled.returncode == 0, enabled.stderr
    called = run_cli("call", "ctx.who", "-a", "note=hi", site=plugin, home=home)
    assert called.returncode == 0, called.stderr
    seen = json.loads(called.stdout)
    assert (seen["caller"], seen["agent"], seen["run_id"], seen["messages"], seen["note"]) == (
        "cli",
        None,
        None,
        [],
        "hi",
    )
    blind = run_cli("call", "ctx.blind", "-a", "note=x", site=plugin, home=home)
    assert blind.returncode == 0 and json.loads(blind.stdout) == "x"


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_jafhost_emit_tells_handlers_the_cli_sent_it(
    plugin: Site, home: Path, isolation: str
) -> None:
    enabled = run_cli("enable", "ctx", "--isolation", isolation, "--yes", site=plugin, home=home)
    assert enabled.returncode == 0, enabled.stderr
    emitted = run_cli("emit", "ping.one", "--data", "{}", site=plugin, home=home)
    assert emitted.returncode == 0, emitted.stderr
    seen = [
        json.loads(line)
        for line in (home / "plugins" / "ctx" / "data" / "pinged.jsonl").read_text().splitlines()
    ]
    assert seen == [{"caller": "cli", "agent": None, "messages": [], "type": "RunContext"}]
