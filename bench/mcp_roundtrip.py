#!/usr/bin/env python3
"""Round trip of one MCP tool call: ``jafhost mcp`` against a bare MCP SDK server.

Both servers expose the same 3-argument function and are driven, in one run, by the
official MCP client (``mcp.ClientSession`` over ``stdio_client``):

* **jafhost**: ``python -m jafhost mcp`` serving the function as a tool of a real plugin
  installed in a temporary site (``PYTHONPATH``) with a temporary ``JAFHOST_HOME``; every
  other plugin the environment has installed is disabled in that home, so both servers
  start with exactly one tool.
* **bare**: a script with ``mcp.server.mcpserver.MCPServer`` (FastMCP's 2.x name) and the
  same function under ``@app.tool()``.

Measured:

1. start + handshake: from spawning the process to ``initialize()`` returning (imports,
   plugin activation, the MCP handshake); median over ``--starts`` launches of each,
   interleaved;
2. per-call round trip: both sessions open at once, warmed up, then ``--calls`` sequential
   ``call_tool`` calls per server in blocks of ``--block``, alternating servers block by
   block so drift of the machine spreads evenly; median, p10 and p90 per call.

The target is jafhost's median call within 1.2x of the bare server's. Results are
printed and appended (never overwritten) to ``bench/RESULTS.md``.

Usage::

    python bench/mcp_roundtrip.py [--calls 500] [--warmup 100] [--block 50] [--starts 10]
                                  [--out bench/RESULTS.md] [--profile FILE]

``--profile FILE`` additionally runs one jafhost server under cProfile (``--calls`` calls)
and writes the top functions to FILE. Run it with the interpreter of the environment that
has jafhost and ``mcp`` installed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

TARGET_RATIO = 1.2
PLUGIN = "mcpbench"
TOOL = "mix"
ARGUMENTS = {"a": 3, "b": 4.5, "text": "sum"}
EXPECTED = "sum=7.5"

FUNCTION = '''
def mix(a: int, b: float, text: str) -> str:
    """Join a label and the sum of two numbers.

    Args:
        a: an integer
        b: a number
        text: the label
    """
    return f"{text}={a + b}"
'''

PLUGIN_SOURCE = (
    "from jafhost import hookimpl\n"
    + FUNCTION
    + textwrap.dedent(
        """
        @hookimpl
        def jaf_tools():
            return [mix]
        """
    )
)

BARE_SERVER = (
    '"""A bare MCP server with the SDK\'s decorator API, exposing the same function."""\n'
    "from mcp.server.mcpserver import MCPServer\n\n"
    'app = MCPServer("bare")\n'
    + FUNCTION.replace("def mix", "@app.tool()\ndef mix")
    + '\nif __name__ == "__main__":\n    app.run()\n'
)

PROFILE_WRAPPER = textwrap.dedent(
    """
    import cProfile, pstats, sys
    from jafhost.cli.app import main
    out = sys.argv.pop(1)
    profiler = cProfile.Profile()
    try:
        profiler.runcall(main, ["mcp"])
    finally:
        with open(out, "w") as f:
            stats = pstats.Stats(profiler, stream=f)
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(30)
    """
)


# -- set-up ----------------------------------------------------------------------------


def install(root: Path) -> dict[str, Any]:
    """The temporary site, home and bare script; returns the two servers' launch specs."""
    site, home = root / "site", root / "home"
    package = site / "jp_mcpbench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_SOURCE)
    dist = site / "jaf_plugin_mcpbench-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jaf-plugin-mcpbench\nVersion: 1.0.0\n\n"
    )
    (dist / "entry_points.txt").write_text(f"[jaf.plugins]\n{PLUGIN} = jp_mcpbench\n")
    (dist / "RECORD").write_text("")
    home.mkdir()
    bare = root / "bare_server.py"
    bare.write_text(BARE_SERVER)
    env = {
        "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "JAFHOST_HOME": str(home),
    }
    disabled = disable_others(env)
    return {
        "jafhost": {"args": ["-m", "jafhost", "mcp"], "env": env, "tool": f"{PLUGIN}__{TOOL}"},
        "bare": {"args": [str(bare)], "env": {}, "tool": TOOL},
        "disabled": disabled,
        "root": root,
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jafhost", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )


def disable_others(env: dict[str, str]) -> list[str]:
    """Disable every plugin but ours in the temporary home (one tool on each side)."""
    listing = json.loads(_cli(env, "list", "--json").stdout)
    names = [p["name"] for p in listing]
    if PLUGIN not in names:
        raise SystemExit(f"the benchmark plugin {PLUGIN} was not discovered: {names}")
    others = [
        n
        for n in names
        if n != PLUGIN and next(p for p in listing if p["name"] == n)["status"] == "enabled"
    ]
    if others:
        _cli(env, "disable", *others)
    return others


# -- driving a server ------------------------------------------------------------------


@asynccontextmanager
async def session(spec: dict[str, Any], errlog: Any) -> AsyncIterator[Any]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=spec["args"], env=spec["env"])
    async with (
        stdio_client(params, errlog=errlog) as (read, write),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        yield client


async def check(client: Any, name: str) -> None:
    tools = (await client.list_tools()).tools
    if [t.name for t in tools] != [name]:
        raise SystemExit(f"expected exactly the tool {name}, got {[t.name for t in tools]}")
    result = await client.call_tool(name, ARGUMENTS)
    text = result.content[0].text if result.content else None
    if result.is_error or text != EXPECTED:
        raise SystemExit(f"{name} answered {result!r}, expected {EXPECTED!r}")


async def time_starts(specs: dict[str, Any], starts: int, errlog: Any) -> dict[str, list[float]]:
    order = [name for _ in range(starts) for name in ("jafhost", "bare")]
    random.Random(7).shuffle(order)
    seconds: dict[str, list[float]] = {"jafhost": [], "bare": []}
    for name in order:
        began = time.perf_counter()
        async with session(specs[name], errlog):
            seconds[name].append(time.perf_counter() - began)
    return seconds


async def time_calls(
    specs: dict[str, Any], calls: int, warmup: int, block: int, errlog: Any
) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {"jafhost": [], "bare": []}
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(session(specs[name], errlog)) for name in seconds
        }
        for name, client in clients.items():
            await check(client, specs[name]["tool"])
            for _ in range(warmup):
                await client.call_tool(specs[name]["tool"], ARGUMENTS)
        rounds = -(-calls // block)
        flip = False
        for _ in range(rounds):
            names = ["jafhost", "bare"] if not flip else ["bare", "jafhost"]
            flip = not flip
            for name in names:
                client, tool = clients[name], specs[name]["tool"]
                for _ in range(min(block, calls - len(seconds[name]))):
                    began = time.perf_counter()
                    await client.call_tool(tool, ARGUMENTS)
                    seconds[name].append(time.perf_counter() - began)
    return seconds


async def profile(spec: dict[str, Any], calls: int, out: Path, root: Path, errlog: Any) -> None:
    wrapper = root / "profile_jafhost.py"
    wrapper.write_text(PROFILE_WRAPPER)
    profiled = {**spec, "args": [str(wrapper), str(out)]}
    async with session(profiled, errlog) as client:
        for _ in range(calls):
            await client.call_tool(spec["tool"], ARGUMENTS)


# -- report ----------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine() -> dict[str, str]:
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    git = "unknown"
    if shutil.which("git"):
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        )
        git = done.stdout.strip() or git
    from importlib.metadata import version

    return {
        "nproc": str(os.cpu_count()),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        "mcp": version("mcp"),
        "jafhost": f"{version('jafhost')} (git {git})",
        "load": load,
    }


def report(
    args: argparse.Namespace,
    setup: dict[str, Any],
    starts: dict[str, list[float]],
    calls: dict[str, list[float]],
    info: dict[str, str],
    load_after: str,
) -> str:
    call_median = {k: statistics.median(v) for k, v in calls.items()}
    start_median = {k: statistics.median(v) for k, v in starts.items()}
    ratio = call_median["jafhost"] / call_median["bare"]
    start_ratio = start_median["jafhost"] / start_median["bare"]
    now = _dt.datetime.now(_dt.UTC)
    command = " ".join([sys.executable, *sys.argv])
    rows = [
        "| server | call median µs | p10 µs | p90 µs | calls | start + handshake median ms "
        "| starts |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, label in (
        ("jafhost", "`jafhost mcp` (plugin tool)"),
        ("bare", "bare `MCPServer` (same function)"),
    ):
        rows.append(
            f"| {label} | {call_median[name] * 1e6:.0f} | {quantile(calls[name], 0.1) * 1e6:.0f} "
            f"| {quantile(calls[name], 0.9) * 1e6:.0f} | {len(calls[name])} "
            f"| {start_median[name] * 1e3:.0f} | {len(starts[name])} |"
        )
    rows.append(f"| **ratio jafhost / bare** | **{ratio:.2f}×** | | | | {start_ratio:.2f}× | |")
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    disabled = ", ".join(setup["disabled"]) or "none"
    lines = [
        f"## MCP round trip: `jafhost mcp` vs a bare MCP server ({now:%Y-%m-%d %H:%M} UTC)",
        "",
        f"- command: `{command}` (cwd `{os.getcwd()}`)",
        f"- date: {now.isoformat(timespec='seconds')}",
        f"- machine: nproc {info['nproc']}, {info['platform']}",
        f"- python: {info['python']}; mcp {info['mcp']}; jafhost {info['jafhost']}",
        f"- load average before / after: {info['load']} / {load_after}",
        f"- client: official `mcp.ClientSession` over `stdio_client`, one process per server; "
        f"tool `{TOOL}(a: int, b: float, text: str) -> str`, arguments `{json.dumps(ARGUMENTS)}`",
        f"- calls: {args.warmup} warm-up calls per server, then {args.calls} sequential timed "
        f"calls per server in blocks of {args.block}, alternating servers block by block; "
        f"starts: {args.starts} per server, shuffled",
        f"- other installed plugins disabled in the temporary home: {disabled}",
        "",
        *rows,
        "",
        f"Target: jafhost's median call ≤ {TARGET_RATIO}× the bare server's: "
        f"{ratio:.2f}× — **{verdict}**.",
        "",
    ]
    return "\n".join(lines)


def append(out: Path, section: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    header = ""
    if not out.exists() or out.stat().st_size == 0:
        header = (
            "# Benchmark results\n\nAppended by the scripts in this folder; compare "
            "numbers only within one run (the machine drifts ±20% between runs).\n\n"
        )
    with out.open("a", encoding="utf-8") as f:  # append: other benchmarks write here too
        f.write(header + section + "\n")


async def run(args: argparse.Namespace) -> None:
    info = machine()
    root = Path(tempfile.mkdtemp(prefix="jafhost-mcp-bench-"))
    try:
        setup = install(root)
        errlog_path = root / "servers-stderr.txt"
        with errlog_path.open("w") as errlog:
            try:
                starts = await time_starts(setup, args.starts, errlog)
                calls = await time_calls(setup, args.calls, args.warmup, args.block, errlog)
                if args.profile:
                    await profile(
                        setup["jafhost"], args.calls, Path(args.profile).resolve(), root, errlog
                    )
            except BaseException:
                errlog.flush()
                sys.stderr.write(errlog_path.read_text()[-4000:])
                raise
        try:
            load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        except OSError:
            load_after = "n/a"
        section = report(args, setup, starts, calls, info, load_after)
        print(section)
        if args.out:
            append(Path(args.out), section)
            print(f"appended to {args.out}")
        if args.profile:
            print(f"profile of the jafhost server: {args.profile}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument(
        "--out",
        default=str(Path(__file__).with_name("RESULTS.md")),
        help="append the results here ('' to skip)",
    )
    parser.add_argument("--profile", default="", help="also profile the jafhost server")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
