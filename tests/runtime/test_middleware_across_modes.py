"""Tool-call middleware (``jaf_tool_call``) of a plugin wraps its calls the same way in
both isolation modes: in a worker the wrapper runs there, and when it proceeds the host
runs the rest of the chain (the plugin's own tool: a request nested in the one in
flight) and hands the result, or the error, back to it."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable

import pytest

from conftest import ISOLATION_MODES, Site
from jafhost.host.host import Host
from jafhost.types import CallResult

MakeHost = Callable[..., Host]

GUARDIAN = '''
import json, os
from jafhost import PermissionDenied, ToolError


def echo(text: str) -> str:
    """Say it back."""
    return text


async def echo_async(text: str) -> str:
    """Say it back, from async code."""
    return text


def fail() -> str:
    """Always fails."""
    raise ToolError("inner failure")


FOLDER = []


@hookimpl
def jaf_initialize(ctx):
    FOLDER.append(ctx.data_dir)


@hookimpl(wrapper=True)
def jaf_tool_call(call):
    with open(FOLDER[-1] / "middleware.jsonl", "a") as out:
        out.write(json.dumps({"tool": call.name, "args": call.arguments,
                              "pid": os.getpid()}) + "\\n")
    if call.name == "guardian.refused":
        raise PermissionDenied("refused by middleware", plugin="guardian", permission="x")
    if call.name == "guardian.echo" and call.arguments.get("text") == "rewrite":
        call.arguments["text"] = "rewritten"
    try:
        result = yield
    except ToolError as exc:
        return f"recovered: {exc}"
    if isinstance(result, str):
        return result.upper()
    return result


def refused() -> str:
    """Never reached."""
    return "ran"


@hookimpl
def jaf_tools():
    return [echo, echo_async, fail, refused]
'''


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_middleware_wraps_calls_in_either_mode(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    site.plugin("guardian", code=GUARDIAN)
    host = make_host()
    host.enable(["guardian"], isolation=isolation)
    data = host.layout.data_dir("guardian")

    async def scenario() -> list[CallResult]:
        async with host:
            calls = [
                ("guardian.echo", {"text": "hello"}),
                ("guardian.echo_async", {"text": "async"}),
                ("guardian.echo", {"text": "rewrite"}),
                ("guardian.fail", {}),
                ("guardian.refused", {}),
            ]
            return [await host.call(name, args) for name, args in calls]

    echo, echo_async, rewritten, failed, refused = asyncio.run(scenario())
    assert (echo.ok, echo.result) == (True, "HELLO")
    assert (echo_async.ok, echo_async.result) == (True, "ASYNC")
    assert (rewritten.ok, rewritten.result) == (True, "REWRITTEN")  # arguments it changed
    assert (failed.ok, failed.result) == (True, "recovered: inner failure")  # error seen
    assert not refused.ok and refused.error is not None
    assert refused.error.code == "permission_denied"
    logged = [json.loads(line) for line in (data / "middleware.jsonl").read_text().splitlines()]
    assert [entry["tool"] for entry in logged] == [
        "guardian.echo",
        "guardian.echo_async",
        "guardian.echo",
        "guardian.fail",
        "guardian.refused",
    ]
    pids = {entry["pid"] for entry in logged}
    assert (pids == {os.getpid()}) == (isolation == "inprocess")  # ran in its worker
