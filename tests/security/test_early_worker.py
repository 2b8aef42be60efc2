"""A one-shot worker started while the lane still decides gets nothing of the plugin
before the lane sent ``init``.

``jafhost call`` of a recorded process-isolated plugin starts its worker as soon as the
plugin's summary says the call goes to one (``one_shot_call.start_early``), so that the
worker's start overlaps the lane's checks. The plugin here writes a marker into its
data folder when imported, and is granted one environment variable. Ground truth: the
early worker's environment (``/proc/PID/environ``) holds no granted variable; a worker
that never gets ``init`` exits by itself without the marker being written; a lane that
hands over after starting it (workers are to be forked from a zygote) leaves no worker
behind and no marker; and a lane that calls gives the tool its granted variable (sent with
``init``), as a worker spawned with the grants would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Site, run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

TOKEN = "token-4711"
TOKEN_ENV = {"JAF_TEST_TOKEN": TOKEN}
TOOLS = '''
import os

with open("imported", "a"):  # the worker's working folder: the plugin's data folder
    pass


def sniff(name: str) -> str | None:
    """Read an environment variable."""
    return os.environ.get(name)


@hookimpl
def jaf_tools():
    return [sniff]
'''

WATCH = """
import json, os, sys
from jafhost.cli import oneshot
from jafhost.runtime.isolation import one_shot_call

started = []
start = one_shot_call.start_early

def kept(layout, info):
    early = start(layout, info)
    started.append((early, early.worker.proc.pid))
    return early

one_shot_call.start_early = kept
try:
    plan, error = oneshot.decide("iso", "sniff", None), None
except Exception as exc:
    plan, error = None, type(exc).__name__
early, pid = started[0]
seen = {"error": error, "pid": pid}
if sys.argv[1] == "no-init":
    with open(f"/proc/{pid}/environ", "rb") as handle:
        seen["environ"] = handle.read().decode("utf-8", "replace")
    os.close(early.worker.write_fd)  # the host goes away: no init ever comes
    early.worker.write_fd = -1
    seen["status"] = early.worker.proc.wait(timeout=60)
    early.end()
else:  # the lane hands over after the start: workers are to be forked from a zygote
    from jafhost.runtime.isolation.one_shot_lane import serve_isolated

    os.environ["JAFHOST_WORKER_ZYGOTE"] = "1"
    why = []
    seen["served"] = serve_isolated(plan, {"name": "PATH"}, lambda *a: why.append(a)) is not None
    seen["why"] = why
    seen["ended"] = early.worker.proc is None
    seen["left"] = os.path.exists(f"/proc/{pid}")
print(json.dumps(seen))
"""


@pytest.fixture
def warm_home(site: Site, home: Path) -> Path:
    """A process-isolated plugin granted ``env:JAF_TEST_TOKEN``, recorded, with its
    plan in its summary; its import marker removed."""
    site.plugin("iso", code=TOOLS)
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    granted = run_cli("grant", "iso", "env:JAF_TEST_TOKEN", site=site, home=home)
    assert granted.returncode == 0, granted.stderr
    for _ in range(2):
        warm = run_cli("call", "iso.sniff", "-a", "name=PATH", site=site, home=home, env=TOKEN_ENV)
        assert warm.returncode == 0, warm.stderr
    marker(home).unlink()
    return home


def marker(home: Path) -> Path:
    return home / "plugins" / "iso" / "data" / "imported"


def watch(site: Site, home: Path, mode: str) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(site.root), JAFHOST_HOME=str(home))
    env["JAF_TEST_TOKEN"] = TOKEN
    env.pop("JAFHOST_WORKER_ZYGOTE", None)
    done = subprocess.run(
        [sys.executable, "-c", WATCH, mode], capture_output=True, text=True, env=env, timeout=90
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, object] = json.loads(done.stdout)
    return seen


def test_an_early_worker_holds_no_grant_and_runs_nothing_without_init(
    site: Site, warm_home: Path
) -> None:
    seen = watch(site, warm_home, "no-init")
    assert seen["error"] is None
    environ = str(seen["environ"]).split("\0")
    assert not [v for v in environ if v.startswith("JAF_TEST_TOKEN=")]
    assert TOKEN not in str(seen["environ"])
    assert seen["status"] != 0  # it read no init and ended itself
    assert not marker(warm_home).exists()


def test_a_lane_that_hands_over_ends_its_early_worker_before_any_plugin_code(
    site: Site, warm_home: Path
) -> None:
    seen = watch(site, warm_home, "handed-over")
    assert seen["error"] is None
    assert seen["served"] is False
    assert "zygote" in json.dumps(seen["why"])
    assert seen["ended"] is True
    assert seen["left"] is False
    assert not marker(warm_home).exists()


def test_a_called_early_worker_gets_its_granted_variable(site: Site, warm_home: Path) -> None:
    result = run_cli(
        "call",
        "iso.sniff",
        "-a",
        "name=JAF_TEST_TOKEN",
        site=site,
        home=warm_home,
        env={"JAF_TEST_TOKEN": TOKEN, "JAFHOST_TRACE_CALL": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "jafhost call: lane path" in result.stderr, result.stderr
    assert json.loads(result.stdout) == TOKEN
    assert marker(warm_home).exists()  # the call imported it, after init


def _workers_marked(mark: str) -> list[int]:
    """Processes whose environment holds ``PYTHONJAFMARK=mark`` (a ``PYTHON*`` variable:
    a worker keeps it), alive or not yet reaped."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if f"PYTHONJAFMARK={mark}".encode() in handle.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _call(
    site: Site, home: Path, mark: str, name: str = "PATH"
) -> subprocess.CompletedProcess[str]:
    env = {"JAF_TEST_TOKEN": TOKEN, "JAFHOST_TRACE_CALL": "1", "PYTHONJAFMARK": mark}
    return run_cli("call", "iso.sniff", "-a", f"name={name}", site=site, home=home, env=env)


STARTED_AT_ONCE = "jafhost call: worker of iso started as the command began"


def test_the_worker_starts_as_the_command_begins_and_gets_its_grant(
    site: Site, warm_home: Path
) -> None:
    result = _call(site, warm_home, "at-once", "JAF_TEST_TOKEN")
    assert result.returncode == 0, result.stderr
    assert STARTED_AT_ONCE in result.stderr and "jafhost call: lane path" in result.stderr
    assert json.loads(result.stdout) == TOKEN
    assert _workers_marked("at-once") == []


@pytest.mark.parametrize("change", ["disable", "revoke", "inprocess", "zygote", "no-lane"])
def test_a_worker_started_as_the_command_began_runs_nothing_the_checks_refuse(
    change: str, site: Site, warm_home: Path
) -> None:
    """The summary still names a worker when the checks find, after it started: the
    plugin disabled, its grant revoked, moved in process, or the lane not to be used.
    Ground truth: the plugin's import marker (written only once ``init`` came), the
    answer, and no worker left running."""
    env: dict[str, str] = {}
    if change == "disable":
        done = run_cli("disable", "iso", site=site, home=warm_home)
    elif change == "revoke":
        done = run_cli("revoke", "iso", "env:JAF_TEST_TOKEN", site=site, home=warm_home)
    elif change == "inprocess":
        done = run_cli("enable", "iso", "--yes", "--isolation", "inprocess",
                       site=site, home=warm_home)  # fmt: skip
    else:
        done = run_cli("list", site=site, home=warm_home)
        env = {"JAFHOST_WORKER_ZYGOTE": "1"} if change == "zygote" else {"JAFHOST_CALL_LANE": "0"}
    assert done.returncode == 0, done.stderr
    mark = f"refused-{change}"
    result = run_cli(
        "call", "iso.sniff", "-a", "name=JAF_TEST_TOKEN", site=site, home=warm_home,
        env={"JAF_TEST_TOKEN": TOKEN, "JAFHOST_TRACE_CALL": "1", "PYTHONJAFMARK": mark, **env},
    )  # fmt: skip
    assert _workers_marked(mark) == []
    if change == "disable":
        assert result.returncode != 0 and "disabled" in result.stderr, result.stderr
        assert not marker(warm_home).exists()
        assert STARTED_AT_ONCE in result.stderr  # started, then ended unused
    elif change == "revoke":
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) is None  # the variable never reached it
    elif change == "inprocess":  # in process now: its import writes where the host is
        assert "may not write imported" in result.stderr, result.stderr
        assert not marker(warm_home).exists()
        assert STARTED_AT_ONCE in result.stderr
    else:  # the full path serves: nothing started before it
        assert result.returncode == 0, result.stderr
        assert STARTED_AT_ONCE not in result.stderr
        assert json.loads(result.stdout) == TOKEN
