"""What an in-process plugin wrote to a file it keeps open reaches the file when
``jafhost call`` ends.

A plugin that keeps a file open in its module's globals and writes to it without
flushing relies on the interpreter's teardown, which closes (so flushes) every file
object left. ``cli.finish`` ends the process with ``os._exit`` before that teardown, and
flushes first, as the plugin, the files plugin code opened and left open
(``guard_exit.flush_left_open``). Ground truth: the file's
contents after each call, on both paths (in process only: a worker is killed once its
call is over, as before).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Site, run_cli

JOURNAL = '''
JOURNAL = None


def note(x: str) -> str:
    """Append the text to a journal kept open."""
    global JOURNAL
    if JOURNAL is None:
        JOURNAL = open({path!r}, "a")
    JOURNAL.write(x + "\\n")
    return x


@hookimpl
def jaf_tools():
    return [note]
'''


@pytest.mark.parametrize("lane", ["1", "0"])
def test_text_a_plugin_left_in_an_open_file_is_written(
    lane: str, site: Site, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    journal = out / "journal.txt"
    site.plugin("journal", code=JOURNAL.format(path=str(journal)))
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    granted = run_cli("grant", "journal", f"write:{out}", site=site, home=home)
    assert granted.returncode == 0, granted.stderr
    lines = []
    for n in range(3):  # cold, recorded, warm
        lines.append(f"line {n}")
        result = run_cli(
            "call", "journal.note", "-a", f'x="line {n}"', site=site, home=home,
            env={"JAFHOST_CALL_LANE": lane},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == f"line {n}"
        written = journal.read_text() if journal.exists() else ""
        assert written.splitlines() == lines
