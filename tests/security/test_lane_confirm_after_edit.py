"""A tool that asks for confirmation is never run by a warm call on an older plan.

The lane's summary keeps the plugin's plan (the recorded plain tools), and the lane
takes a tool from it when ``jaf_tools`` hands back a function of that name with the
same plain parameters: whether the tool now says ``confirm=True`` is not compared. The
full path records a plugin again whenever its record's key changed (its package
folder's stamps, its ``RECORD``) and asks before a ``confirm=True`` tool runs (refused
without a terminal). A folder plugin's code is not part of what its summary is keyed
on (``folders.fingerprint_rows``: its manifest and whether ``__init__.py`` exists), so
an edit of its code keeps the summary and its plan.

Real folder plugin, real ``jafhost`` processes. Ground truth: the answer of the full
path, and the result only the edited code returns.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from call_paths import FULL, TRACE

from conftest import ISOLATION_MODES, folder_plugin, run_cli

TOOLS = '''
from jafhost import tool


{decorator}
def echo(text: str) -> str:
    """Repeat the text."""
    return {result}


@hookimpl
def jaf_tools():
    return [echo]
'''


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_folder_plugins_tool_marked_confirm_is_not_run_unconfirmed(
    isolation: str, tmp_path: Path, home: Path
) -> None:
    root = tmp_path / "folder-plugins"
    package = folder_plugin(root, "fold_pkg", "fold", TOOLS.format(decorator="", result="text"))
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {"JAFHOST_PLUGIN_PATH": str(root)}

    def cli(*args: str, more: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, home=home, env={**env, **(more or {})}, cwd=cwd)

    enabled = cli("enable", "fold", "--yes", "--isolation", isolation)
    assert enabled.returncode == 0, enabled.stderr
    past = time.time_ns() - 3600 * 1_000_000_000
    for folder in (root, cwd):
        os.utime(folder, ns=(past, past))
    for _ in range(3):  # recorded, summarised, served from the summary
        warm = cli("call", "fold.echo", "-a", "text=hi", more=TRACE)
        assert (warm.returncode, warm.stdout.strip()) == (0, '"hi"'), warm.stderr
    assert "jafhost call: lane path" in warm.stderr, warm.stderr
    edited = TOOLS.format(decorator="@tool(confirm=True)", result='"ran unconfirmed"')
    (package / "__init__.py").write_text("from jafhost import hookimpl\n" + edited)
    time.sleep(0.1)  # past the checks' margin for a file changed while read
    result = cli("call", "fold.echo", "-a", "text=hi", more=TRACE)
    full = cli("call", "fold.echo", "-a", "text=hi", more=FULL)
    assert full.returncode != 0 and "confirmation" in full.stderr, full.stderr
    assert "ran unconfirmed" not in result.stdout, result.stderr
    assert (result.returncode, result.stdout) == (full.returncode, full.stdout)
