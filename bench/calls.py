"""Per-call overhead of routing a tool call, in one process.

Compares, for a 3-argument tool of a real plugin installed on a temporary path:

* a direct call of the function,
* a raw pluggy hook call with one implementation (the baseline of the target),
* ``Host.call_inline`` (the synchronous fast path: validation, plugin identity, call,
  JSON-ready result),
* ``await Host.call`` for the same sync tool (worker thread, time limit),
* ``await Host.call`` for an async tool (on the loop, time limit).

Usage: python bench/calls.py [--samples 15] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy

PLUGIN = textwrap.dedent(
    """
    from jafhost import hookimpl

    def add(a: int, b: int, c: int) -> int:
        '''Add three numbers.'''
        return a + b + c

    async def add_async(a: int, b: int, c: int) -> int:
        return a + b + c

    @hookimpl
    def jaf_tools():
        return [add, add_async]
    """
)


def install_plugin(site: Path) -> None:
    package = site / "jp_bench_calls"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    dist = site / "jaf_plugin_bench-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jaf-plugin-bench\nVersion: 1.0.0\n"
    )
    (dist / "entry_points.txt").write_text("[jaf.plugins]\nbench = jp_bench_calls\n")
    (dist / "RECORD").write_text("")


def per_call_ns(fn: Callable[[], Any], number: int, samples: int) -> float:
    """Median over ``samples`` of the mean ns per call in a loop of ``number`` calls."""
    for _ in range(min(number, 1000)):
        fn()
    results = []
    for _ in range(samples):
        started = time.perf_counter_ns()
        for _ in range(number):
            fn()
        results.append((time.perf_counter_ns() - started) / number)
    return statistics.median(results)


async def per_call_ns_async(fn: Callable[[], Any], number: int, samples: int) -> float:
    for _ in range(min(number, 200)):
        await fn()
    results = []
    for _ in range(samples):
        started = time.perf_counter_ns()
        for _ in range(number):
            await fn()
        results.append((time.perf_counter_ns() - started) / number)
    return statistics.median(results)


def pluggy_baseline() -> Callable[[], Any]:
    spec = pluggy.HookspecMarker("benchcalls")
    impl = pluggy.HookimplMarker("benchcalls")

    class Specs:
        @spec(firstresult=True)
        def bench_add(self, a: int, b: int, c: int) -> int:  # type: ignore[empty-body]
            ...

    class Impl:
        @impl
        def bench_add(self, a: int, b: int, c: int) -> int:
            return a + b + c

    pm = pluggy.PluginManager("benchcalls")
    pm.add_hookspecs(Specs)
    pm.register(Impl())
    hook = pm.hook.bench_add
    return lambda: hook(a=1, b=2, c=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    options = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jafhost-bench-calls-"))
    install_plugin(tmp / "site")
    (tmp / "home").mkdir()
    # in process: the paths measured here are the host's own, not a worker's round trip
    (tmp / "home" / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    from jafhost.host.host import Host

    host = Host(tmp / "home", paths=[str(tmp / "site")], only=["bench"])
    args = {"a": 1, "b": 2, "c": 3}

    def direct_target(a: int, b: int, c: int) -> int:
        return a + b + c

    async def scenario() -> dict[str, float]:
        async with host:
            assert host.active == ["bench"], host.plugins()
            inline = host.call_inline("bench.add", args)
            assert inline is not None and inline.result == 6
            rows = {
                "direct function call": per_call_ns(
                    lambda: direct_target(1, 2, 3), 200_000, options.samples
                ),
                "pluggy hook, 1 impl": per_call_ns(pluggy_baseline(), 100_000, options.samples),
                "Host.call_inline (sync tool)": per_call_ns(
                    lambda: host.call_inline("bench.add", args), 50_000, options.samples
                ),
                "await Host.call (sync tool, thread)": await per_call_ns_async(
                    lambda: host.call("bench.add", args), 500, options.samples
                ),
                "await Host.call (async tool)": await per_call_ns_async(
                    lambda: host.call("bench.add_async", args), 5_000, options.samples
                ),
            }
            return rows

    rows = asyncio.run(scenario())
    base = rows["pluggy hook, 1 impl"]
    lines = [
        "",
        f"## Tool call overhead ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `python bench/calls.py --samples {options.samples}` · "
        f"{os.cpu_count()} cores · Python {platform.python_version()} · "
        f"pluggy {pluggy.__version__}",
        "",
        "| path | median ns/call | x pluggy hook |",
        "|---|---:|---:|",
    ]
    for name, ns in rows.items():
        lines.append(f"| {name} | {ns:,.0f} | {ns / base:.2f} |")
    ratio = rows["Host.call_inline (sync tool)"] / base
    lines += [
        "",
        f"Target: `Host.call` fast path at most 5x a pluggy hook call: **{ratio:.2f}x** "
        f"({'met' if ratio <= 5 else 'missed'}).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    with open(options.out, "a", encoding="utf-8") as out:
        out.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
