"""``jafhost doctor``: the start times and worker memory of the plugins it starts, in
``--json`` (``stats``) and as a table with the slowest start on top."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import HI_PLUGIN, ISOLATION_MODES, Site, run_cli

SLOW = (
    """
import time
time.sleep(0.4)  # a heavy import

"""
    + HI_PLUGIN
)


def _two_plugins(site: Site, home: Path, isolation: str) -> None:
    site.plugin("aaa-quick", code=HI_PLUGIN)
    site.plugin("zzz-slow", code=SLOW)
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    ran = run_cli("enable", "aaa-quick", "zzz-slow", "--yes", site=site, home=home)
    assert ran.returncode == 0, ran.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_doctor_json_gives_start_times_slowest_first_and_worker_memory(
    isolation: str, site: Site, home: Path
) -> None:
    _two_plugins(site, home, isolation)
    ran = run_cli("doctor", "--json", site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    stats = json.loads(ran.stdout)["stats"]
    assert sorted(s["name"] for s in stats) == ["aaa-quick", "zzz-slow"]
    totals = [s["start"]["total_ms"] for s in stats]
    assert totals == sorted(totals, reverse=True)  # the slowest start on top
    slow = next(s for s in stats if s["name"] == "zzz-slow")
    assert slow["start"]["import_ms"] >= 400  # its import sleeps 0.4 s
    for entry in stats:
        start = entry["start"]
        assert (entry["status"], entry["isolation"]) == ("active", isolation)
        assert start["total_ms"] >= start["import_ms"] + start["activate_ms"]
        if isolation == "process":
            [worker] = entry["workers"]
            assert worker["pid"] > 0 and worker["rss_bytes"] > 0
            assert start["worker_ms"] > 0
        else:
            assert entry["workers"] == [] and start["worker_ms"] is None


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_doctor_prints_the_start_table_slowest_on_top(
    isolation: str, site: Site, home: Path
) -> None:
    _two_plugins(site, home, isolation)
    ran = run_cli("doctor", site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    table = ran.stdout[ran.stdout.index("plugin starts (ms), slowest first") :]
    for column in ("plugin", "isolation", "import", "initialize", "activate", "total"):
        assert column in table
    for column in ("worker ready", "worker pid", "RSS MB"):
        assert column in table
    rows = [line for line in table.splitlines() if "aaa-quick" in line or "zzz-slow" in line]
    assert len(rows) == 2 and all(isolation in row for row in rows)
    # plugin, isolation, import, initialize, activate, worker ready, total, worker pid, RSS MB
    cells = [[cell.strip() for cell in row.split("│")[1:-1]] for row in rows]
    totals = [float(cell[6]) for cell in cells]
    assert totals == sorted(totals, reverse=True)  # the slowest start on top
    slow = next(cell for cell in cells if cell[0] == "zzz-slow")
    assert float(slow[2]) >= 400  # its import sleeps 0.4 s
    for cell in cells:
        if isolation == "process":
            assert float(cell[5]) > 0 and int(cell[7]) > 0 and float(cell[8]) > 0
        else:
            assert [cell[5], *cell[7:]] == ["-", "-", "-"]


def test_doctor_json_stats_is_empty_when_nothing_starts(site: Site, home: Path) -> None:
    site.plugin("waiting", code=HI_PLUGIN, manifest='[permissions]\nenv = ["WAITING_TOKEN"]\n')
    ran = run_cli("doctor", "--json", site=site, home=home)
    assert json.loads(ran.stdout)["stats"] == []
