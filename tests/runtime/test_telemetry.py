"""OpenTelemetry spans with the real SDK: a tracer provider the test sets (as an embedding
program would), an in-memory exporter, real plugins in both isolation modes, real agent
runs; and, with tracing off, a real process in which opentelemetry is never imported."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import INPROCESS_CONFIG, ISOLATION_MODES, Site, run_cli
from jafhost.agents.providers.scripted import ScriptedProvider
from jafhost.host.host import Host
from jafhost.host.sync import SyncHost

trace = pytest.importorskip("opentelemetry.trace")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

MakeHost = Callable[..., Host]

ARG = "ARG-SENTINEL-7f3a"
RESULT = "RESULT-SENTINEL-91c2"

TOOLS = f"""
def shout(text: str) -> str:
    '''Shout the text back, with a marker of its own.'''
    return text.upper() + " {RESULT}"

def explode(text: str) -> str:
    '''Fail, quoting what it was given.'''
    raise ValueError("cannot take " + text + " {RESULT}")

def ask(text: str) -> str:
    '''Answer a question.'''
    return "{RESULT}"

@hookimpl
def jaf_tools():
    return [shout, explode, ask]

@hookimpl
def jaf_agents():
    from jafhost import AgentSpec
    return [AgentSpec("helper", "You help.", tools=("loud.*",))]
"""


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The embedding program's tracer provider, exporting to memory (restored after)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    yield exporter
    provider.shutdown()


@pytest.fixture
def loud(site: Site, home: Path, request: pytest.FixtureRequest) -> Site:
    site.plugin("loud", code=TOOLS)
    return site


def _isolate(home: Path, isolation: str) -> None:
    if isolation == "inprocess":
        (home / "config.toml").write_text(INPROCESS_CONFIG)


def _named(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def _everything_recorded(spans: list[ReadableSpan]) -> str:
    """Every name, attribute, event and status text the spans carry, as one string."""
    parts: list[str] = []
    for span in spans:
        parts.append(span.name)
        parts.append(json.dumps(dict(span.attributes or {}), default=str))
        parts.append(str(span.status.description))
        for event in span.events:
            parts.append(event.name)
            parts.append(json.dumps(dict(event.attributes or {}), default=str))
        parts.append(json.dumps(dict(span.resource.attributes), default=str))
    return "\n".join(parts)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_api_calls_make_tool_spans_under_the_embedders_span(
    loud: Site, home: Path, make_host: MakeHost, spans: InMemorySpanExporter, isolation: str
) -> None:
    _isolate(home, isolation)
    outer = trace.get_tracer("embedder")

    async def scenario() -> None:
        async with make_host() as host:
            with outer.start_as_current_span("the embedder's request"):
                ok = await host.call("loud.shout", {"text": ARG})
                failed = await host.call("loud__explode", {"text": ARG})
                invalid = await host.call("loud.shout", {"text": 5, "other": ARG})
                missing = await host.call("loud.nosuch", {"text": ARG})
            assert ok.ok and ok.result == ARG.upper() + " " + RESULT
            assert failed.error is not None and failed.error.code == "tool_error"
            assert invalid.error is not None and invalid.error.code == "invalid_arguments"
            assert missing.error is not None and missing.error.code == "not_found"

    asyncio.run(scenario())
    finished = list(spans.get_finished_spans())
    (embedder,) = [s for s in finished if s.name == "the embedder's request"]
    tools = _named(finished, "execute_tool ")
    assert [s.name for s in tools] == [
        "execute_tool loud.shout",
        "execute_tool loud.explode",
        "execute_tool loud.shout",
        "execute_tool loud.nosuch",
    ]
    for span in tools:
        assert span.kind == trace.SpanKind.INTERNAL
        assert span.parent is not None and span.parent.span_id == embedder.context.span_id
        assert span.context.trace_id == embedder.context.trace_id
        assert span.attributes is not None
        assert span.attributes["gen_ai.operation.name"] == "execute_tool"
        assert span.attributes["jafhost.plugin"] == "loud"
        assert span.attributes["jafhost.caller"] == "api"
        assert "gen_ai.tool.call.id" not in span.attributes
    assert tools[0].attributes == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "loud.shout",
        "jafhost.caller": "api",
        "jafhost.plugin": "loud",
    }
    assert tools[0].status.status_code == trace.StatusCode.UNSET
    errors = [(s.attributes or {}).get("error.type") for s in tools]
    assert errors == [None, "tool_error", "invalid_arguments", "not_found"]
    assert [s.status.status_code for s in tools[1:]] == [trace.StatusCode.ERROR] * 3

    # the plugin's start: once, inside the first call that needed it (lazy) or before
    (start,) = _named(finished, "jafhost.activate ")
    assert start.name == "jafhost.activate loud"
    assert start.attributes == {"jafhost.plugin": "loud", "jafhost.isolation": isolation}
    assert start.status.status_code == trace.StatusCode.UNSET

    # neither an argument nor a result (nor an error message quoting them) is recorded
    recorded = _everything_recorded(finished)
    assert ARG not in recorded and ARG.upper() not in recorded and RESULT not in recorded


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugin_that_fails_to_start_gives_a_failed_activation_span(
    site: Site, home: Path, make_host: MakeHost, spans: InMemorySpanExporter, isolation: str
) -> None:
    _isolate(home, isolation)
    site.plugin("sour", code="@hookimpl\ndef jaf_activate(ctx):\n    raise RuntimeError('no')\n")

    async def scenario() -> None:
        async with make_host() as host:
            assert host.plugin("sour").runtime == "broken"

    asyncio.run(scenario())
    (start,) = _named(list(spans.get_finished_spans()), "jafhost.activate ")
    assert start.name == "jafhost.activate sour"
    assert start.attributes is not None
    assert start.attributes["error.type"] == "broken"
    assert start.attributes["jafhost.isolation"] == isolation
    assert start.status.status_code == trace.StatusCode.ERROR


def test_sync_host_calls_keep_the_callers_span_as_parent(
    loud: Site, home: Path, spans: InMemorySpanExporter
) -> None:
    (home / "config.toml").write_text(INPROCESS_CONFIG)
    outer = trace.get_tracer("embedder")
    with (
        SyncHost(Host(home, paths=[str(loud.root)])) as host,
        outer.start_as_current_span("sync caller") as caller,
    ):
        assert host.call("loud.shout", {"text": ARG}).ok
        inline = host.call_inline("loud.shout", {"text": ARG})
        assert inline is not None and inline.ok
    tools = _named(list(spans.get_finished_spans()), "execute_tool ")
    assert len(tools) == 2
    for span in tools:
        assert span.parent is not None
        assert span.parent.span_id == caller.get_span_context().span_id


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_agent_run_span_holds_its_tool_spans(
    loud: Site,
    home: Path,
    make_host: MakeHost,
    spans: InMemorySpanExporter,
    tmp_path: Path,
    isolation: str,
) -> None:
    _isolate(home, isolation)
    script = tmp_path / "script.jsonl"
    turns = [
        {
            "tool_calls": [
                {"id": "call-1", "name": "loud.shout", "arguments": {"text": ARG}},
                {"id": "call-2", "name": "loud__explode", "arguments": {"text": ARG}},
            ]
        },
        {"content": "done"},
    ]
    script.write_text("".join(json.dumps(t) + "\n" for t in turns))

    async def scenario() -> None:
        async with make_host() as host:
            run = await host.run_agent("helper", ARG, provider=ScriptedProvider(script))
            assert run.ok and run.output == "done"

    asyncio.run(scenario())
    finished = list(spans.get_finished_spans())
    (agent,) = _named(finished, "invoke_agent ")
    assert agent.name == "invoke_agent loud.helper"
    assert agent.attributes is not None
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "loud.helper"
    assert "error.type" not in agent.attributes
    tools = _named(finished, "execute_tool ")
    assert [s.name for s in tools] == ["execute_tool loud.shout", "execute_tool loud.explode"]
    for span, call_id in zip(tools, ["call-1", "call-2"], strict=True):
        assert span.parent is not None and span.parent.span_id == agent.context.span_id
        assert span.attributes is not None
        assert span.attributes["gen_ai.tool.call.id"] == call_id
        assert span.attributes["jafhost.caller"] == "agent"
    assert (tools[1].attributes or {}).get("error.type") == "tool_error"
    assert ARG not in _everything_recorded(finished)
    assert RESULT not in _everything_recorded(finished)


def test_a_failed_agent_run_says_how_it_ended(
    loud: Site, home: Path, make_host: MakeHost, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    (home / "config.toml").write_text(INPROCESS_CONFIG)
    script = tmp_path / "loop.jsonl"
    turn = {"tool_calls": [{"name": "loud.ask", "arguments": {"text": ARG}}]}
    script.write_text(json.dumps(turn) + "\n" + json.dumps(turn) + "\n")

    async def scenario() -> None:
        async with make_host() as host:
            run = await host.run_agent(
                "helper", "go", provider=ScriptedProvider(script), max_turns=1
            )
            assert run.stop == "max_turns"

    asyncio.run(scenario())
    (agent,) = _named(list(spans.get_finished_spans()), "invoke_agent ")
    assert (agent.attributes or {}).get("error.type") == "max_turns"
    assert agent.status.status_code == trace.StatusCode.ERROR


OFF_CHECK = """
import json, sys
from jafhost.cli.entry import main
code = main(sys.argv[1:])
sys.stdout.flush()
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
sys.stderr.write("OTEL-MODULES " + json.dumps(loaded) + "\\n")
sys.exit(code)
"""

API_OFF_CHECK = """
import asyncio, json, sys
from jafhost import Host
async def main():
    async with Host(sys.argv[1], paths=[sys.argv[2]]) as host:
        result = await host.call("loud.shout", {"text": "x"})
        assert result.ok, result
        run = await host.run_agent("helper", "x", model="scripted:" + sys.argv[3])
        assert run.ok, run
asyncio.run(main())
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")))
"""


def _clean_env(home: Path, site: Site) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.pop("JAFHOST_DEBUG", None)
    env["JAFHOST_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(site.root), *filter(None, [env.get("PYTHONPATH")])])
    return env


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
@pytest.mark.parametrize("lane", ["1", "0"])
def test_off_the_call_path_never_imports_opentelemetry(
    loud: Site, home: Path, isolation: str, lane: str
) -> None:
    _isolate(home, isolation)
    env = _clean_env(home, loud)
    env["JAFHOST_TRACE_CALL"] = "1"
    env["JAFHOST_CALL_LANE"] = lane
    args = ["call", "loud.shout", "-a", 'text="hi"']
    for _ in range(2):  # the second call may take the one-shot lane (a record exists)
        done = subprocess.run(
            [sys.executable, "-c", OFF_CHECK, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == "HI " + RESULT
        assert "OTEL-MODULES []" in done.stderr, done.stderr


def test_off_the_api_and_agent_runs_never_import_opentelemetry(
    loud: Site, home: Path, tmp_path: Path
) -> None:
    script = tmp_path / "s.jsonl"
    script.write_text(
        json.dumps({"tool_calls": [{"name": "loud.ask", "arguments": {"text": "q"}}]})
        + "\n"
        + json.dumps({"content": "ok"})
        + "\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(API_OFF_CHECK),
            str(home),
            str(loud.root),
            str(script),
        ],
        capture_output=True,
        text=True,
        env=_clean_env(home, loud),
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_tracing_settings_from_the_environment() -> None:
    from jafhost.runtime.telemetry import env_enabled

    assert not env_enabled({})
    assert env_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert env_enabled({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert env_enabled({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not env_enabled({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})
    assert not env_enabled({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})


def test_an_exporter_it_does_not_know_is_one_warning_and_the_call_still_runs(
    loud: Site, home: Path
) -> None:
    env = _clean_env(home, loud)
    env["OTEL_TRACES_EXPORTER"] = "zipkin"
    done = run_cli("call", "loud.shout", "-a", 'text="hi"', site=loud, home=home, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == "HI " + RESULT
    warned = [line for line in done.stderr.splitlines() if "zipkin" in line]
    assert warned == [
        "warning: OTEL_TRACES_EXPORTER: exporter 'zipkin' is not supported (otlp, console)"
    ]
