"""The console script ends after the interpreter's own exit steps (``cli.finish``):
what a plugin leaves for the exit still happens, and all the output arrives.

Each case runs ``jafhost call`` in a new process through a pipe, in the lane and on the
full path, with the plugin in process (where its threads and exit handlers live in the
host's own process).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Site, run_cli

LEAVES_WORK = '''
import atexit
import sys
import threading
import time


def said(text):
    sys.stderr.write(text + "\\n")
    sys.stderr.flush()


atexit.register(said, "exit handler ran")


def later() -> str:
    """Leave a thread that is not a daemon, and a large result."""

    def slow():
        time.sleep(0.3)
        said("thread finished")

    threading.Thread(target=slow, daemon=False).start()
    return "x" * 2_000_000


@hookimpl
def jaf_tools():
    return [later]
'''


@pytest.mark.parametrize("lane", ["1", "0"])
def test_threads_exit_handlers_and_output_all_finish(lane: str, site: Site, home: Path) -> None:
    site.plugin("leaver", code=LEAVES_WORK)
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    for _ in range(3):  # cold, recorded, warm
        result = run_cli(
            "call", "leaver.later", site=site, home=home, env={"JAFHOST_CALL_LANE": lane}
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == "x" * 2_000_000
        lines = result.stderr.splitlines()
        assert "thread finished" in lines and "exit handler ran" in lines, result.stderr
        # the interpreter's order: the threads joined, then the exit handlers
        assert lines.index("thread finished") < lines.index("exit handler ran")


def test_a_failing_command_keeps_its_exit_status(site: Site, home: Path) -> None:
    site.plugin("leaver", code=LEAVES_WORK)
    result = run_cli("call", "leaver.absent", site=site, home=home)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stdout == ""
    assert run_cli("list", "--bogus", site=site, home=home).returncode == 2


def test_a_program_calling_main_keeps_its_own_exit(tmp_path: Path, home: Path) -> None:
    """``main([...])`` from a program returns its code; the program goes on and ends
    its own way (its own exit status, its own exit handlers)."""
    import os
    import subprocess
    import sys

    program = tmp_path / "program.py"
    program.write_text(
        "import atexit, sys\n"
        "from jafhost.cli.entry import main\n"
        "atexit.register(lambda: sys.stderr.write('program handler\\n'))\n"
        "code = main(['list', '--json'])\n"
        "print('after main', code)\n"
        "sys.exit(7)\n"
    )
    env = {**os.environ, "JAFHOST_HOME": str(home)}
    ran = subprocess.run(
        [sys.executable, str(program)], capture_output=True, text=True, env=env, timeout=60
    )
    assert ran.returncode == 7, ran.stderr
    assert ran.stdout.rstrip().endswith("after main 0")
    assert "program handler" in ran.stderr


NEVER_ENDS = '''
import threading
import time


def spin() -> None:
    while True:
        time.sleep(0.05)


def start() -> str:
    """Answer, and leave a thread that never ends."""
    threading.Thread(target=spin, name="spinner", daemon=False).start()
    return "started"


@hookimpl
def jaf_tools():
    return [start]
'''


@pytest.mark.parametrize("lane", ["1", "0"])
def test_a_plugin_thread_that_never_ends_is_waited_for_a_hook_timeout(
    lane: str, site: Site, home: Path
) -> None:
    """Python waits for ever for a thread that is not a daemon; the command waits the
    host's ``hook_timeout``, names the plugin that left it, and ends with its own
    status and output."""
    site.plugin("spinner", code=NEVER_ENDS)
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\nhook_timeout = 0.5\n')
    for _ in range(3):  # cold, recorded, warm
        result = run_cli(
            "call", "spinner.start", site=site, home=home, env={"JAFHOST_CALL_LANE": lane},
            timeout=30,
        )  # fmt: skip
        assert (result.returncode, json.loads(result.stdout)) == (0, "started"), result.stderr
        assert (
            "warning: plugin spinner left thread 'spinner' running; not waited for beyond 0.5 s"
            in result.stderr.splitlines()
        ), result.stderr
