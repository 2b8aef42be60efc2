"""The one-shot lane's key stamps each folder on the search path once
(``cache.path_stamps``) and compares discovery's fingerprint, which stats every
installed distribution, only when the stamps differ or cannot vouch for a folder
modified in the last seconds (``lane_summary.Key.matches``).

Real distributions on a temporary path, real ``jafhost`` processes run from a working
folder of their own (``python -m`` puts it first on the path). What served a call is
read from the interpreter (``PYTHONPROFILEIMPORTTIME``: the full checks import the
resolution of all plugins, a call from the summary does not) and from the summary file
itself (rewritten or not).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from call_paths import ECHO, FULL, TRACE, served_by

from conftest import Site, run_cli
from jafhost.file_stamps import CHANGE_MARGIN_NS

CALL = ("call", "lane.echo", "-a", "text=hi")
HOUR_NS = 3600 * 1_000_000_000


def settle(*folders: Path) -> None:
    """Time stamps an hour back: folders installed long ago, which stamps vouch for.
    Setting them moves the change time to now: the next call waits past the margin
    within which the full checks take a change for one made while they read
    (``file_stamps.CHANGE_MARGIN_NS``), as a user's next call would be."""
    past = time.time_ns() - HOUR_NS
    for folder in folders:
        os.utime(folder, ns=(past, past))
    time.sleep(2 * CHANGE_MARGIN_NS / 1e9)


class Lane:
    """A home with plugin ``lane`` in process, recorded and summarised, and how to call it."""

    def __init__(self, site: Site, home: Path, cwd: Path) -> None:
        self.site, self.home, self.cwd = site, home, cwd

    def call(self, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*CALL, site=self.site, home=self.home, env=env, cwd=self.cwd)

    def from_summary(self) -> bool:
        """Whether a call of ``lane.echo`` is answered without the full checks."""
        result = self.call({**TRACE, "PYTHONPROFILEIMPORTTIME": "1"})
        assert (result.returncode, result.stdout.strip()) == (0, '"hi"'), result.stderr
        assert served_by(result) == "lane", result.stderr
        imported = {
            line.rpartition("|")[2].strip()
            for line in result.stderr.splitlines()
            if line.startswith("import time:")
        }
        return "jafhost.discovery.resolve" not in imported

    @property
    def summary(self) -> Path:
        (found,) = (self.home / "cache" / "lane").glob("*.json")
        return found

    def stored_key(self) -> dict[str, object]:
        key = json.loads(self.summary.read_text())["key"]
        assert isinstance(key, dict)
        return key

    def summary_identity(self) -> tuple[int, int]:
        found = self.summary.stat()
        return found.st_ino, found.st_mtime_ns


@pytest.fixture
def lane(site: Site, home: Path, tmp_path: Path) -> Lane:
    cwd = tmp_path / "work"
    cwd.mkdir()
    site.plugin("lane", code=ECHO)
    site.plugin("other", code=ECHO.replace("echo", "idle"))
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    settle(site.root, cwd)
    found = Lane(site, home, cwd)
    for _ in range(2):  # the first records it, the second writes the summary
        result = found.call()
        assert result.returncode == 0, result.stderr
    assert found.stored_key()["paths"] is not None
    return found


def test_an_unchanged_path_is_vouched_for_by_its_stamps(lane: Lane) -> None:
    """Called again and again, the summary is read and never written: it matched on the
    stamps (a match on the fingerprint alone writes the new stamps)."""
    before = lane.summary_identity()
    assert [lane.from_summary() for _ in range(3)] == [True, True, True]
    assert lane.summary_identity() == before


def test_a_file_that_is_no_distribution_is_stamped_again(lane: Lane) -> None:
    """A file created in the working folder (``python -m`` has it on the path) changes
    its stamps but not discovery's fingerprint: the summary still holds, once compared
    on the fingerprint, and is stored with the new stamps."""
    stored = lane.stored_key()
    (lane.cwd / "notes.txt").write_text("not a distribution\n")
    settle(lane.cwd)
    assert lane.from_summary()
    restamped = lane.stored_key()
    assert restamped["paths"] not in (stored["paths"], None)
    assert restamped["fingerprint"] == stored["fingerprint"]
    before = lane.summary_identity()
    assert lane.from_summary()
    assert lane.summary_identity() == before


def test_a_folder_modified_just_now_is_compared_on_the_fingerprint(lane: Lane) -> None:
    """Another plugin installed a moment ago: the site folder is too recent for its
    stamps, the full checks run once and store a summary without stamps, which later
    calls read on the fingerprint alone (and do not rewrite while it stays recent)."""
    lane.site.plugin("late", code=ECHO.replace("echo", "late"))
    # the first call rescans discovery (then cannot keep what it checked), the second
    # checks in full again with the new cache and stores
    assert [lane.from_summary(), lane.from_summary()] == [False, False]
    assert lane.stored_key()["paths"] is None
    before = lane.summary_identity()
    assert lane.from_summary()
    assert lane.summary_identity() == before
    settle(lane.site.root)
    assert lane.from_summary()
    assert lane.stored_key()["paths"] is not None


def test_a_distribution_installed_claiming_the_name_is_seen(lane: Lane) -> None:
    """Installed (a new ``*.dist-info`` folder), the site folder then set back an hour
    (old enough for its stamps to vouch): they differ from the summary's, discovery's
    fingerprint too, and the full checks see two plugins named ``lane`` and answer as
    the full path does."""
    other = lane.site.module_for("other")
    lane.site.distribution("jaf-plugin-impostor", entry_points={"lane": other})
    settle(lane.site.root)
    result = lane.call(TRACE)
    full = lane.call(FULL)
    assert result.returncode != 0
    assert (result.returncode, result.stdout) == (full.returncode, full.stdout)


def test_its_own_entry_points_edited_in_place_are_seen(lane: Lane) -> None:
    """The called plugin's files are compared by content on every call, stamps or not:
    its ``entry_points.txt`` edited in place (no folder's time stamp changes) to name
    the plugin otherwise, and the call answers as the full path does."""
    (found,) = lane.site.root.glob("jaf_plugin_lane-*.dist-info")
    entry_points = found / "entry_points.txt"
    entry_points.write_text(entry_points.read_text().replace("lane =", "renamed ="))
    result = lane.call(TRACE)
    full = lane.call(FULL)
    assert result.returncode != 0
    assert (result.returncode, result.stdout) == (full.returncode, full.stdout)


def test_another_entry_points_file_edited_in_place_is_seen_after_a_full_command(
    lane: Lane,
) -> None:
    """What the stamps leave alone by design: another distribution's
    ``entry_points.txt`` edited in place to claim the name too. The lane keeps calling
    the plugin it checked; any full command rescans (the fingerprint saw the edit) and
    its new discovery cache passes the summary by, so the next call answers as the full
    path does."""
    (found,) = lane.site.root.glob("jaf_plugin_other-*.dist-info")
    entry_points = found / "entry_points.txt"
    other = lane.site.module_for("other")
    entry_points.write_text(entry_points.read_text() + f"lane = {other}\n")
    assert lane.from_summary()
    listed = run_cli("list", "--json", site=lane.site, home=lane.home, cwd=lane.cwd)
    assert listed.returncode == 0, listed.stderr
    result = lane.call(TRACE)
    full = lane.call(FULL)
    assert result.returncode != 0
    assert (result.returncode, result.stdout) == (full.returncode, full.stdout)


def test_a_key_matched_on_the_stamps_keeps_the_summarys_fingerprint(site: Site) -> None:
    """What a summary is stored with after a match on the stamps is its own fingerprint,
    not one taken later (which could postdate what it says); without stamps, the
    fingerprint is taken now and compared."""
    from jafhost.cli.lane_summary import Key
    from jafhost.discovery.cache import path_fingerprint, path_stamps

    site.plugin("kept")
    settle(site.root)
    search = [str(site.root)]

    def key(paths: str | None) -> Key:
        return Key("1", "c", "s", "e", (), tuple(search), paths, "cache.json", "-")

    stamped = key(path_stamps(search))
    assert stamped.paths is not None
    stored = {**stamped.to_json(), "fingerprint": "the summary's"}
    fresh = key(stamped.paths)
    assert fresh.matches(stored) is True
    assert fresh.fingerprint() == "the summary's"
    unvouched = key(None)
    assert unvouched.matches(stored) is False
    assert unvouched.fingerprint() == path_fingerprint(search)
    assert key(None).matches({**stored, "fingerprint": path_fingerprint(search)}) is None
    assert key(None).matches({**stored, "state": "another"}) is False
