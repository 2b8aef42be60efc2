"""The host's home as the user names it: a relative ``JAFHOST_HOME`` means the same
files for the host and for its workers, which start in another folder."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import Site, run_cli
from jafhost.home.paths import CACHE, CONFIG, PLUGINS, STATE, STATE_LOCK, HomeLayout

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


def test_the_strings_name_the_places_the_paths_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call lane's strings (``at``, ``data_folder``, ``cache_folder``) and the
    ``Path``s the rest of the host uses are the same places, from a relative home and
    from one given as a string with ``~``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    for given in (Path("relative-home"), "~/home"):
        layout = HomeLayout(given)
        assert Path(layout.root) == layout.home and layout.home.is_absolute()
        pairs = [
            (layout.at(STATE), layout.state),
            (layout.at(STATE_LOCK), layout.state_lock),
            (layout.at(CONFIG), layout.config),
            (layout.at(CACHE), layout.cache),
            (layout.at(PLUGINS), layout.plugins),
            (layout.data_folder("p"), layout.data_dir("p")),
            (layout.cache_folder("p"), layout.cache_dir("p")),
        ]
        for text, path in pairs:
            assert isinstance(text, str)
            assert Path(text) == path
        assert layout.config is layout.config  # built once, then kept
    assert HomeLayout("~/home").root == str(tmp_path / "user" / "home")


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
