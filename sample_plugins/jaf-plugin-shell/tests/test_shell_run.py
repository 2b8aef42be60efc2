"""The shell plugin in a real host (``jafhost_factory``), running real programs.

Three separate checks are shown: the user's confirmation (the host asks before a
``confirm=True`` tool runs), the plugin's allow-list (config) and the user's
``run:<program>`` grants (the host's guard refuses to start anything else).

Needs the distribution installed (``pip install -e sample_plugins/jaf-plugin-shell``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def yes(tool: Any, arguments: dict[str, Any]) -> bool:
    return True


def no(tool: Any, arguments: dict[str, Any]) -> bool:
    return False


@pytest.fixture
def host(jafhost_factory: Callable[..., Any]) -> Any:
    """The plugin as users get it: default allow-list, the requested grants; in process
    (its programs work on folders of the test that a worker's sandbox keeps out)."""
    return jafhost_factory("shell", isolation="inprocess")


def live_processes_in_group(group: int) -> list[int]:
    """Pids in process group ``group`` that are not zombies (Linux ``/proc``)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def test_manifest_requests_the_default_programs(jafhost_factory: Callable[..., Any]) -> None:
    host = jafhost_factory("shell", grants=None, activate=False)
    view = host.plugin("shell")
    assert view.status == "needs-approval"
    assert (view.info.distribution, view.info.version) == ("jaf-plugin-shell", "1.0.0")
    assert view.info.permissions == ("run:date", "run:echo", "run:git", "run:ls", "run:pwd")


def test_the_tool_needs_confirmation(host: Any) -> None:
    [tool] = host.tools()
    assert tool.full_name == "shell.run" and tool.confirm is True
    schema = tool.input_schema
    assert schema["required"] == ["command"]
    assert schema["properties"]["command"]["type"] == "array"
    assert schema["properties"]["timeout"]["default"] == 10.0
    assert "ctx" not in schema["properties"]


def test_an_allowed_command_runs_when_confirmed(host: Any) -> None:
    result = host.call_ok("shell.run", {"command": ["echo", "hello", "world"]}, confirm=yes)
    assert result["exit_code"] == 0
    assert result["stdout"] == "hello world\n"
    assert result["stderr"] == ""
    assert result["stdout_truncated"] is False
    assert result["cwd"] == os.path.expanduser("~")
    assert result["command"] == ["echo", "hello", "world"]


def test_no_shell_is_involved(host: Any) -> None:
    words = ["a; echo pwned", "$HOME", "*", "`id`", "> file"]
    result = host.call_ok("shell.run", {"command": ["echo", *words]}, confirm=yes)
    assert result["stdout"] == " ".join(words) + "\n"


def test_cwd_exit_codes_and_stderr(host: Any, tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "a.txt").write_text("x")
    listed = host.call_ok("shell.run", {"command": ["ls"], "cwd": str(folder)}, confirm=yes)
    assert listed["stdout"] == "a.txt\n" and listed["cwd"] == str(folder)
    where = host.call_ok("shell.run", {"command": ["pwd"], "cwd": str(folder)}, confirm=yes)
    assert where["stdout"] == os.path.realpath(folder) + "\n"
    failed = host.call_ok("shell.run", {"command": ["ls", str(folder / "nope")]}, confirm=yes)
    assert failed["exit_code"] != 0 and "nope" in failed["stderr"]
    bad = host.call("shell.run", {"command": ["ls"], "cwd": str(folder / "nope")}, confirm=yes)
    assert bad.error.code == "tool_error" and "not an existing folder" in bad.error.message


def test_refused_without_confirmation(host: Any, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    nobody = host.assert_denied(
        "shell.run", {"command": ["git", "init", str(repo)]}, permission="confirm"
    )
    assert "needs your confirmation" in nobody.message
    refused = host.assert_denied(
        "shell.run", {"command": ["git", "init", str(repo)]}, permission="confirm", confirm=no
    )
    assert "confirmation" in refused.message and "refused" in refused.message
    assert not repo.exists()  # git never ran
    host.call_ok("shell.run", {"command": ["git", "init", "-q", str(repo)]}, confirm=yes)
    assert (repo / ".git").is_dir()


def test_a_program_not_allow_listed_is_refused_by_the_plugin(host: Any, tmp_path: Path) -> None:
    victim = tmp_path / "keep.txt"
    victim.write_text("still here")
    result = host.call("shell.run", {"command": ["rm", "-f", str(victim)]}, confirm=yes)
    assert result.error.code == "permission_denied"
    assert result.error.permission is None  # the plugin's refusal, not the guard's
    assert result.error.message.startswith("program 'rm' is not allow-listed by the shell plugin")
    assert "allowed: echo, date, pwd, ls, git" in result.error.message
    assert victim.read_text() == "still here"
    path = host.call("shell.run", {"command": ["/usr/bin/echo", "hi"]}, confirm=yes)
    assert path.error.code == "invalid_arguments" and "not as a path" in path.error.message


def test_allow_listed_but_not_granted_is_denied_by_the_guard(
    jafhost_factory: Callable[..., Any], tmp_path: Path
) -> None:
    host = jafhost_factory(
        "shell",
        grants={"shell": ["run:echo"]},
        config={"plugins": {"shell": {"allowed": ["echo", "touch"]}}},
    )
    assert host.call_ok("shell.run", {"command": ["echo", "ok"]}, confirm=yes)["stdout"] == "ok\n"
    marker = tmp_path / "created"
    error = host.assert_denied(
        "shell.run", {"command": ["touch", str(marker)]}, permission="run:touch", confirm=yes
    )
    assert error.plugin == "shell"
    assert not marker.exists()


def test_invalid_commands(host: Any) -> None:
    as_string = host.call("shell.run", {"command": "echo hi"}, confirm=yes)
    assert as_string.error.code == "invalid_arguments"
    empty = host.call("shell.run", {"command": []}, confirm=yes)
    assert empty.error.code == "invalid_arguments"


def test_output_is_limited(jafhost_factory: Callable[..., Any]) -> None:
    host = jafhost_factory("shell", config={"plugins": {"shell": {"max_output_bytes": 10}}})
    result = host.call_ok("shell.run", {"command": ["echo", "x" * 5000]}, confirm=yes)
    assert result["stdout"] == "x" * 10
    assert result["stdout_truncated"] is True and result["exit_code"] == 0


def test_the_environment_keeps_no_secrets(
    jafhost_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAF_TEST_API_TOKEN", "s3cret-token")
    host = jafhost_factory(
        "shell",
        grants={"shell": ["run:env"]},
        config={"plugins": {"shell": {"allowed": ["env"]}}},
    )
    result = host.call_ok("shell.run", {"command": ["env"]}, confirm=yes)
    names = {line.split("=", 1)[0] for line in result["stdout"].splitlines()}
    assert "PATH" in names and "GIT_TERMINAL_PROMPT" in names
    assert "JAF_TEST_API_TOKEN" not in names
    assert "s3cret-token" not in result["stdout"]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")
def test_timeout_kills_the_program_and_its_children(jafhost_factory: Callable[..., Any]) -> None:
    host = jafhost_factory(
        "shell",
        grants={"shell": ["run:sh"]},
        config={"plugins": {"shell": {"allowed": ["sh"]}}},
        isolation="inprocess",  # the process group it kills is the host's child's
    )
    started = time.monotonic()
    result = host.call(
        "shell.run",
        {"command": ["sh", "-c", "sleep 30 & sleep 30; wait"], "timeout": 0.5},
        confirm=yes,
    )
    elapsed = time.monotonic() - started
    assert result.error.code == "timeout"
    assert elapsed < 5
    found = re.search(r"process group (\d+) killed", result.error.message)
    assert found, result.error.message
    assert result.error.message.startswith("sh did not finish within 0.5 s")
    group = int(found.group(1))
    deadline = time.monotonic() + 5
    while live_processes_in_group(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_processes_in_group(group) == []  # the shell and both sleeps


def test_a_bad_allow_list_is_reported(jafhost_factory: Callable[..., Any]) -> None:
    host = jafhost_factory("shell", config={"plugins": {"shell": {"allowed": ["/bin/sh"]}}})
    loaded = host.loaded("shell")
    assert loaded.status == "broken"
    assert "allowed" in loaded.error and "not a program name" in loaded.error
