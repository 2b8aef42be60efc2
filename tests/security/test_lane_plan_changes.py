"""A warm lane plan never outlives what it was made from.

Once ``jafhost call`` of an in-process plugin is served from its lane summary, each
change below must reach the next call exactly as the full path sees it: the plugin
disabled, another distribution claiming its name, a folder plugin claiming its name in a
configured plugin folder. Ground truth: the plugin's code (a marker file its import
leaves in its own data folder) does not run where the full path would refuse, and the
answer is the full path's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from call_paths import TRACE

from conftest import Site, folder_plugin, run_cli

CODE = '''
import os

open(os.path.join({data!r}, "{tag}-" + str(os.getpid())), "w").close()


def hi() -> str:
    """Say who answers."""
    return "{tag}"


@hookimpl
def jaf_tools():
    return [hi]
'''


def _call(site: Site, home: Path, lane: str = "1") -> subprocess.CompletedProcess[str]:
    return run_cli("call", "dup.hi", site=site, home=home, env={**TRACE, "JAFHOST_CALL_LANE": lane})


@pytest.mark.parametrize("change", ["disable", "distribution", "folder"])
def test_a_change_after_the_plan_reaches_the_next_call(
    change: str, site: Site, home: Path, tmp_path: Path
) -> None:
    data = home / "plugins" / "dup" / "data"
    data.mkdir(parents=True)
    folder = tmp_path / "folder"
    folder.mkdir()
    (home / "config.toml").write_text(
        f'[host]\nisolation = "inprocess"\nplugin_paths = [{json.dumps(str(folder))}]\n'
    )
    site.plugin("dup", code=CODE.format(data=str(data), tag="one"))
    for _ in range(3):  # cold, recorded, summary with its plan
        warm = _call(site, home)
        assert warm.returncode == 0, warm.stderr
    warm = _call(site, home)
    assert "jafhost call: lane path" in warm.stderr, warm.stderr
    if change == "disable":
        done = run_cli("disable", "dup", site=site, home=home)
        assert done.returncode == 0, done.stderr
    elif change == "distribution":
        site.plugin("dup", dist="jaf-other", module=f"jp_other_{site.tag}",
                    code=CODE.format(data=str(data), tag="two"))  # fmt: skip
    else:
        folder_plugin(
            folder, f"jp_folder_{site.tag}", "dup", CODE.format(data=str(data), tag="three")
        )
    before = sorted(p.name for p in data.iterdir())
    served = _call(site, home)
    assert sorted(p.name for p in data.iterdir()) == before, served.stderr
    full = _call(site, home, lane="0")
    assert sorted(p.name for p in data.iterdir()) == before, full.stderr
    assert full.returncode == 1, full.stderr
    assert (served.returncode, served.stdout) == (full.returncode, full.stdout)
    assert "jafhost call: lane path" not in served.stderr
