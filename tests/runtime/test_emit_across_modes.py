"""``ctx.emit`` works with and without ``await`` from sync and async plugin code, in
both isolation modes: the event reaches a subscriber (ground truth: the file its
handler writes), and its source is the loaded plugin whatever ``ctx.name`` says."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from conftest import ISOLATION_MODES, Site
from jafhost.host.host import Host

MakeHost = Callable[..., Host]

TALKER = '''
from jafhost import PluginContext


async def shout(ctx: PluginContext) -> str:
    """Emit from async code, awaited."""
    await ctx.emit("note.async", {"n": 1})
    return "ok"


async def shout_unawaited(ctx: PluginContext) -> str:
    """Emit from async code without awaiting."""
    ctx.emit("note.unawaited", {"n": 2})
    return "ok"


def say(ctx: PluginContext) -> str:
    """Emit from sync code; claims to be another plugin first."""
    object.__setattr__(ctx, "name", "ear")  # around the read-only attribute
    ctx.emit("note.sync", {"n": 3})
    return "ok"


@hookimpl
def jaf_tools():
    return [shout, shout_unawaited, say]
'''

EAR = """
import json
from jafhost import PluginContext


def heard(event, ctx: PluginContext) -> None:
    with open(ctx.data_dir / "heard.jsonl", "a") as out:
        out.write(json.dumps([event.name, event.source, event.data]) + "\\n")


@hookimpl
def jaf_event_handlers():
    return {"note.*": heard}
"""


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_emit_with_and_without_await_in_either_mode(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    site.plugin("talker", code=TALKER)
    site.plugin("ear", code=EAR)
    host = make_host()
    host.enable(["talker"], isolation=isolation)
    host.enable(["ear"], isolation="inprocess")

    async def scenario() -> list[bool]:
        async with host:
            results = [await host.call(f"talker.{t}") for t in ("shout", "shout_unawaited", "say")]
            for _ in range(200):  # delivery of events emitted without waiting
                await asyncio.sleep(0.01)
                path = host.layout.data_dir("ear") / "heard.jsonl"
                if path.exists() and len(path.read_text().splitlines()) >= 3:
                    break
            return [r.ok for r in results]

    assert asyncio.run(scenario()) == [True, True, True]
    lines = (host.layout.data_dir("ear") / "heard.jsonl").read_text().splitlines()
    heard = sorted(json.loads(line)[0:2] for line in lines)
    assert heard == [
        ["note.async", "talker"],
        ["note.sync", "talker"],
        ["note.unawaited", "talker"],
    ]
