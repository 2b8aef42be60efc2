"""The host checks its own installed files against its ``RECORD`` before starting workers.

A plugin that could write one of jafhost's files (the issue's attack: a hard link to
``jafhost/security/sandbox/__init__.py`` in a folder it may write, appended to through
the link) would disarm every worker's sandbox. The test installs a real wheel of jafhost
with ``pip install --no-deps --target`` (built once per session), runs the real CLI from
that copy, changes one file through a hard link, and checks ground truth: the plugin's
tool never runs (its marker file is not written), the call fails naming the file, and
``doctor`` names it. An editable install is reported unverified, never failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Site, run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
ROOT = Path(__file__).resolve().parents[2]
CHANGED = "jafhost/security/sandbox/__init__.py"

MARKER = """
from jafhost import PluginContext

def touch(ctx: PluginContext) -> str:
    '''Leave a mark in the plugin's own data folder: proof the tool ran.'''
    (ctx.data_dir / "ran.txt").write_text("ran")
    return "touched"

@hookimpl
def jaf_tools():
    return [touch]
"""


@pytest.fixture(scope="session")
def installed_jafhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """jafhost as pip installs it from its wheel (with a RECORD), built once."""
    base = tmp_path_factory.mktemp("jafhost-wheel")
    wheels, target = base / "wheels", base / "target"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build jafhost's wheel here: {built.stderr.strip()[-300:]}")
    [wheel] = wheels.glob("jafhost-*.whl")
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--no-compile", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    yield target


@pytest.fixture
def copy(installed_jafhost: Path, tmp_path: Path) -> Path:
    """A fresh copy of the installed jafhost (the test may change it)."""
    target = tmp_path / "installed"
    shutil.copytree(installed_jafhost, target)
    return target


def jafhost(copy: Path, site: Site, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI of the installed copy (first on the path), plugins from ``site``."""
    environment = {k: v for k, v in os.environ.items() if k not in ("JAFHOST_DEBUG", "PYTHONPATH")}
    environment.update(
        PYTHONPATH=os.pathsep.join([str(copy), str(site.root)]), JAFHOST_HOME=str(home)
    )
    return subprocess.run(
        [sys.executable, "-m", "jafhost", *args],
        cwd=home,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_a_changed_jafhost_file_stops_every_worker(
    copy: Path, site: Site, home: Path, tmp_path: Path
) -> None:
    site.plugin("marker", code=MARKER)  # requests nothing: enabled at once
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    ran_file = home / "plugins" / "marker" / "data" / "ran.txt"

    doctor = json.loads(jafhost(copy, site, home, "doctor", "--json").stdout)
    assert doctor["installation"]["status"] == "verified", doctor["installation"]
    assert doctor["ok"]
    first = jafhost(copy, site, home, "call", "marker.touch")
    assert first.returncode == 0, first.stderr
    assert ran_file.exists()  # the copy runs workers while unchanged
    ran_file.unlink()

    writable = tmp_path / "plugin-data"  # a folder a plugin may write
    writable.mkdir()
    link = writable / "sandbox.py"
    os.link(copy / CHANGED, link)
    with open(link, "a") as f:
        f.write("\n# appended through a hard link\n")

    called = jafhost(copy, site, home, "call", "marker.touch")
    assert called.returncode == 1
    assert CHANGED in called.stderr and "differs from its RECORD" in called.stderr
    assert not ran_file.exists(), "a worker ran with a changed jafhost"
    report = jafhost(copy, site, home, "doctor", "--json")
    assert report.returncode == 1
    doctor = json.loads(report.stdout)
    assert doctor["installation"]["status"] == "changed"
    assert doctor["installation"]["changed"] == [CHANGED]
    assert any(f["kind"] == "installation" and CHANGED in f["message"] for f in doctor["findings"])
    text = jafhost(copy, site, home, "doctor")
    assert CHANGED in text.stdout + text.stderr


def test_an_editable_install_is_reported_unverified(home: Path, site: Site) -> None:
    ran = run_cli("doctor", "--json", site=site, home=home)  # this checkout: editable
    doctor = json.loads(ran.stdout)
    assert doctor["installation"]["status"] == "unverified"
    assert "editable install" in doctor["installation"]["detail"]
    assert doctor["ok"], doctor


CHECK_IN_COPY = """
import json, os, sys
before = "importlib.metadata" in sys.modules
from jafhost.security import installed_files as files
checked = files.check()
imported = "importlib.metadata" in sys.modules and not before
running = files._package_dir()
beside = files._beside(running) or {}
on_path = files._on_path() or {}
through = files._through_metadata()
assert not isinstance(through, str), through
def under(entries):
    return sorted(e.name for p, e in entries.items() if p.startswith(running + os.sep))
print(json.dumps({"status": checked.status, "files": checked.files, "imported": imported,
                  "beside": under(beside), "through": under(through),
                  "on_path": under(on_path)}))
"""


def test_the_check_reads_the_record_beside_the_package(copy: Path, tmp_path: Path) -> None:
    """An installed jafhost reads its ``RECORD`` from the dist-info folder beside it, the
    very entries ``importlib.metadata`` gives, without importing ``importlib.metadata``
    (a one-shot call would pay more for that import than for the whole check)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("JAFHOST_DEBUG",)}
    environment["PYTHONPATH"] = str(copy)
    ran = subprocess.run(
        [sys.executable, "-c", CHECK_IN_COPY],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert found["status"] == "verified", found
    assert found["beside"] == found["through"] and len(found["beside"]) == found["files"] > 50
    assert found["on_path"] == found["through"]
    assert not found["imported"], "the check imported importlib.metadata"


STAMPED_CHECK = """
import json, sys
from jafhost.security import installed_files as files
files.SETTLE_NS = 0  # the copy is seconds old: stamp it all the same
checked = files.check(sys.argv[1])
print(json.dumps({"status": checked.status, "changed": list(checked.changed),
                  "hashlib": "hashlib" in sys.modules}))
"""


def stamped_check(copy: Path, cache: Path) -> dict[str, object]:
    """``check`` with ``cache`` as the host's cache folder, in a new process of ``copy``."""
    environment = {k: v for k, v in os.environ.items() if k not in ("JAFHOST_DEBUG",)}
    environment["PYTHONPATH"] = str(copy)
    ran = subprocess.run(
        [sys.executable, "-c", STAMPED_CHECK, str(cache)],
        cwd=cache.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    found: dict[str, object] = json.loads(ran.stdout)
    return found


def test_stamps_in_the_host_cache_spare_the_hashing_but_not_the_check(
    copy: Path, tmp_path: Path
) -> None:
    """A later process trusts a file's kept stamp (no hashing, no ``hashlib``) only while
    the file is untouched: changed through a hard link with its size and modification
    time put back, its change time moved, and the check refuses it."""
    cache = tmp_path / "cache"
    cache.mkdir()
    first = stamped_check(copy, cache)
    assert first == {"status": "verified", "changed": [], "hashlib": True}
    assert list((cache / "installed").glob("*.json")), "no stamps were kept"
    again = stamped_check(copy, cache)
    assert again == {"status": "verified", "changed": [], "hashlib": False}

    target = copy / CHANGED
    before = target.stat()
    writable = tmp_path / "plugin-data"
    writable.mkdir()
    link = writable / "sandbox.py"
    os.link(target, link)
    data = link.read_bytes()
    link.write_bytes(data.replace(b"def apply(", b"def apqly(", 1))  # same size
    os.utime(link, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size
    assert target.stat().st_mtime_ns == before.st_mtime_ns

    changed = stamped_check(copy, cache)
    assert changed["status"] == "changed" and changed["changed"] == [CHANGED], changed
    still = stamped_check(copy, cache)  # and it stays refused
    assert still["status"] == "changed" and still["changed"] == [CHANGED], still


EDITABLE_CHECK = """
import json, os, sys
from jafhost.security import installed_files as files
checked = files.check()
imported = "importlib.metadata" in sys.modules
running = files._package_dir()
on_path = files._on_path()
through = files._through_metadata()
def names(entries):
    return sorted(e.name for e in entries.values())
print(json.dumps({"status": checked.status, "detail": checked.detail, "imported": imported,
                  "on_path": None if on_path is None else names(on_path),
                  "through": through if isinstance(through, str) else names(through)}))
"""


def test_an_editable_install_is_found_without_importlib_metadata(tmp_path: Path) -> None:
    """This checkout (an editable install: no ``RECORD`` beside the package) finds the
    very ``RECORD`` entries ``importlib.metadata`` finds, without importing it."""
    environment = {k: v for k, v in os.environ.items() if k not in ("JAFHOST_DEBUG",)}
    ran = subprocess.run(
        [sys.executable, "-c", EDITABLE_CHECK],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert found["status"] == "unverified" and "editable install" in found["detail"], found
    assert not found["imported"], "the check imported importlib.metadata"
    assert found["on_path"] is not None and found["on_path"] == found["through"], found


SEARCH_ON_PATH = """
import json, sys
sys.path[:0] = sys.argv[1:]
from jafhost.security import installed_files as files
on_path = files._on_path()
through = files._through_metadata()
def names(entries):
    return None if entries is None else sorted(e.name for e in entries.values())
print(json.dumps({"on_path": names(on_path),
                  "through": through if isinstance(through, str) else names(through)}))
"""


def search_on_path(tmp_path: Path, *first: Path) -> dict[str, object]:
    """``_on_path`` and ``importlib.metadata``'s entries with ``first`` on ``sys.path``
    ahead of everything."""
    environment = {k: v for k, v in os.environ.items() if k not in ("JAFHOST_DEBUG",)}
    ran = subprocess.run(
        [sys.executable, "-c", SEARCH_ON_PATH, *map(str, first)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    found: dict[str, object] = json.loads(ran.stdout)
    return found


def test_the_search_on_the_path_finds_what_importlib_metadata_finds(tmp_path: Path) -> None:
    """The first folder of ``sys.path`` with metadata named for jafhost decides, any
    case of the name, as ``importlib.metadata`` decides; an ``.egg-info`` there is left
    to ``importlib.metadata`` itself."""
    ahead = tmp_path / "ahead"
    (ahead / "JafHost-9.9.dist-info").mkdir(parents=True)
    (ahead / "JafHost-9.9.dist-info" / "RECORD").write_text(
        "jafhost/__init__.py,sha256=AAAA,12\njafhost/x.py,sha256=BBBB,3\n"
        "JafHost-9.9.dist-info/RECORD,,\n"
    )
    (ahead / "jafhost_extra-1.0.dist-info").mkdir()  # another distribution: not it
    found = search_on_path(tmp_path, ahead)
    assert found["on_path"] == ["jafhost/__init__.py", "jafhost/x.py"], found
    assert found["on_path"] == found["through"], found

    egg = tmp_path / "egg"
    (egg / "jafhost.egg-info").mkdir(parents=True)
    (egg / "jafhost.egg-info" / "PKG-INFO").write_text("Name: jafhost\nVersion: 9.9\n")
    found = search_on_path(tmp_path, egg, ahead)
    assert found["on_path"] is None, found  # left to importlib.metadata
