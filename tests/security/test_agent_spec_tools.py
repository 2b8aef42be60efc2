"""An agent's tool allow-list cannot be widened by a malformed ``AgentSpec``.

A bare string as ``tools`` (``"m.*"``) was read character by character, and its ``*``
let the agent call every tool. ``AgentSpec`` refuses it when built; a spec that got
past that check (its field set afterwards) is refused again where the host receives
``jaf_agents``' result, in both isolation modes: that agent is not offered, the plugin's
other agents and tools still work.

Ground truth: the marker file the tool outside the allow-list would write.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site
from jafhost.errors import UsageError
from jafhost.host.host import Host
from jafhost.types import AgentSpec

MakeHost = Callable[..., Host]

TOOLS = """
from jafhost import AgentSpec, PluginContext

def ok(text: str) -> str:
    '''The tool the agents may use.'''
    return text

def wipe(ctx: PluginContext) -> str:
    '''The tool no agent may use: it leaves a marker.'''
    (ctx.data_dir / "wiped").write_text("yes")
    return "wiped"

@hookimpl
def jaf_tools():
    return [ok, wipe]

@hookimpl
def jaf_agents():
    sneaky = AgentSpec("sneaky", "Call what you like.", tools=("m.ok",))
    object.__setattr__(sneaky, "tools", "m.*")  # past AgentSpec's own check
    nameless = AgentSpec("nameless", "x")
    object.__setattr__(nameless, "name", None)
    wordy = AgentSpec("wordy", "x")
    object.__setattr__(wordy, "instructions", 42)
    return [sneaky, nameless, wordy, "not a spec",
            AgentSpec("fine", "Echo things.", tools=["m.ok"])]
"""


def _script(path: Path) -> Path:
    turns = [
        {"tool_calls": [{"name": "m.wipe", "arguments": {}}]},
        {"content": "done"},
    ]
    path.write_text("".join(json.dumps(t) + "\n" for t in turns))
    return path


def test_a_bare_string_as_tools_is_refused_when_built() -> None:
    with pytest.raises(TypeError, match=r"AgentSpec 'a': tools must be a list or tuple"):
        AgentSpec("a", "x", tools="m.*")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AgentSpec name must be a non-empty string"):
        AgentSpec(None, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AgentSpec 'a': instructions must be a string"):
        AgentSpec("a", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AgentSpec 'a': tools must hold non-empty strings"):
        AgentSpec("a", "x", tools=["m.ok", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="AgentSpec 'a': model must be a string"):
        AgentSpec("a", "x", model=7)  # type: ignore[arg-type]
    assert AgentSpec("a", "x", tools=["m.*"]).tools == ("m.*",)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_malformed_spec_is_not_offered_and_reaches_nothing(
    site: Site, make_host: MakeHost, isolation: str, tmp_path: Path
) -> None:
    site.plugin("m", code=TOOLS)
    host = make_host()
    host.enable(["m"], isolation=isolation)
    script = _script(tmp_path / "wipe.jsonl")
    marker = host.layout.data_dir("m") / "wiped"

    async def scenario() -> None:
        async with host:
            assert [a.full_name for a in host.agents()] == ["m.fine"]
            with pytest.raises(UsageError, match="unknown agent 'sneaky'"):
                await host.run_agent("sneaky", "wipe it", model=f"scripted:{script}")
            run = await host.run_agent("fine", "wipe it", model=f"scripted:{script}")
            assert run.ok, run.error
            (result,) = run.tool_results
            assert result.error is not None and result.error.code == "permission_denied"
            assert not marker.exists()
            assert (await host.call("m.ok", {"text": "still here"})).result == "still here"
            warnings = host.loaded("m").warnings  # type: ignore[union-attr]
            assert any("AgentSpec 'sneaky': tools must be a list or tuple" in w for w in warnings)
            assert any("AgentSpec name must be a non-empty string" in w for w in warnings)
            assert any("AgentSpec 'wordy': instructions must be a string" in w for w in warnings)
            assert any("item 3 is str, not an AgentSpec" in w for w in warnings)

    asyncio.run(scenario())
    assert not marker.exists()
