"""A failing exit step must not bring back the interpreter's teardown.

``cli.finish`` ends ``jafhost call`` with ``os._exit`` after the interpreter's own exit
steps, so the teardown that drops a plugin's module globals and last cycles (and runs
their ``__del__`` with no plugin identity) never comes
(tests/security/test_lane_plugin_objects.py), even when one of those steps raises: it
is reported and the exit goes on. The plugin here makes a step raise on purpose, from
code that itself runs as the plugin: a ``threading`` exit callback that raises
(``threading._shutdown`` lets it through), or an ``atexit`` handler that closes
``sys.stdout`` (the flush after the handlers raises ``ValueError``). Its objects kept to
the end would then write a file outside its grants from their ``__del__``. The same when
Ctrl-C comes as the command ends, while a thread of the plugin is still running: the
interrupt escaping the command ends through ``finish`` too (``finish.ended``), and one
landing in it ends its step. Ground truth: no file in the victim folder after cold,
recorded and warm calls, in each isolation mode (in process mode the objects live in
the worker, under its sandbox).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from call_paths import KEPT_OBJECTS

from conftest import ISOLATION_MODES, Site, run_cli

MODES = ISOLATION_MODES

KEPT_AND_TRIPPED = """
import atexit
import gc
import sys
import threading

MARK = {mark!r}


{kept}

def trip():
    {trip}


{register}


def echo(x: str) -> str:
    \"\"\"Echo the text, leaving a cycle behind.\"\"\"
    Kept("cycle")
    return x


@hookimpl
def jaf_tools():
    return [echo]
"""

TRIPS = {
    "threading-callback-raises": ('raise RuntimeError("an exit step that fails")',
                                  "threading._register_atexit(trip)"),
    "stdout-closed-by-a-handler": ("sys.stdout.close()", "atexit.register(trip)"),
}  # fmt: skip


@pytest.mark.parametrize("trip", sorted(TRIPS))
@pytest.mark.parametrize("lane", ["1", "0"])
@pytest.mark.parametrize("isolation", MODES)
def test_a_failing_exit_step_runs_no_plugin_del_without_its_identity(
    isolation: str, lane: str, trip: str, site: Site, home: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    body, register = TRIPS[trip]
    code = KEPT_AND_TRIPPED.format(
        mark=str(victim / "written"), kept=KEPT_OBJECTS, trip=body, register=register
    )
    site.plugin("tripper", code=code)
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    for _ in range(4):  # cold, recorded, summary written, warm from the summary
        result = run_cli(
            "call", "tripper.echo", "-a", 'x="hi"', site=site, home=home,
            env={"JAFHOST_CALL_LANE": lane},
        )  # fmt: skip
        assert json.loads(result.stdout) == "hi", result.stderr
        assert sorted(p.name for p in victim.iterdir()) == [], result.stderr


KEPT_AND_WAITED_FOR = KEPT_AND_TRIPPED.replace(
    '    Kept("cycle")\n',
    '    Kept("cycle")\n'
    "    import time\n\n"
    "    threading.Thread(target=time.sleep, args=(8,), daemon=False).start()\n",
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_while_the_exit_waits_for_a_thread_runs_no_plugin_del(
    site: Site, home: Path, tmp_path: Path
) -> None:
    """Ctrl-C once the result is out, while the command ends and waits for the
    plugin's thread: the interrupt lands in ``streams.release``, before ``finish`` or in
    its ``threading._shutdown``, and the interpreter's own exit (teardown included)
    takes over; the plugin's objects must not be torn down with no identity."""
    victim = tmp_path / "victim"
    victim.mkdir()
    code = KEPT_AND_WAITED_FOR.format(
        mark=str(victim / "written"), kept=KEPT_OBJECTS, trip="pass", register=""
    )
    site.plugin("waiter", code=code)
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    env = dict(os.environ, PYTHONPATH=str(site.root), JAFHOST_HOME=str(home))
    env.pop("JAFHOST_DEBUG", None)
    for _ in range(2):  # cold, then from its record
        proc = subprocess.Popen(
            [sys.executable, "-m", "jafhost", "call", "waiter.echo", "-a", 'x="hi"'],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            assert json.loads(proc.stdout.readline()) == "hi"  # the result is out: exiting
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert sorted(p.name for p in victim.iterdir()) == [], err
