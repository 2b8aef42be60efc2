#!/usr/bin/env python3
"""The cost of checking installed plugin files against their ``RECORD``, at N plugins.

Builds N installed plugins as ``bench/startup.py`` does (real ``RECORD`` hashes), warms
a home with two ``jafhost call`` runs of plugin N/2, then times, in this process:

- the check ``jafhost call`` makes for the plugin it starts, as a new process does it
  (``require_intact`` with a fresh stamp store: stamps read from the home, RECORD read,
  one ``stat`` per file, nothing hashed);
- the check ``list``/``doctor`` make of all N plugins with warm stamps
  (``Catalog.check_files(None)`` on an already read discovery);
- ``jafhost verify``'s forced check of all N (every file hashed).

Usage: ``python bench/integrity.py [--plugins 100] [--runs 200]``. Stdlib only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from discovery import plugin_names  # noqa: E402
from startup import make_tool_site  # noqa: E402


def _median_ms(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=100)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="jafhost-integrity-"))
    site, home = root / "site", root / "home"
    make_tool_site(site, args.plugins)
    home.mkdir()
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n', encoding="utf-8")
    time.sleep(0.2)  # older than the change-time margin: stamped at the first check
    name = plugin_names(args.plugins)[args.plugins // 2]
    env = {**os.environ, "PYTHONPATH": str(site), "JAFHOST_HOME": str(home)}
    for _ in range(2):
        command = [sys.executable, "-m", "jafhost", "call", f"{name}.echo", "-a", "text=hi"]
        subprocess.run(command, env=env, check=True, capture_output=True)
    sys.path.insert(0, str(site))

    from jafhost.discovery.integrity import HashCount, require_intact
    from jafhost.home.paths import HomeLayout
    from jafhost.home.state import StateStore
    from jafhost.host.catalog import Catalog

    layout = HomeLayout(home)
    catalog = Catalog(layout, StateStore(layout), paths=[str(site)])
    catalog.check_files(None)  # stamps for all N
    entry = catalog.resolution().get(name)
    assert entry is not None and entry.status == "enabled", entry
    hashed = HashCount.value
    one = _median_ms(lambda: require_intact(entry.info, layout.cache), args.runs)

    def warm_all() -> None:
        catalog._all_checked = None  # the memo of one command's read
        catalog.check_files(None)

    every = _median_ms(warm_all, max(args.runs // 10, 5))
    assert HashCount.value == hashed, "an unchanged file was hashed"
    forced = _median_ms(lambda: catalog.check_files(None, force=True), 5)
    files = sum(i.files for n in plugin_names(args.plugins) if (i := catalog.integrity(n)))
    mine = catalog.integrity(name)
    rows = [
        ("one plugin, as `jafhost call` (fresh stamp store)", 1, mine.files if mine else 0, one),
        ("all plugins, warm stamps (`list`, `doctor`)", args.plugins, files, every),
        ("all plugins, every file hashed (`verify`)", args.plugins, files, forced),
    ]
    print("| check | plugins | files | median ms |\n|---|---|---|---|")
    for what, plugins, count, ms in rows:
        print(f"| {what} | {plugins} | {count} | {ms:.3f} |")


if __name__ == "__main__":
    main()
