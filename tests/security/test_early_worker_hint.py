"""An early-start hint that names another folder gives the worker nothing from it.

``cli.early_worker`` starts a plugin's one-shot worker from the ``early`` hint in its
lane summary before anything is checked: the hint's ``own`` folders end the worker's
import path. The home is no plugin's to write, but should the hint name another folder
anyway (written by hand, or by anything that can write the home), the worker may import
nothing from it before its sandbox (the import gate: the modules the standard library
looks for and does not ship, ``org.python.core``, ``nt``, ``_winapi``, are refused), and
it is not the worker the lane calls (its import path differs from the plugin's), so the
plugin never finds that folder on its path either. Ground truth: no marker written by
the folder's modules, the plugin's answer that the folder is not on its path, and the
call's result.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import Site, run_cli
from jafhost.cli.lane_file import summary_file

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

PROBE = '''
import importlib.util


def probe() -> bool:
    """Whether a module of the hinted folder is on the import path."""
    return importlib.util.find_spec("jaf_hinted_probe") is not None


@hookimpl
def jaf_tools():
    return [probe]
'''

MARKING = "open({marker!r}, 'a').close()\n"
SHADOWS = ("org/__init__.py", "nt.py", "_winapi.py", "jaf_hinted_probe.py")
STARTED_AT_ONCE = "jafhost call: worker of hinted started as the command began"


def test_a_hint_naming_another_folder_gives_the_worker_nothing_from_it(
    site: Site, home: Path, tmp_path: Path
) -> None:
    site.plugin("hinted", code=PROBE)
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    for _ in range(3):  # cold (full path), recorded, summary with its hint
        warm = run_cli("call", "hinted.probe", site=site, home=home)
        assert warm.returncode == 0, warm.stderr
        assert json.loads(warm.stdout) is False
    elsewhere = tmp_path / "elsewhere"
    markers = tmp_path / "markers"
    markers.mkdir()
    for name in SHADOWS:
        module = elsewhere / name
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text(MARKING.format(marker=str(markers / name.replace("/", "."))))
    path = Path(summary_file(str(home / "cache"), "hinted"))
    summary = json.loads(path.read_text())
    assert summary["early"] is not None
    summary["early"] = {"own": [str(elsewhere)]}
    path.write_text(json.dumps(summary))
    for _ in range(2):
        result = run_cli(
            "call", "hinted.probe", site=site, home=home, env={"JAFHOST_TRACE_CALL": "1"}
        )
        assert result.returncode == 0, result.stderr
        assert STARTED_AT_ONCE in result.stderr, result.stderr
        assert json.loads(result.stdout) is False
        assert sorted(p.name for p in markers.iterdir()) == [], result.stderr
