"""The one-shot lane's summary (``cli/lane_summary.py``) spares a warm ``jafhost call``
the discovery of all plugins and their resolution, and is passed by whenever the full
checks could answer differently: another plugin installed eager, one enabled with
``observe``, the plugin disabled or upgraded, the state file edited in place by another
process, a plugin folder configured. An edited summary decides nothing.

Real distributions on a temporary path, real ``jafhost`` processes; each answer is
compared with the full path's (``JAFHOST_CALL_LANE=0``), ``JAFHOST_TRACE_CALL=1`` says
which path served it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from call_paths import FULL, TRACE, served_by

from conftest import Site, folder_plugin, run_cli
from jafhost.file_stamps import CHANGE_MARGIN_NS

TOOLS = '''
def echo(text: str) -> str:
    """Repeat the text."""
    return text


@hookimpl
def jaf_tools():
    return [echo]
'''

UPGRADED = '''
def echo(text: str) -> str:
    """Repeat the text, marked."""
    return "v2:" + text


@hookimpl
def jaf_tools():
    return [echo]
'''

OTHER = '''
def idle() -> str:
    """Answer."""
    return "idle"


@hookimpl
def jaf_tools():
    return [idle]
'''

EVIL = """
import os
with open(os.environ["LANE_MARKER"], "w") as out:
    out.write("imported")
"""

CALL = ("call", "lane.echo", "-a", "text=hi")


def _summaries(home: Path) -> list[Path]:
    return sorted((home / "cache" / "lane").glob("*.json"))


def _without_trace(text: str) -> str:
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.startswith("jafhost call: ")
    )


@pytest.fixture
def warm_home(site: Site, home: Path) -> Path:
    """Plugin ``lane`` (and ``other``) installed, in process, recorded, summarised."""
    site.plugin("lane", code=TOOLS)
    site.plugin("other", code=OTHER)
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    for _ in range(2):  # the first records it, the second writes the summary
        warm = run_cli(*CALL, site=site, home=home)
        assert warm.returncode == 0, warm.stderr
    assert len(_summaries(home)) == 1
    return home


def test_a_warm_call_resolves_none_of_the_other_plugins(site: Site, warm_home: Path) -> None:
    """Ground truth from the interpreter: ``PYTHONPROFILEIMPORTTIME`` lists every module
    imported; the resolution and the scan of all plugins are not among them."""
    result = run_cli(
        *CALL, site=site, home=warm_home, env={**TRACE, "PYTHONPROFILEIMPORTTIME": "1"}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "hi"
    assert served_by(result) == "lane"
    imported = {
        line.rpartition("|")[2].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "jafhost.cli.lane_summary" in imported
    assert "jafhost.discovery.resolve" not in imported
    assert "jafhost.discovery.entry_points" not in imported


def _install_eager(site: Site, home: Path) -> None:
    site.plugin("early", code=OTHER, manifest='[plugin]\nactivation = "eager"\n')


def _enable_observer(site: Site, home: Path) -> None:
    """Installed (not yet approved, so nothing beside the call): summarised again; then
    enabled with ``observe``, a change of the state alone."""
    site.plugin("watcher", code=OTHER, manifest="[permissions]\nobserve = true\n")
    again = run_cli(*CALL, site=site, home=home, env=TRACE)
    assert (again.returncode, served_by(again)) == (0, "lane"), again.stderr
    enabled = run_cli("enable", "watcher", "--yes", site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr


def _disable(site: Site, home: Path) -> None:
    disabled = run_cli("disable", "lane", site=site, home=home)
    assert disabled.returncode == 0, disabled.stderr


def _upgrade(site: Site, home: Path) -> None:
    site.remove("jaf-plugin-lane")
    site.plugin("lane", "2.0.0", code=UPGRADED)


def _edit_state_in_place(site: Site, home: Path) -> None:
    """Another process rewrites ``state.json`` in place (same file, same inode)."""
    state = home / "state.json"
    data = json.loads(state.read_text()) if state.exists() else {"format": 1, "plugins": {}}
    data["plugins"]["lane"] = {"enabled": False}
    if not state.exists():
        state.write_text("")
    inode = state.stat().st_ino
    with open(state, "r+", encoding="utf-8") as out:
        out.write(json.dumps(data))
        out.truncate()
    assert state.stat().st_ino == inode


def _configure_eager_folder(site: Site, home: Path) -> None:
    root = home.parent / "folder-plugins"
    package = folder_plugin(root, "early_folder", "early-folder", OTHER)
    manifest = package / "jaf-plugin.toml"
    manifest.write_text(manifest.read_text() + 'activation = "eager"\n')
    (home / "config.toml").write_text(
        f'[host]\nisolation = "inprocess"\nplugin_paths = [{json.dumps(str(root))}]\n'
    )


CHANGES: dict[str, tuple[Callable[[Site, Path], None], str]] = {
    "another plugin installed, eager": (_install_eager, "full"),
    "another plugin enabled with observe": (_enable_observer, "full"),
    "the plugin disabled": (_disable, "full"),
    "the plugin upgraded": (_upgrade, "lane"),  # checked in full, started and recorded
    "the state edited in place": (_edit_state_in_place, "full"),
    "a plugin folder configured with an eager plugin": (_configure_eager_folder, "full"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_the_full_checks_would_see_passes_the_summary_by(
    change: str, site: Site, warm_home: Path
) -> None:
    apply, expected = CHANGES[change]
    apply(site, warm_home)
    lane = run_cli(*CALL, site=site, home=warm_home, env=TRACE)
    full = run_cli(*CALL, site=site, home=warm_home, env=FULL)
    assert served_by(lane) == expected, lane.stderr
    assert (lane.returncode, lane.stdout, _without_trace(lane.stderr)) == (
        full.returncode,
        full.stdout,
        _without_trace(full.stderr),
    )


def test_the_upgraded_plugin_answers_and_is_summarised_again(site: Site, warm_home: Path) -> None:
    _upgrade(site, warm_home)
    answers = [run_cli(*CALL, site=site, home=warm_home, env=TRACE) for _ in range(3)]
    assert [json.loads(a.stdout) for a in answers] == ["v2:hi"] * 3
    assert [served_by(a) for a in answers] == ["lane", "lane", "lane"]
    assert len(_summaries(warm_home)) == 1


def test_an_edited_summary_decides_nothing(site: Site, warm_home: Path, tmp_path: Path) -> None:
    """A summary pointing the plugin at another module (same key): the plugin is derived
    again from its files, so the other module is never imported."""
    (site.root / "lane_evil_module.py").write_text(EVIL)
    # the site folder holds the plugin: changed within the margin of the full checks'
    # read, they would refuse to keep what they read (``file_stamps.CHANGE_MARGIN_NS``)
    time.sleep(2 * CHANGE_MARGIN_NS / 1e9)
    marker = tmp_path / "marker"
    (summary,) = _summaries(warm_home)
    data = json.loads(summary.read_text())
    for info in [data["info"], *data["named"]]:
        info["entry_point"] = "lane_evil_module"
    summary.write_text(json.dumps(data))
    result = run_cli(*CALL, site=site, home=warm_home, env={**TRACE, "LANE_MARKER": str(marker)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "hi"
    assert served_by(result) == "lane"  # from the full checks, which wrote the summary again
    assert not marker.exists()
    assert json.loads(summary.read_text())["info"]["entry_point"] != "lane_evil_module"
