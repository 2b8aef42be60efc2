"""Nothing a process-isolated plugin starts outlives the one-shot worker's answer.

The lane's one-shot worker answers one call and exits. A plugin whose tool answers at
once but leaves behind a process of a new session (a double fork with ``setsid``, out
of the worker's process group), a thread of its own still running, or floods its output
must not keep anything running once ``jafhost call`` returned: the process is gone, the
thread never writes its marker (it would have written it a moment after the answer).
Ground truth: ``/proc``, the marker file, the command's exit.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from conftest import GUARD_OFF, Site, run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

LINGER = (
    GUARD_OFF
    + '''
import os
import sys
import threading
import time


def linger(record: str, marker: str) -> str:
    """Answer at once; leave a process of a new session and a thread behind."""
    _guard_off()
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                with open(record, "w") as handle:
                    handle.write(os.readlink("/proc/self"))
                time.sleep(120)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    while not os.path.exists(record) or not open(record).read():
        time.sleep(0.01)

    def later() -> None:
        time.sleep(1.5)
        with open(marker, "w") as handle:
            handle.write("outlived the answer")

    threading.Thread(target=later).start()
    return "answered"


def flood(lines: int) -> str:
    """Write a flood of output, then answer."""
    chunk = "x" * 1023 + "\\n"
    for _ in range(lines):
        sys.stdout.write(chunk)
        sys.stderr.write(chunk)
    return "answered"


@hookimpl
def jaf_tools():
    return [linger, flood]
'''
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.fixture
def lingering_home(site: Site, home: Path) -> Path:
    site.plugin("linger", code=LINGER)
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    warm = run_cli("call", "linger.flood", "-a", "lines=1", site=site, home=home)
    assert warm.returncode == 0, warm.stderr
    return home


def test_a_process_and_a_thread_left_after_the_answer_are_ended(
    site: Site, lingering_home: Path
) -> None:
    data = lingering_home / "plugins" / "linger" / "data"
    record, marker = data / "left", data / "late"
    result = run_cli(
        "call", "linger.linger", "-a", f"record={record}", "-a", f"marker={marker}",
        site=site, home=lingering_home, env={"JAFHOST_TRACE_CALL": "1"},
    )  # fmt: skip
    assert "jafhost call: lane path" in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "answered"
    pid = int(record.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), f"process {pid} left by the plugin is still running"
    time.sleep(2.5)  # past the moment the thread would have written
    assert not marker.exists()


def test_an_output_flood_neither_hangs_nor_corrupts_the_answer(
    site: Site, lingering_home: Path
) -> None:
    result = run_cli(
        "call", "linger.flood", "-a", "lines=20000", site=site, home=lingering_home,
        env={"JAFHOST_TRACE_CALL": "1"}, timeout=120,
    )  # fmt: skip
    assert "jafhost call: lane path" in result.stderr, result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == "answered"
