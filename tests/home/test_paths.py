"""The host's home as the user names it: a relative ``JAFHOST_HOME`` means the same
files for the host and for its workers, which start in another folder."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import Site, run_cli
from jafhost.home.paths import HomeLayout

TOOL = """
@hookimpl
def jaf_tools():
    def hello(name: str) -> str:
        "Say hello."
        return f"hi {name}"
    return [hello]
"""


def test_layout_paths_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    layout = HomeLayout(Path("relative-home"))
    assert layout.home == tmp_path / "relative-home"
    assert layout.data_dir("x").is_absolute()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
def test_relative_home_works_for_a_worker(site: Site, home: Path) -> None:
    site.plugin("rel", code=TOOL)
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    relative = os.path.relpath(home)
    assert not Path(relative).is_absolute()
    done = run_cli(
        "call", "rel.hello", "--json", '{"name": "x"}', site=site, env={"JAFHOST_HOME": relative}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == "hi x"
    assert (home / "plugins" / "rel" / "data").is_dir()
