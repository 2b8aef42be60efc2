"""What tracing adds to one tool call, measured against the SDK's own cost of one span.

In one process, for a 3-argument sync tool of a real plugin on a temporary path, called
with ``Host.call_inline`` (the fast path, where a fixed cost shows most):

* tracing off, opentelemetry not imported: the call, and the tracing point alone;
* tracing on (the SDK's ``TracerProvider``, a batch processor, an exporter that drops
  everything): the call; the difference is what tracing adds;
* the SDK alone: one span with the same name, kind and attributes, made current and
  ended (``start_as_current_span``), the cost the target is measured against;
* tracing off again, with opentelemetry imported but no provider set (the API's proxy).

Target: tracing on adds at most 1.5x the SDK's own span; off adds nothing measurable.

Usage: python bench/telemetry.py [--samples 15] [--out bench/RESULTS.md]
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

PLUGIN = textwrap.dedent(
    """
    from jafhost import hookimpl

    def add(a: int, b: int, c: int) -> int:
        '''Add three numbers.'''
        return a + b + c

    @hookimpl
    def jaf_tools():
        return [add]
    """
)

LOOPS = 2000


def install_plugin(site: Path) -> None:
    package = site / "jp_bench_otel"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    dist = site / "jaf_plugin_otelbench-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jaf-plugin-otelbench\nVersion: 1.0.0\n"
    )
    (dist / "entry_points.txt").write_text("[jaf.plugins]\notelbench = jp_bench_otel\n")
    (dist / "RECORD").write_text("")


def per_call_us(fn: Callable[[], Any], samples: int) -> float:
    """Median over ``samples`` runs of ``LOOPS`` calls, in microseconds per call."""
    for _ in range(LOOPS // 4):
        fn()
    runs = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(LOOPS):
            fn()
        runs.append((time.perf_counter() - start) / LOOPS * 1e6)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None)
    options = parser.parse_args()
    for name in [k for k in os.environ if k.startswith("OTEL_")]:
        del os.environ[name]

    work = Path(tempfile.mkdtemp(prefix="jafhost-bench-otel-"))
    site, home = work / "site", work / "home"
    site.mkdir()
    home.mkdir()
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    install_plugin(site)
    sys.path.insert(0, str(site))

    from jafhost import Host
    from jafhost.runtime import telemetry
    from jafhost.types import CallResult

    host = Host(home, paths=[str(site)])
    asyncio.run(host.activate_all())
    arguments = {"a": 1, "b": 2, "c": 3}
    first = host.call_inline("otelbench.add", arguments)
    assert first is not None and first.ok, first

    def call() -> None:
        host.call_inline("otelbench.add", arguments)

    done = CallResult("otelbench.add", True, result=6)

    def point() -> None:
        with telemetry.tool_span("otelbench.add") as span:
            span.ended(done)

    samples = options.samples
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    off_call = per_call_us(call, samples)
    off_point = per_call_us(point, samples)
    assert not [m for m in sys.modules if m.startswith("opentelemetry")]

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Dropped(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(Dropped(), max_queue_size=1 << 16))
    trace.set_tracer_provider(provider)
    sdk_tracer = provider.get_tracer("bench")
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "otelbench.add",
        "jafhost.caller": "api",
        "jafhost.plugin": "otelbench",
    }

    def sdk_span() -> None:
        with sdk_tracer.start_as_current_span(
            "execute_tool otelbench.add", kind=trace.SpanKind.INTERNAL, attributes=dict(attributes)
        ):
            pass

    on_call = per_call_us(call, samples)
    sdk = per_call_us(sdk_span, samples)
    on_point = per_call_us(point, samples)
    provider.shutdown()
    trace._TRACER_PROVIDER = None  # back to the API's proxy: tracing off again
    proxy_call = per_call_us(call, samples)
    proxy_point = per_call_us(point, samples)

    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    added = on_call - off_call
    ratio = added / sdk
    lines = [
        f"## Tracing overhead ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"- command: `python bench/telemetry.py --samples {samples}`",
        f"- python: {platform.python_implementation()} {platform.python_version()}; "
        f"machine: nproc {os.cpu_count()}, {platform.platform()}",
        f"- load average before / after: {load_before} / {load_after}",
        f"- median of {samples} runs of {LOOPS} `Host.call_inline` calls of a 3-argument sync "
        "tool (in process); the SDK span: `start_as_current_span` with the same name, kind and "
        "4 attributes, ended at once",
        "",
        "| case | µs per call |",
        "|---|---|",
        f"| tracing off (opentelemetry not imported): the call | {off_call:.2f} |",
        f"| tracing off: the tracing point alone | {off_point:.3f} |",
        f"| tracing off, opentelemetry imported, no provider: the call | {proxy_call:.2f} |",
        f"| tracing off, opentelemetry imported: the point alone | {proxy_point:.3f} |",
        f"| tracing on (SDK, batch processor, dropping exporter): the call | {on_call:.2f} |",
        f"| tracing on: the point alone | {on_point:.2f} |",
        f"| the SDK's own span, same name, kind and attributes | {sdk:.2f} |",
        "",
        f"Tracing on adds {added:.2f} µs per call = {ratio:.2f}x the SDK's own span "
        f"(target: at most 1.5x). Off, the point costs {off_point * 1000:.0f} ns "
        f"({off_point / off_call * 100:.1f}% of the call).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if options.out is not None:
        with options.out.open("a", encoding="utf-8") as out:
            out.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
