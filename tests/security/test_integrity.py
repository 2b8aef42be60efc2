"""A plugin whose installed files no longer match its ``RECORD`` never runs.

Each plugin here is a real wheel (``local_index.build_wheel``) installed by pip into a
temporary site-packages, so its ``RECORD`` is the one pip writes (bytecode included).
A tampered file appends code that leaves a marker in the plugin's own data folder (a
place it may write in both isolation modes): the marker must stay absent, whichever
way the plugin would have been started (a worker, in process, the call lane), and the
plugin is ``invalid`` with the file named.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from call_paths import TRACE
from local_index import Dist, build_wheel

from conftest import INPROCESS_CONFIG, ISOLATION_MODES, Site, folder_plugin, run_cli
from jafhost.discovery.integrity import GUARANTEED_HASHES, HashCount
from jafhost.file_stamps import CHANGE_MARGIN_NS
from jafhost.host.host import Host
from jafhost.host.sync import SyncHost

_NAMES = itertools.count()
PIP_INSTALL = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
NO_LANE = {"JAFHOST_CALL_LANE": "0"}


def install(site: Site, tmp_path: Path, plugin: str = "sealed") -> Path:
    """Install plugin ``plugin`` from a real wheel with pip; returns its package folder."""
    dist = Dist(f"jaf-plugin-{plugin}-{site.tag}-{next(_NAMES)}", "1.0.0", "Sealed", plugin=plugin)
    wheels = tmp_path / "wheels"
    wheels.mkdir(exist_ok=True)
    wheel = build_wheel(dist, wheels)
    subprocess.run(
        [*PIP_INSTALL, "--target", str(site.root), str(wheel)],
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"},
    )
    time.sleep(2 * CHANGE_MARGIN_NS / 1e9)  # older than a clock tick: stamped when checked
    return site.root / dist.module


def marker(home: Path, plugin: str = "sealed") -> Path:
    return home / "plugins" / plugin / "data" / "tampered"


def tamper(package: Path, home: Path) -> Path:
    """Append code that leaves the marker at import; returns the changed file."""
    path = package / "__init__.py"
    code = f"\nopen({str(marker(home))!r}, 'w').write('ran')\n"
    path.write_text(path.read_text() + code)
    return path


def _config(home: Path, isolation: str) -> None:
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_tampered_file_makes_the_plugin_invalid_before_any_of_its_code_runs(
    isolation: str, site: Site, home: Path, tmp_path: Path
) -> None:
    package = install(site, tmp_path)
    _config(home, isolation)
    before = run_cli("call", "sealed.ping", site=site, home=home, env=NO_LANE)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout) == "pong"
    changed = tamper(package, home)

    called = run_cli("call", "sealed.ping", site=site, home=home, env=NO_LANE)
    assert called.returncode == 1
    assert str(changed) in called.stderr and "integrity" in called.stderr
    listed = run_cli("list", "--json", site=site, home=home)
    (entry,) = json.loads(listed.stdout)
    assert entry["status"] == "invalid"
    assert str(changed) in entry["reason"]
    doctor = run_cli("doctor", site=site, home=home)
    assert doctor.returncode == 1
    assert str(changed) in doctor.stdout + doctor.stderr
    assert not marker(home).exists()


def test_the_call_lane_does_not_run_a_tampered_plugin(
    site: Site, home: Path, tmp_path: Path
) -> None:
    package = install(site, tmp_path)
    (home / "config.toml").write_text(INPROCESS_CONFIG)
    for _ in range(2):  # the first call records what it contributes; the second uses it
        warm = run_cli("call", "sealed.ping", site=site, home=home, env=TRACE)
        assert warm.returncode == 0, warm.stderr
    assert "jafhost call: lane path" in warm.stderr
    changed = tamper(package, home)

    called = run_cli("call", "sealed.ping", site=site, home=home, env=TRACE)
    assert called.returncode == 1
    assert "jafhost call: full path" in called.stderr
    assert str(changed) in called.stderr
    assert not marker(home).exists()


def test_a_missing_file_makes_the_plugin_invalid(site: Site, home: Path, tmp_path: Path) -> None:
    package = install(site, tmp_path)
    manifest = package / "jaf-plugin.toml"
    manifest.unlink()
    host = Host(home, paths=[str(site.root)])
    (view,) = host.plugins()
    assert view.status == "invalid"
    assert f"installed file {manifest} is missing" in (view.reason or "")
    with SyncHost(host) as running:
        result = running.call("sealed.ping")
    assert result.error is not None and result.error.code == "unavailable"
    assert str(manifest) in result.error.message


def test_a_change_with_size_and_modification_time_restored_is_found(
    site: Site, home: Path, tmp_path: Path
) -> None:
    package = install(site, tmp_path)
    (view,) = Host(home, paths=[str(site.root)]).plugins()
    assert view.status == "enabled"  # its files hashed and stamped
    path = package / "__init__.py"
    st = path.stat()
    path.write_text(path.read_text().replace("pong", "gnop"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)

    (view,) = Host(home, paths=[str(site.root)]).plugins()
    assert view.status == "invalid"  # the change time moved: hashed again
    assert str(path) in (view.reason or "")


def test_an_unchanged_plugin_is_not_hashed_again(site: Site, home: Path, tmp_path: Path) -> None:
    install(site, tmp_path)
    (home / "config.toml").write_text(INPROCESS_CONFIG)
    first = HashCount.value
    (view,) = Host(home, paths=[str(site.root)]).plugins()
    assert view.status == "enabled"
    assert HashCount.value > first  # the first check hashes every file

    again = HashCount.value
    host = Host(home, paths=[str(site.root)])  # a new process's view: stamps from the cache
    (view,) = host.plugins()
    with SyncHost(host) as running:  # started (checked again just before) and called
        result = running.call("sealed.ping")
    assert view.status == "enabled"
    assert result.ok, result.error
    assert HashCount.value == again


def test_verify_hashes_every_file_now_and_fails_on_a_changed_one(
    site: Site, home: Path, tmp_path: Path
) -> None:
    package = install(site, tmp_path)
    install(site, tmp_path, "other")
    checked = run_cli("verify", "--json", site=site, home=home)
    assert checked.returncode == 0, checked.stderr
    found = {row["name"]: row for row in json.loads(checked.stdout)}
    assert {row["integrity"] for row in found.values()} == {"verified"}
    again = json.loads(run_cli("verify", "--json", site=site, home=home).stdout)
    assert all(row["hashed"] == row["files"] > 0 for row in again)  # stamps ignored
    changed = tamper(package, home)

    failed = run_cli("verify", "--json", site=site, home=home)
    assert failed.returncode == 1
    found = {row["name"]: row for row in json.loads(failed.stdout)}
    assert found["sealed"]["integrity"] == "changed"
    assert found["sealed"]["file"] == str(changed)
    assert found["other"]["integrity"] == "verified"
    table = run_cli("verify", site=site, home=home)
    assert table.returncode == 1
    assert "changed" in table.stdout and str(changed) in table.stdout
    assert run_cli("verify", "other", site=site, home=home).returncode == 0
    unknown = run_cli("verify", "nope", site=site, home=home)
    assert unknown.returncode == 2 and "unknown plugin" in unknown.stderr
    assert not marker(home).exists()


PING = '''
def ping() -> str:
    """Answer pong."""
    return "pong"


@hookimpl
def jaf_tools():
    return [ping]
'''


def test_folder_plugins_and_editable_installs_are_unverified_and_still_run(
    site: Site, home: Path, tmp_path: Path
) -> None:
    folders = tmp_path / "folders"
    folder_plugin(folders, f"jp_loose_{site.tag}", "loose", PING)
    module = site.plugin("editable", code=PING)
    (dist_info,) = site.root.glob("jaf_plugin_editable-*.dist-info")
    (dist_info / "direct_url.json").write_text(
        json.dumps({"url": (site.root / module).as_uri(), "dir_info": {"editable": True}})
    )
    (dist_info / "RECORD").write_text(f"{module}/__init__.py,sha256=not-its-hash,1\n")
    env = {"JAFHOST_PLUGIN_PATH": str(folders), **NO_LANE}
    for name in ("loose", "editable"):
        info = run_cli("info", name, "--json", site=site, home=home, env=env)
        assert json.loads(info.stdout)["integrity"] == "unverified", info.stderr
        assert "unverified" in run_cli("info", name, site=site, home=home, env=env).stdout
        called = run_cli("call", f"{name}.ping", site=site, home=home, env=env)
        assert called.returncode == 0, called.stderr
    checked = run_cli("verify", "--json", site=site, home=home, env=env)
    assert checked.returncode == 0
    assert {row["integrity"] for row in json.loads(checked.stdout)} == {"unverified"}


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_reload_does_not_import_a_tampered_version(
    isolation: str, site: Site, home: Path, tmp_path: Path
) -> None:
    package = install(site, tmp_path)
    _config(home, isolation)
    with SyncHost(Host(home, paths=[str(site.root)])) as running:
        assert running.call("sealed.ping").result == "pong"
        changed = tamper(package, home)
        report = running.reload("sealed")
        assert not report.ok
        assert str(changed) in (report.error or "")
    assert not marker(home).exists()


def test_the_hashes_named_are_hashlibs_guaranteed_ones() -> None:
    """``RECORD`` is checked without importing ``hashlib``: the names it accepts are
    exactly the ones ``hashlib`` guarantees."""
    import hashlib

    assert hashlib.algorithms_guaranteed == GUARANTEED_HASHES
