"""The cache check's manifest reading agrees with the manifest model it stands in for.

``verify.manifest_fields`` derives kinds and permissions without pydantic; whenever it
confirms a manifest, the model must accept it and derive the same, or a cached plugin
could be confirmed with other permissions than a fresh scan would give it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from conftest import Site
from jafhost.discovery import discover, manifest, manifest_model, metadata, verify
from jafhost.discovery.cache import DiscoveryCache
from jafhost.errors import ManifestError


def test_the_lists_it_checks_against_are_the_models() -> None:
    assert get_args(manifest.PluginKind) == verify.PLUGIN_KINDS
    assert verify.FOLDER_KEYS == manifest.FOLDER_KEYS
    assert set(manifest_model.PermissionsTable.model_fields) == {
        *verify.PERMISSION_LISTS,
        *verify.PERMISSION_FLAGS,
    }
    assert set(manifest_model.ManifestModel.model_fields) == {"plugin", "permissions"}


MANIFESTS = [
    "",
    '[plugin]\nkinds = ["tool", "event", "tool"]\n',
    '[permissions]\nread = ["~/notes", "/tmp/../etc"]\nnet = ["api.example.com:443"]\n',
    "[permissions]\nffi = true\nenv = ['KEY_*']\nrun = ['git']\n",
    "[permissions]\nffi = false\n",
    "[permissions]\nobserve = true\n",
    "[permissions]\nobserve = 'yes'\n",
    '[permisions]\nread = ["/x"]\n',
    '[plugin]\nkinds = ["nope"]\n',
    '[plugin]\nname = "x"\nversion = "1.0"\n',
    '[permissions]\nnet = ["not a host!"]\n',
    "[permissions]\nffi = 1\n",
    "[permissions]\nread = '/x'\n",
    "a = [[[1]]]\n",
    "not toml [",
]


@pytest.mark.parametrize("text", MANIFESTS)
def test_what_it_confirms_the_model_derives_alike(text: str) -> None:
    fields = verify.manifest_fields(text, folder=False)
    try:
        model = manifest.parse_manifest(text, "jaf-plugin.toml")
    except ManifestError:
        assert fields is None
        return
    assert fields is not None
    assert fields["kinds"] == model.kinds and fields["permissions"] == model.permissions


MORE_MANIFESTS = [
    '[plugin]\nactivation = "eager"\nkinds = ["agent"]\n',
    '[plugin]\nactivation = "sometimes"\n',
    "[plugin]\nactivation = true\n",
    '[plugin]\nkinds = "tool"\n',
    '[permissions]\nwrite = ["$PLUGIN_DATA", "~"]\nread = ["relative/path"]\n',
    '[permissions]\nnet = ["*.example.com", "127.0.0.1:*", "[::1]:8080"]\n',
    "[permissions]\nenv = ['A', 'lower-case']\n",
    "[permissions]\nrun = ['/bin/sh', 'git']\nobserve = false\n",
    "[permissions]\nread = [1]\n",
    '[plugin]\nsummary = "only folders"\n',
    "[plugin]\n[permissions]\n[extra]\n",
    "plugin = 3\n",
]


@pytest.mark.parametrize("text", MANIFESTS + MORE_MANIFESTS)
def test_a_scan_reads_a_manifest_as_the_model_does(text: str, tmp_path: Path) -> None:
    """A fresh scan takes a manifest ``manifest_fields`` confirms without the model:
    the same ``Manifest`` (kinds, permissions, activation, path), or the model's error."""
    path = tmp_path / "jaf-plugin.toml"
    path.write_text(text)
    try:
        expected = manifest.parse_manifest(text, str(path))  # the model, always
    except ManifestError as exc:
        with pytest.raises(ManifestError) as raised:
            manifest.read_manifest([path])
        assert str(raised.value) == str(exc)
        return
    assert manifest.read_manifest([tmp_path / "absent.toml", path]) == expected


def test_most_manifests_are_read_without_the_model() -> None:
    confirmed = [t for t in MANIFESTS + MORE_MANIFESTS if verify.manifest_fields(t, folder=False)]
    assert len(confirmed) >= 8


FOLDER_MANIFESTS = [
    '[plugin]\nname = "x"\nversion = "1.0"\n',
    '[plugin]\nname = "x"\nversion = "1.0"\nsummary = "s"\nrequires = ["a>=1"]\n'
    'entry_point = "x.p:P"\nkinds = ["tool"]\n[permissions]\nenv = ["A"]\n',
    '[plugin]\nname = "x"\n',
    '[plugin]\nname = "x"\nversion = 1\n',
]


@pytest.mark.parametrize("text", FOLDER_MANIFESTS)
def test_folder_manifests_alike(text: str) -> None:
    fields = verify.manifest_fields(text, folder=True)
    try:
        model = manifest.parse_manifest(text, "jaf-plugin.toml", folder=True)
    except ManifestError:
        assert fields is None
        return
    assert fields is not None
    for key in ("kinds", "permissions", "name", "version", "requires", "entry_point"):
        assert fields[key] == getattr(model, key), key
    assert fields["summary"] == model.summary


def test_the_package_finder_answers_as_importlib(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    layout = {
        first / "pkg_a" / "__init__.py": "",  # a package
        first / "mod_b.py": "",  # a plain module
        first / "ns_c" / "x.py": "",  # namespace portions in both folders
        second / "ns_c" / "y.py": "",
        first / "ns_d" / "x.py": "",  # a namespace portion, then a package: the package
        second / "ns_d" / "__init__.py": "",
        first / "both_e" / "x.py": "",  # a folder without __init__ and a module beside it
        first / "both_e.py": "",
        second / "late_f" / "__init__.py": "",  # found in the second folder only
        first / "binary_g" / "__init__.pyc": "",
    }
    for path, text in layout.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    path = [str(first), str(tmp_path / "missing"), str(second)]
    finder = metadata.PackageFinder(path)
    names = ["pkg_a", "mod_b", "ns_c", "ns_d", "both_e", "late_f", "binary_g", "none_h"]
    for name in names:
        for value in (name, f"{name}.sub:Obj"):
            assert finder.locations(value) == metadata.manifest_locations(value, path), value


def test_the_first_folder_of_a_distribution_known_there_answers_as_a_listing(
    tmp_path: Path,
) -> None:
    """Given the folder discovery found it in, ``first_folder`` does not list that path
    entry once it reaches it, and answers as it does by listing: a copy in an earlier
    folder still comes first, and a folder whose name is another project's vouches
    for nothing."""
    folders = {name: tmp_path / name for name in ("empty", "first", "later", "other")}
    for folder in folders.values():
        folder.mkdir()
    (folders["first"] / "Jaf_Plugin_X-1.0.dist-info").mkdir()
    (folders["later"] / "jaf.plugin.x-2.0.dist-info").mkdir()
    (folders["other"] / "jaf_plugin_y-1.0.dist-info").mkdir()
    path = [str(folders[name]) for name in ("empty", "other", "first", "later")]
    plain = metadata.PackageFinder(path).first_folder("jaf-plugin-x")
    assert plain == str(folders["first"])

    finder = metadata.PackageFinder(path)
    known = str(folders["first"] / "Jaf_Plugin_X-1.0.dist-info")
    assert finder.first_folder("jaf-plugin-x", known=known) == plain
    assert str(folders["first"]) not in finder.listings  # reached, not listed
    for known in (
        str(folders["later"] / "jaf.plugin.x-2.0.dist-info"),  # shadowed by the first
        str(folders["other"] / "jaf_plugin_y-1.0.dist-info"),  # another project's folder
    ):
        finder = metadata.PackageFinder(path)
        assert finder.first_folder("jaf-plugin-x", known=known) == plain
        assert str(folders["first"]) in finder.listings


def test_a_cache_pointing_at_a_shadowed_copy_is_scanned_again(tmp_path: Path) -> None:
    first, second = Site(tmp_path / "first"), Site(tmp_path / "second")
    first.plugin("twin", version="2.0.0", requires=["jaf-plugin-missing"])
    second.plugin("twin", version="1.0.0")  # an older copy, later on the path: shadowed
    paths, cache_dir = [str(first.root), str(second.root)], tmp_path / "cache"
    [plugin] = discover(cache_dir, paths).plugins
    assert plugin.version == "2.0.0"

    file = DiscoveryCache(cache_dir, paths).file
    data = json.loads(file.read_text())
    [older] = second.root.glob("*.dist-info")
    entry = data["discovery"]["plugins"][0]
    entry.update(location=str(older), version="1.0.0", requires=[])
    entry["entry_point"] = second.module_for("twin")
    file.write_text(json.dumps(data))
    [plugin] = discover(cache_dir, paths).plugins
    assert plugin.version == "2.0.0" and plugin.requires == ("jaf-plugin-missing",)


def _lazy(cache_dir: Path, paths: list[str]) -> verify.CacheCheck:
    """The cached discovery, read with its checks deferred; its pending check."""
    found = discover(cache_dir, paths, lazy=True)
    assert found.pending is not None, "the cache was not used"
    return found.pending


def test_a_deferred_check_reads_only_the_plugin_it_is_asked_about(
    site: Site, tmp_path: Path
) -> None:
    site.plugin("asked", manifest='[plugin]\nkinds = ["tool"]\n')
    site.plugin("other", manifest='[plugin]\nkinds = ["tool"]\n')
    paths, cache_dir = [str(site.root)], tmp_path / "cache"
    assert discover(cache_dir, paths).pending is None  # a fresh scan: nothing to check
    # the other plugin's manifest asks for more, behind the cache's back
    (site.root / site.module_for("other") / "jaf-plugin.toml").write_text(
        '[permissions]\nrun = ["sh"]\n'
    )
    check = _lazy(cache_dir, paths)
    assert check.plugin("asked")
    assert {Path(p).name for p in check.files._read} <= {
        "METADATA",
        "entry_points.txt",
        "jaf-plugin.toml",
    }
    assert not any(site.module_for("other") in p for p in check.files._read)
    assert not check.plugin("other")
    assert not check.all()
    # checked all at once (what list does), the edit is found too
    [other] = [p for p in discover(cache_dir, paths).plugins if p.name == "other"]
    assert other.permissions == ("run:sh",)


@pytest.mark.parametrize(
    "text",
    ['[permissions]\nread = ["/"]\n', "[permisions]\n", None],
    ids=["more permissions", "manifest typo", "manifest removed"],
)
def test_a_deferred_check_catches_an_edited_manifest_of_the_plugin_it_is_asked_about(
    site: Site, tmp_path: Path, text: str | None
) -> None:
    module = site.plugin("started", manifest='[plugin]\nkinds = ["tool"]\n')
    paths, cache_dir = [str(site.root)], tmp_path / "cache"
    discover(cache_dir, paths)
    manifest_file = site.root / module / "jaf-plugin.toml"
    if text is None:
        manifest_file.unlink()
    else:
        manifest_file.write_text(text)
    check = _lazy(cache_dir, paths)
    assert not check.plugin("started")
    [fresh] = discover(cache_dir, paths, rescan=True).plugins
    assert fresh != check.plugins[0]


def test_a_deferred_check_refuses_a_cache_claiming_a_name_twice(site: Site, tmp_path: Path) -> None:
    site.plugin("one")
    site.plugin("two")
    paths, cache_dir = [str(site.root)], tmp_path / "cache"
    discover(cache_dir, paths)
    file = DiscoveryCache(cache_dir, paths).file
    data = json.loads(file.read_text())
    for entry in data["discovery"]["plugins"]:
        entry["name"] = "one"
    file.write_text(json.dumps(data))
    found = discover(cache_dir, paths, lazy=True)
    assert found.pending is None  # not used: scanned afresh
    assert sorted(p.name for p in found.plugins) == ["one", "two"]
