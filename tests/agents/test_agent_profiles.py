"""Agent profiles: ``[agents.NAME]`` in ``config.toml`` and ``AgentProfile`` in the Python
API, over real installed plugins: validation naming ``agents.NAME.KEY``, starting from a
plugin's agent, a config key winning over a plugin agent's short name, the profile's
model, turn limit and tool time limit, policies as ``AgentLimits``, ``agents``/``run``
and ``doctor`` on the command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import Site, run_cli
from jafhost import AgentProfile
from jafhost.agents.profiles import parse_profile, read_profiles
from jafhost.errors import StateError, UsageError
from jafhost.host.host import Host
from jafhost.runtime.call_origin import CallOrigin, current_origin
from jafhost.types import AgentLimits

MakeHost = Callable[..., Host]
pytestmark = pytest.mark.usefixtures("local_only")

DESK = """
import time
from jafhost import AgentSpec, RunContext

def lookup(order_id: int, run: RunContext) -> dict:
    '''Look up an order.'''
    return {"order": order_id, "agent": run.agent, "caller": run.caller}

def slow() -> str:
    '''Takes its time.'''
    time.sleep(5)
    return "late"

def refund(order_id: int) -> str:
    '''Refund an order.'''
    return f"refunded {order_id}"

@hookimpl
def jaf_tools():
    return [lookup, slow, refund]

@hookimpl
def jaf_agents():
    return [AgentSpec("support", "Plugin support.", tools=["desk.lookup"],
                      description="The plugin's own", model="scripted:none.jsonl")]
"""

CONFIG = """
[agents.support]
from = "desk.support"
tools = ["desk.lookup", "desk.slow"]
model = "scripted:{script}"
max_turns = 3
tool_timeout = 0.5

[agents.support.policies.http]
net = ["api.example.com:443", "API.example.com:443"]
ffi = false

[agents.writer]
instructions = "You write."
tools = "desk.*"

[agents.clerk]
instructions = "You refund."
tools = ["desk.refund"]
"""


def _script(path: Path, *turns: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in turns))
    return path


@pytest.fixture
def desk(site: Site) -> Site:
    site.plugin("desk", code=DESK)
    return site


def test_profiles_are_validated_naming_the_key() -> None:
    def problem(table: dict[str, Any]) -> str:
        with pytest.raises(ValueError) as caught:
            parse_profile("a", table)
        return str(caught.value)

    assert problem({"instructions": 42}) == "agents.a.instructions: Input should be a valid string"
    assert problem({"instructions": "x", "tools": "m.*"}) == (
        "agents.a.tools: Input should be a valid list"
    )
    assert problem({"model": "x"}) == (
        "agents.a.instructions: required unless `from` names an agent to start from"
    )
    assert problem({"instructions": "x", "toolz": []}) == "agents.a.toolz: unknown key"
    assert problem({"instructions": "x", "max_turns": 0}).startswith("agents.a.max_turns: ")
    assert problem({"instructions": "x", "tool_timeout": "1"}).startswith("agents.a.tool_timeout: ")
    assert problem({"instructions": "x", "policies": {"http": {"nett": []}}}) == (
        "agents.a.policies.http.nett: unknown permission kind "
        "(known: read, write, net, env, run, ffi, observe)"
    )
    assert problem({"instructions": "x", "policies": {"http": {"net": ["bad host!"]}}}) == (
        "agents.a.policies.http.net[0]: bad host name in 'bad host!'"
    )
    assert problem({"instructions": "x", "policies": {"Bad__Name": {}}}).startswith(
        "agents.a.policies.Bad__Name: "
    )
    assert problem("text") == "agents.a: must be a table, not str"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^agents\.desk\.support: a profile's name is"):
        parse_profile("desk.support", {"instructions": "x"})

    valid, broken = read_profiles(
        {"agents": {"ok": {"instructions": "x"}, "bad": {"model": 1}}}, "config.toml"
    )
    assert list(valid) == ["ok"]
    assert broken == {"bad": "config.toml: agents.bad.model: Input should be a valid string"}


def test_policies_become_agent_limits(tmp_path: Path) -> None:
    profile = AgentProfile.model_validate(
        {
            "from": "desk.support",
            "policies": {
                "http": {"net": ["API.example.com:443", "api.example.com:443"], "ffi": False},
                "files": {"read": [str(tmp_path / "a" / ".." / "b")], "observe": True},
                "quiet": {},
            },
        }
    )
    assert profile.from_ == "desk.support"
    assert profile.limits("support") == {
        "http": AgentLimits("support", "http", {"net": ("net:api.example.com:443",), "ffi": ()}),
        "files": AgentLimits(
            "support", "files", {"read": (f"read:{tmp_path / 'b'}",), "observe": ("observe",)}
        ),
        "quiet": AgentLimits("support", "quiet", {}),
    }
    with pytest.raises(ValueError):
        AgentProfile(instructions="x", tools="m.*")  # type: ignore[arg-type]


def test_config_agents_run_and_win_over_plugin_short_names(
    desk: Site, make_host: MakeHost, home: Path, tmp_path: Path
) -> None:
    script = _script(
        tmp_path / "s.jsonl",
        {"tool_calls": [{"name": "desk.lookup", "arguments": {"order_id": 7}}]},
        {"tool_calls": [{"name": "desk.slow", "arguments": {}}]},
        {"tool_calls": [{"name": "desk.refund", "arguments": {"order_id": 7}}]},
        {"content": "never reached: max_turns is 3"},
    )
    (home / "config.toml").write_text(CONFIG.format(script=script))
    host = make_host()

    async def scenario() -> None:
        async with host:
            listed = {a.full_name: a.to_json() for a in host.agents()}
            assert list(listed) == ["support", "clerk", "desk.support"]
            assert listed["support"] == {
                "name": "support",
                "full_name": "support",
                "source": "config",
                "plugin": None,
                "description": "The plugin's own",
                "tools": ["desk.lookup", "desk.slow"],
                "model": f"scripted:{script}",
                "instructions": "Plugin support.",
            }
            assert listed["desk.support"]["source"] == "plugin:desk"
            problems = host.agent_problems()
            assert problems == {
                "writer": f"{home / 'config.toml'}: agents.writer.tools: "
                "Input should be a valid list"
            }
            with pytest.raises(StateError, match=r"agents\.writer\.tools: Input should be"):
                host.agent("writer")
            assert host.agent("support").limits["http"].kinds == {
                "net": ("net:api.example.com:443",),
                "ffi": (),
            }

            origins: list[CallOrigin] = []
            routed = host.router.call

            async def spy(*args: Any, **kwargs: Any) -> Any:
                origins.append(current_origin())
                return await routed(*args, **kwargs)

            host.router.call = spy  # type: ignore[method-assign]
            run = await host.run_agent("support", "Where is 7?")
            host.router.call = routed  # type: ignore[method-assign]
            assert run.agent == "support" and run.model == f"scripted:{script}"
            assert [(o.caller, o.agent, o.run_id) for o in origins] == [
                ("agent", "support", run.run_id)
            ] * 2
            assert origins[0].limits == {
                "http": AgentLimits(
                    "support", "http", {"net": ("net:api.example.com:443",), "ffi": ()}
                )
            }
            other = _script(tmp_path / "other.jsonl", {"content": "other model"})
            overridden = await host.run_agent("support", "hi", model=f"scripted:{other}")
            assert overridden.model == f"scripted:{other}" and overridden.output == "other model"
            assert (run.ok, run.stop, run.turns) == (False, "max_turns", 3)
            looked, slow = run.tool_results
            assert looked.result == {"order": 7, "agent": "support", "caller": "agent"}
            assert slow.error is not None and slow.error.code == "timeout"  # tool_timeout 0.5

            # the plugin's agent stays reachable by its full name, with its own settings
            plugin_run = await host.run_agent(
                "desk.support", "Where is 7?", model=f"scripted:{script}", max_turns=5
            )
            assert plugin_run.agent == "desk.support"
            denied = plugin_run.tool_results[1]
            assert denied.error is not None and denied.error.code == "permission_denied"

            # a profile object in the Python API, run under a name
            own = AgentProfile(instructions="Refund things.", tools=["desk.refund"], max_turns=1)
            once = await host.run_agent(
                own, "Refund 7", model=f"scripted:{script}", name="refunder"
            )
            assert once.agent == "refunder" and once.stop == "max_turns" and once.turns == 1
            based = AgentProfile.model_validate({"from": "desk.support", "tools": ["desk.refund"]})
            with_base = await host.run_agent(based, "x", model=f"scripted:{script}", max_turns=4)
            assert with_base.tool_results[2].result == "refunded 7"
            with pytest.raises(UsageError, match=r"agents\.agent\.from: unknown agent 'nope'"):
                await host.run_agent(AgentProfile.model_validate({"from": "nope"}), "x")

    asyncio.run(scenario())


def test_cli_agents_run_and_doctor(desk: Site, home: Path, tmp_path: Path) -> None:
    script = _script(
        tmp_path / "s.jsonl",
        {"tool_calls": [{"name": "desk.refund", "arguments": {"order_id": 3}}]},
        {"content": "Refunded."},
    )
    (home / "config.toml").write_text(CONFIG.format(script=script))

    listed = run_cli("agents", "--json", site=desk, home=home)
    assert listed.returncode == 0, listed.stderr
    agents = {a["full_name"]: a for a in json.loads(listed.stdout)}
    assert [(n, a["source"]) for n, a in agents.items()] == [
        ("support", "config"),
        ("clerk", "config"),
        ("desk.support", "plugin:desk"),
    ]
    assert "warning: " in listed.stderr and "agents.writer.tools" in listed.stderr
    table = run_cli("agents", site=desk, home=home)
    assert table.returncode == 0 and "plugin:desk" in table.stdout and "config" in table.stdout

    ran = run_cli("run", "clerk", "Refund 3", "--model", f"scripted:{script}", site=desk, home=home)
    assert ran.returncode == 0, ran.stderr
    assert "refunded 3" in ran.stdout and "Refunded." in ran.stdout

    broken = run_cli("run", "writer", "hi", site=desk, home=home)
    assert broken.returncode == 1
    assert broken.stderr.strip().splitlines()[-1] == (
        f"error: {home / 'config.toml'}: agents.writer.tools: Input should be a valid list"
    )

    doctor = run_cli("doctor", "--json", site=desk, home=home, timeout=120)
    found = [f for f in json.loads(doctor.stdout)["findings"] if f["kind"] == "agent-profile"]
    assert [f["message"] for f in found] == [
        f"{home / 'config.toml'}: agents.writer.tools: Input should be a valid list"
    ]
