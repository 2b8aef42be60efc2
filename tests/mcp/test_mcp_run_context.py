"""A tool called through ``jafhost mcp`` gets ``RunContext.caller == "mcp"``, in both
isolation modes: a real server process driven by the official MCP client."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli

mcp = pytest.importorskip("mcp")
anyio = pytest.importorskip("anyio")

from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

WHO = """
from jafhost import RunContext

def who(run: RunContext) -> dict:
    '''Say who is calling.'''
    return {"caller": run.caller, "agent": run.agent, "run_id": run.run_id}

@hookimpl
def jaf_tools():
    return [who]
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
async def test_a_tool_called_over_mcp_sees_caller_mcp(
    site: Site, home: Path, tmp_path: Path, isolation: str
) -> None:
    site.plugin("ctxmcp", code=WHO)
    enabled = run_cli("enable", "ctxmcp", "--isolation", isolation, "--yes", site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    env = {
        "PYTHONPATH": os.pathsep.join(
            [str(site.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "JAFHOST_HOME": str(home),
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "jafhost", "mcp"], env=env, cwd=str(tmp_path)
    )
    with anyio.fail_after(60), open(tmp_path / "stderr.txt", "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert tools["ctxmcp__who"].input_schema["properties"] == {}
            result = await session.call_tool("ctxmcp__who", {})
    assert not result.is_error, result.content
    assert json.loads(result.content[0].text) == {"caller": "mcp", "agent": None, "run_id": None}
