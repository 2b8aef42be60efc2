"""Tracing switched on by ``OTEL_*`` variables in real ``jafhost`` processes: the host sets
up the SDK with the OTLP/HTTP exporter, which sends to a collector stub on 127.0.0.1 that
decodes the protobuf; and a ``jafhost mcp`` request carrying a W3C ``traceparent`` in its
``_meta`` gives a tool span in that trace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import INPROCESS_CONFIG, ISOLATION_MODES, Site, run_cli

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from otlp_collector import Collector, ReceivedSpan

ARG = "ARG-SENTINEL-5d1e"
RESULT = "RESULT-SENTINEL-0b7c"

TOOLS = f"""
def shout(text: str) -> str:
    '''Shout the text back.'''
    return text.upper() + " {RESULT}"

def explode(text: str) -> str:
    '''Fail, quoting what it was given.'''
    raise ValueError("cannot take " + text)

@hookimpl
def jaf_tools():
    return [shout, explode]
"""

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def _otel_env(collector: Collector) -> dict[str, str]:
    env = {k: "" for k in os.environ if k.startswith("OTEL_")}
    env.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "60000",  # only the flush at exit sends them
            "NO_PROXY": "127.0.0.1",
        }
    )
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env[name] = ""
    return env


def _recorded(spans: list[ReceivedSpan]) -> str:
    return "\n".join(f"{s.name} {s.attributes} {s.events} {s.resource}" for s in spans)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_cli_call_exports_its_spans_over_otlp_http(site: Site, home: Path, isolation: str) -> None:
    site.plugin("loud", code=TOOLS)
    if isolation == "inprocess":
        (home / "config.toml").write_text(INPROCESS_CONFIG)
    with Collector() as collector:
        env = _otel_env(collector)
        ok = run_cli("call", "loud.shout", "-a", f'text="{ARG}"', site=site, home=home, env=env)
        assert ok.returncode == 0, ok.stderr
        assert RESULT in ok.stdout
        failed = run_cli(
            "call", "loud.explode", "-a", f'text="{ARG}"', site=site, home=home, env=env
        )
        assert failed.returncode != 0
    tools = collector.named("execute_tool ")
    assert [s.name for s in tools] == ["execute_tool loud.shout", "execute_tool loud.explode"]
    shout, explode = tools
    assert shout.attributes == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "loud.shout",
        "jafhost.plugin": "loud",
        "jafhost.caller": "cli",
    }
    assert shout.kind == 1  # SPAN_KIND_INTERNAL
    assert shout.resource["service.name"] == "jafhost"
    assert explode.attributes["error.type"] == "tool_error"
    assert explode.status_code == 2  # STATUS_CODE_ERROR
    starts = collector.named("jafhost.activate ")
    assert [s.name for s in starts] == ["jafhost.activate loud"] * 2  # one per command
    assert {s.attributes["jafhost.isolation"] for s in starts} == {isolation}
    recorded = _recorded(collector.spans)
    assert ARG not in recorded and ARG.upper() not in recorded and RESULT not in recorded
    assert not any(ARG.encode() in body for body in collector.raw)


mcp = pytest.importorskip("mcp")
anyio = pytest.importorskip("anyio")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_mcp_request_with_traceparent_gives_a_child_tool_span(
    site: Site, home: Path, tmp_path: Path
) -> None:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    site.plugin("loud", code=TOOLS)
    (home / "config.toml").write_text(INPROCESS_CONFIG)
    with Collector() as collector:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(_otel_env(collector))
        env["PYTHONPATH"] = os.pathsep.join(
            [str(site.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env["JAFHOST_HOME"] = str(home)
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "jafhost", "mcp"], env=env, cwd=str(tmp_path)
        )
        with anyio.fail_after(60), open(tmp_path / "stderr.txt", "w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                traced = await session.call_tool(
                    "loud__shout",
                    {"text": ARG},
                    meta={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
                )
                assert not traced.is_error
                plain = await session.call_tool("loud__shout", {"text": "x"})
                assert not plain.is_error
        # the server flushes its spans as it exits, before the client's exit returns
    by_id = {s.span_id: s for s in collector.spans}
    tools = collector.named("execute_tool loud.shout")
    assert len(tools) == 2, [s.name for s in collector.spans]
    child = [s for s in tools if s.trace_id == TRACE_ID]
    assert len(child) == 1, "exactly the call that carried a traceparent joins its trace"
    (span,) = child
    assert span.attributes["gen_ai.tool.name"] == "loud.shout"
    assert span.attributes["jafhost.caller"] == "mcp"
    # its parent chain (through the MCP SDK's own server span) reaches the client's span
    chain = []
    parent = span.parent_span_id
    while parent in by_id:
        chain.append(by_id[parent].name)
        parent = by_id[parent].parent_span_id
    assert parent == PARENT_ID, chain
    other = [s for s in tools if s.trace_id != TRACE_ID]
    assert len(other) == 1
    assert ARG not in _recorded(collector.spans)
