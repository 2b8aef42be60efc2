"""Discovery: real dist-info on a temporary path, never importing plugin code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Site, run_cli
from jafhost.discovery import discover, entry_points
from jafhost.discovery.cache import DiscoveryCache, path_fingerprint
from jafhost.discovery.entry_points import scan

# whether the host process itself imports plugin code
pytestmark = pytest.mark.usefixtures("inprocess")

MARKER_CODE = """
import pathlib, os
pathlib.Path(os.environ["JAF_TEST_MARKER"]).write_text("imported")
"""


def _names(site: Site) -> list[str]:
    return [p.name for p in scan([str(site.root)]).plugins]


def test_scan_reads_metadata_and_manifest(site: Site) -> None:
    site.plugin(
        "notes",
        version="1.4.0",
        summary="Keeps notes",
        requires=["jafhost>=0.1"],
        manifest='[plugin]\nkinds = ["tool"]\n[permissions]\nread = ["~/notes"]\n',
    )
    (plugin,) = scan([str(site.root)]).plugins
    assert plugin.name == "notes"
    assert plugin.distribution == "jaf-plugin-notes"
    assert plugin.version == "1.4.0"
    assert plugin.summary == "Keeps notes"
    assert plugin.author == "Test Author"
    assert plugin.requires == ("jafhost>=0.1",)
    assert plugin.kinds == ("tool",)
    assert plugin.permissions == (f"read:{Path.home() / 'notes'}",)
    assert plugin.manifest and plugin.manifest.endswith("jaf-plugin.toml")
    assert plugin.error is None


def test_listing_and_inspecting_never_import_plugin_code(
    site: Site, home: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "imported.txt"
    manifest = (
        f'[plugin]\nkinds = ["tool"]\n[permissions]\nwrite = ["{tmp_path}"]\n'
        'env = ["JAF_TEST_MARKER"]\n'
    )
    site.plugin("sneaky", code=MARKER_CODE, manifest=manifest)
    env = {"JAF_TEST_MARKER": str(marker)}
    for args in (["list"], ["list", "--json"], ["info", "sneaky"], ["info", "sneaky", "--json"]):
        result = run_cli(*args, site=site, home=home, env=env)
        assert result.returncode == 0, result.stderr
        assert not marker.exists(), f"jafhost {' '.join(args)} imported plugin code"
    assert run_cli("enable", "sneaky", "--yes", site=site, home=home, env=env).returncode == 0
    assert not marker.exists()
    # the marker works: loading the plugin does import it
    result = run_cli("doctor", site=site, home=home, env=env)
    assert marker.read_text() == "imported", result.stdout + result.stderr


def test_invalid_names_and_entry_points(site: Site) -> None:
    site.plugin("Bad-Name")
    site.plugin("a__b")
    site.plugin("fine", entry_point="not a module!")
    site.plugin("good")
    plugins = {p.name: p for p in scan([str(site.root)]).plugins}
    assert "not allowed" in (plugins["Bad-Name"].error or "")
    assert "not allowed" in (plugins["a__b"].error or "")
    assert "entry point value" in (plugins["fine"].error or "")
    assert plugins["good"].error is None


def test_two_distributions_claiming_one_name_are_both_invalid(site: Site) -> None:
    site.plugin("notes", dist="jaf-plugin-notes")
    site.plugin("notes", dist="other-notes", version="2.0.0", module=site.module_for("other"))
    plugins = [p for p in scan([str(site.root)]).plugins if p.name == "notes"]
    assert len(plugins) == 2
    by_dist = {p.distribution: p for p in plugins}
    assert "other-notes 2.0.0" in (by_dist["jaf-plugin-notes"].error or "")
    assert "jaf-plugin-notes 1.0.0" in (by_dist["other-notes"].error or "")


def test_one_distribution_may_offer_several_plugins(site: Site) -> None:
    module = site.module_for("pair")
    (site.root / module).mkdir()
    (site.root / module / "__init__.py").write_text("")
    site.distribution("jaf-plugin-pair", entry_points={"alpha": module, "beta": f"{module}:x"})
    assert _names(site) == ["alpha", "beta"]


def _no_scan(*args: object) -> None:
    raise AssertionError("scanned although the cache is valid")


def test_cache_is_used_and_invalidated_on_install_and_uninstall(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    site.plugin("one", summary="the first")
    paths = [str(site.root)]
    first = discover(cache_dir, paths)
    assert [p.name for p in first.plugins] == ["one"]
    cache_file = DiscoveryCache(cache_dir, paths).file
    assert cache_file.exists()

    # a valid cache is what gets returned: no scan happens
    with monkeypatch.context() as patch:
        patch.setattr(entry_points, "scan", _no_scan)
        assert discover(cache_dir, paths).plugins == first.plugins
    # a cache edited by hand is derived again from the files, and rewritten
    data = json.loads(cache_file.read_text())
    data["discovery"]["plugins"][0]["summary"] = "from the cache"
    cache_file.write_text(json.dumps(data))
    assert discover(cache_dir, paths).plugins[0].summary == "the first"
    assert "from the cache" not in cache_file.read_text()

    site.plugin("two")  # install
    assert [p.name for p in discover(cache_dir, paths).plugins] == ["one", "two"]
    site.remove("jaf-plugin-one")  # uninstall
    assert [p.name for p in discover(cache_dir, paths).plugins] == ["two"]


def test_cache_notices_upgrade_and_edited_files(site: Site, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    paths = [str(site.root)]
    module = site.plugin("notes", manifest='[plugin]\nkinds = ["tool"]\n')
    assert discover(cache_dir, paths).plugins[0].kinds == ("tool",)

    manifest = site.root / module / "jaf-plugin.toml"
    manifest.write_text('[plugin]\nkinds = ["tool", "event"]\n')
    assert discover(cache_dir, paths).plugins[0].kinds == ("tool", "event")

    manifest.write_text("[permisions]\n")  # typo: must not be hidden by the cache
    assert "permisions" in (discover(cache_dir, paths).plugins[0].error or "")

    manifest.unlink()
    plugin = discover(cache_dir, paths).plugins[0]
    assert plugin.error is None and plugin.kinds == ()

    site.remove("jaf-plugin-notes")
    site.plugin("notes", version="2.0.0", module=module)
    assert discover(cache_dir, paths).plugins[0].version == "2.0.0"


def test_cache_notices_metadata_edited_in_place_within_the_same_second(
    site: Site, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    paths = [str(site.root)]
    site.plugin("notes", summary="old summary")
    assert discover(cache_dir, paths).plugins[0].summary == "old summary"
    metadata = next(site.root.glob("*.dist-info")) / "METADATA"
    before = metadata.stat()
    metadata.write_text(metadata.read_text().replace("old summary", "new summary"))
    os.utime(metadata, ns=(before.st_atime_ns, before.st_mtime_ns + 1))  # 1 ns later
    assert discover(cache_dir, paths).plugins[0].summary == "new summary"


def test_fingerprint_changes_with_entry_points_file(site: Site) -> None:
    site.plugin("notes")
    paths = [str(site.root)]
    before = path_fingerprint(paths)
    assert path_fingerprint(paths) == before
    entry_points = next(site.root.glob("*.dist-info")) / "entry_points.txt"
    time.sleep(0.01)
    entry_points.write_text(entry_points.read_text() + "extra = x\n")
    assert path_fingerprint(paths) != before


def test_corrupt_cache_is_ignored(site: Site, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    paths = [str(site.root)]
    site.plugin("notes")
    discover(cache_dir, paths)
    DiscoveryCache(cache_dir, paths).file.write_text("{not json")
    assert [p.name for p in discover(cache_dir, paths).plugins] == ["notes"]


def test_a_bad_entry_point_is_listed_even_with_the_importlib_metadata_backport(
    site: Site, tmp_path: Path
) -> None:
    """Importing ``importlib_metadata`` (mcp, build and others do) replaces the standard
    library's metadata finder with one whose entry points reject a malformed value."""
    pytest.importorskip("importlib_metadata")
    site.plugin("fine", entry_point="not a module!")
    site.plugin("good")
    code = (
        "import importlib_metadata, json, sys\n"
        "from jafhost.discovery.entry_points import scan\n"
        "print(json.dumps({p.name: p.error for p in scan([sys.argv[1]]).plugins}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(site.root)], capture_output=True, text=True, check=True
    )
    errors = json.loads(result.stdout)
    assert "entry point value" in (errors["fine"] or "")
    assert errors["good"] is None
