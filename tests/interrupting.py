"""What the Ctrl-C tests of the CLI and of an embedding program share: a plugin whose
tools run for a minute (sleeping in a thread, or holding their event loop) after leaving
a mark, and a real SIGINT sent once that mark shows the tool is running."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

SLOW_PLUGIN = '''
import os
import time
from jafhost import PluginContext


def _started(ctx: PluginContext) -> None:
    (ctx.data_dir / "started").write_text(str(os.getpid()))


def wait(ctx: PluginContext) -> str:
    """Sleeps for a minute."""
    _started(ctx)
    time.sleep(60)
    return "woke"


async def spin(ctx: PluginContext) -> str:
    """Holds its event loop for a minute."""
    _started(ctx)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        pass
    return "spun"


def interrupt() -> str:
    """Raises KeyboardInterrupt itself."""
    raise KeyboardInterrupt("from the plugin")


@hookimpl
def jaf_tools():
    return [wait, spin, interrupt]
'''
"""Plugin ``slow``: ``wait`` and ``spin`` write ``started`` (the pid they run in) into
their data folder, then run for a minute; ``interrupt`` raises KeyboardInterrupt."""


def interrupt_when_started(
    proc: subprocess.Popen[str], started: Path, before: Callable[[], None] | None = None
) -> tuple[str, str]:
    """SIGINT to ``proc`` once ``started`` exists (``before()`` called just before), then
    its output; killed if it is still running when the check fails."""
    try:
        for _ in range(600):  # the tool is running once it left its mark
            if started.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert started.exists(), proc.communicate(timeout=5)
        if before is not None:
            before()
        os.kill(proc.pid, signal.SIGINT)
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
