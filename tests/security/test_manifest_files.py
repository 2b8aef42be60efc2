"""Manifests and ``config.toml`` are read safely: whatever file an attacker puts there.

A ``jaf-plugin.toml`` nested too deeply for the TOML parser, a FIFO (a plain ``open``
blocks forever), a link to ``/dev/zero`` (a plain ``read`` never ends) or a huge file
makes only its own plugin ``invalid``, with a one-line reason naming the file; ``list``,
``info``, ``doctor`` and ``call`` of the good plugins next to it keep working. A FIFO or
``/dev/zero`` ``config.toml`` is an ``error:``/warning naming the file, never a hang.
Every command runs in a new process under a timeout (the hang guard), with installed
plugins (``Site``) and folder plugins (``JAFHOST_PLUGIN_PATH``) side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import HI_PLUGIN, Site, run_cli
from jafhost.discovery import folders
from jafhost.discovery.cache import path_fingerprint
from jafhost.discovery.entry_points import scan
from jafhost.errors import StateError
from jafhost.home.config import read_config
from jafhost.safe_read import MANIFEST_LIMIT, UnsafeFile, read_bytes, read_text

HANG_GUARD = 60.0
"""Seconds any one command may take; a hang fails the test instead of blocking the run."""

GOOD = HI_PLUGIN

DEEP = "a = " + "[" * 5000 + "]" * 5000 + "\n"
BIG = "# " + "x" * (MANIFEST_LIMIT + 10) + "\n"


def make_deep(path: Path) -> None:
    path.write_text(DEEP)


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def make_big(path: Path) -> None:
    path.write_text(BIG)


BAD = {
    "deep": (make_deep, "nested too deeply"),
    "fifo": (make_fifo, "not a regular file"),
    "zero": (make_zero, "not a regular file"),
    "big": (make_big, f"larger than {MANIFEST_LIMIT} bytes"),
}
"""Each bad manifest: how it is made, and what the plugin's reason says about it."""


def _folder_plugin(root: Path, module: str, name: str, code: str = GOOD) -> Path:
    package = root / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from jafhost import hookimpl\n" + textwrap.dedent(code))
    (package / "jaf-plugin.toml").write_text(f'[plugin]\nname = "{name}"\nversion = "0.1.0"\n')
    return package


def _bad_installed(site: Site, kind: str) -> Path:
    """Install ``bad-<kind>``: a real distribution whose manifest is a bad file."""
    module = site.plugin(f"bad-{kind}", code=GOOD)
    manifest = site.root / module / "jaf-plugin.toml"
    BAD[kind][0](manifest)
    return manifest


def _bad_folder(root: Path, site: Site, kind: str) -> tuple[str, Path]:
    """A folder plugin whose manifest is a bad file; its name (the package folder's,
    as the manifest cannot say another) and its manifest."""
    module = f"bad_{kind}_dev_{site.tag}"
    package = _folder_plugin(root, module, f"bad-{kind}-dev")
    manifest = package / "jaf-plugin.toml"
    manifest.unlink()
    BAD[kind][0](manifest)
    return module, manifest


@pytest.fixture
def plugins(tmp_path: Path, site: Site) -> tuple[Path, dict[str, tuple[str, Path]]]:
    """Good ``good`` (installed) and ``good-dev`` (folder) plugins, and next to them one
    installed and one folder plugin per bad manifest; returns the plugin folder and, by
    plugin name, what is wrong with each bad manifest and where it is."""
    site.plugin("good", code=GOOD)
    root = tmp_path / "plugin-folder"
    root.mkdir()
    _folder_plugin(root, f"good_dev_{site.tag}", "good-dev")
    bad: dict[str, tuple[str, Path]] = {}
    for kind in BAD:
        bad[f"bad-{kind}"] = (kind, _bad_installed(site, kind))
        name, manifest = _bad_folder(root, site, kind)
        bad[name] = (kind, manifest)
    return root, bad


def _cli(
    *args: str, site: Site, home: Path, folder: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"JAFHOST_PLUGIN_PATH": str(folder)} if folder is not None else {}
    return run_cli(*args, site=site, home=home, env=env, timeout=HANG_GUARD)


def _expected_reason(kind: str, manifest: Path) -> str:
    return f"{manifest}: {BAD[kind][1]}"


def test_bad_manifests_make_only_their_plugin_invalid(
    site: Site, home: Path, plugins: tuple[Path, dict[str, tuple[str, Path]]]
) -> None:
    folder, bad = plugins
    for attempt in ("scan", "cached"):  # the second run checks the cache's fingerprint
        listed = _cli("list", "--json", site=site, home=home, folder=folder)
        assert listed.returncode == 0, (attempt, listed.stderr)
        views = {v["name"]: v for v in json.loads(listed.stdout)}
        for good in ("good", "good-dev"):
            assert views[good]["status"] not in ("invalid", "broken"), views[good]
        for name, (kind, manifest) in bad.items():
            assert views[name]["status"] == "invalid", (attempt, name, views[name])
            reason = views[name]["reason"]
            assert reason.startswith(_expected_reason(kind, manifest)), (attempt, name, reason)
            assert "\n" not in reason

    info = _cli("info", "good", "--json", site=site, home=home, folder=folder)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["name"] == "good"
    for name in ("bad-fifo", f"bad_deep_dev_{site.tag}"):
        shown = _cli("info", name, "--json", site=site, home=home, folder=folder)
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        assert data["status"] == "invalid"
        assert data["reason"].startswith(_expected_reason(*bad[name]))

    doctor = _cli("doctor", "--json", site=site, home=home, folder=folder)
    report = {p["name"]: p for p in json.loads(doctor.stdout)["plugins"]}
    assert set(bad) | {"good", "good-dev"} <= set(report), doctor.stderr
    for good in ("good", "good-dev"):
        assert report[good]["runtime"] == "active", report[good]

    for tool in ("good.hi", "good-dev.hi"):
        call = _cli("call", tool, site=site, home=home, folder=folder)
        assert call.returncode == 0, call.stderr
        assert json.loads(call.stdout) == "hi"
    refused = _cli("call", "bad-zero.hi", site=site, home=home, folder=folder)
    assert refused.returncode != 0
    assert refused.stderr.startswith("error: ")


@pytest.mark.parametrize("kind", list(BAD))
def test_discovery_reports_each_bad_manifest(kind: str, tmp_path: Path, site: Site) -> None:
    site.plugin("good", code=GOOD)
    root = tmp_path / "plugin-folder"
    root.mkdir()
    installed = _bad_installed(site, kind)
    name, in_folder = _bad_folder(root, site, kind)
    found = {p.name: p for p in scan([str(site.root)], [str(root)]).plugins}
    assert found["good"].error is None
    assert str(found[f"bad-{kind}"].error).startswith(f"{installed}: {BAD[kind][1]}")
    assert str(found[name].error).startswith(f"{in_folder}: {BAD[kind][1]}")
    # fingerprinting the plugin folder neither blocks nor reads the bad file
    assert path_fingerprint([str(site.root)], [str(root)]) == path_fingerprint(
        [str(site.root)], [str(root)]
    )


def test_fingerprint_changes_when_a_bad_manifest_is_fixed(tmp_path: Path, site: Site) -> None:
    root = tmp_path / "plugin-folder"
    root.mkdir()
    _, manifest = _bad_folder(root, site, "fifo")
    before = folders.fingerprint_rows(str(root))
    manifest.unlink()
    manifest.write_text('[plugin]\nname = "bad-fifo-dev"\nversion = "0.1.0"\n')
    assert folders.fingerprint_rows(str(root)) != before


def test_safe_read_refuses_what_is_not_a_small_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(UnsafeFile, match=r"^not a regular file \(a FIFO\)$"):
        read_bytes(fifo, 100)
    with pytest.raises(UnsafeFile, match=r"^not a regular file \(a device\)$"):
        read_bytes(zero, 100)
    with pytest.raises(UnsafeFile, match=r"^not a regular file \(a folder\)$"):
        read_bytes(tmp_path, 100)
    with pytest.raises(UnsafeFile, match=r"^larger than 100 bytes$"):
        read_bytes(big, 100)
    assert read_bytes(big, 101) == b"x" * 101
    (tmp_path / "latin").write_bytes(b"caf\xe9")
    with pytest.raises(UnsafeFile, match=r"^not UTF-8 text"):
        read_text(tmp_path / "latin", 100)
    with pytest.raises(FileNotFoundError):
        read_text(tmp_path / "missing", 100)
    link = tmp_path / "link"
    link.symlink_to(big)
    assert read_text(link, 200) == "x" * 101


def make_deep_config(path: Path) -> None:
    path.write_text("[host]\nplugin_paths = " + "[" * 5000 + "]" * 5000 + "\n")


CONFIGS = {"fifo": make_fifo, "zero": make_zero, "deep": make_deep_config}
CONFIG_REASON = {
    "fifo": "not a regular file",
    "zero": "not a regular file",
    "deep": "nested too deeply",
}


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_a_bad_config_file_is_named_never_hangs(
    kind: str, tmp_path: Path, site: Site, home: Path
) -> None:
    site.plugin("good", code=GOOD)
    root = tmp_path / "plugin-folder"
    root.mkdir()
    _folder_plugin(root, f"good_dev_{site.tag}", "good-dev")
    config = home / "config.toml"
    CONFIGS[kind](config)
    message = f"{config}: {CONFIG_REASON[kind]}"

    with pytest.raises(StateError, match="^" + str(config)):
        read_config(config)
    with pytest.raises(StateError, match="^" + str(config)):
        folders.plugin_folders(config, environ={})

    # where no plugin code runs: a warning naming the file, the defaults apply
    listed = _cli("list", "--json", site=site, home=home, folder=root)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.startswith(f"warning: {message}"), listed.stderr
    names = {v["name"] for v in json.loads(listed.stdout)}
    assert {"good", "good-dev"} <= names
    info = _cli("info", "good", "--json", site=site, home=home, folder=root)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["name"] == "good"
    doctor = _cli("doctor", "--json", site=site, home=home, folder=root)
    assert doctor.returncode == 1, doctor.stderr
    findings = json.loads(doctor.stdout)["findings"]
    assert any(f["message"].startswith(message) for f in findings), findings
    # where plugin code would run: refused, with one error line naming the file
    call = _cli("call", "good.hi", site=site, home=home, folder=root)
    assert call.returncode == 1, call.stdout
    assert call.stderr.startswith(f"error: {message}"), call.stderr
    assert len(call.stderr.splitlines()) == 1
    # and ``config set``, which edits the file, refuses it too
    edit = _cli("config", "set", "good", "x", "1", site=site, home=home, folder=root)
    assert edit.returncode != 0
    assert f"{message}" in edit.stderr, edit.stderr
