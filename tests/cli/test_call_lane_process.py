"""``jafhost call``'s lane answers a process-isolated plugin exactly as the full path.

The lane serves a recorded plain tool of a process-isolated plugin in a one-shot
sandboxed worker; each case runs the real ``jafhost`` twice in the same home, as it
comes and with the lane off (``JAFHOST_CALL_LANE=0``: a ``Host`` and a pool worker), and
compares stdout, stderr (the worker's pid in a kill warning aside) and the exit code.
``JAFHOST_TRACE_CALL=1`` makes each say which path served, so no case passes by both
quietly taking the full path. Real distributions, real processes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from call_paths import FULL, TRACE, lane_imports, split_trace

from conftest import Site, run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

TOOLS = '''
import os
import sys
import time


def echo(text: str, times: int = 1) -> str:
    """Repeat the text."""
    print("echoing", text)
    return text * times


def fail(message: str) -> str:
    """Raise."""
    raise ValueError(message)


def slow(seconds: float) -> str:
    """Sleep."""
    time.sleep(seconds)
    return "done"


def peek(path: str) -> str:
    """Read a file."""
    with open(path) as handle:
        return handle.read()


def big(n: int) -> str:
    """A long answer."""
    return "x" * n


def crash(status: int) -> str:
    """End the process."""
    os._exit(status)


def shape(n: int) -> object:
    """More than plain JSON."""
    return {"n": n, "tuple": (1, 2), "float": 1.5}


def modules() -> list[str]:
    """The heavy modules this process has imported."""
    heavy = ("pydantic", "pydantic_core", "asyncio")
    return sorted(m for m in sys.modules if m.split(".")[0] in heavy)


def _changing():
    def echo(text: list[str]) -> str:
        """No longer plain."""
        return "changed: " + ",".join(text)

    return echo


@hookimpl
def jaf_tools():
    import pathlib

    here = pathlib.Path(os.environ.get("JAFHOST_PLUGIN_DATA", os.getcwd()))
    if (here / "change").exists():
        return [_changing(), fail]
    return [echo, fail, slow, peek, big, crash, shape, modules]
'''

CONFIG = '[host]\nisolation = "process"\ncall_timeout = 20\nmax_result_mb = 1\n'


@pytest.fixture
def lane_home(site: Site, home: Path) -> Path:
    """Plugin ``iso`` installed, process-isolated, recorded."""
    site.plugin("iso", code=TOOLS)
    (home / "config.toml").write_text(CONFIG)
    warm = run_cli("call", "iso.echo", "-a", "text=warm", site=site, home=home)
    assert warm.returncode == 0, warm.stderr
    return home


def _path(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """(the path that served, stderr without the trace line, pids as ``N``)."""
    path, rest = split_trace(result)
    return path, re.sub(r"worker \d+ killed", "worker N killed", rest)


CASES = {
    "plain": (["iso.echo", "-a", "text=hi"], 0),
    "coerced: a string for an int": (["iso.echo", "-a", "text=a", "-a", 'times="3"'], 0),
    "invalid arguments": (["iso.echo", "-a", "text=a", "-a", 'times="x"'], 2),
    "missing argument": (["iso.echo"], 2),
    "extra argument": (["iso.echo", "-a", "text=a", "-a", "nope=1"], 2),
    "tool error": (["iso.fail", "-a", "message=boom"], 1),
    "timeout": (["iso.slow", "-a", "seconds=30", "--timeout", "0.5"], 1),
    "denied read": (["iso.peek", "-a", "path=/etc/hostname"], 1),
    "result over max_result_mb": (["iso.big", "-a", "n=2000000"], 1),
    "worker crash": (["iso.crash", "-a", "status=3"], 1),
    "non-plain result": (["iso.shape", "-a", "n=2"], 0),
    # a call frame and an output larger than a pipe holds (the call waits in the pipe
    # behind init in part, the rest sent once the worker is ready; its output is copied
    # while the host waits)
    "larger than a pipe": (["iso.echo", "-a", f"text={'y' * 100_000}"], 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_lane_answers_as_the_full_path(case: str, site: Site, lane_home: Path) -> None:
    args, code = CASES[case]
    lane = run_cli("call", *args, site=site, home=lane_home, env=TRACE)
    full = run_cli("call", *args, site=site, home=lane_home, env=FULL)
    lane_path, lane_err = _path(lane)
    full_path, full_err = _path(full)
    assert (lane_path, full_path) == ("lane", "full"), lane.stderr
    assert (lane.returncode, lane.stdout, lane_err) == (full.returncode, full.stdout, full_err)
    assert lane.returncode == code, lane.stderr


def test_the_worker_of_a_plain_call_imports_no_pydantic_nor_asyncio(
    site: Site, lane_home: Path
) -> None:
    """Ground truth from the worker's own ``sys.modules``; the full path's pool worker
    imports pydantic before it is ready (so the check can fail)."""
    lane = run_cli("call", "iso.modules", site=site, home=lane_home, env=TRACE)
    full = run_cli("call", "iso.modules", site=site, home=lane_home, env=FULL)
    assert _path(lane)[0] == "lane"
    assert json.loads(lane.stdout) == []
    assert "pydantic" in json.loads(full.stdout)


def test_a_tool_no_longer_plain_is_handed_to_the_full_path(site: Site, lane_home: Path) -> None:
    """The record says plain; the plugin's code decides otherwise at run time: the
    one-shot worker finds it out before calling, and the full path serves."""
    (lane_home / "plugins" / "iso" / "data" / "change").write_text("")
    args = ["iso.echo", "--json", '{"text": ["a", "b"]}']
    lane = run_cli("call", *args, site=site, home=lane_home, env=TRACE)
    full = run_cli("call", *args, site=site, home=lane_home, env=FULL)
    lane_path, lane_err = _path(lane)
    assert lane_path == "full"
    assert "handed over by the worker" in lane.stderr
    assert (lane.returncode, lane.stdout, lane_err) == (
        full.returncode,
        full.stdout,
        _path(full)[1],
    )
    assert json.loads(lane.stdout) == "changed: a,b"


def test_a_zygote_start_goes_to_the_full_path(site: Site, lane_home: Path) -> None:
    result = run_cli(
        "call", "iso.echo", "-a", "text=a", site=site, home=lane_home,
        env={**TRACE, "JAFHOST_WORKER_ZYGOTE": "1"},
    )  # fmt: skip
    assert _path(result)[0] == "full"
    assert result.stdout == '"a"\n'


def test_the_host_side_imports_no_pydantic_asyncio_or_cli_libraries(
    site: Site, lane_home: Path
) -> None:
    """Ground truth from ``-X importtime`` of the host process (the worker is started
    with ``-I``: its imports are not listed there)."""
    lane_imports(site.root, lane_home, "iso.echo")  # the plugin's lane summary written
    imported = lane_imports(site.root, lane_home, "iso.echo")
    assert "jafhost.runtime.isolation.one_shot_call" in imported
    heavy = {"pydantic", "pydantic_core", "asyncio", "typer", "click", "rich"}
    assert imported.isdisjoint(heavy), sorted(imported & heavy)
    # what the host's side does without while nothing changed: the metadata search and
    # hashing of its own files (kept stamps), the record, the answer's dataclasses
    spared = {
        "importlib.metadata",
        "hashlib",
        "jafhost.runtime.activation_records",
        "jafhost.types",
    }
    assert imported.isdisjoint(spared), sorted(imported & spared)
