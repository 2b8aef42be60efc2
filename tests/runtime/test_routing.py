"""Routing agent actions to tools of real, installed plugins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site
from jafhost.host.host import Host

# the router with in-process tools (the inline fast path, middleware objects shared
# with the test)
pytestmark = pytest.mark.usefixtures("inprocess")

MakeHost = Callable[..., Host]

TOOLS = """
import asyncio, time
from typing import Annotated
from pydantic import Field
from jafhost import PluginContext, tool

def add(a: int, b: int, c: int = 0) -> int:
    '''Add numbers.

    Args:
        a: first
        b: second
    '''
    return a + b + c

async def slow_echo(text: str, delay: float = 0.0) -> str:
    await asyncio.sleep(delay)
    return text

def nap(seconds: float) -> str:
    time.sleep(seconds)
    return "rested"

def fail(message: str) -> None:
    raise ValueError(message)

def nothing() -> None:
    return None

def whoami(ctx: PluginContext) -> str:
    return ctx.name

@tool(confirm=True)
def erase(what: str) -> str:
    '''Erase something; asks first.'''
    return "erased " + what

def quit_() -> None:
    raise SystemExit(2)

def named_like_options(timeout: float, label: str, kwargs: int = 0) -> str:
    return f"{label}:{timeout}:{kwargs}"

@hookimpl
def jaf_tools():
    return [add, slow_echo, nap, fail, nothing, whoami, erase, tool(name="quit")(quit_),
            named_like_options]
"""


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture
def host(site: Site, make_host: MakeHost) -> Host:
    site.plugin("calc", code=TOOLS)
    return make_host()


def test_calls_reach_sync_and_async_tools_by_either_name(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            assert (await host.call("calc.add", {"a": 1, "b": 2, "c": 3})).result == 6
            assert (await host.call("calc__add", {"a": "4", "b": 5})).result == 9
            assert (await host.call("calc.slow_echo", {"text": "hi"})).result == "hi"
            assert (await host.call("calc.whoami")).result == "calc"
            named = await host.call("calc.named_like_options", {"timeout": 2, "label": "x"})
            assert named.result == "x:2.0:0"  # no clash with the host's own options
            nothing = await host.call("calc.nothing")
            assert nothing.ok and nothing.result is None

    _run(scenario())


def test_structured_errors(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            bad = await host.call("calc.add", {"a": "x", "d": 1})
            assert not bad.ok and bad.error is not None
            assert bad.error.code == "invalid_arguments"
            assert {f["field"] for f in bad.error.fields} == {"a", "b", "d"}
            assert bad.error.message.startswith("invalid arguments: a: ")

            missing = await host.call("calc.ad")
            assert missing.error is not None and missing.error.code == "not_found"
            assert "did you mean calc.add" in missing.error.message

            failed = await host.call("calc.fail", {"message": "no luck"})
            assert failed.error is not None and failed.error.code == "tool_error"
            assert failed.error.message == "ValueError: no luck"
            assert failed.error.exception == "ValueError"
            assert failed.error.traceback is None

            quitting = await host.call("calc.quit")
            assert quitting.error is not None and quitting.error.code == "tool_error"
            assert quitting.error.message == "plugin calc raised SystemExit: 2"
            # the host still works after all of that
            assert (await host.call("calc.add", {"a": 1, "b": 1})).result == 2

    _run(scenario())


def test_debug_adds_the_traceback(host: Host) -> None:
    host.debug = True

    async def scenario() -> None:
        async with host:
            failed = await host.call("calc.fail", {"message": "x"})
            assert failed.error is not None and "Traceback" in (failed.error.traceback or "")

    _run(scenario())


@pytest.mark.parametrize(
    "tool,args", [("calc.nap", {"seconds": 5}), ("calc.slow_echo", {"text": "x", "delay": 5})]
)
def test_hanging_tool_times_out_and_others_go_on(
    host: Host, tool: str, args: dict[str, object]
) -> None:
    async def scenario() -> None:
        async with host:
            started = time.monotonic()
            hung, quick = await asyncio.gather(
                host.call(tool, args, timeout=0.3),
                host.call("calc.slow_echo", {"text": "fine", "delay": 0.05}),
            )
            assert hung.error is not None and hung.error.code == "timeout"
            assert hung.error.message == "timed out after 0.3 s"
            assert quick.result == "fine"
            assert time.monotonic() - started < 3

    _run(scenario())


def test_many_concurrent_calls(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            calls = [host.call("calc.add", {"a": i, "b": i}) for i in range(100)]
            calls += [
                host.call("calc.slow_echo", {"text": str(i), "delay": 0.01}) for i in range(100)
            ]
            results = await asyncio.gather(*calls)
            assert [r.result for r in results[:100]] == [2 * i for i in range(100)]
            assert [r.result for r in results[100:]] == [str(i) for i in range(100)]

    _run(scenario())


def test_confirmation(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            nobody = await host.call("calc.erase", {"what": "disk"})
            assert nobody.error is not None and nobody.error.code == "permission_denied"
            assert "nobody to ask" in nobody.error.message
            asked: list[tuple[str, dict[str, object]]] = []

            def no(tool, args):  # type: ignore[no-untyped-def]
                asked.append((tool.full_name, args))
                return False

            refused = await host.call("calc.erase", {"what": "disk"}, confirm=no)
            assert refused.error is not None and "refused" in refused.error.message
            assert asked == [("calc.erase", {"what": "disk"})]
            ok = await host.call("calc.erase", {"what": "tmp"}, confirm=lambda t, a: True)
            assert ok.result == "erased tmp"

    _run(scenario())


def test_tools_of_inactive_plugins_say_why(site: Site, make_host: MakeHost) -> None:
    site.plugin("calc", code=TOOLS)
    site.plugin("broken", code="raise RuntimeError('no')")
    host = make_host()
    host.disable(["calc"])

    async def scenario() -> None:
        async with host:
            off = await host.call("calc.add", {"a": 1, "b": 2})
            assert off.error is not None and off.error.code == "unavailable"
            assert off.error.status == "disabled"
            assert "plugin calc is disabled" in off.error.message
            assert "(to enable it: jafhost enable calc)" in off.error.message
            broken = await host.call("broken.anything")
            assert broken.error is not None and broken.error.status == "broken"
            assert broken.error.code == "unavailable"

    _run(scenario())


MIDDLEWARE = """
import json, os
from jafhost import PermissionDenied

LOG = os.environ["JAF_TEST_AUDIT"]

@hookimpl(wrapper=True)
def jaf_tool_call(call):
    if call.arguments.get("a") == 13:
        raise PermissionDenied("unlucky number", permission="calc:13")
    if call.arguments.get("a") == 14:
        raise RuntimeError("middleware bug")
    try:
        result = yield
    except Exception as exc:
        with open(LOG, "a") as f:
            f.write(json.dumps({"tool": call.name, "error": str(exc)}) + "\\n")
        raise
    with open(LOG, "a") as f:
        f.write(json.dumps({"tool": call.name, "args": call.arguments, "result": result}) + "\\n")
    return result

@hookimpl(tryfirst=True, specname="jaf_tool_call")
def cache(call):
    if call.arguments.get("a") == 42:
        return "cached"
"""


def test_middleware_audits_caches_and_refuses(
    site: Site, make_host: MakeHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    audit = tmp_path / "audit.jsonl"
    monkeypatch.setenv("JAF_TEST_AUDIT", str(audit))
    site.plugin("calc", code=TOOLS)
    # the middleware runs under its own plugin's grants: it may write only the audit trail,
    # and it wraps calls of calc's tools because it was granted observe
    grants = f'[permissions]\nwrite = ["{audit}"]\nenv = ["JAF_TEST_AUDIT"]\nobserve = true\n'
    site.plugin("audit", code=MIDDLEWARE, manifest=grants)
    host = make_host(approve=True)

    async def scenario() -> None:
        async with host:
            assert host.active == ["audit", "calc"]
            assert (await host.call("calc.add", {"a": 1, "b": 2})).result == 3
            assert (await host.call("calc.slow_echo", {"text": "async"})).result == "async"
            assert (await host.call("calc.add", {"a": 42, "b": 0})).result == "cached"
            refused = await host.call("calc.add", {"a": 13, "b": 0})
            assert refused.error is not None and refused.error.code == "permission_denied"
            assert refused.error.permission == "calc:13"
            buggy = await host.call("calc.add", {"a": 14, "b": 0})
            assert buggy.error is not None and buggy.error.code == "tool_error"
            assert buggy.error.message == "RuntimeError: middleware bug"
            failed = await host.call("calc.fail", {"message": "seen"})
            assert failed.error is not None and failed.error.message == "ValueError: seen"
            hung = await host.call("calc.nap", {"seconds": 5}, timeout=0.3)
            assert hung.error is not None and hung.error.code == "timeout"

    _run(scenario())
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert entries[0] == {"tool": "calc.add", "args": {"a": 1, "b": 2, "c": 0}, "result": 3}
    assert entries[1]["result"] == "async"
    assert entries[2]["result"] == "cached"
    assert {"tool": "calc.fail", "error": "seen"} in entries


def test_inline_fast_path(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            inline = host.call_inline("calc.add", {"a": 2, "b": 3})
            assert inline is not None and inline.result == 5
            bad = host.call_inline("calc.add", {"a": "x", "b": 3})
            assert bad is not None and bad.error is not None
            assert bad.error.code == "invalid_arguments"
            assert host.call_inline("calc.slow_echo", {"text": "x"}) is None
            guarded = host.call_inline("calc.erase", {"what": "x"})
            assert guarded is not None and guarded.error is not None
            assert guarded.error.code == "permission_denied"

    _run(scenario())


def test_exports(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            openai = {d["function"]["name"]: d for d in host.tool_definitions("openai")}
            assert openai["calc__add"]["type"] == "function"
            assert openai["calc__add"]["function"]["parameters"]["required"] == ["a", "b"]
            mcp = {d["name"]: d for d in host.tool_definitions("mcp")}
            assert mcp["calc__add"]["inputSchema"]["properties"]["a"]["description"] == "first"
            assert [t.full_name for t in host.tools(["calc.s*"])] == ["calc.slow_echo"]
            assert host.tool("calc__add").full_name == "calc.add"

    _run(scenario())


@pytest.mark.parametrize(
    "code,reason",
    [
        (
            "@hookimpl\ndef jaf_tools():\n    raise RuntimeError('catalog')\n",
            "jaf_tools failed: RuntimeError: catalog",
        ),
        (
            "def a(): pass\n@hookimpl\ndef jaf_tools():\n    return [a, a]\n",
            "two tools are named 'a'",
        ),
        ("@hookimpl\ndef jaf_tools():\n    return 'a'\n", "must return a list"),
    ],
)
def test_bad_catalog_breaks_only_that_plugin(
    site: Site, make_host: MakeHost, code: str, reason: str
) -> None:
    site.plugin("bad", code=code)
    site.plugin("calc", code=TOOLS)
    host = make_host()

    async def scenario() -> None:
        async with host:
            bad = host.loaded("bad")
            assert bad is not None and bad.status == "broken"
            assert reason in (bad.error or "")
            assert host.active == ["calc"]

    _run(scenario())


def test_middleware_runs_under_its_own_grants(
    site: Site, make_host: MakeHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = tmp_path / "audit.jsonl"
    monkeypatch.setenv("JAF_TEST_AUDIT", str(audit))
    site.plugin("calc", code=TOOLS)
    site.plugin("audit", code=MIDDLEWARE,  # observe, but no grant to write the trail
                manifest='[permissions]\nenv = ["JAF_TEST_AUDIT"]\nobserve = true\n')  # fmt: skip
    host = make_host(approve=True)

    async def scenario() -> None:
        async with host:
            result = await host.call("calc.add", {"a": 1, "b": 2})
            assert result.error is not None and result.error.code == "permission_denied"
            assert result.error.permission == f"write:{audit}"
            assert result.error.plugin == "audit"

    asyncio.run(scenario())
    assert not audit.exists()


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
@pytest.mark.parametrize("arguments", ["not an object", [1, 2], 3])
def test_arguments_that_are_no_object_are_invalid_in_either_mode(
    isolation: str, arguments: object, site: Site, make_host: MakeHost
) -> None:
    site.plugin("calc", code=TOOLS)
    host = make_host()
    host.enable(["calc"], isolation=isolation)

    async def scenario() -> None:
        async with host:
            result = await host.call("calc.add", arguments)
            assert result.error is not None and result.error.code == "invalid_arguments"
            assert "must be a JSON object" in result.error.message

    asyncio.run(scenario())
