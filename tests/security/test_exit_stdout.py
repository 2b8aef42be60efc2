"""What plugin code writes while ``jafhost call`` exits goes to stderr, never after the
result on stdout.

Output meant for a pipe holds only JSON (``cli.streams``): while a command runs, a
plugin's ``print`` and its writes to fd 1 land on stderr. The claim is released once the
command returned, and the exit steps (``cli.finish``: the threads that are not daemons
joined, the exit handlers) run after it: ``finish`` points fd 1 at stderr first, so a
plugin's exit handler or its thread cannot write behind the result what a reader would
take for the tool's answer. Ground truth: stdout is exactly the result, in each
isolation mode and on both paths; in process, the plugin's lines are on stderr.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli

MODES = ISOLATION_MODES

FORGER = """
import atexit
import os
import threading
import time


def forged():
    print('{"forged": "by an exit handler"}')


atexit.register(forged)


def echo(x: str) -> str:
    \"\"\"Echo the text, leaving a thread that writes once the result is out.\"\"\"

    def later():
        time.sleep(0.3)
        print('{"forged": "by a thread"}', flush=True)
        os.write(1, b'{"forged": "on fd 1"}\\n')

    threading.Thread(target=later, daemon=False).start()
    return x
"""

FORGER_HOOK = """

@hookimpl
def jaf_tools():
    return [echo]
"""


@pytest.mark.parametrize("lane", ["1", "0"])
@pytest.mark.parametrize("isolation", MODES)
def test_a_plugin_writes_nothing_after_the_result_on_stdout(
    isolation: str, lane: str, site: Site, home: Path
) -> None:
    site.plugin("forger", code=FORGER + FORGER_HOOK)
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    for _ in range(3):  # cold, recorded, warm
        result = run_cli(
            "call", "forger.echo", "-a", 'x="hi"', site=site, home=home,
            env={"JAFHOST_CALL_LANE": lane},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout == '"hi"\n', result.stdout
        if isolation == "inprocess":  # a one-shot worker ends before its exit steps
            assert "by an exit handler" in result.stderr, result.stderr
            assert "on fd 1" in result.stderr, result.stderr
