"""``cache.path_stamps``: one ``stat`` per search-path folder, what the one-shot lane's
key holds instead of discovery's fingerprint (two per installed distribution). It must
change with whatever an installer does to a folder on the path, refuse to vouch for a
folder modified within ``RACY_NS``, and leave to ``path_fingerprint`` (which the lane
compares when the stamps differ) only files edited in place inside a distribution.

Real folders and files; time stamps set back with ``os.utime`` where a test needs a
folder old enough to vouch for.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Site, folder_plugin
from jafhost.discovery import cache
from jafhost.discovery.cache import RACY_NS, path_fingerprint, path_stamps

HOUR_NS = 3600 * 1_000_000_000


def settle(*folders: Path) -> None:
    """Set the folders' time stamps an hour back, as if installed long ago."""
    past = time.time_ns() - HOUR_NS
    for folder in folders:
        os.utime(folder, ns=(past, past))


def _install(site: Site) -> None:
    site.plugin("added")


def _uninstall(site: Site) -> None:
    site.remove("jaf-plugin-kept")


def _upgrade(site: Site) -> None:
    site.remove("jaf-plugin-kept")
    site.plugin("kept", "2.0.0")


def _rename(site: Site) -> None:
    (found,) = site.root.glob("jaf_plugin_kept-*.dist-info")
    found.rename(found.with_name("jaf_plugin_kept-9.9.9.dist-info"))


def _pth(site: Site) -> None:
    (site.root / "extra.pth").write_text("/nowhere\n")


def _module(site: Site) -> None:
    """A module dropped beside the packages (it could shadow one)."""
    (site.root / "jp_shadow.py").write_text("")


CHANGES: dict[str, Callable[[Site], None]] = {
    "a distribution installed": _install,
    "a distribution uninstalled": _uninstall,
    "a distribution upgraded": _upgrade,
    "a dist-info folder renamed": _rename,
    "a .pth file added": _pth,
    "a module added": _module,
}


@pytest.fixture
def settled(site: Site) -> Site:
    site.plugin("kept")
    settle(site.root)
    return site


def test_an_unchanged_path_keeps_its_stamps(settled: Site) -> None:
    paths = [str(settled.root)]
    first = path_stamps(paths)
    assert first is not None
    assert path_stamps(paths) == first
    assert path_stamps([*paths, str(settled.root.parent)]) != first  # another path


@pytest.mark.parametrize("change", list(CHANGES))
def test_what_an_installer_does_changes_the_stamps(
    change: str, settled: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [str(settled.root)]
    before = path_stamps(paths)
    CHANGES[change](settled)
    assert path_stamps(paths) is None  # modified just now: not vouched for
    monkeypatch.setattr(cache, "RACY_NS", 0)  # what it says once the folder is older
    assert path_stamps(paths) not in (before, None)


def test_a_folder_modified_within_the_racy_window_cannot_vouch(settled: Site) -> None:
    """A second change in the same tick of the file system's clock would leave the
    folder's time stamp as it is: a folder that recent is vouched for by nothing."""
    recent = time.time_ns() - RACY_NS // 2
    os.utime(settled.root, ns=(recent, recent))
    assert path_stamps([str(settled.root)]) is None
    settle(settled.root)
    assert path_stamps([str(settled.root)]) is not None


def test_a_missing_folder_a_file_and_a_replaced_folder(tmp_path: Path, settled: Site) -> None:
    archive = tmp_path / "plugins.zip"
    archive.write_bytes(b"PK\x05\x06" + bytes(18))
    settle(tmp_path)
    past = time.time_ns() - HOUR_NS
    os.utime(archive, ns=(past, past))
    paths = [str(tmp_path / "missing"), str(archive), str(settled.root)]
    before = path_stamps(paths)
    assert before is not None
    with open(archive, "ab") as out:  # a zip file on the path: its size counts
        out.write(b"\0")
    os.utime(archive, ns=(past, past))
    assert path_stamps(paths) != before
    after_zip = path_stamps(paths)
    copy = tmp_path / "copy"
    shutil.copytree(settled.root, copy)
    shutil.rmtree(settled.root)
    copy.rename(settled.root)  # the same names, another folder
    settle(settled.root, tmp_path)
    assert path_stamps(paths) not in (after_zip, None)


def test_a_plugin_folders_manifest_edit_changes_the_stamps(tmp_path: Path) -> None:
    root = tmp_path / "folders"
    package = folder_plugin(root, "local", "local", "")
    settle(root, package)
    before = path_stamps([], [str(root)])
    manifest = package / "jaf-plugin.toml"
    manifest.write_text(manifest.read_text() + 'activation = "eager"\n')
    settle(root, package)
    assert path_stamps([], [str(root)]) not in (before, None)


def test_an_entry_points_file_edited_in_place_is_the_fingerprints_to_see(settled: Site) -> None:
    """The one change the stamps leave to ``path_fingerprint``: no installer edits a
    file inside a ``*.dist-info`` folder in place. (The lane compares the called
    plugin's files by content; ``tests/cli/test_call_lane_stamps.py``.)"""
    paths = [str(settled.root)]
    stamps, fingerprint = path_stamps(paths), path_fingerprint(paths)
    (found,) = settled.root.glob("jaf_plugin_kept-*.dist-info")
    with open(found / "entry_points.txt", "a", encoding="utf-8") as out:
        out.write("other = somewhere\n")
    assert path_stamps(paths) == stamps
    assert path_fingerprint(paths) != fingerprint
