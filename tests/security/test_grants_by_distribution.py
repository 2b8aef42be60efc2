"""Grants belong to a plugin's name **and** its distribution (DESIGN.md, State).

The attack: the user approved ``files`` (distribution ``jaf-plugin-files``) to read a
folder; later another distribution claims the plugin name ``files``. It must start as
``needs-approval`` when it requests anything, and never run with the first one's grants,
in either isolation mode, even when it requests nothing at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli

READER = '''
from pathlib import Path

def read(path: str) -> str:
    """Read a file."""
    return Path(path).read_text()

@hookimpl
def jaf_tools():
    return [read]
'''


def _approve_the_real_one(site: Site, home: Path, secret: Path, isolation: str) -> None:
    site.plugin("files", code=READER, manifest=f'[permissions]\nread = ["{secret.parent}"]\n')
    ran = run_cli("enable", "files", "--yes", "--isolation", isolation, site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    ran = run_cli("call", "files.read", "-a", f"path={secret}", site=site, home=home)
    assert ran.returncode == 0 and json.loads(ran.stdout) == secret.read_text(), ran.stderr
    site.remove("jaf-plugin-files")


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_an_impostor_asking_the_same_permissions_needs_approval(
    isolation: str, site: Site, home: Path, secret: Path
) -> None:
    _approve_the_real_one(site, home, secret, isolation)
    site.plugin("files", dist="jaf-plugin-impostor", code=READER,
                manifest=f'[permissions]\nread = ["{secret.parent}"]\n')  # fmt: skip
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["distribution"] == "jaf-plugin-impostor"
    assert view["status"] == "needs-approval"
    assert "approved for distribution jaf-plugin-files" in view["reason"]
    assert view["granted"] == []
    ran = run_cli("call", "files.read", "-a", f"path={secret}", site=site, home=home)
    assert ran.returncode == 1
    assert secret.read_text() not in ran.stdout + ran.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_an_impostor_asking_nothing_runs_without_the_grants(
    isolation: str, site: Site, home: Path, secret: Path
) -> None:
    _approve_the_real_one(site, home, secret, isolation)
    site.plugin("files", dist="jaf-plugin-impostor", code=READER, manifest="")
    ran = run_cli("call", "files.read", "-a", f"path={secret}", site=site, home=home)
    assert secret.read_text() not in ran.stdout + ran.stderr
    assert ran.returncode == 1 and "permission denied" in ran.stderr


def test_approving_the_impostor_drops_the_first_ones_grants(
    site: Site, home: Path, secret: Path, tmp_path: Path
) -> None:
    _approve_the_real_one(site, home, secret, "inprocess")
    other = tmp_path / "other"
    other.mkdir()
    site.plugin("files", dist="jaf-plugin-impostor", code=READER,
                manifest=f'[permissions]\nread = ["{other}"]\n')  # fmt: skip
    assert run_cli("enable", "files", "--yes", site=site, home=home).returncode == 0
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["status"] == "enabled" and view["granted"] == [f"read:{other}"]
    state = json.loads((home / "state.json").read_text())
    assert state["plugins"]["files"]["distribution"] == "jaf-plugin-impostor"
    ran = run_cli("call", "files.read", "-a", f"path={secret}", site=site, home=home)
    assert ran.returncode == 1 and secret.read_text() not in ran.stdout + ran.stderr
