#!/usr/bin/env python3
"""What isolation costs: the in-process guard, process-mode round trips, worker start.

Measured in one run, for the same tool ``add(a: int, b: int) -> int`` of a real plugin
installed in a temporary site:

1. **guard cost per call** (in fresh subprocesses, each measuring before and after
   ``guard.install()`` in the same process): ``Host.call_inline`` and ``await Host.call``
   of the no-I/O tool; plus one audit event raised by host code and by plugin code;
2. **round trip per call**, interleaved in blocks so the machine's drift spreads evenly:
   ``await Host.call`` in process and in process mode (the whole router: lookup,
   middleware check, time limit, worker request), ``WorkerClient.call`` alone (the protocol),
   a bare newline-delimited-JSON pipe worker doing the same addition (a blocking client,
   and an asyncio client like the host's), and, if ``mcp`` is installed, a bare MCP SDK
   stdio server (``MCPServer``) called with ``ClientSession``;
3. **worker start**: a sandboxed worker until it is ready (limits, namespaces, Landlock,
   capabilities, seccomp and the audit guard applied, site folders processed, pydantic
   imported; before the plugin's own imports), then until the plugin is started; spawned
   as a new interpreter (as the one-shot CLI does) and forked by the zygote
   (``runtime/isolation/zygote.py``), against a bare worker that only imports pydantic;
   each stage of the start as the worker reports it; the resident memory (RSS, and PSS,
   which counts shared pages in shares) of each idle worker's whole process tree.

Targets: process round trip <= 2x the bare pipe worker; guard <= 0.5 µs per call;
sandboxed worker ready <= 1.5x the bare pydantic worker.
Results are printed and appended (never overwritten) to ``bench/RESULTS.md``.

Usage::

    python bench/isolation.py [--calls 3000] [--block 250] [--guard-runs 5]
                              [--starts 12] [--out bench/RESULTS.md]
    python bench/isolation.py --only-starts [--starts 12]
    python bench/isolation.py --commands [--command-runs 5]

``--commands`` runs CLI commands (``call``, ``config show``, ``emit``, ``doctor``,
``mcp``) as whole processes with spawned and with forked workers
(``JAFHOST_WORKER_ZYGOTE=0``/``1``): which serves each command sooner.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from discovery import compile_host  # bench/discovery.py: shared with the start-up bench

PLUGIN = "isobench"
ARGS = {"a": 3, "b": 4}
EXPECTED = 7

PLUGIN_SOURCE = textwrap.dedent(
    '''
    from jafhost import hookimpl

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    async def add_async(a: int, b: int) -> int:
        """Add two numbers, as a coroutine."""
        return a + b

    @hookimpl
    def jaf_tools():
        return [add, add_async]
    '''
)

BARE_PIPE_WORKER = textwrap.dedent(
    """
    import json, os, sys
    reader = os.fdopen(int(sys.argv[1]), "rb")
    out = int(sys.argv[2])
    os.write(out, b'{"op": "ready"}\\n')
    for line in reader:
        request = json.loads(line)
        args = request["args"]
        reply = {"id": request["id"], "ok": True, "result": args["a"] + args["b"]}
        os.write(out, json.dumps(reply).encode() + b"\\n")
    """
)

BARE_PYDANTIC_WORKER = textwrap.dedent(
    """
    import os, sys
    import pydantic
    os.write(1, b"ready\\n")
    sys.stdin.read()
    """
)

BARE_MCP_SERVER = textwrap.dedent(
    '''
    from mcp.server.mcpserver import MCPServer

    app = MCPServer("bare")

    @app.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    if __name__ == "__main__":
        app.run()
    '''
)

GUARD_CHILD = textwrap.dedent(
    """
    import asyncio, json, statistics, sys, time
    from jafhost.security import guard
    from jafhost.host.host import Host
    from jafhost.security.policy import Policy

    site, home, number, samples = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    Host._guard = lambda self, name: name          # activate without arming the guard
    host = Host(home, paths=[site])
    host.enable(["isobench"], isolation="inprocess")  # the guard's cost is an in-process one
    args = {"a": 3, "b": 4}

    def per_call(fn):
        for _ in range(min(number, 2000)):
            fn()
        runs = []
        for _ in range(samples):
            began = time.perf_counter_ns()
            for _ in range(number):
                fn()
            runs.append((time.perf_counter_ns() - began) / number)
        return statistics.median(runs)

    async def per_call_async(fn):
        for _ in range(min(number // 4, 500)):
            await fn()
        runs = []
        for _ in range(samples):
            began = time.perf_counter_ns()
            for _ in range(number // 4):
                await fn()
            runs.append((time.perf_counter_ns() - began) / (number // 4))
        return statistics.median(runs)

    def event_in_plugin():
        token = guard.CURRENT_PLUGIN.set("isobench")
        try:
            sys.audit("jafhost.bench", 1)
        finally:
            guard.CURRENT_PLUGIN.reset(token)

    def event_in_host():
        sys.audit("jafhost.bench", 1)

    async def measure():
        inline = lambda: host.call_inline("isobench.add", args)
        call = lambda: host.call("isobench.add", args)
        return {
            "inline": per_call(inline),
            "call": await per_call_async(call),
            "event_host": per_call(event_in_host),
            "event_plugin": per_call(event_in_plugin),
        }

    async def count_events():
        # audit events raised per call, and in whose name (after the measurements)
        seen = {"inline": [0, 0], "call": [0, 0]}
        current = [None]

        def counter(event, event_args):
            if current[0] is not None:
                seen[current[0]][0 if guard.running_plugin() is None else 1] += 1

        sys.addaudithook(counter)
        current[0] = "inline"
        for _ in range(100):
            host.call_inline("isobench.add", args)
        current[0] = "call"
        for _ in range(100):
            await host.call("isobench.add", args)
        current[0] = None
        return {k: [v[0] / 100, v[1] / 100] for k, v in seen.items()}

    async def main():
        async with host:
            assert host.call_inline("isobench.add", args).result == 7
            off = await measure()
            guard.set_policy(Policy.compile("isobench", [], host.layout.data_dir("isobench")))
            guard.install()
            on = await measure()
            assert guard.installed() and host.call_inline("isobench.add", args).ok
            events = await count_events()
        print(json.dumps({"off": off, "on": on, "events": events}))

    asyncio.run(main())
    """
)


# -- set-up ------------------------------------------------------------------------------


def install(root: Path) -> dict[str, Path]:
    site = root / "site"
    package = site / "jp_isobench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_SOURCE)
    dist = site / "jaf_plugin_isobench-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jaf-plugin-isobench\nVersion: 1.0.0\n\n"
    )
    (dist / "entry_points.txt").write_text(f"[jaf.plugins]\n{PLUGIN} = jp_isobench\n")
    (dist / "RECORD").write_text("")
    paths = {"site": site, "root": root}
    for name in ("home_in", "home_proc", "home_guard"):
        paths[name] = root / name
        paths[name].mkdir()
    for name, text in (
        ("bare_pipe", BARE_PIPE_WORKER),
        ("bare_pydantic", BARE_PYDANTIC_WORKER),
        ("bare_mcp", BARE_MCP_SERVER),
    ):
        paths[name] = root / f"{name}.py"
        paths[name].write_text(text)
    return paths


def host_for(home: Path, site: Path, isolation: str) -> Any:
    from jafhost.host.host import Host

    host = Host(home, paths=[str(site)], hook_timeout=10)
    host.enable([PLUGIN], isolation=isolation)
    return host


# -- 1. guard ------------------------------------------------------------------------------


def guard_cost(paths: dict[str, Path], runs: int) -> dict[str, Any]:
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", GUARD_CHILD, str(paths["site"]), str(paths["home_guard"]),
             "20000", "7"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"guard child failed:\n{done.stderr}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    out: dict[str, Any] = {"runs": runs}
    for key in ("inline", "call", "event_host", "event_plugin"):
        off = statistics.median(r["off"][key] for r in results)
        on = statistics.median(r["on"][key] for r in results)
        deltas = [r["on"][key] - r["off"][key] for r in results]
        out[key] = {"off": off, "on": on, "delta": statistics.median(deltas)}
    host_event = out["event_host"]["delta"]
    plugin_event = out["event_plugin"]["delta"]
    for key in ("inline", "call"):
        in_host, in_plugin = results[0]["events"][key]
        out[key]["events"] = (in_host, in_plugin)
        out[key]["estimate"] = in_host * host_event + in_plugin * plugin_event
    return out


# -- 2. round trips ------------------------------------------------------------------------


class BarePipe:
    """A bare NDJSON worker over a pipe pair, driven blocking or from asyncio."""

    def __init__(self, script: Path) -> None:
        child_read, self.write_fd = os.pipe()
        self.read_fd, child_write = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(child_read), str(child_write)],
            pass_fds=(child_read, child_write),
        )
        os.close(child_read)
        os.close(child_write)
        self.reader = os.fdopen(os.dup(self.read_fd), "rb")
        assert json.loads(self.reader.readline())["op"] == "ready"
        self.ids = 0
        self.buffer = bytearray()

    def call(self) -> Any:
        self.ids += 1
        os.write(self.write_fd, json.dumps({"id": self.ids, "op": "call", "tool": "add",
                                            "args": ARGS}).encode() + b"\n")  # fmt: skip
        return json.loads(self.reader.readline())["result"]

    async def call_async(self) -> Any:
        self.ids += 1
        os.write(self.write_fd, json.dumps({"id": self.ids, "op": "call", "tool": "add",
                                            "args": ARGS}).encode() + b"\n")  # fmt: skip
        loop = asyncio.get_running_loop()
        while b"\n" not in self.buffer:
            future: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self.read_fd2, future.set_result, None)
            try:
                await future
            finally:
                loop.remove_reader(self.read_fd2)
            self.buffer += os.read(self.read_fd2, 65536)
        end = self.buffer.index(b"\n")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 1]
        return json.loads(line)["result"]

    def close(self) -> None:
        os.close(self.write_fd)
        self.proc.wait(5)


async def mcp_session(script: Path, stack: Any) -> Any:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(script)], env={})
    read, write = await stack.enter_async_context(stdio_client(params, errlog=sys.stderr))
    client = await stack.enter_async_context(ClientSession(read, write))
    await client.initialize()
    return client


async def round_trips(paths: dict[str, Path], calls: int, block: int) -> dict[str, Any]:
    from contextlib import AsyncExitStack

    from jafhost.runtime.isolation.launch import worker_of

    inproc = host_for(paths["home_in"], paths["site"], "inprocess")
    proc = host_for(paths["home_proc"], paths["site"], "process")
    bare = BarePipe(paths["bare_pipe"])
    bare_async = BarePipe(paths["bare_pipe"])
    bare_async.read_fd2 = bare_async.read_fd  # type: ignore[attr-defined]
    os.set_blocking(bare_async.read_fd, False)
    variants: dict[str, Callable[[], Awaitable[Any]]] = {}

    async def sync(fn: Callable[[], Any]) -> Any:
        return fn()

    async with AsyncExitStack() as stack:
        await stack.enter_async_context(inproc)
        await stack.enter_async_context(proc)
        loaded = proc.loaded(PLUGIN)
        worker = worker_of(loaded) if loaded else None
        assert worker is not None, "the plugin did not start in a worker"

        async def host_call(host: Any) -> Any:
            return (await host.call(f"{PLUGIN}.add", ARGS)).result

        async def host_call_async(host: Any) -> Any:
            return (await host.call(f"{PLUGIN}.add_async", ARGS)).result

        variants["in process: await Host.call"] = lambda: host_call(inproc)
        variants["in process: await Host.call, async tool (no thread)"] = lambda: host_call_async(
            inproc
        )
        variants["in process: Host.call_inline"] = lambda: sync(
            lambda: inproc.call_inline(f"{PLUGIN}.add", ARGS).result  # type: ignore[union-attr]
        )
        variants["process mode: await Host.call"] = lambda: host_call(proc)
        variants["process mode: Worker.call (protocol only)"] = lambda: worker.call("add", ARGS)
        variants["bare pipe worker, blocking client"] = lambda: sync(bare.call)
        variants["bare pipe worker, asyncio client"] = bare_async.call_async
        mcp_error = None
        try:
            client = await mcp_session(paths["bare_mcp"], stack)

            async def mcp_call() -> Any:
                result = await client.call_tool("add", ARGS)
                return int(result.content[0].text)

            variants["bare MCP SDK stdio server"] = mcp_call
        except ImportError as exc:
            mcp_error = f"mcp not installed: {exc}"
        for name, fn in variants.items():
            value = await fn()
            if value != EXPECTED:
                raise SystemExit(f"{name} answered {value!r}, expected {EXPECTED}")
            for _ in range(100 if "MCP" in name else 500):
                await fn()
        times: dict[str, list[float]] = {name: [] for name in variants}
        rounds = max(1, calls // block)
        for index in range(rounds):
            order = list(variants)
            if index % 2:
                order.reverse()
            for name in order:
                fn = variants[name]
                count = max(1, block // 10) if "MCP" in name else block
                began = time.perf_counter()
                for _ in range(count):
                    await fn()
                times[name].append((time.perf_counter() - began) / count)
        protections = list(worker.protections)
    bare.close()
    bare_async.close()
    return {
        "median": {k: statistics.median(v) for k, v in times.items()},
        "p10": {k: quantile(v, 0.1) for k, v in times.items()},
        "p90": {k: quantile(v, 0.9) for k, v in times.items()},
        "blocks": rounds,
        "mcp_error": mcp_error,
        "protections": protections,
    }


# -- 3. worker start and memory --------------------------------------------------------------


def rss_kb(pid: int) -> int:
    return _status_kb(f"/proc/{pid}/status", "VmRSS:")


def pss_kb(pid: int) -> int:
    """Proportional set size: pages shared with other processes (a zygote's, forked
    workers' among themselves) counted in shares."""
    return _status_kb(f"/proc/{pid}/smaps_rollup", "Pss:")


def _status_kb(path: str, field: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(pid: int) -> dict[str, int]:
    """RSS and PSS of a worker's whole process tree (in a PID namespace three processes:
    the one the host started, the namespace's PID 1 and the worker), and of the process
    running the plugin alone."""
    from jafhost.security.sandbox.process_tree import descendants

    pids = [pid, *descendants(pid)]
    return {
        "rss": sum(rss_kb(p) for p in pids),
        "pss": sum(pss_kb(p) for p in pids),
        "plugin_rss": rss_kb(pids[-1]),
        "processes": len(pids),
    }


START_KINDS = ("spawned", "forked", "bare")
"""Sandboxed workers started as a new interpreter, sandboxed workers forked by the
zygote, and the bare worker that only imports pydantic."""


async def starts(paths: dict[str, Path], count: int) -> dict[str, Any]:
    from dataclasses import replace

    from jafhost.discovery.records import PluginInfo
    from jafhost.runtime.isolation.client import WorkerClient
    from jafhost.runtime.isolation.spec import WorkerSpec
    from jafhost.runtime.isolation.zygote import stop_all, zygote_for
    from jafhost.security import sandbox
    from jafhost.security.sandbox import cpu_budget

    info = PluginInfo(PLUGIN, "jaf-plugin-isobench", "1.0.0", "jp_isobench")
    data = paths["root"] / "start_data"
    cache = paths["root"] / "start_cache"
    spec = WorkerSpec(
        info=info,
        data_dir=data,
        cache_dir=cache,
        config_table={},
        grants=list,
        paths=[str(paths["site"]), *sys.path],
        cpu_seconds=cpu_budget(30, 10),
        zygote=False,
    )
    forked_spec = replace(spec, zygote=True)
    zygote_began = time.perf_counter()
    zygote = zygote_for(spec.python)
    zygote_probe = WorkerClient(forked_spec)  # its first worker waits for its imports
    asked = time.perf_counter()
    await zygote_probe.boot()
    assert zygote_probe.ready_seconds is not None
    zygote_ready = asked - zygote_began + zygote_probe.ready_seconds
    await zygote_probe.stop(5)
    zygote_memory = tree_memory(zygote.proc.pid)
    env = sandbox.worker_env([], str(cache), paths=spec.paths)
    ready: dict[str, list[float]] = {kind: [] for kind in START_KINDS}
    started: dict[str, list[float]] = {kind: [] for kind in START_KINDS[:2]}
    marks: dict[str, list[dict[str, float]]] = {kind: [] for kind in START_KINDS[:2]}
    memory: dict[str, list[dict[str, int]]] = {kind: [] for kind in START_KINDS}
    protections: dict[str, list[str]] = {}
    first: list[float] = []
    """A new zygote and its first worker, until ready: what a one-shot command that
    forked its one worker would wait for."""
    for index in range(count):
        order = START_KINDS if index % 2 == 0 else tuple(reversed(START_KINDS))
        stop_all()
        worker = WorkerClient(forked_spec)
        await worker.boot()
        assert worker.ready_seconds is not None
        first.append(worker.ready_seconds)
        await worker.stop(5)
        for kind in order:
            if kind == "bare":
                began = time.perf_counter()
                child = subprocess.Popen(
                    [sys.executable, "-B", str(paths["bare_pydantic"])],
                    env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                )  # fmt: skip
                assert child.stdout is not None and child.stdin is not None
                assert child.stdout.readline() == b"ready\n"
                ready["bare"].append(time.perf_counter() - began)
                memory["bare"].append(tree_memory(child.pid))
                child.stdin.close()
                child.wait(5)
                continue
            worker = WorkerClient(forked_spec if kind == "forked" else spec)
            began = time.perf_counter()
            reply = await worker.boot()
            started[kind].append(time.perf_counter() - began)
            assert reply["status"] == "active", reply
            assert worker.ready_seconds is not None and worker.pid is not None
            ready[kind].append(worker.ready_seconds)
            marks[kind].append(dict(worker.ready_marks))
            memory[kind].append(tree_memory(worker.pid))
            protections[kind] = list(worker.protections)
            await worker.stop(5)
    if protections["spawned"] != protections["forked"]:
        raise SystemExit(
            f"forked workers differ: {protections['forked']} vs {protections['spawned']}"
        )
    return {
        "ready": {k: statistics.median(v) for k, v in ready.items()},
        "started": {k: statistics.median(v) for k, v in started.items()},
        "marks": {
            kind: {k: statistics.median(m[k] for m in found) for k in found[0]}
            for kind, found in marks.items()
        },
        "memory": {
            kind: {k: statistics.median(m[k] for m in found) for k in found[0]}
            for kind, found in memory.items()
        },
        "zygote": {"ready": zygote_ready, **zygote_memory},
        "first": statistics.median(first),
        "count": count,
        "protections": protections["spawned"],
    }


# -- 4. commands: spawned or forked workers --------------------------------------------

COMMAND_PLUGINS = 3
COMMAND_SOURCE = textwrap.dedent(
    """
    from jafhost import hookimpl

    def add(a: int, b: int) -> int:
        \"\"\"Add two numbers.\"\"\"
        return a + b

    def tick(event):
        return None

    @hookimpl
    def jaf_tools():
        return [add]

    @hookimpl
    def jaf_event_handlers():
        return {"bench.tick": tick}
    """
)
MCP_SESSION = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize",
     "params": {"protocolVersion": "2024-11-05", "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    *({"jsonrpc": "2.0", "id": 3 + index, "method": "tools/call",
       "params": {"name": f"cmd{index}.add", "arguments": {"a": 1, "b": 2}}}
      for index in range(COMMAND_PLUGINS)),
]  # fmt: skip
COMMANDS: dict[str, list[str]] = {
    "call cmd0.add (one worker; the full path)": ["call", "cmd0.add", "-a", "a=1", "-a", "b=2"],
    "config show cmd0 (one worker)": ["config", "show", "cmd0"],
    f"emit bench.tick ({COMMAND_PLUGINS} subscribers)": ["emit", "bench.tick"],
    f"doctor --json (probe + {COMMAND_PLUGINS} plugins)": ["doctor", "--json"],
    f"mcp: initialize, tools/list, a call to each of the {COMMAND_PLUGINS}, end": ["mcp"],
}
"""Each command, whole process, with ``COMMAND_PLUGINS`` process-isolated plugins enabled
(their records present): which of spawned and forked workers serves it sooner."""


def command_home(root: Path) -> dict[str, str]:
    folder = root / "command_plugins"
    for index in range(COMMAND_PLUGINS):
        package = folder / f"jp_cmd{index}"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(COMMAND_SOURCE)
        (package / "jaf-plugin.toml").write_text(
            f'[plugin]\nname = "cmd{index}"\nversion = "1.0.0"\n'
        )
    home = root / "command_home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAFHOST_")}
    env.update(JAFHOST_HOME=str(home), JAFHOST_PLUGIN_PATH=str(folder))
    names = [f"cmd{i}" for i in range(COMMAND_PLUGINS)]
    for name in names:
        subprocess.run([sys.executable, "-m", "jafhost", "enable", name, "--yes"],
                       env=env, check=True, capture_output=True)  # fmt: skip
    warm = subprocess.run(
        [sys.executable, "-m", "jafhost", *COMMANDS["call cmd0.add (one worker; the full path)"]],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if warm.stdout.strip() != "3":
        raise SystemExit(f"the command bench's plugin did not answer: {warm.stderr}")
    return env


def one_command(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (the process and every process it waited for) of one run."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    if args == ["mcp"]:
        session = "".join(json.dumps(m) + "\n" for m in MCP_SESSION)
        ran = subprocess.run([sys.executable, "-m", "jafhost", "mcp"], env=env, input=session,
                             capture_output=True, text=True)  # fmt: skip
        last = f'"id":{2 + COMMAND_PLUGINS}'
        said = ran.stdout.replace(" ", "")
        ok = ran.returncode == 0 and last in said and '"isError":true' not in said
    else:
        ran = subprocess.run([sys.executable, "-m", "jafhost", *args], env=env,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)  # fmt: skip
        ok = ran.returncode == 0
    wall = time.perf_counter() - began
    while True:  # what outlived it (a zygote, its workers) is ours to reap: see commands
        try:
            os.wait()
        except ChildProcessError:
            break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not ok:
        raise SystemExit(f"jafhost {' '.join(args)} failed: {ran.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def commands(paths: dict[str, Path], runs: int) -> dict[str, Any]:
    """Each command run ``runs`` times with spawned and with forked workers, interleaved."""
    import ctypes

    # a subreaper: the processes a command leaves behind (its zygote, the workers that
    # die with it) are re-parented here and reaped, so their CPU time is counted
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    env = command_home(paths["root"])
    modes = {"spawned": "0", "forked": "1"}
    seen: dict[str, dict[str, list[tuple[float, float]]]] = {
        label: {mode: [] for mode in modes} for label in COMMANDS
    }
    for index in range(runs):
        for label, args in COMMANDS.items():
            order = list(modes) if index % 2 == 0 else list(reversed(modes))
            for mode in order:
                one = {**env, "JAFHOST_WORKER_ZYGOTE": modes[mode]}
                seen[label][mode].append(one_command(args, one))
    return {
        label: {
            mode: {
                "wall": statistics.median(w for w, _ in found),
                "cpu": statistics.median(c for _, c in found),
            }
            for mode, found in by_mode.items()
        }
        for label, by_mode in seen.items()
    } | {"runs": runs}


def commands_report(info: dict[str, str], found: dict[str, Any], load_after: str) -> str:
    now = _dt.datetime.now(_dt.UTC)
    command = " ".join([sys.executable, *sys.argv])
    lines = [
        f"## Isolation: commands with spawned or forked workers ({now:%Y-%m-%d %H:%M} UTC)",
        "",
        f"- command: `{command}` (cwd `{os.getcwd()}`)",
        f"- date: {now.isoformat(timespec='seconds')}",
        f"- machine: nproc {info['nproc']}, {info['platform']}",
        f"- python: {info['python']}; jafhost {info['jafhost']}",
        f"- load average before / after: {info['load']} / {load_after}",
        f"- {COMMAND_PLUGINS} folder plugins, process-isolated, records present; each "
        f"command a whole process, {found['runs']} runs of each, spawned and forked "
        "interleaved (`JAFHOST_WORKER_ZYGOTE=0` / `=1`); CPU is the process and every "
        "process it reaped (the zygote's children through the zygote)",
        "",
        "| command | spawned ms (CPU ms) | forked ms (CPU ms) | forked / spawned | faster |",
        "|---|---|---|---|---|",
    ]
    for label, by_mode in found.items():
        if label == "runs":
            continue
        spawned, forked = by_mode["spawned"], by_mode["forked"]
        ratio = forked["wall"] / spawned["wall"]
        lines.append(
            f"| `jafhost {label}` | {spawned['wall'] * 1e3:.0f} ({spawned['cpu'] * 1e3:.0f}) "
            f"| {forked['wall'] * 1e3:.0f} ({forked['cpu'] * 1e3:.0f}) | {ratio:.2f} "
            f"| {'forked' if ratio < 1 else 'spawned'} |"
        )
    lines.append("")
    return "\n".join(lines)


# -- report --------------------------------------------------------------------------------


STAGES = (
    ("init", "init read (pydantic_core imported)"),
    ("imports", "sandbox modules imported"),
    ("contained", "PID namespace (two forks)"),
    ("sandbox.limits", "rlimits"),
    ("sandbox.policy", "policy compiled"),
    ("sandbox.features", "kernel features"),
    ("sandbox.unshare", "unshare net+mount (+user)"),
    ("sandbox.ro-mounts", "read-only remount"),
    ("sandbox.landlock", "Landlock"),
    ("sandbox.capabilities", "capabilities"),
    ("sandbox.seccomp", "seccomp (BPF built, loaded)"),
    ("guard", "guard imported and armed"),
    ("site", "site folders (.pth) processed"),
    ("pydantic", "pydantic imported"),
)


def worker_start_lines(start: dict[str, Any]) -> list[str]:
    """The worker start section: ready times, where they go, memory."""
    ready, memory = start["ready"], start["memory"]
    zygote = start["zygote"]

    def mb(kb: float) -> str:
        return f"{kb / 1024:.1f}"

    lines = [
        "",
        f"### Worker start ({start['count']} of each, interleaved)",
        "",
        "| what | ready ms | plugin started ms | RSS MB (tree) | PSS MB (tree) "
        "| RSS MB (plugin process) | processes |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {
        "spawned": "sandboxed worker, spawned (`python -I -S -B -u -c BOOT`)",
        "forked": "sandboxed worker, forked by the zygote",
        "bare": "bare worker importing pydantic (`python -B`)",
    }
    for kind, label in labels.items():
        m = memory[kind]
        plugin = f"{start['started'][kind] * 1e3:.1f}" if kind in start["started"] else ""
        lines.append(
            f"| {label} | {ready[kind] * 1e3:.1f} | {plugin} | {mb(m['rss'])} | {mb(m['pss'])} "
            f"| {mb(m['plugin_rss'])} | {m['processes']:g} |"
        )
    lines += [
        f"| the zygote itself (started once per host; first forked worker ready after) "
        f"| {zygote['ready'] * 1e3:.1f} | | {mb(zygote['rss'])} | {mb(zygote['pss'])} | | 1 |",
        f"| a new zygote and its first forked worker, until ready (median; what a one-shot "
        f"command forking its one worker waits for) | {start['first'] * 1e3:.1f} | | | | | |",
        "",
        "Where a sandboxed worker's ready time goes (ms, medians; `before main()` is the "
        "host's spawn or fork request, the interpreter's start and the worker module's "
        "imports, and the ready message's way back):",
        "",
        "| stage | spawned | forked |",
        "|---|---|---|",
    ]
    rows: dict[str, list[str]] = {}
    for kind in ("spawned", "forked"):
        marks = start["marks"][kind]
        before = ready[kind] - marks["main"]
        rows.setdefault("before main()", []).append(f"{before * 1e3:.1f}")
        previous = 0.0
        for key, label in STAGES:
            if key not in marks:
                rows.setdefault(label, []).append("")
                continue
            rows.setdefault(label, []).append(f"{(marks[key] - previous) * 1e3:.1f}")
            previous = marks[key]
        rows.setdefault("ready sent", []).append(f"{(marks['main'] - previous) * 1e3:.1f}")
    for label, values in rows.items():
        lines.append(f"| {label} | {' | '.join(values)} |")
    lines.append("")
    return lines


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
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent)  # fmt: skip
        git = done.stdout.strip() or git
    from importlib.metadata import PackageNotFoundError, version

    try:
        mcp = version("mcp")
    except PackageNotFoundError:
        mcp = "not installed"
    return {
        "nproc": str(os.cpu_count()),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        "mcp": mcp,
        "jafhost": f"{version('jafhost')} (git {git})",
        "load": load,
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**MISS**"


def report(
    args: argparse.Namespace,
    info: dict[str, str],
    guard: dict[str, Any],
    trips: dict[str, Any],
    start: dict[str, Any],
    load_after: str,
) -> str:
    now = _dt.datetime.now(_dt.UTC)
    command = " ".join([sys.executable, *sys.argv])
    med = trips["median"]
    bare = med["bare pipe worker, blocking client"]
    lines = [
        f"## Isolation: guard, process-mode round trip, worker start ({now:%Y-%m-%d %H:%M} UTC)",
        "",
        f"- command: `{command}` (cwd `{os.getcwd()}`)",
        f"- date: {now.isoformat(timespec='seconds')}",
        f"- machine: nproc {info['nproc']}, {info['platform']}",
        f"- python: {info['python']}; jafhost {info['jafhost']}; mcp {info['mcp']}",
        f"- load average before / after: {info['load']} / {load_after}",
        f"- tool: `add(a: int, b: int) -> int` of a real plugin in a temporary site, "
        f"arguments `{json.dumps(ARGS)}`",
        f"- worker protections in force: {', '.join(trips['protections'])}",
        "- jafhost byte-compiled first (as an installation is); workers run `python -I -S -B -u "
        "-c BOOT` (the import gate, then `jafhost.runtime.isolation.worker`), in a PID "
        "namespace where one can be made (the RSS shown is then its first process's); the "
        "bare workers run `python -B` with the same environment",
        "",
        f"### Guard cost (median of {guard['runs']} fresh processes, each measured before and "
        "after `guard.install()`)",
        "",
        "| what | guard off ns | guard on ns | added ns (measured) | audit events per call "
        "(host, plugin) | added ns (events × cost per event) |",
        "|---|---|---|---|---|---|",
    ]
    labels = {
        "inline": "`Host.call_inline` of the no-I/O tool",
        "call": "`await Host.call` of the no-I/O tool",
        "event_host": "one audit event, host code running",
        "event_plugin": "one audit event, plugin code running (no match, falls through)",
    }
    for key, label in labels.items():
        g = guard[key]
        events = "{:g}, {:g}".format(*g["events"]) if "events" in g else ""
        estimate = f"{g['estimate']:+.0f}" if "estimate" in g else ""
        lines.append(
            f"| {label} | {g['off']:.0f} | {g['on']:.0f} | {g['delta']:+.0f} | {events} "
            f"| {estimate} |"
        )
    lines += [
        "",
        "The measured difference of whole calls is within the machine's noise when the call "
        "raises no audit event; the last column is the guard's own cost for the events the "
        "call raises.",
    ]
    lines += [
        "",
        f"### Round trip per call ({trips['blocks']} interleaved blocks of {args.block} "
        "calls; MCP blocks of a tenth)",
        "",
        "| path | median µs | p10 µs | p90 µs | × bare pipe |",
        "|---|---|---|---|---|",
    ]
    for name, value in med.items():
        lines.append(
            f"| {name} | {value * 1e6:.1f} | {trips['p10'][name] * 1e6:.1f} "
            f"| {trips['p90'][name] * 1e6:.1f} | {value / bare:.2f}× |"
        )
    if trips["mcp_error"]:
        lines.append(f"| bare MCP SDK stdio server | {trips['mcp_error']} | | | |")
    lines += worker_start_lines(start)
    process_ratio = med["process mode: await Host.call"] / bare
    guard_ns = max(guard["inline"]["estimate"], guard["call"]["estimate"])
    guard_measured = max(guard["inline"]["delta"], guard["call"]["delta"])
    start_ratio = start["ready"]["forked"] / start["ready"]["bare"]
    spawn_ratio = start["ready"]["spawned"] / start["ready"]["bare"]
    lines += [
        "| target | measured | result |",
        "|---|---|---|",
        f"| process round trip ≤ 2× the bare pipe worker | {process_ratio:.2f}× "
        f"({med['process mode: await Host.call'] * 1e6:.1f} µs vs {bare * 1e6:.1f} µs) "
        f"| {verdict(process_ratio <= 2)} |",
        f"| guard ≤ 0.5 µs added per no-I/O call | {guard_ns:+.0f} ns from the events it "
        f"checks (whole calls measured: {guard_measured:+.0f} ns) | {verdict(guard_ns <= 500)} |",
        f"| sandboxed worker ready ≤ 1.5× bare pydantic worker | forked by the zygote: "
        f"{start_ratio:.2f}×; spawned (one-shot CLI): {spawn_ratio:.2f}× "
        f"| {verdict(start_ratio <= 1.5)} (forked), {verdict(spawn_ratio <= 1.5)} (spawned) |",
        "",
    ]
    return "\n".join(lines)


def starts_report(info: dict[str, str], start: dict[str, Any], load_after: str) -> str:
    """The worker start alone (``--only-starts``)."""
    now = _dt.datetime.now(_dt.UTC)
    command = " ".join([sys.executable, *sys.argv])
    forked = start["ready"]["forked"] / start["ready"]["bare"]
    spawned = start["ready"]["spawned"] / start["ready"]["bare"]
    lines = [
        f"## Isolation: worker start ({now:%Y-%m-%d %H:%M} UTC)",
        "",
        f"- command: `{command}` (cwd `{os.getcwd()}`)",
        f"- date: {now.isoformat(timespec='seconds')}",
        f"- machine: nproc {info['nproc']}, {info['platform']}",
        f"- python: {info['python']}; jafhost {info['jafhost']}",
        f"- load average before / after: {info['load']} / {load_after}",
        f"- worker protections in force (spawned and forked alike): "
        f"{', '.join(start['protections'])}",
        "- jafhost byte-compiled first; the bare worker runs `python -B` with the worker's "
        "environment",
        *worker_start_lines(start),
        "| target | measured | result |",
        "|---|---|---|",
        f"| sandboxed worker ready ≤ 1.5× bare pydantic worker | forked by the zygote: "
        f"{forked:.2f}×; spawned (one-shot CLI): {spawned:.2f}× "
        f"| {verdict(forked <= 1.5)} (forked), {verdict(spawned <= 1.5)} (spawned) |",
        "",
    ]
    return "\n".join(lines)


def append(out: Path, section: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as f:  # append: other benchmarks write here too
        f.write(section + "\n")


async def run(args: argparse.Namespace) -> None:
    compile_host()
    info = machine()
    root = Path(tempfile.mkdtemp(prefix="jafhost-isolation-bench-"))
    try:
        paths = install(root)
        if not args.only_starts and not args.commands:
            print("guard cost ...", file=sys.stderr)
            guard = guard_cost(paths, args.guard_runs)
            print("round trips ...", file=sys.stderr)
            trips = await round_trips(paths, args.calls, args.block)
        if args.commands:
            print("commands ...", file=sys.stderr)
            found = commands(paths, args.command_runs)
        else:
            print("worker starts ...", file=sys.stderr)
            start = await starts(paths, args.starts)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.commands:
        section = commands_report(info, found, load_after)
    elif args.only_starts:
        section = starts_report(info, start, load_after)
    else:
        section = report(args, info, guard, trips, start, load_after)
    print(section)
    if args.out != "-":
        append(Path(args.out), section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--block", type=int, default=250)
    parser.add_argument("--guard-runs", type=int, default=5)
    parser.add_argument("--starts", type=int, default=12)
    parser.add_argument("--only-starts", action="store_true", help="measure the worker start only")
    parser.add_argument(
        "--commands",
        action="store_true",
        help="measure CLI commands with spawned and forked workers only",
    )
    parser.add_argument("--command-runs", type=int, default=5)  # fmt: skip
    parser.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")),
                        help="append results here ('-': print only)")  # fmt: skip
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
