"""Stdout belongs to the CLI (``jafhost.cli.streams``): what plugin code prints goes to
stderr in both isolation modes, for every command whose output is meant for a pipe,
and a reader that goes away ends a command quietly. The real ``jafhost`` in new
processes, over real plugin distributions and real pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ISOLATION_MODES, Site, run_cli

NOISY = """
import os, subprocess, sys
from pydantic import BaseModel
from jafhost import AgentSpec

def shout(text: str) -> dict:
    '''Prints in every way Python code can, then answers.'''
    print("NOISE print")
    sys.stdout.write("NOISE sys.stdout\\n")
    sys.stdout.flush()
    os.write(1, b"NOISE fd 1\\n")
    subprocess.run(["echo", "NOISE child"], check=True)
    return {"text": text}

class Settings(BaseModel):
    volume: int = 11

@hookimpl
def jaf_config_schema():
    print("NOISE config schema")
    return Settings

@hookimpl
def jaf_activate(ctx):
    print("NOISE activate")
    os.write(1, b"NOISE activate fd 1\\n")

@hookimpl
def jaf_deactivate(ctx):
    print("NOISE deactivate")

@hookimpl
def jaf_tools():
    print("NOISE tools")
    return [shout]

@hookimpl
def jaf_agents():
    print("NOISE agents")
    return [AgentSpec("loud", "You shout.", tools=("noisy.*",))]

def on_noise(event):
    print("NOISE handler", event.name)

@hookimpl
def jaf_event_handlers():
    return {"noise.*": on_noise}
"""

MANIFEST = '[plugin]\nkinds = ["tool", "agent", "event"]\n[permissions]\nrun = ["echo"]\n'


@pytest.fixture(params=ISOLATION_MODES)
def noisy(request: pytest.FixtureRequest, site: Site, home: Path) -> str:
    site.plugin("noisy", manifest=MANIFEST, code=NOISY)
    mode = str(request.param)
    enabled = run_cli("enable", "noisy", "--yes", "--isolation", mode, site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    return mode


def _json_only(result: subprocess.CompletedProcess[str]) -> Any:
    """The command's stdout, which must be JSON and nothing else."""
    assert "NOISE" not in result.stdout, result.stdout
    return json.loads(result.stdout)


def test_plugin_output_never_reaches_stdout(
    noisy: str, site: Site, home: Path, tmp_path: Path
) -> None:
    call = run_cli("call", "noisy.shout", "-a", "text=hi", site=site, home=home)
    assert call.returncode == 0, call.stderr
    assert _json_only(call) == {"text": "hi"}
    for line in ("NOISE print", "NOISE sys.stdout", "NOISE fd 1", "NOISE child", "NOISE activate"):
        assert line in call.stderr, (line, call.stderr)

    script = tmp_path / "loud.jsonl"
    turns = [
        {"tool_calls": [{"name": "noisy.shout", "arguments": {"text": "a"}}]},
        {"content": "done"},
    ]
    script.write_text("".join(json.dumps(t) + "\n" for t in turns))
    commands: list[tuple[str, ...]] = [
        ("tools", "--json"),
        ("tools", "--format", "openai"),
        ("list", "--json"),
        ("list", "--json", "--debug"),  # the full CLI, not the fast path
        ("info", "noisy", "--json"),
        ("agents", "--json"),
        ("emit", "noise.made", "--data", "{}"),
        ("run", "loud", "go", "--model", f"scripted:{script}", "--json"),
        ("config", "show", "noisy", "--json"),
        ("doctor", "--json"),
    ]
    for args in commands:
        result = run_cli(*args, site=site, home=home)
        assert result.returncode == 0, (args, result.stderr)
        data = _json_only(result)
        assert data is not None, args
    ran = _json_only(run_cli(*commands[7], site=site, home=home))
    assert ran["output"] == "done"


def _rpc(id: int, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params}) + "\n"


def test_mcp_stdout_carries_only_the_protocol(noisy: str, site: Site, home: Path) -> None:
    pytest.importorskip("mcp")
    hello = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    }
    requests = (
        _rpc(1, "initialize", hello)
        + json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        + "\n"
        + _rpc(2, "tools/call", {"name": "noisy__shout", "arguments": {"text": "x"}})
        + _rpc(3, "tools/call", {"name": "noisy.shout", "arguments": {"text": "y"}})
    )
    result = run_cli("mcp", site=site, home=home, input=requests)
    assert result.returncode == 0, result.stderr
    assert "NOISE" not in result.stdout
    answers = {m["id"]: m for m in map(json.loads, result.stdout.splitlines())}
    assert sorted(answers) == [1, 2, 3]
    assert answers[2]["result"]["structuredContent"] == {"text": "x"}
    assert answers[3]["result"]["structuredContent"] == {"text": "y"}
    assert "NOISE fd 1" in result.stderr and "NOISE child" in result.stderr


# -- a reader that goes away -------------------------------------------------------------


def _into_closed_pipe(*args: str, site: Site, home: Path) -> subprocess.CompletedProcess[str]:
    """Run jafhost with its stdout a pipe whose reader has already gone (``| true``)."""
    env = dict(os.environ, JAFHOST_HOME=str(home), PYTHONPATH=str(site.root), COLUMNS="200")
    env.pop("JAFHOST_DEBUG", None)
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "jafhost", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        ("list", "--json"),  # the fast path (entry.py)
        ("list", "--json", "--debug"),  # the full CLI
        ("list",),
        ("info", "quiet", "--json"),
        ("tools", "--json"),
        ("call", "quiet.hello"),
        ("--help",),
    ],
)
def test_a_closed_pipe_ends_the_command_quietly(
    args: tuple[str, ...], site: Site, home: Path
) -> None:
    site.plugin(
        "quiet",
        code="def hello() -> str:\n    return 'hello'\n\n"
        "@hookimpl\ndef jaf_tools():\n    return [hello]\n",
    )
    result = _into_closed_pipe(*args, site=site, home=home)
    assert result.stderr == "", result.stderr  # no BrokenPipeError, no traceback
    assert result.returncode == 1


def test_a_large_listing_into_a_closed_pipe(site: Site, home: Path) -> None:
    """More than a pipe's buffer: the write itself fails, not only the final flush."""
    for i in range(120):
        site.plugin(f"p{i}", manifest=f'[permissions]\nenv = ["{"X" * 200}{i}"]\n')
    for args in (("list", "--json"), ("list", "--json", "--debug")):
        result = _into_closed_pipe(*args, site=site, home=home)
        assert result.stderr == "", result.stderr
        assert result.returncode == 1
