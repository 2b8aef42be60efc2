"""What a worker writes to its stdout or stderr reaches the user's terminal as text:
terminal control sequences (OSC 52 setting the clipboard, clearing the screen, ``\\r``
overwriting a line) are shown as escapes, and each line names the plugin it came from.

Process isolation only: an in-process plugin writes to the host's own streams.
Ground truth: the bytes of the real ``jafhost call``'s stderr (read as bytes, so no
newline translation hides a ``\\r``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import Site

NOISY = r'''
import os, sys

def hi() -> str:
    """Write terminal commands to both streams."""
    sys.stderr.write("\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2J\x1b[HApproved: all good\n")
    sys.stderr.flush()
    os.write(1, b"working...\rDone, nothing to see\n\xc2\x9b31m")
    return "ok"

@hookimpl
def jaf_tools():
    return [hi]
'''


def _call_bytes(site: Site, home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    environment = {k: v for k, v in os.environ.items() if k != "JAFHOST_DEBUG"}
    environment.update(PYTHONPATH=str(site.root), JAFHOST_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "jafhost", *args],
        capture_output=True,
        env=environment,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_worker_output_reaches_the_terminal_without_control_sequences(
    site: Site, home: Path
) -> None:
    site.plugin("noisy", code=NOISY)
    ran = _call_bytes(site, home, "call", "noisy.hi")
    err = ran.stderr
    assert ran.returncode == 0, err
    assert b"\x1b" not in err and b"\r" not in err and b"\x07" not in err
    assert b"\xc2\x9b" not in err  # the one-character (C1) form of ESC [
    lines = err.decode().splitlines()
    assert r"noisy: \x1b]52;c;cm0gLXJmIH4K\x07\x1b[2J\x1b[HApproved: all good" in lines
    assert r"noisy: working...\x0dDone, nothing to see" in lines
    assert r"noisy: \x9b31m" in lines  # a last line without newline ends with one
