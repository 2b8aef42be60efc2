"""A result that cannot be written is a failed command, never a silent success.

``jafhost call`` writes its result through ``cli.streams``; when stdout is a full device
(``> /dev/full``, a full disk) the flush fails with ``ENOSPC``. Python itself ends such a
program with status 120; ``streams.release`` reports it (``error: cannot write the
output``) and the command fails. Ground truth: the exit
status of a call whose stdout is ``/dev/full``, in process and in a one-shot worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")

ECHO = '''
def echo(x: str) -> str:
    """Echo the text."""
    return x


@hookimpl
def jaf_tools():
    return [echo]
'''


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_result_written_to_a_full_device_fails_the_command(
    isolation: str, site: Site, home: Path
) -> None:
    site.plugin("echoer", code=ECHO)
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    for _ in range(2):  # cold, recorded
        warm = run_cli("call", "echoer.echo", "-a", 'x="hi"', site=site, home=home)
        assert warm.returncode == 0, warm.stderr
    env = dict(os.environ, PYTHONPATH=str(site.root), JAFHOST_HOME=str(home))
    env.pop("JAFHOST_DEBUG", None)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "jafhost", "call", "echoer.echo", "-a", 'x="hi"'],
            stdout=full, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, env=env, timeout=60,
        )  # fmt: skip
    assert done.returncode != 0, done.stderr
