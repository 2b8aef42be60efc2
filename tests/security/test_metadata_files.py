"""Core metadata, entry points, ``state.json`` and the discovery cache are read safely.

Whoever installs a distribution writes its ``METADATA`` and ``entry_points.txt``; any
program of the user's can put something in place of ``state.json`` or the discovery
cache. A FIFO there would block a plain ``open`` forever, a link to ``/dev/zero`` would
fill memory, a 2 GB (sparse) file would be read whole. None of them may hang a command
or take the host down: a bad metadata file makes only its own plugin ``invalid``, with
a reason naming the file, while the good plugin next to it is listed and called; a bad
``state.json`` is moved aside with a warning; a bad cache is scanned past and replaced.
Every command runs in a new process under a timeout (the hang guard).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import HI_PLUGIN, Site

HANG_GUARD = 60.0
"""Seconds any one command may take; a hang fails the test instead of blocking the run."""
MEMORY_GUARD = 2 * 1024**3
"""Address space any one command may use: reading ``/dev/zero`` whole fails fast
instead of taking the machine's memory."""

GOOD = HI_PLUGIN


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def make_huge(path: Path) -> None:
    with path.open("wb") as file:
        file.truncate(2 * 1024**3)  # sparse: 2 GB to whoever reads it, no disk used


BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (make_fifo, "not a regular file (a FIFO)"),
    "zero": (make_zero, "not a regular file (a device)"),
    "huge": (make_huge, "larger than"),
}


def _replace(path: Path, make: Callable[[Path], None]) -> None:
    if path.exists() or path.is_symlink():
        path.unlink()
    make(path)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_GUARD, MEMORY_GUARD))


def _cli(*args: str, site: Site, home: Path) -> tuple[int, str, str]:
    """The real CLI in a new process (as ``conftest.run_cli``), under both guards."""
    env = dict(os.environ)
    env.pop("JAFHOST_DEBUG", None)
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(site.root), *filter(None, [env.get("PYTHONPATH")])])
    env["JAFHOST_HOME"] = str(home)
    env["COLUMNS"] = "200"
    ran = subprocess.run(
        [sys.executable, "-m", "jafhost", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANG_GUARD,
        stdin=subprocess.DEVNULL,
        preexec_fn=_limit_memory,
    )
    return ran.returncode, ran.stdout, ran.stderr


def _check_good_plugin_works(site: Site, home: Path) -> None:
    code, out, err = _cli("call", "good.hi", site=site, home=home)
    assert code == 0 and json.loads(out) == "hi", err
    code, out, err = _cli("info", "good", "--json", site=site, home=home)
    assert code == 0 and json.loads(out)["status"] == "enabled", err


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("file", ["METADATA", "entry_points.txt"])
def test_a_bad_metadata_file_makes_only_its_plugin_invalid(
    kind: str, file: str, site: Site, home: Path
) -> None:
    make, why = BAD[kind]
    site.plugin("good", code=GOOD)
    site.plugin("bad", code=GOOD)
    [dist_info] = site.root.glob("jaf_plugin_bad-*.dist-info")
    _replace(dist_info / file, make)

    for _ in range(2):  # a fresh scan, then through the cache
        code, out, err = _cli("list", "--json", site=site, home=home)
        assert code == 0, err
        views = {v["name"]: v for v in json.loads(out)}
        assert views["good"]["status"] == "enabled"
        [bad] = [v for v in views.values() if v["name"] != "good"]
        assert bad["status"] == "invalid"
        assert str(dist_info / file) in bad["reason"] and why in bad["reason"]
    _check_good_plugin_works(site, home)
    code, _, err = _cli("doctor", site=site, home=home)
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_state_file_is_moved_aside(kind: str, site: Site, home: Path) -> None:
    make, why = BAD[kind]
    site.plugin("good", code=GOOD)
    _replace(home / "state.json", make)
    code, out, err = _cli("list", "--json", site=site, home=home)
    assert code == 0, err
    assert [v["name"] for v in json.loads(out)] == ["good"]
    assert f"state file {home / 'state.json'} was unreadable ({why}" in err
    assert list(home.glob("state.json.corrupt-*"))
    _check_good_plugin_works(site, home)


def make_link_to_huge(path: Path) -> None:
    target = path.with_name("elsewhere")
    make_huge(target)
    path.symlink_to(target)


@pytest.mark.parametrize("make", [make_fifo, make_huge, make_link_to_huge])
def test_a_bad_discovery_cache_is_scanned_past_and_replaced(
    make: Callable[[Path], None], site: Site, home: Path
) -> None:
    site.plugin("good", code=GOOD)
    assert _cli("list", "--json", site=site, home=home)[0] == 0
    [cache] = (home / "cache").glob("discovery-*.json")
    _replace(cache, make)
    code, out, err = _cli("list", "--json", site=site, home=home)
    assert code == 0, err
    assert [v["name"] for v in json.loads(out)] == ["good"]
    # replaced by a regular file of its own: never written through a link
    assert cache.is_file() and not cache.is_symlink()
    assert cache.stat().st_size < 1024 * 1024
    elsewhere = cache.with_name("elsewhere")
    assert not elsewhere.exists() or elsewhere.stat().st_size == 2 * 1024**3
    _check_good_plugin_works(site, home)


PYDANTIC_PLUGIN = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")
"""


def test_no_distribution_is_imported_as_a_pydantic_plugin(
    site: Site, home: Path, tmp_path: Path
) -> None:
    """pydantic imports every ``pydantic`` entry point on its first model: the code of
    any installed distribution, run in the host before any plugin is even approved."""
    marker = tmp_path / "imported"
    site.plugin("good", code=GOOD)
    module = "jp_pydantic_plugin_" + site.tag
    (site.root / f"{module}.py").write_text(PYDANTIC_PLUGIN.format(marker=str(marker)))
    dist_info = site.distribution("innocent-library")
    (dist_info / "entry_points.txt").write_text(f"[pydantic]\nsneaky = {module}\n")
    for command in (["list"], ["doctor"], ["info", "good"], ["call", "good.hi"]):
        code, _, err = _cli(*command, site=site, home=home)
        assert code == 0, err
    assert not marker.exists()
