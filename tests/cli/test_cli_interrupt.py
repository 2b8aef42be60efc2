"""A real Ctrl-C (SIGINT to the ``jafhost`` process) stops ``jafhost call`` cleanly.

Whatever the tool is doing (sleeping in a thread, or holding its own event loop), the
command exits 130 with ``interrupted`` and no traceback, and no worker process is left
behind. A ``KeyboardInterrupt`` the plugin raises itself is its error instead (exit 1,
naming it). Both isolation modes, real processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from interrupting import SLOW_PLUGIN, interrupt_when_started

from conftest import ISOLATION_MODES, Site, run_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _home(tmp_path: Path, isolation: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    return home


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (from ``/proc``)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
@pytest.mark.parametrize("tool", ["wait", "spin"])
def test_ctrl_c_stops_the_call_cleanly(
    tool: str, isolation: str, site: Site, tmp_path: Path
) -> None:
    site.plugin("slow", code=SLOW_PLUGIN)
    home = _home(tmp_path, isolation)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site.root), os.environ.get("PYTHONPATH")])),
        "JAFHOST_HOME": str(home),
    }
    environment.pop("JAFHOST_DEBUG", None)
    started = home / "plugins" / "slow" / "data" / "started"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jafhost", "call", f"slow.{tool}", "--timeout", "120"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    below: set[int] = set()

    def look_below() -> None:
        below.update(_descendants(proc.pid))
        if isolation == "process":
            assert below, "the plugin runs in a worker process"

    out, err = interrupt_when_started(proc, started, look_below)
    assert proc.returncode == 130, err
    assert out == ""
    assert err.strip().splitlines()[-1] == "error: interrupted", err
    assert "Traceback" not in err
    assert [pid for pid in below if _alive(pid)] == []  # no worker left behind


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_keyboard_interrupt_raised_by_a_tool_is_its_error(
    isolation: str, site: Site, tmp_path: Path
) -> None:
    site.plugin("slow", code=SLOW_PLUGIN)
    result = run_cli("call", "slow.interrupt", site=site, home=_home(tmp_path, isolation))
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: plugin slow raised KeyboardInterrupt: from the plugin")


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_doctor_reports_a_plugin_that_raises_keyboard_interrupt(
    isolation: str, site: Site, tmp_path: Path
) -> None:
    site.plugin(
        "quitter",
        code='@hookimpl\nasync def jaf_activate(ctx):\n    raise KeyboardInterrupt("no")\n',
    )
    result = run_cli("doctor", site=site, home=_home(tmp_path, isolation))
    assert result.returncode == 1, result.stderr
    assert "plugin quitter raised KeyboardInterrupt: no" in result.stdout + result.stderr
