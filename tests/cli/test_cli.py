"""The real ``jafhost`` command in a new process: output shapes, exit codes, prompts."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from conftest import Site, run_cli
from jafhost.home.config import PLATFORM_ISOLATION

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
    assert info["isolation"] == PLATFORM_ISOLATION  # process where the sandbox applies
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


# -- conventions: --version, bare groups, help texts ---------------------------------


def test_version_prints_the_hosts_version(site: Site, home: Path) -> None:
    from jafhost._version import __version__

    result = run_cli("--version", site=site, home=home)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"jafhost {__version__}\n", "")


@pytest.mark.parametrize("group", [[], ["config"]])
def test_a_bare_group_prints_its_help_like_help_does(
    site: Site, home: Path, group: list[str]
) -> None:
    bare = run_cli(*group, site=site, home=home, env={"COLUMNS": "80"})
    asked = run_cli(*group, "--help", site=site, home=home, env={"COLUMNS": "80"})
    assert (bare.returncode, bare.stderr) == (0, "")
    assert bare.stdout == asked.stdout
    lines = bare.stdout.splitlines()
    assert lines[0].startswith(" ".join(["Usage: jafhost", *group]))
    assert "Commands:" in lines and len(lines) > 8
    assert not any(line.startswith("error:") for line in lines)


def _commands_section(help_text: str) -> list[str]:
    lines = help_text.splitlines()
    return [line for line in lines[lines.index("Commands:") + 1 :] if line.strip()]


@pytest.mark.parametrize("group", [[], ["config"]])
def test_command_summaries_are_whole_sentences_at_80_columns(
    site: Site, home: Path, group: list[str]
) -> None:
    result = run_cli(*group, "--help", site=site, home=home, env={"COLUMNS": "80"})
    assert result.returncode == 0
    entries = _commands_section(result.stdout)
    assert len(entries) >= 2
    for entry in entries:
        _, summary = entry.split(maxsplit=1)
        assert summary[0].isupper() and summary.endswith("."), entry
        assert not summary.endswith("..."), entry  # click cut a first sentence too long


def _is_sentence(text: str | None) -> bool:
    return bool(text) and text[0].isupper() and text.rstrip().endswith(".")  # type: ignore[index]


def test_every_command_and_option_help_is_a_sentence() -> None:
    import typer.main

    from jafhost.cli.app import app

    def walk(command: Any, path: list[str]) -> Any:
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    bad: list[str] = []
    commands = list(walk(typer.main.get_command(app), ["jafhost"]))
    assert len(commands) > 15
    for path, command in commands:
        where = " ".join(path)
        first_paragraph = (command.help or "").split("\n\n")[0]
        if not _is_sentence(first_paragraph):
            bad.append(f"{where}: {command.help!r}")
        for param in command.params:
            if param.name != "help" and not _is_sentence(getattr(param, "help", None)):
                bad.append(f"{where} {param.name}: {getattr(param, 'help', None)!r}")
    assert bad == []


# -- list: readable at 80 columns, plain in a pipe, granted beside requested ----------

EMAIL = '[plugin]\nkinds = ["tool", "agent", "event"]\n[permissions]\n'
EMAIL += 'net = ["127.0.0.1:587"]\nenv = ["JAFHOST_EMAIL__PASSWORD"]\n'
HTTP = '[plugin]\nkinds = ["tool"]\n[permissions]\nnet = ["*:80", "*:443"]\n'
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BOX = set("─━│┃┌┏┐┓└┗┘┛├┣┤┫┬┳┴┻┼╋╇┡┩")


def _sample(site: Site, home: Path) -> None:
    site.plugin("email", manifest=EMAIL)
    site.plugin("http", manifest=HTTP)
    site.plugin("planner")
    site.plugin("support-agents", requires=["jaf-plugin-email>=1"])
    assert run_cli("enable", "http", "--yes", site=site, home=home).returncode == 0
    assert run_cli("revoke", "http", "net:*:443", site=site, home=home).returncode == 0
    assert run_cli("grant", "http", "net:api.example.com:443", site=site, home=home).returncode == 0


WHOLE = [
    "email",
    "http",
    "planner",
    "support-agents",
    "needs-approval",
    "unresolved",
    "enabled",
    "env:JAFHOST_EMAIL__PASSWORD",
    "net:127.0.0.1:587",
    "net:*:443",
    "net:*:80",
    "net:api.example.com:443",
]


def test_list_on_an_80_column_terminal_never_splits_a_word(site: Site, home: Path) -> None:
    _sample(site, home)
    tty = {"TTY_COMPATIBLE": "1", "COLUMNS": "80", "NO_COLOR": "1"}
    result = run_cli("list", site=site, home=home, env=tty)
    assert result.returncode == 0, result.stderr
    text = ANSI.sub("", result.stdout)
    assert all(len(line.rstrip()) <= 80 for line in text.splitlines()), text
    for word in WHOLE:
        assert word in text, (word, text)
    assert not BOX & set(text)
    assert "(not granted)" in text and "run: jafhost" in text


def test_list_in_a_pipe_is_one_aligned_line_per_plugin(site: Site, home: Path) -> None:
    _sample(site, home)
    result = run_cli("list", site=site, home=home, env={"TTY_COMPATIBLE": "0", "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert not BOX & set(result.stdout) and "\x1b" not in result.stdout
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "NAME", "VERSION", "SOURCE", "STATUS", "KINDS", "PERMISSIONS", "REASON"
    ]  # fmt: skip
    mine = {row.split()[0]: row for row in rows if row.split()[0] in WHOLE}
    assert set(mine) == {"email", "http", "planner", "support-agents"}
    for column, names in (("STATUS", mine), ("PERMISSIONS", ["email", "http"])):
        at = header.index(column)
        for name in names:
            assert mine[name][at - 2 : at] == "  " and mine[name][at] != " ", (column, name)
    assert mine["email"].count("net:127.0.0.1:587") == 1  # not repeated in the reason
    assert mine["email"].endswith("  run: jafhost enable email")
    http = mine["http"]
    assert "net:*:443 (not granted)" in http
    assert "net:*:80," in http or "net:*:80 " in http or http.endswith("net:*:80")
    assert "net:*:80 (not granted)" not in http
    assert "net:api.example.com:443 (granted, not requested)" in http
    assert "needs plugin email, which is needs-approval" in mine["support-agents"]


def test_list_json_has_granted_and_both_paths_agree(site: Site, home: Path) -> None:
    _sample(site, home)
    fast = run_cli("list", "--json", site=site, home=home)  # entry.py, without typer
    full = run_cli("list", "--json", "--debug", site=site, home=home)  # the typer command
    assert fast.returncode == full.returncode == 0
    assert fast.stdout == full.stdout
    items = _mine(json.loads(fast.stdout), "http", "email")
    assert items["http"]["permissions"] == ["net:*:443", "net:*:80"]
    assert items["http"]["granted"] == ["net:*:80", "net:api.example.com:443"]
    assert items["http"]["status"] == "enabled"
    assert items["email"]["granted"] == []


# -- grant / revoke: exactly as granted; say when nothing changed ---------------------


def _granted(site: Site, home: Path, name: str, env: dict[str, str] | None = None) -> object:
    result = run_cli("list", "--json", site=site, home=home, env=env)
    return _mine(json.loads(result.stdout), name)[name]["granted"]


def test_revoke_of_a_permission_not_granted_changes_nothing_and_fails(
    site: Site, home: Path, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    site.plugin("files", manifest=f'[permissions]\nread = ["{docs}"]\n')
    assert run_cli("enable", "files", "--yes", site=site, home=home).returncode == 0

    typo = run_cli("revoke", "files", f"read:{tmp_path / 'doc'}", site=site, home=home)
    assert typo.returncode == 1 and typo.stdout == ""
    [line] = typo.stderr.splitlines()
    assert line == (
        f"error: files has no grant read:{tmp_path / 'doc'}; nothing changed "
        f"(its grants: read:{docs})"
    )
    assert _granted(site, home, "files") == [f"read:{docs}"]

    for spelling in (f"read:{docs}", f"read:{docs}/"):
        again = run_cli("grant", "files", spelling, site=site, home=home)
        assert again.returncode == 0, again.stderr
        assert again.stdout == f"files already has read:{docs}; nothing changed\n"
    assert _granted(site, home, "files") == [f"read:{docs}"]

    done = run_cli("revoke", "files", f"read:{docs}", site=site, home=home)  # as list shows it
    assert (done.returncode, done.stdout) == (0, f"revoked read:{docs} from files\n")
    assert _granted(site, home, "files") == []
    twice = run_cli("revoke", "files", f"read:{docs}", site=site, home=home)
    assert twice.returncode == 1
    assert twice.stderr.strip().endswith("nothing changed (its grants: none)")


def test_revoke_takes_home_and_plugin_data_grants_as_shown(
    site: Site, home: Path, tmp_path: Path
) -> None:
    user = tmp_path / "user"
    user.mkdir()
    env = {"HOME": str(user)}
    site.plugin("notes", manifest='[permissions]\nread = ["~/notes"]\n')
    assert run_cli("enable", "notes", "--yes", site=site, home=home, env=env).returncode == 0
    shown = _granted(site, home, "notes", env)
    assert shown == [f"read:{user / 'notes'}"]  # ~ is expanded when granted: shown so
    same = run_cli("grant", "notes", "read:~/notes", site=site, home=home, env=env)
    assert "already has" in same.stdout
    data = run_cli("grant", "notes", "write:$PLUGIN_DATA/cache", site=site, home=home, env=env)
    assert data.stdout == "granted write:$PLUGIN_DATA/cache to notes\n"  # kept symbolic

    # an unquoted $PLUGIN_DATA, expanded by the shell to nothing, names another folder
    expanded = run_cli("revoke", "notes", "write:/cache", site=site, home=home, env=env)
    assert expanded.returncode == 1
    assert "nothing changed" in expanded.stderr and "single quotes" in expanded.stderr
    for permission in ("write:$PLUGIN_DATA/cache", f"read:{user / 'notes'}"):
        done = run_cli("revoke", "notes", permission, site=site, home=home, env=env)
        assert done.returncode == 0, done.stderr
    assert _granted(site, home, "notes", env) == []
