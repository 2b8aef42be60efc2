"""``jafhost call`` started with a standard descriptor closed (``>&-``, ``2>&-``,
``<&-``) still serves the call as it would otherwise.

The command makes pipes for its worker; a closed descriptor 0, 1 or 2 would be the
number such a pipe gets, and the worker, setting up its own standard streams as it
starts, would replace it there: the worker could not read ``init``. Ground truth: the
process-isolated call is served by the lane (its trace says so) without a traceback,
with each standard descriptor closed in turn.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from call_paths import ECHO

from conftest import Site, run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")


@pytest.mark.parametrize("closed", [0, 1, 2])
def test_a_closed_standard_descriptor_does_not_break_the_worker(
    closed: int, site: Site, home: Path, tmp_path: Path
) -> None:
    site.plugin("echoer", code=ECHO)
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    for _ in range(2):  # recorded, then its lane summary written
        warm = run_cli("call", "echoer.echo", "-a", "text=hi", site=site, home=home)
        assert warm.returncode == 0, warm.stderr
    env = dict(os.environ, PYTHONPATH=str(site.root), JAFHOST_HOME=str(home))
    env.pop("JAFHOST_DEBUG", None)
    env["JAFHOST_TRACE_CALL"] = "1"
    trace = tmp_path / "trace"
    command = [sys.executable, "-m", "jafhost", "call", "echoer.echo", "-a", "text=hi"]
    with open(trace, "w") as log, open(tmp_path / "out", "w") as out:
        # stderr goes to a file unless it is the one closed, then stdout carries the trace
        done = subprocess.run(
            command, env=env, timeout=60, stdin=subprocess.DEVNULL,
            stdout=log if closed == 2 else out, stderr=log if closed != 2 else out,
            preexec_fn=lambda: os.close(closed),
        )  # fmt: skip
    said = trace.read_text()
    assert done.returncode == 0, said
    assert "Traceback" not in said, said
    if closed != 2:
        assert "jafhost call: lane path" in said, said
