"""``jafhost call`` and ``jafhost run`` (``jafhost.cli.run``, ``jafhost.cli.agents``):
arguments from stdin, ``--timeout`` checks, and errors that say how to fix them
(``jafhost grant`` for a denial, ``jafhost enable`` for a plugin that is not active)
in both isolation modes. The real ``jafhost`` in new processes over real plugins."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli
from jafhost.host.host import Host

CALC = """
def add(a: int, b: int = 0) -> int:
    '''Add two numbers.'''
    return a + b

@hookimpl
def jaf_tools():
    return [add]
"""

FILES = """
def peek(path: str) -> str:
    '''Read a file.'''
    with open(path) as f:
        return f.read()

@hookimpl
def jaf_tools():
    return [peek]
"""

NET = '[plugin]\nkinds = ["tool"]\n[permissions]\nnet = ["127.0.0.1:8080"]\n'


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# -- arguments -------------------------------------------------------------------------------


def test_call_reads_the_arguments_from_stdin(site: Site, home: Path) -> None:
    site.plugin("calc", code=CALC)
    piped = run_cli(
        "call", "calc.add", "--json", "-", input='{"a": 2, "b": 3}', site=site, home=home
    )
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout) == 5

    # -a pairs still apply on top of what stdin gave
    both = run_cli(
        "call",
        "calc.add",
        "--json",
        "-",
        "-a",
        "b=10",
        input='{"a": 1, "b": 3}',
        site=site,
        home=home,
    )
    assert both.returncode == 0, both.stderr
    assert json.loads(both.stdout) == 11

    for text, expected in [
        ('{"a": 2,', "--json - (standard input) is not valid JSON"),
        ("[1, 2]", "--json - (standard input) must be a JSON object"),
        ("", "--json - (standard input) is empty"),
    ]:
        bad = run_cli("call", "calc.add", "--json", "-", input=text, site=site, home=home)
        assert bad.returncode == 2, (text, bad.stderr)
        assert expected in _one_error_line(bad)
        assert bad.stdout == ""


@pytest.mark.parametrize("value", ["0", "-1", "-0.5", "nan", "inf", "-inf"])
def test_call_refuses_a_timeout_that_is_not_a_positive_number(
    value: str, site: Site, home: Path
) -> None:
    site.plugin("calc", code=CALC)
    result = run_cli("call", "calc.add", "-a", "a=1", "--timeout", value, site=site, home=home)
    assert result.returncode == 2
    line = _one_error_line(result)
    assert "--timeout" in line and "greater than 0" in line
    assert result.stdout == ""


def test_call_accepts_a_positive_timeout(site: Site, home: Path) -> None:
    site.plugin("calc", code=CALC)
    result = run_cli("call", "calc.add", "-a", "a=1", "--timeout", "2.5", site=site, home=home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == 1


# -- a denial names the grant that allows it ------------------------------------------------


def _mcp_call(tool: str, arguments: dict[str, object]) -> str:
    hello = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    }
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": tool, "arguments": arguments}},
    ]  # fmt: skip
    return "".join(json.dumps(m) + "\n" for m in messages)


@pytest.mark.parametrize("mode", ISOLATION_MODES)
def test_a_denial_names_the_grant_that_allows_it(
    mode: str, site: Site, home: Path, secret: Path
) -> None:
    site.plugin("files", code=FILES)
    assert run_cli("enable", "files", "--isolation", mode, site=site, home=home).returncode == 0
    denied = run_cli("call", "files.peek", "-a", f"path={secret}", site=site, home=home)
    assert denied.returncode == 1
    line = _one_error_line(denied)
    permission = f"read:{os.path.realpath(secret)}"
    assert line.startswith(f"error: permission denied: {permission}: plugin files may not read")
    assert line.endswith(f"(to allow it: jafhost grant files {permission})")
    assert "TOP-SECRET" not in denied.stdout + denied.stderr

    if importlib.util.find_spec("mcp") is not None:  # the same words for an MCP client
        served = run_cli("mcp", input=_mcp_call("files__peek", {"path": str(secret)}),
                         site=site, home=home)  # fmt: skip
        assert served.returncode == 0, served.stderr
        answer = [json.loads(line) for line in served.stdout.splitlines()][-1]["result"]
        assert answer["isError"] is True
        assert answer["structuredContent"]["error"]["code"] == "permission_denied"
        hint = f"(to allow it: jafhost grant files {permission})"
        assert answer["content"][0]["text"].endswith(hint)

    # the command it names is the one that allows it
    granted = run_cli("grant", "files", permission, site=site, home=home)
    assert granted.returncode == 0, granted.stderr
    allowed = run_cli("call", "files.peek", "-a", f"path={secret}", site=site, home=home)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout) == "TOP-SECRET-KEY"


def test_the_structured_error_names_the_grant_too(
    site: Site, make_host: Callable[..., Host], secret: Path
) -> None:
    site.plugin("files", code=FILES)
    host = make_host()

    async def scenario() -> None:
        async with host:
            result = await host.call("files.peek", {"path": str(secret)})
            assert result.error is not None
            error = result.to_json()["error"]
            permission = f"read:{os.path.realpath(secret)}"
            assert error["code"] == "permission_denied"
            assert error["permission"] == permission
            assert f"(to allow it: jafhost grant files {permission})" in error["message"]

    asyncio.run(scenario())


# -- a tool of a plugin that is not active --------------------------------------------------


def test_a_tool_of_a_plugin_that_is_not_active_is_unavailable(site: Site, home: Path) -> None:
    site.plugin("calc", code=CALC)
    site.plugin("netty", manifest=NET, code=CALC)
    site.plugin("needy", code=CALC, requires=["jaf-plugin-missing>=1"])
    site.plugin(
        "broken", code=CALC + "\n@hookimpl\ndef jaf_activate(ctx):\n    raise OSError('no disk')\n"
    )

    waiting = run_cli("call", "netty.add", "-a", "a=1", site=site, home=home)
    assert waiting.returncode == 1
    line = _one_error_line(waiting)
    assert "plugin netty is needs-approval" in line
    assert line.endswith("(to approve its permissions and enable it: jafhost enable netty)")

    assert run_cli("disable", "calc", site=site, home=home).returncode == 0
    off = run_cli("call", "calc.add", "-a", "a=1", site=site, home=home)
    assert off.returncode == 1
    line = _one_error_line(off)
    assert "plugin calc is disabled" in line
    assert line.endswith("(to enable it: jafhost enable calc)")

    unresolved = run_cli("call", "needy.add", "-a", "a=1", site=site, home=home)
    assert unresolved.returncode == 1
    line = _one_error_line(unresolved)
    assert "plugin needy is unresolved" in line and "jaf-plugin-missing" in line

    broken = run_cli("call", "broken.add", "-a", "a=1", site=site, home=home)
    assert broken.returncode == 1
    assert "error: plugin broken is broken" in broken.stderr and "no disk" in broken.stderr

    # an unknown tool or plugin stays a usage error
    assert run_cli("call", "netty.nope", site=site, home=home).returncode == 1
    assert run_cli("call", "nosuch.add", site=site, home=home).returncode == 2
    assert run_cli("enable", "calc", site=site, home=home).returncode == 0
    unknown = run_cli("call", "calc.nope", site=site, home=home)
    assert unknown.returncode == 2 and "unknown tool 'calc.nope'" in unknown.stderr


DESK = """
from jafhost import AgentSpec

@hookimpl
def jaf_agents():
    return [AgentSpec("helper", "You add numbers.", tools=("calc.*",))]
"""


def test_in_an_agent_run_a_tool_of_an_inactive_plugin_is_unavailable(
    site: Site, home: Path, tmp_path: Path
) -> None:
    site.plugin("calc", code=CALC)
    site.plugin("desk", code=DESK)
    assert run_cli("disable", "calc", site=site, home=home).returncode == 0
    script = tmp_path / "helper.jsonl"
    turns = [
        {"tool_calls": [{"name": "calc.add", "arguments": {"a": 1, "b": 2}}]},
        {"content": "I could not add them."},
    ]
    script.write_text("".join(json.dumps(t) + "\n" for t in turns))
    ran = run_cli("run", "helper", "1+2?", "--model", f"scripted:{script}", "--json",
                  site=site, home=home)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    steps = json.loads(ran.stdout)["steps"]
    [failed] = [s for s in steps if s["kind"] == "tool_result"]
    assert failed["error"]["code"] == "unavailable"
    assert failed["error"]["status"] == "disabled"
    assert "jafhost enable calc" in failed["error"]["message"]


@pytest.mark.parametrize(
    ("code", "status"),
    [("invalid_arguments", 2), ("not_found", 2), ("busy", 1), ("unavailable", 1), ("timeout", 1)],
)
def test_call_exit_status_by_error_code(code: str, status: int) -> None:
    """The contract: 2 for invalid arguments or an unknown name, 1 for every other error
    (``busy`` included: no worker of the plugin could take the call in time)."""
    from jafhost.cli.calling import exit_code
    from jafhost.types import CallError, CallResult

    failed = CallResult("p.t", False, error=CallError(code, "why", tool="p.t", plugin="p"))
    assert exit_code(failed) == status


def test_tools_reports_an_unusable_config_even_without_plugins(home: Path) -> None:
    """A bad ``[host]`` value is an error naming the key whether or not any plugin would
    start: the command never runs on settings it could not read."""
    (home / "config.toml").write_text('[host]\ncall_timeout = "soon"\n')
    result = run_cli("tools", home=home)
    assert result.returncode == 1
    assert "call_timeout" in result.stderr and result.stderr.startswith("error: ")
