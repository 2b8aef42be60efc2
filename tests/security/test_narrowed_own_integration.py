"""A narrowed tool cannot escape its agent's policy through its own integration.

A ``files`` plugin granted ``read:DIR`` offers an integration ``files.reader`` whose
client reads files, and tools that read through it (sync and async). An agent whose
policy allows the plugin only ``read:DIR/a`` calls those tools: the integration's code
is the same plugin's code running in that agent's call, so it is held to the narrowed
grants too. Outside the agent the same tools keep the full grants.

Ground truth: the secret file's text in the result (or not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site
from jafhost.host.host import Host
from jafhost.runtime.call_origin import CALL_ORIGIN, CallOrigin
from jafhost.types import AgentLimits

SECRET_TEXT = "OUTSIDE-B-SECRET"

CODE = '''
from jafhost import Integration, PluginContext


class Reader:
    def read(self, path):
        try:
            with open(path) as f:
                return f.read()
        except Exception as exc:
            return "refused: " + type(exc).__name__


def read_via(path: str, ctx: PluginContext) -> str:
    """Read a file through the plugin's own integration."""
    return ctx.integration("files.reader").read(path)


async def read_via_async(path: str, ctx: PluginContext) -> str:
    """Read a file through the plugin's own integration, from a coroutine."""
    return await ctx.integration("files.reader").read(path)


@hookimpl
def jaf_integrations():
    return [Integration(name="reader", connect=Reader)]


@hookimpl
def jaf_tools():
    return [read_via, read_via_async]
'''


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
@pytest.mark.parametrize("tool", ["files.read_via", "files.read_via_async"])
def test_a_narrowed_tool_reads_through_its_own_integration_only_what_the_policy_allows(
    isolation: str, tool: str, site: Site, make_host: Callable[..., Host], tmp_path: Path
) -> None:
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "inside.txt").write_text("INSIDE-A")
    secret = root / "b" / "outside.txt"
    secret.write_text(SECRET_TEXT)
    site.plugin("files", manifest=f'[permissions]\nread = ["{root}"]\n', code=CODE)
    host = make_host()
    host.enable(["files"], approve=lambda info, new: True, isolation=isolation)
    policy = {
        "files": AgentLimits(agent="support", plugin="files", kinds={"read": (str(root / "a"),)})
    }

    async def scenario() -> None:
        async with host:
            token = CALL_ORIGIN.set(CallOrigin(caller="agent", agent="support", limits=policy))
            try:
                inside = await host.call(tool, {"path": str(root / "a" / "inside.txt")})
                narrowed = await host.call(tool, {"path": str(secret)})
            finally:
                CALL_ORIGIN.reset(token)
            full = await host.call(tool, {"path": str(secret)})
            assert inside.ok and inside.result == "INSIDE-A", inside
            assert SECRET_TEXT not in repr(narrowed), narrowed
            assert full.ok and full.result == SECRET_TEXT, full

    asyncio.run(scenario())
