"""The real ``jafhost`` command in a new process: output shapes, exit codes, prompts."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pexpect
import pytest

from conftest import Site, run_cli

NET = '[plugin]\nkinds = ["tool"]\n[permissions]\nnet = ["127.0.0.1:8080"]\n'


def _mine(items: list[dict[str, object]], *names: str) -> dict[str, dict[str, object]]:
    return {str(i["name"]): i for i in items if i["name"] in names}


def test_list_json_shape(site: Site, home: Path) -> None:
    site.plugin("notes", manifest=NET, version="1.2.3")
    site.plugin("bad", manifest="[permisions]\n")
    result = run_cli("list", "--json", site=site, home=home)
    assert result.returncode == 0, result.stderr
    items = _mine(json.loads(result.stdout), "notes", "bad")
    notes = items["notes"]
    assert {
        k: notes[k]
        for k in ("name", "version", "distribution", "status", "kinds", "permissions", "reason")
    } == {
        "name": "notes",
        "version": "1.2.3",
        "distribution": "jaf-plugin-notes",
        "status": "needs-approval",
        "kinds": ["tool"],
        "permissions": ["net:127.0.0.1:8080"],
        "reason": "requests permissions: net:127.0.0.1:8080",
    }
    assert items["bad"]["status"] == "invalid"
    assert "permisions: unknown key" in str(items["bad"]["reason"])


def test_list_table(site: Site, home: Path) -> None:
    site.plugin("notes", manifest=NET)
    result = run_cli("list", site=site, home=home)
    assert result.returncode == 0
    assert "notes" in result.stdout and "needs-approval" in result.stdout
    assert "net:127.0.0.1:8080" in result.stdout


def test_enable_without_terminal_refuses_then_yes_grants(site: Site, home: Path) -> None:
    site.plugin("notes", manifest=NET)
    refused = run_cli("enable", "notes", site=site, home=home)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith("error: notes requests permissions")
    assert "--yes" in refused.stderr
    assert not (home / "state.json").exists()

    granted = run_cli("enable", "notes", "--yes", site=site, home=home)
    assert granted.returncode == 0, granted.stderr
    assert "enabled notes 1.0.0" in granted.stdout
    assert "net:127.0.0.1:8080" in granted.stderr  # the table of what was granted
    info = json.loads(run_cli("info", "notes", "--json", site=site, home=home).stdout)
    assert info["status"] == "enabled"
    assert info["permissions_granted"] == ["net:127.0.0.1:8080"]
    assert info["granted_version"] == "1.0.0"


@pytest.mark.parametrize("answer,expected", [("y", "enabled"), ("n", "needs-approval")])
def test_enable_prompts_on_a_terminal(site: Site, home: Path, answer: str, expected: str) -> None:
    site.plugin("notes", manifest=NET)
    env = dict(os.environ, PYTHONPATH=str(site.root), JAFHOST_HOME=str(home), COLUMNS="120")
    child = pexpect.spawn(
        sys.executable, ["-m", "jafhost", "enable", "notes"], env=env, encoding="utf-8", timeout=30
    )
    child.expect("Grant these permissions to notes")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert (child.exitstatus == 0) is (answer == "y")
    info = json.loads(run_cli("info", "notes", "--json", site=site, home=home).stdout)
    assert info["status"] == expected


def test_disable_names_dependents(site: Site, home: Path) -> None:
    site.plugin("notes")
    site.plugin("notes-search", requires=["jaf-plugin-notes>=1.0"])
    result = run_cli("disable", "notes", site=site, home=home)
    assert result.returncode == 0
    assert "disabled notes" in result.stdout
    assert "notes-search is now unresolved" in result.stdout
    items = _mine(
        json.loads(run_cli("list", "--json", site=site, home=home).stdout), "notes-search"
    )
    assert items["notes-search"]["reason"] == "needs plugin notes, which is disabled"


def test_info_json(site: Site, home: Path) -> None:
    site.plugin("notes", manifest=NET)
    site.plugin("notes-search", requires=["jaf-plugin-notes>=1.0", "jafhost>=0.1"])
    info = json.loads(run_cli("info", "notes-search", "--json", site=site, home=home).stdout)
    assert info["status"] == "unresolved"
    deps = {d["distribution"]: d for d in info["dependencies"]}
    assert deps["jaf-plugin-notes"]["kind"] == "plugin"
    assert deps["jaf-plugin-notes"]["plugins"] == ["notes"]
    assert deps["jafhost"]["kind"] == "host" and deps["jafhost"]["satisfied"]
    assert info["isolation"] == "inprocess"
    assert info["permissions_requested"] == []


def test_unknown_plugin_and_usage_errors_exit_2(site: Site, home: Path) -> None:
    site.plugin("notes")
    for args in (
        ["info", "nope"],
        ["enable", "nope", "--yes"],
        ["disable", "nope"],
        ["list", "--bogus"],
        ["frobnicate"],
        ["grant", "notes", "bogus:x"],
    ):
        result = run_cli(*args, site=site, home=home)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)


def test_errors_are_one_line_whatever_the_width_and_debug_shows_traceback(
    site: Site, home: Path
) -> None:
    site.plugin("a-plugin-with-a-rather-long-name", manifest=NET)
    narrow = {"COLUMNS": "20"}
    result = run_cli("enable", "a-plugin-with-a-rather-long-name", site=site, home=home, env=narrow)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in result.stderr
    for args in (["--debug", "info", "nope"], ["info", "nope", "--debug"]):
        debug = run_cli(*args, site=site, home=home)
        assert debug.returncode == 2
        assert "Traceback" in debug.stderr
        assert debug.stderr.strip().splitlines()[-1].startswith("error: unknown plugin 'nope'")


def test_doctor_exit_status(site: Site, home: Path) -> None:
    site.plugin("fine")
    site.plugin("asks", manifest=NET)  # needs-approval: a state, not a problem
    ok = run_cli("doctor", "--json", site=site, home=home)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] is True
    mine = _mine(report["plugins"], "fine", "asks")
    assert mine["fine"]["runtime"] == "active" and mine["fine"]["problem"] is None
    assert mine["asks"]["problem"] is None

    site.plugin("boom", code="raise ImportError('missing native lib')")
    bad = run_cli("doctor", site=site, home=home)
    assert bad.returncode == 1
    assert "import failed: ImportError: missing native lib" in bad.stdout
    assert run_cli("disable", "boom", site=site, home=home).returncode == 0
    assert run_cli("doctor", site=site, home=home).returncode == 0


def test_doctor_reports_invalid_and_unresolved(site: Site, home: Path) -> None:
    site.plugin("bad", manifest="[permissions]\nread = ['relative/path']\n")
    report = run_cli("doctor", "--json", site=site, home=home)
    assert report.returncode == 1
    (bad,) = _mine(json.loads(report.stdout)["plugins"], "bad").values()
    assert "permissions.read[0]" in str(bad["problem"])


def test_help_is_plain_and_lists_commands(site: Site, home: Path) -> None:
    result = run_cli("--help", site=site, home=home)
    assert result.returncode == 0
    for command in ("list", "info", "enable", "disable", "doctor", "grant", "revoke"):
        assert command in result.stdout


def test_corrupt_config_is_a_clear_error(site: Site, home: Path) -> None:
    site.plugin("fine")
    (home / "config.toml").write_text("[host\n")
    result = run_cli("doctor", site=site, home=home)
    assert result.returncode == 1  # doctor reports it (a warning line) and starts nothing
    (line,) = [w for w in result.stderr.splitlines() if w.startswith("warning: ")]
    assert "config.toml" in line and "invalid TOML" in line
    result = run_cli("tools", site=site, home=home)
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "config.toml" in line and "invalid TOML" in line
