"""How long a large result takes to come back from a process-isolated plugin.

``python bench/large_results.py [--sizes 25,100] [--repeat 3]``: a plugin returns a string
of N MB; the median time of ``await Host.call`` is printed per size (``[host]
max_result_mb`` is raised above the largest size where the host has that setting).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "host"))

PLUGIN_SOURCE = '''
from jafhost import hookimpl


def big(mb: int) -> str:
    """A string of ``mb`` MB."""
    return "A" * (mb * 1024 * 1024)


@hookimpl
def jaf_tools():
    return [big]
'''


def install(root: Path) -> Path:
    site = root / "site"
    package = site / "jp_largebench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_SOURCE)
    dist = site / "jaf_plugin_largebench-1.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jaf-plugin-largebench\nVersion: 1.0.0\n\n"
    )
    (dist / "entry_points.txt").write_text("[jaf.plugins]\nlargebench = jp_largebench\n")
    (dist / "RECORD").write_text("")
    return site


async def measure(home: Path, site: Path, sizes: list[int], repeat: int) -> dict[int, float]:
    from jafhost.host.host import Host

    host = Host(home, paths=[str(site)], hook_timeout=10)
    host.enable(["largebench"], isolation="process")
    times: dict[int, float] = {}
    async with host:
        await host.call("largebench.big", {"mb": 1})  # the worker is started
        for size in sizes:
            runs = []
            for _ in range(repeat):
                began = time.perf_counter()
                result = await host.call("largebench.big", {"mb": size})
                runs.append(time.perf_counter() - began)
                if not result.ok:
                    raise SystemExit(f"{size} MB: {result.to_json()}")
                assert len(result.result) == size * 1024 * 1024
            times[size] = statistics.median(runs)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,100")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    from jafhost.home.config import HostSettings

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        site = install(root)
        home = root / "home"
        home.mkdir()
        config = '[host]\nisolation = "process"\nmemory_mb = 4096\n'
        if "max_result_mb" in HostSettings.model_fields:
            config += f"max_result_mb = {max(sizes) + 8}\n"
        (home / "config.toml").write_text(config)
        times = asyncio.run(measure(home, site, sizes, args.repeat))
    for size, seconds in times.items():
        print(f"{size} MB result: {seconds:.3f} s (median of {args.repeat})")


if __name__ == "__main__":
    main()
