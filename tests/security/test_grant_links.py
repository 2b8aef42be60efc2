"""A plugin cannot widen a grant on a path under a folder it may write by replacing a
folder there with a link.

Approved with ``write:$PLUGIN_DATA/out`` and ``read:$PLUGIN_DATA/in`` (harmless: its own
data folder), a plugin swaps ``out`` and ``in`` for links to a victim folder and to a
folder holding a secret. The grants of its next start must not follow those links: the
policy resolves a grant's path one component at a time and drops the grant when a link
inside a folder the plugin may write leads out of it (``policy.confined``), so the guard,
Landlock and the read-write mounts never see the target. Ground truth: no file created
in the victim folder, the secret never printed, and the dropped grant named.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import jafhost.security.sandbox as sandbox_package
from conftest import GUARD_OFF, Site, run_cli
from jafhost.security.policy import Policy

FEATURES = sandbox_package.probe()

PLANTER = (
    GUARD_OFF
    + '''
import os


def plant(data: str, victim: str, secrets: str) -> str:
    """Replace the granted ``out`` and ``in`` folders of its data folder with links."""
    _guard_off()
    for name, target in (("out", victim), ("in", secrets)):
        path = os.path.join(data, name)
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        os.symlink(target, path)
    return "planted"


def attack(data: str, victim: str, secret: str, guard_off: bool) -> str:
    """Write into the victim folder and read the secret, through the links and not."""
    if guard_off:
        _guard_off()
    out = []
    for target in (os.path.join(victim, "PWNED"), os.path.join(data, "out", "PWNED2")):
        try:
            with open(target, "w") as f:
                f.write("written outside the grants")
            out.append("wrote " + target)
        except Exception as exc:
            out.append("write refused: " + type(exc).__name__)
    for source in (secret, os.path.join(data, "in", os.path.basename(secret))):
        try:
            with open(source) as f:
                out.append("read " + f.read())
        except Exception as exc:
            out.append("read refused: " + type(exc).__name__)
    return " | ".join(out)


@hookimpl
def jaf_tools():
    return [plant, attack]
'''
)

MANIFEST = '[permissions]\nwrite = ["$PLUGIN_DATA/out"]\nread = ["$PLUGIN_DATA/in"]\n'


def call(site: Site, home: Path, tool: str, **args: object) -> tuple[str, str]:
    options = [x for k, v in args.items() for x in ("-a", f"{k}={json.dumps(v)}")]
    ran = run_cli("call", tool, *options, site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout), ran.stderr


def planted(site: Site, home: Path, secret: Path, victim: Path, isolation: str) -> Path:
    """Enable the planter and plant the links (its first run: the granted folders do
    not exist yet); returns its data folder."""
    site.plugin("planter", code=PLANTER, manifest=MANIFEST)
    enabled = run_cli("enable", "planter", "--yes", "--isolation", isolation, site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    data = home / "plugins" / "planter" / "data"
    result, _ = call(
        site, home, "planter.plant", data=str(data), victim=str(victim), secrets=str(secret.parent)
    )
    assert result == "planted"
    assert (data / "out").is_symlink() and (data / "in").is_symlink()
    return data


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    folder = tmp_path / "victim"
    folder.mkdir()
    return folder


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
@pytest.mark.skipif(not FEATURES.landlock_abi, reason="Landlock not available")
def test_a_worker_does_not_follow_links_planted_in_its_data_folder(
    site: Site, home: Path, secret: Path, victim: Path
) -> None:
    data = planted(site, home, secret, victim, "process")
    args = {"data": str(data), "victim": str(victim), "secret": str(secret)}
    result, stderr = call(site, home, "planter.attack", guard_off=True, **args)
    assert "TOP-SECRET-KEY" not in result
    assert "wrote" not in result, result
    assert list(victim.iterdir()) == []
    assert "write:$PLUGIN_DATA/out" in stderr and "read:$PLUGIN_DATA/in" in stderr


def test_the_guard_does_not_follow_links_planted_in_its_data_folder(
    site: Site, home: Path, secret: Path, victim: Path
) -> None:
    data = planted(site, home, secret, victim, "inprocess")
    args = {"data": str(data), "victim": str(victim), "secret": str(secret)}
    result, stderr = call(site, home, "planter.attack", guard_off=False, **args)
    assert "TOP-SECRET-KEY" not in result
    assert result.count("refused: PermissionDenied") == 4, result
    assert list(victim.iterdir()) == []
    assert "write:$PLUGIN_DATA/out" in stderr


def test_doctor_names_the_grants_a_planted_link_dropped(
    site: Site, home: Path, secret: Path, victim: Path
) -> None:
    planted(site, home, secret, victim, "inprocess")
    ran = run_cli("doctor", "--json", site=site, home=home)
    dropped = [f for f in json.loads(ran.stdout)["findings"] if f["kind"] == "dropped-grant"]
    assert {f["fix"] for f in dropped} == {
        "jafhost revoke planter write:$PLUGIN_DATA/out",
        "jafhost revoke planter read:$PLUGIN_DATA/in",
    }, dropped
    assert all(f["plugin"] == "planter" and "not applied" in f["message"] for f in dropped)


def test_a_grant_through_a_link_out_of_a_writable_folder_is_dropped(tmp_path: Path) -> None:
    data, elsewhere, shared = tmp_path / "data", tmp_path / "elsewhere", tmp_path / "shared"
    for folder in (data, elsewhere, shared / "inner"):
        folder.mkdir(parents=True)
    (data / "out").symlink_to(elsewhere)
    (data / "mine").symlink_to(data / "real")  # a link that stays inside is fine
    (shared / "away").symlink_to(elsewhere)  # under another write grant: dropped too
    (tmp_path / "alias").symlink_to(data / "out")  # outside, yet through the planted link
    grants = [
        "write:$PLUGIN_DATA/out",
        "read:$PLUGIN_DATA/mine",
        f"write:{shared}",
        f"read:{shared}/away/x",
        f"read:{tmp_path / 'alias'}",
        f"read:{shared}/inner",
    ]
    policy = Policy.compile("p", grants, data, tmp_path / "cache")
    assert [d.split(": ")[0] for d in policy.dropped] == [grants[0], grants[3], grants[4]]
    assert not policy.may_write(str(elsewhere / "f")) and not policy.may_read(str(elsewhere))
    assert policy.may_read(str(data / "real")) and policy.may_read(str(shared / "inner"))
