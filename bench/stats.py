"""What recording a call for ``Host.stats()`` costs, in one process.

Measures ``StatsRecorder.record`` alone, then the same tool calls of a real in-process
plugin with the recorder on and off (``ToolRouter.stats`` set to None), the two
alternating sample by sample in one run so drift hits both alike: ``Host.call_inline``
(the fastest path, where a cost would show most) and ``await Host.call`` of an async tool.

Usage: python bench/stats.py [--samples 21] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from calls import install_plugin


def _sample(fn: Callable[[], Any], number: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(number):
        fn()
    return (time.perf_counter_ns() - started) / number


async def _sample_async(fn: Callable[[], Awaitable[Any]], number: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(number):
        await fn()
    return (time.perf_counter_ns() - started) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=21)
    parser.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    options = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="jafhost-bench-stats-"))
    install_plugin(tmp / "site")
    (tmp / "home").mkdir()
    (tmp / "home" / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    from jafhost.host.host import Host
    from jafhost.runtime.stats import StatsRecorder

    host = Host(tmp / "home", paths=[str(tmp / "site")], only=["bench"])
    args = {"a": 1, "b": 2, "c": 3}

    async def scenario() -> dict[str, tuple[float, float]]:
        async with host:
            router = host.runtime.router
            recorder = router.stats
            assert isinstance(recorder, StatsRecorder)
            result = host.call_inline("bench.add", args)
            assert result is not None and result.ok
            rows: dict[str, tuple[list[float], list[float]]] = {
                "Host.call_inline (sync tool)": ([], []),
                "await Host.call (async tool)": ([], []),
            }
            alone = [_sample(lambda: recorder.record(result), 200_000) for _ in range(5)]
            for _ in range(options.samples):
                for on, index in ((recorder, 0), (None, 1)):
                    router.stats = on
                    rows["Host.call_inline (sync tool)"][index].append(
                        _sample(lambda: host.call_inline("bench.add", args), 20_000)
                    )
                    rows["await Host.call (async tool)"][index].append(
                        await _sample_async(lambda: host.call("bench.add_async", args), 2_000)
                    )
            router.stats = recorder
            medians = {
                k: (statistics.median(a), statistics.median(b)) for k, (a, b) in rows.items()
            }
            medians["StatsRecorder.record alone"] = (statistics.median(alone), 0.0)
            assert host.stats().plugin("bench").calls > 0
            return medians

    rows = asyncio.run(scenario())
    lines = [
        "",
        f"## Stats recording cost ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Command: `python bench/stats.py --samples {options.samples}` · "
        f"{os.cpu_count()} cores · Python {platform.python_version()} · "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "",
        "| path | recorder on, median ns/call | off | difference |",
        "|---|---:|---:|---:|",
    ]
    for name, (on, off) in rows.items():
        if off:
            lines.append(
                f"| {name} | {on:,.0f} | {off:,.0f} | {on - off:+,.0f} ({on / off - 1:+.1%}) |"
            )
        else:
            lines.append(f"| {name} | {on:,.0f} | - | - |")
    lines += [
        "",
        "On and off alternate sample by sample; a difference within the spread between",
        "samples (a few %) is no measurable cost.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    with open(options.out, "a", encoding="utf-8") as out:
        out.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
