"""The demo: the host with the sample plugins, end to end, offline.

Runs the real ``jafhost`` command (and one MCP client) in a throwaway home so it never
touches yours: list plugins without running them, approve permissions (narrowing two),
compose an agent of the operator's own from a plugin's agent, with a policy that narrows
what the http plugin may reach during its runs, let it answer a scripted conversation
whose tool calls really run in the sqlite, memory, planner and http plugins, watch one
call be denied by that policy, read the audit trail it all left, serve the same tools
over MCP, and end with ``doctor``: every plugin loaded and checked, and what each start
cost (import, initialize, activate, a worker's pid and memory) in a table, the slowest
on top.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.rule import Rule
from shop import make_shop

HERE = Path(__file__).resolve().parent
console = Console()


def step(title: str, *args: str, check: bool = True) -> None:
    console.print(Rule(title))
    console.print(f"[bold cyan]$ jafhost {' '.join(args)}[/]")
    jafhost = shutil.which("jafhost") or "jafhost"
    result = subprocess.run([jafhost, *args], check=False, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        console.print(f"[red]exit status {result.returncode}: the demo stops here[/]")
        sys.exit(result.returncode)
    console.print(f"[dim]exit status {result.returncode}[/]")


async def mcp_round_trip() -> None:
    """What an MCP client (Claude Desktop, an IDE) sees: the same tools, over stdio."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    jafhost = shutil.which("jafhost") or "jafhost"
    server = StdioServerParameters(command=jafhost, args=["mcp"], env=dict(os.environ))
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        names = sorted(tool.name for tool in tools.tools)
        console.print(f"{len(names)} tools over MCP, e.g. {', '.join(names[:6])}, ...")
        result = await session.call_tool(
            "sqlite__query", {"sql": "select id, status from orders order by id"}
        )
        console.print("sqlite__query ->", result.content[0].text)  # type: ignore[union-attr]


def operator_agent(home: Path, script: Path) -> None:
    """The operator's own agent in ``config.toml``: the plugin's support agent, with a
    policy that lets http reach only the carrier's status host during its runs (http's
    grant covers all the carrier's hosts), so its fetch of the tracking host is denied."""
    console.print(Rule("an agent of the operator's own, in config.toml"))
    table = f"""
[agents.shop-support]
from = "support-agents.support"
model = "scripted:{script}"
max_turns = 6

[agents.shop-support.policies.http]
net = ["status.postco.example:443"]
"""
    config = home / "config.toml"
    with config.open("a", encoding="utf-8") as out:
        out.write(table)
    console.print(table.strip(), markup=False, highlight=False)


def main() -> None:
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="jafhost-demo-"))
    os.environ["JAFHOST_HOME"] = str(home)
    os.environ["COLUMNS"] = os.environ.get("COLUMNS", "140")
    console.print(f"[bold]jafhost demo[/] (JAFHOST_HOME={home})")
    try:
        shop = make_shop(home / "shop" / "orders.db")
        step("every installed plugin, found without running any plugin code", "list")
        step("one plugin in full: what it needs and what it asks for", "info", "support-agents")
        step("approve what sqlite asks for...", "enable", "sqlite", "--yes")
        step(
            "...then narrow it to the shop's folder only",
            "revoke",
            "sqlite",
            "read:" + str(Path("~/data").expanduser()),
        )
        step("", "grant", "sqlite", f"read:{shop.parent}")
        step(
            "configure its database (validated against the plugin's schema)",
            "config",
            "set",
            "sqlite",
            "database",
            str(shop),
        )
        step("approve http, but only for the carrier's hosts", "enable", "http", "--yes")
        step("", "revoke", "http", "net:*:443")
        step("", "revoke", "http", "net:*:80")
        step("", "grant", "http", "net:*.postco.example:443")
        step(
            "the support agents (their dependencies were enabled first)",
            "enable",
            "support-agents",
            "--yes",
        )
        step(
            "approve the audit log: it asks to observe every plugin's calls",
            "enable",
            "audit-log",
            "--yes",
        )
        step("now everything the demo needs is enabled", "list")
        operator_agent(home, HERE / "support.jsonl")
        step("the agents: the plugin's, and the operator's own (source: config)", "agents")
        step(
            "the operator's agent answers; each tool call really runs in its plugin",
            "run",
            "shop-support",
            "Where is my order 42?",
        )
        step(
            "the audit trail the calls left (the denied fetch included)",
            "call",
            "audit-log.recent",
            "-a",
            "limit=12",
            "-a",
            "kind=call",
        )
        step("what the planner now holds", "call", "planner.list_tasks")
        console.print(Rule("the same tools over MCP: `jafhost mcp` (stdio)"))
        console.print('client config: {"command": "jafhost", "args": ["mcp"]}')
        asyncio.run(mcp_round_trip())
        step(
            "load everything enabled, report problems and what each start cost",
            "doctor",
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    console.print(Rule(f"done in {time.monotonic() - started:.1f} s"))


if __name__ == "__main__":
    main()
