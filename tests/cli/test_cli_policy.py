"""The operator's ceiling through the real ``jafhost`` command: ``call`` denied naming
the rule, ``grant``/``enable`` refused, ``info`` and ``doctor`` showing the cap, and a
malformed policy file failing every command that runs plugin code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Site, run_cli

PLUGIN = '''
import os

MARKER = {marker!r}
with open(MARKER, "w") as f:  # imported: plugin code ran
    f.write("ran")


def peek(path: str) -> str:
    """Read a file."""
    with open(path) as f:
        return f.read()


def where() -> int:
    return os.getpid()


@hookimpl
def jaf_tools():
    return [peek, where]
'''


@pytest.fixture
def enabled(site: Site, home: Path, tmp_path: Path) -> Path:
    """Plugin ``cap`` granted ``read`` and ``write`` over ``tmp_path`` (which holds the
    secret), enabled before any policy; returns its marker file (made when its code runs)."""
    marker = tmp_path / "ran-marker"
    manifest = f'[permissions]\nread = ["{tmp_path}"]\nwrite = ["{tmp_path}"]\n'
    site.plugin("cap", code=PLUGIN.format(marker=str(marker)), manifest=manifest)
    ran = run_cli("enable", "cap", "--yes", site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    return marker


def _policy(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "admin-policy.toml"
    path.write_text(text)
    return {"JAFHOST_POLICY": str(path)}


def test_a_deny_rule_beats_a_grant_from_the_command_line(
    site: Site, home: Path, tmp_path: Path, secret: Path, enabled: Path
) -> None:
    rule = f"read:{secret.parent}"
    env = _policy(tmp_path, f'[policy]\ndeny = ["{rule}"]\n')
    policy = env["JAFHOST_POLICY"]
    # what a user may set cannot loosen it
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n\n[policy]\ndeny = []\n')
    env |= {"JAFHOST_HOST__ISOLATION": "inprocess", "JAFHOST_POLICY__DENY": "[]"}

    called = run_cli("call", "cap.peek", "-a", f"path={secret}", site=site, home=home, env=env)
    assert called.returncode == 1, called.stderr
    assert "TOP-SECRET-KEY" not in called.stdout + called.stderr
    assert f"denied by policy rule {rule} ({policy})" in called.stdout + called.stderr

    granted = run_cli("grant", "cap", f"read:{secret}", site=site, home=home, env=env)
    assert granted.returncode == 1
    assert f"policy rule {rule} ({policy})" in granted.stderr
    state = json.loads(run_cli("list", "--json", site=site, home=home, env=env).stdout)
    assert f"read:{secret}" not in state[0]["granted"]

    info = run_cli("info", "cap", "--json", site=site, home=home, env=env)
    assert info.returncode == 0, info.stderr
    capped = json.loads(info.stdout)["capped"]
    assert {"grant": f"read:{tmp_path}", "rule": rule, "source": policy, "effect": "capped"} in (
        capped
    )
    shown = run_cli("info", "cap", site=site, home=home, env=env)
    assert f"capped by policy rule {rule}" in " ".join(shown.stdout.split())


def test_enable_inside_a_deny_rule_is_refused(site: Site, home: Path, tmp_path: Path) -> None:
    site.plugin("keys", code="", manifest='[permissions]\nread = ["~/.ssh"]\n')
    env = _policy(tmp_path, '[policy]\ndeny = ["read:~/.ssh"]\n')
    ran = run_cli("enable", "keys", "--yes", site=site, home=home, env=env)
    assert ran.returncode == 1
    assert f"denied by policy rule read:~/.ssh ({env['JAFHOST_POLICY']})" in ran.stderr
    listed = json.loads(run_cli("list", "--json", site=site, home=home, env=env).stdout)
    assert listed[0]["status"] == "needs-approval"
    assert listed[0]["granted"] == []


def test_minimum_isolation_refuses_inprocess_and_runs_a_worker(
    site: Site, home: Path, tmp_path: Path, enabled: Path
) -> None:
    env = _policy(tmp_path, '[policy]\nisolation = "process"\n')
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    ran = run_cli("enable", "cap", "--isolation", "inprocess", site=site, home=home, env=env)
    assert ran.returncode == 1
    assert env["JAFHOST_POLICY"] in ran.stderr and 'isolation = "process"' in ran.stderr
    info = json.loads(run_cli("info", "cap", "--json", site=site, home=home, env=env).stdout)
    assert info["isolation"] == "process"
    doctor = run_cli("doctor", "--json", site=site, home=home, env=env, timeout=120)
    findings = json.loads(doctor.stdout)["findings"]
    assert any(f["kind"] == "policy" and env["JAFHOST_POLICY"] in f["message"] for f in findings)


def test_doctor_reports_grants_the_policy_caps(
    site: Site, home: Path, tmp_path: Path, secret: Path, enabled: Path
) -> None:
    env = _policy(tmp_path, f'[policy]\ndeny = ["write:{tmp_path}", "read:{secret.parent}"]\n')
    doctor = run_cli("doctor", "--json", site=site, home=home, env=env, timeout=120)
    messages = [
        f["message"] for f in json.loads(doctor.stdout)["findings"] if f["kind"] == "policy"
    ]
    assert any(f"grant write:{tmp_path} denied whole" in m for m in messages), messages
    assert any(f"grant read:{tmp_path} capped" in m for m in messages), messages


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[policy]\ndenny = ["ffi"]\n', "[policy] denny"),
        ('[policy]\ndeny = ["read:relative/path"]\n', "[policy] deny[0]"),
        ('[policy]\nisolation = "none"\n', "[policy] isolation"),
        ("[polcy]\ndeny = []\n", "polcy"),
        ("[policy\n", "invalid TOML"),
    ],
)
def test_a_malformed_policy_file_fails_closed(
    site: Site, home: Path, tmp_path: Path, enabled: Path, text: str, named: str
) -> None:
    env = _policy(tmp_path, text)
    ran = run_cli("call", "cap.where", site=site, home=home, env=env)
    assert ran.returncode == 1
    assert f"{env['JAFHOST_POLICY']}: {named}" in ran.stderr
    assert not enabled.exists()  # no plugin code ran


def test_a_missing_policy_file_fails_closed(
    site: Site, home: Path, tmp_path: Path, enabled: Path
) -> None:
    missing = tmp_path / "nowhere" / "policy.toml"
    ran = run_cli("call", "cap.where", site=site, home=home, env={"JAFHOST_POLICY": str(missing)})
    assert ran.returncode == 1
    assert f"{missing}: policy file not found" in ran.stderr
    assert not enabled.exists()


def test_info_still_shows_a_plugin_and_warns_about_a_malformed_policy(
    site: Site, home: Path, tmp_path: Path, enabled: Path
) -> None:
    env = _policy(tmp_path, '[policy]\ndenny = ["ffi"]\n')
    info = run_cli("info", "cap", site=site, home=home, env=env)
    assert info.returncode == 0, info.stderr
    assert f"warning: {env['JAFHOST_POLICY']}: [policy] denny" in info.stderr
    assert not enabled.exists()
