"""``jafhost mcp``: a real ``python -m jafhost mcp`` process driven by the official MCP client.

Every test starts the server as a subprocess with a temporary ``JAFHOST_HOME`` and a
temporary site (on ``PYTHONPATH``) holding one plugin, and talks to it over stdio with
``mcp.ClientSession`` (or raw JSON-RPC lines where the wire itself is the point). Each
test has its own time limit, so a hang fails the test instead of stalling the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import ISOLATION_MODES, Site, run_cli
from jafhost.host.host import Host
from jafhost.mcp.server import result_content
from jafhost.types import CallError, CallResult

mcp = pytest.importorskip("mcp")
anyio = pytest.importorskip("anyio")

from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

LIMIT = 60.0  # seconds per test, start-up of a fresh interpreter included
PLUGIN = "mcptest"

TOOLS = '''
import asyncio, os, sys, time
from jafhost import PluginContext, tool

def add(a: int, b: int, c: int = 0) -> int:
    """Add two or three integers.

    Args:
        a: the first
        b: the second
        c: an optional third
    """
    return a + b + c

async def echo(text: str, times: int = 1) -> dict:
    """Repeat a text (async)."""
    await asyncio.sleep(0)
    return {"text": text * times, "times": times}

def greet(name: str) -> str:
    """A string result."""
    return f"hello {name}\\nsecond line"

def items(n: int) -> list:
    """A list result."""
    return list(range(n))

def fail(message: str) -> None:
    """Always raises."""
    raise ValueError(message)

def chatty(text: str) -> str:
    """Writes to stdout in three ways, then answers."""
    print("NOT-JSON from print", text)
    sys.stdout.write("NOT-JSON from sys.stdout.write\\n")
    sys.stdout.flush()
    os.write(1, b"NOT-JSON from os.write\\n")
    return text.upper()

def nap(seconds: float) -> str:
    """Sleeps."""
    time.sleep(seconds)
    return "rested"

@tool(confirm=True)
def erase(what: str) -> str:
    """Asks first."""
    return "erased " + what

@hookimpl
def jaf_activate(ctx):
    print("NOT-JSON printed while activating")

@hookimpl
def jaf_deactivate(ctx):
    (ctx.data_dir / "deactivated").write_text("ok")

@hookimpl
def jaf_tools():
    return [add, echo, greet, items, fail, chatty, nap, erase]
'''

BROKEN = "mcpbroken"
BROKEN_CODE = """
def lost() -> str:
    return "never served"

@hookimpl
def jaf_activate(ctx):
    raise RuntimeError("no database")

@hookimpl
def jaf_tools():
    return [lost]
"""

NAMES = {"add", "echo", "greet", "items", "fail", "chatty", "nap", "erase"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(site: Site, home: Path, tmp_path: Path) -> dict[str, Any]:
    """One installed plugin with tools, a home whose call timeout is short, and the
    environment and paths a server process needs."""
    site.plugin(PLUGIN, code=TOOLS)
    site.plugin(BROKEN, code=BROKEN_CODE)
    (home / "config.toml").write_text("[host]\ncall_timeout = 1.0\n")
    env = {
        "PYTHONPATH": os.pathsep.join(
            [str(site.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "JAFHOST_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    return {
        "env": env,
        "home": home,
        "site": site,
        "stderr": tmp_path / "server-stderr.txt",
        "marker": home / "plugins" / PLUGIN / "data" / "deactivated",
        "cwd": tmp_path,
    }


@asynccontextmanager
async def connect(server: dict[str, Any], **options: Any) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "jafhost", "mcp"],
        env=server["env"],
        cwd=str(server["cwd"]),
    )
    with open(server["stderr"], "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, **options) as session,
        ):
            await session.initialize()
            yield session


def ours(name: str) -> bool:
    return name.startswith(f"{PLUGIN}__")


def text_of(result: Any) -> list[str]:
    return [block.text for block in result.content]


@pytest.mark.anyio
async def test_lists_the_tools_with_export_names_and_their_schemas(
    server: dict[str, Any],
) -> None:
    host = Host(server["home"], paths=[str(server["site"].root)], only=[PLUGIN])
    async with host:
        expected = {d["name"]: d for d in host.tool_definitions("mcp")}
    with anyio.fail_after(LIMIT):
        async with connect(server) as session:
            assert session.server_info is not None
            assert session.server_info.name == "jafhost"
            every = [t.name for t in (await session.list_tools()).tools]
            listed = [t for t in (await session.list_tools()).tools if ours(t.name)]
    assert not any(name.startswith(f"{BROKEN}__") for name in every)
    assert {t.name for t in listed} == {f"{PLUGIN}__{n}" for n in NAMES}
    assert set(expected) == {t.name for t in listed}
    for item in listed:
        assert item.title == item.name.replace("__", ".", 1)
        assert item.input_schema == expected[item.name]["inputSchema"]
        assert item.description == expected[item.name]["description"]
    add = next(t for t in listed if t.name == f"{PLUGIN}__add")
    assert add.input_schema["required"] == ["a", "b"]
    assert add.input_schema["properties"]["a"]["type"] == "integer"
    assert add.description and add.description.startswith("Add two or three integers.")


@pytest.mark.anyio
async def test_calls_sync_and_async_tools_by_either_name(server: dict[str, Any]) -> None:
    with anyio.fail_after(LIMIT):
        async with connect(server) as session:
            added = await session.call_tool(f"{PLUGIN}__add", {"a": 1, "b": 2, "c": 3})
            assert not added.is_error
            assert text_of(added) == ["6"]
            assert added.structured_content is None  # not a JSON object

            dotted = await session.call_tool(f"{PLUGIN}.add", {"a": "4", "b": 5})
            assert not dotted.is_error and text_of(dotted) == ["9"]

            echoed = await session.call_tool(f"{PLUGIN}__echo", {"text": "ab", "times": 2})
            assert not echoed.is_error
            assert echoed.structured_content == {"text": "abab", "times": 2}
            assert json.loads(text_of(echoed)[0]) == {"text": "abab", "times": 2}

            greeted = await session.call_tool(f"{PLUGIN}__greet", {"name": "ann"})
            assert text_of(greeted) == ["hello ann\nsecond line"]  # strings as themselves

            listed = await session.call_tool(f"{PLUGIN}__items", {"n": 3})
            assert json.loads(text_of(listed)[0]) == [0, 1, 2]


@pytest.mark.anyio
async def test_failures_are_tool_results_with_is_error(server: dict[str, Any]) -> None:
    with anyio.fail_after(LIMIT):
        async with connect(server) as session:
            bad = await session.call_tool(f"{PLUGIN}__add", {"a": "x", "d": 1})
            assert bad.is_error
            message, detail = text_of(bad)
            assert message.startswith("invalid arguments: ")
            error = json.loads(detail)["error"]
            assert error["code"] == "invalid_arguments"
            assert {f["field"] for f in error["fields"]} == {"a", "b", "d"}
            assert bad.structured_content == {"error": error}

            missing = await session.call_tool(f"{PLUGIN}__add", {})
            assert missing.is_error and "invalid arguments" in text_of(missing)[0]

            raised = await session.call_tool(f"{PLUGIN}__fail", {"message": "no luck"})
            assert raised.is_error
            assert text_of(raised)[0] == "ValueError: no luck"
            assert json.loads(text_of(raised)[1])["error"]["code"] == "tool_error"

            unknown = await session.call_tool("nosuch__tool", {})
            assert unknown.is_error
            assert json.loads(text_of(unknown)[1])["error"]["code"] == "not_found"
            assert "unknown tool" in text_of(unknown)[0]

            slow = await session.call_tool(f"{PLUGIN}__nap", {"seconds": 5})
            assert slow.is_error
            assert json.loads(text_of(slow)[1])["error"]["code"] == "timeout"

            # this client cannot be asked (no elicitation): a tool that wants a yes is refused
            refused = await session.call_tool(f"{PLUGIN}__erase", {"what": "all"})
            assert refused.is_error
            assert json.loads(text_of(refused)[1])["error"]["code"] == "permission_denied"
            assert "nobody to ask" in text_of(refused)[0]

            broken = await session.call_tool(f"{BROKEN}__lost", {})
            assert broken.is_error
            assert json.loads(text_of(broken)[1])["error"]["code"] == "unavailable"
            assert f"plugin {BROKEN} is broken" in text_of(broken)[0]

            # the server is still fine after all of that
            again = await session.call_tool(f"{PLUGIN}__add", {"a": 1, "b": 1})
            assert not again.is_error and text_of(again) == ["2"]


@pytest.mark.anyio
async def test_plugin_output_goes_to_stderr_and_the_server_exits_on_close(
    server: dict[str, Any],
) -> None:
    with anyio.fail_after(LIMIT):
        async with connect(server) as session:
            for _ in range(3):
                loud = await session.call_tool(f"{PLUGIN}__chatty", {"text": "hey"})
                assert not loud.is_error and text_of(loud) == ["HEY"]
            assert not (await session.call_tool(f"{PLUGIN}__add", {"a": 2, "b": 2})).is_error
            closing = time.monotonic()
        closed_in = time.monotonic() - closing
    # the client closes stdin, waits 2 s, then terminates: the server left on its own
    assert closed_in < 1.9, closed_in
    assert server["marker"].read_text() == "ok"  # plugins were deactivated
    stderr = server["stderr"].read_text()
    for what in ("print", "sys.stdout.write", "os.write"):
        assert stderr.count(f"NOT-JSON from {what}") == 3
    assert "NOT-JSON printed while activating" in stderr
    assert f"jafhost mcp: plugin {BROKEN} is broken: " in stderr
    assert "jafhost mcp: serving " in stderr
    assert "Traceback" not in stderr


@pytest.mark.anyio
async def test_confirmation_is_asked_through_the_client(server: dict[str, Any]) -> None:
    from mcp import types

    asked: list[str] = []
    answers = ["accept", "decline"]

    async def elicit(context: Any, params: Any) -> Any:
        asked.append(params.message)
        return types.ElicitResult(action=answers.pop(0))

    with anyio.fail_after(LIMIT):
        async with connect(server, elicitation_callback=elicit) as session:
            yes = await session.call_tool(f"{PLUGIN}__erase", {"what": "all"})
            assert not yes.is_error and text_of(yes) == ["erased all"]
            no = await session.call_tool(f"{PLUGIN}.erase", {"what": "more"})
            assert no.is_error
            assert json.loads(text_of(no)[1])["error"]["code"] == "permission_denied"
            assert "refused" in text_of(no)[0]
            plain = await session.call_tool(f"{PLUGIN}__add", {"a": 1, "b": 2})
            assert text_of(plain) == ["3"]  # tools that do not ask are not asked about
    assert len(asked) == 2
    assert f"{PLUGIN}.erase" in asked[0] and '"what": "all"' in asked[0]


def _request(id: int, method: str, params: dict[str, Any] | None = None) -> str:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message) + "\n"


INITIALIZE = _request(
    1,
    "initialize",
    {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
)
INITIALIZED = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n"


def _popen(server: dict[str, Any]) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("JAFHOST_DEBUG", None)
    env.update(server["env"])
    return subprocess.Popen(
        [sys.executable, "-m", "jafhost", "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=server["cwd"],
    )


def test_stdout_carries_only_the_protocol_and_pipelined_requests_are_all_answered(
    server: dict[str, Any],
) -> None:
    """Raw JSON-RPC: everything written at once, then stdin closed. Every request gets
    its answer before the server exits (status 0), and stdout is nothing but JSON-RPC."""
    calls = [
        _request(10 + i, "tools/call", {"name": f"{PLUGIN}__{name}", "arguments": args})
        for i, (name, args) in enumerate(
            [
                ("chatty", {"text": "a"}),
                ("add", {"a": 1, "b": 2}),
                ("fail", {"message": "m"}),
                ("nap", {"seconds": 0.3}),
                ("echo", {"text": "z"}),
                ("chatty", {"text": "b"}),
            ]
        )
    ]
    proc = _popen(server)
    try:
        out, err = proc.communicate(INITIALIZE + INITIALIZED + "".join(calls), timeout=LIMIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    messages = [json.loads(line) for line in out.splitlines()]  # every line is JSON
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    by_id = {m["id"]: m for m in messages}
    assert sorted(by_id) == [1, *range(10, 16)]
    assert by_id[10]["result"]["content"][0]["text"] == "A"
    assert by_id[11]["result"]["content"][0]["text"] == "3"
    assert by_id[12]["result"]["isError"] is True
    assert by_id[13]["result"]["content"][0]["text"] == "rested"
    assert by_id[14]["result"]["structuredContent"] == {"text": "z", "times": 1}
    assert "NOT-JSON from os.write" in err
    assert server["marker"].read_text() == "ok"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_deactivates_the_plugins_then_ends_the_process(server: dict[str, Any]) -> None:
    proc = _popen(server)
    watchdog = threading.Timer(LIMIT, proc.kill)  # readline() has no time limit of its own
    watchdog.start()
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(INITIALIZE)
        proc.stdin.flush()
        first = proc.stdout.readline()  # the handshake answer: plugins are active by now
        assert json.loads(first)["id"] == 1
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=LIMIT)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGTERM  # ended by the signal, after the clean-up
    assert server["marker"].read_text() == "ok"


def test_missing_mcp_package_is_one_error_line(server: dict[str, Any], tmp_path: Path) -> None:
    fake = tmp_path / "no-mcp"
    (fake / "mcp").mkdir(parents=True)
    (fake / "mcp" / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'mcp\'", name="mcp")\n'
    )
    done = run_cli(
        "mcp",
        home=server["home"],
        input="",
        env={"PYTHONPATH": f"{fake}{os.pathsep}{server['env']['PYTHONPATH']}"},
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: ")
    assert "pip install 'jafhost[mcp]'" in done.stderr


def test_result_content_shapes() -> None:
    ok = CallResult("p.t", True, result={"a": 1})
    assert result_content(ok) == ([{"type": "text", "text": '{"a": 1}'}], {"a": 1}, False)
    assert result_content(CallResult("p.t", True, result="x"))[0][0]["text"] == "x"
    assert result_content(CallResult("p.t", True, result=None))[0][0]["text"] == "null"
    assert result_content(CallResult("p.t", True, result=[1.5, "é"]))[0][0]["text"] == '[1.5, "é"]'
    error = CallError("timeout", "timed out after 1.0 s", tool="p.t", plugin="p")
    blocks, structured, is_error = result_content(CallResult("p.t", False, error=error))
    assert is_error and blocks[0]["text"] == "timed out after 1.0 s"
    assert json.loads(blocks[1]["text"]) == structured == {"error": error.to_json()}


@pytest.mark.anyio
async def test_a_failure_inside_the_host_is_still_a_tool_result() -> None:
    from mcp import types

    from jafhost.mcp.server import build_server

    class Broken:
        def tools(self) -> list[Any]:
            return []

        async def call(self, name: str, arguments: Any = None, **options: Any) -> Any:
            raise RuntimeError("router exploded")

    server = build_server(Broken())  # type: ignore[arg-type]
    entry = server.get_request_handler("tools/call")
    assert entry is not None
    params = types.CallToolRequestParams(name="p__t", arguments={})
    with anyio.fail_after(LIMIT):
        result = await entry.handler(None, params)  # type: ignore[arg-type]
    assert result.is_error
    assert result.content[0].text == "jafhost internal error: RuntimeError: router exploded"


LAZY = "lazymcp"
LAZY_CODE = """
import os, pathlib
with open(pathlib.Path(os.environ["JAF_DATA_ROOT"]) / "lazymcp" / "data" / "marks", "a") as out:
    out.write("import\\n")

def ping(text: str = "pong") -> str:
    \"\"\"Answer.\"\"\"
    return text

@hookimpl
def jaf_tools():
    return [ping]
"""


@pytest.mark.anyio
async def test_tools_list_comes_from_records_and_a_call_starts_the_plugin(
    site: Site, home: Path, tmp_path: Path
) -> None:
    site.plugin(LAZY, code=LAZY_CODE, manifest='[permissions]\nenv = ["JAF_DATA_ROOT"]\n')
    (home / "plugins" / LAZY / "data").mkdir(parents=True)
    marks = home / "plugins" / LAZY / "data" / "marks"
    extra = {"JAF_DATA_ROOT": str(home / "plugins")}
    assert run_cli("enable", LAZY, "--yes", site=site, home=home, env=extra).returncode == 0
    assert run_cli("tools", site=site, home=home, env=extra).returncode == 0  # recorded
    assert marks.read_text() == "import\n"
    marks.unlink()
    env = {
        "PYTHONPATH": os.pathsep.join(
            [str(site.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "JAFHOST_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    served = {"env": env, "stderr": tmp_path / "server-stderr.txt", "cwd": tmp_path}
    with anyio.fail_after(LIMIT):
        async with connect(served) as session:
            listed = [t for t in (await session.list_tools()).tools if t.name.startswith(LAZY)]
            assert [t.name for t in listed] == [f"{LAZY}__ping"]
            assert listed[0].input_schema["properties"]["text"]["type"] == "string"
            assert not marks.exists()  # listed from the record: no plugin code ran
            result = await session.call_tool(f"{LAZY}__ping", {"text": "hi"})
            assert not result.is_error and text_of(result) == ["hi"]
    assert marks.read_text() == "import\n"  # started at its first call


@pytest.mark.anyio
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
async def test_the_stats_resource_counts_the_calls_made_over_mcp(
    isolation: str, server: dict[str, Any]
) -> None:
    (server["home"] / "config.toml").write_text(
        f'[host]\ncall_timeout = 1.0\nisolation = "{isolation}"\n'
    )
    with anyio.fail_after(LIMIT):
        async with connect(server) as session:
            listed = (await session.list_resources()).resources
            assert [(str(r.uri), r.mime_type) for r in listed] == [
                ("jafhost://stats", "application/json")
            ]
            for a in (1, 2, 3):
                assert not (await session.call_tool(f"{PLUGIN}__add", {"a": a, "b": 1})).is_error
            assert (await session.call_tool(f"{PLUGIN}__fail", {"message": "no"})).is_error
            assert (await session.call_tool(f"{PLUGIN}__add", {"a": "x"})).is_error
            assert (await session.call_tool(f"{BROKEN}__lost", {})).is_error
            read = await session.read_resource("jafhost://stats")
            with pytest.raises(mcp.MCPError) as unknown:
                await session.read_resource("jafhost://nothing")
    assert unknown.value.code == -32002 and "unknown resource" in unknown.value.message
    [contents] = read.contents
    assert (str(contents.uri), contents.mime_type) == ("jafhost://stats", "application/json")
    plugins = {p["name"]: p for p in json.loads(contents.text)["plugins"]}
    ours = plugins[PLUGIN]
    assert (ours["status"], ours["isolation"], ours["calls"]) == ("active", isolation, 5)
    assert ours["errors"] == {"invalid_arguments": 1, "tool_error": 1}
    assert ours["p50_ms"] <= ours["p95_ms"]
    assert ours["start"]["total_ms"] > 0
    if isolation == "process":
        [worker] = ours["workers"]
        assert worker["pid"] > 0 and worker["rss_bytes"] > 0
        assert ours["restarts"] == 0
    else:
        assert (ours["workers"], ours["restarts"]) == ([], None)
    broken = plugins[BROKEN]
    assert (broken["status"], broken["calls"], broken["errors"]) == (
        "broken",
        1,
        {"unavailable": 1},
    )
