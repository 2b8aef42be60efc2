"""The one-shot worker imports the modules of its later steps only while ``init`` has not
arrived (``worker._preload``'s ``waiting``): a host ready first never waits for them.

Each case runs a fresh interpreter with a real pipe, as a worker reads its ``init``; and
a real ``jafhost call`` of a process-isolated plugin shows what its worker imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from call_paths import FULL, TRACE, split_trace

from conftest import Site, run_cli
from jafhost.runtime.isolation.one_shot import PRELOAD, WHILE_WAITING

PROBE = """
import os, sys
from jafhost.runtime.isolation.worker import _preload
read, write = os.pipe()
if sys.argv[1] == "sent":
    os.write(write, b"init")
_preload((), tuple(sys.argv[2:]), read)
print(",".join(name for name in sys.argv[2:] if name in sys.modules))
"""


def _preloaded(state: str, modules: tuple[str, ...]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, state, *modules], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [name for name in done.stdout.strip().split(",") if name]


@pytest.mark.parametrize("state", ["waiting", "sent"])
def test_the_later_steps_modules_are_imported_only_while_init_is_awaited(state: str) -> None:
    found = _preloaded(state, WHILE_WAITING)
    assert found == ([] if state == "sent" else list(WHILE_WAITING))


def test_what_waits_is_jafhost_s_own_and_not_already_preloaded() -> None:
    assert all(name.startswith("jafhost.") for name in WHILE_WAITING)
    assert not set(WHILE_WAITING) & set(PRELOAD)


LEAN = '''
import sys


def loaded(names: str) -> list[str]:
    """Which of the named modules this process has imported."""
    return [name for name in names.split(",") if name in sys.modules]


@hookimpl
def jaf_tools():
    return [loaded]
'''

ISOLATED = '[host]\nisolation = "process"\ncall_timeout = 20\n'


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
def test_the_one_shot_worker_imports_no_pathlib(site: Site, home: Path) -> None:
    """Ground truth from the worker's own ``sys.modules``, through the lane (asserted):
    its way to ``ready`` (the spec, the policy, the sandbox's steps) takes strings, so
    a plain call imports no ``pathlib``; the full path's pool worker does (pydantic), so
    the check can fail."""
    site.plugin("lean", code=LEAN)
    (home / "config.toml").write_text(ISOLATED)
    names = ["-a", "names=pathlib"]
    warm = run_cli("call", "lean.loaded", *names, site=site, home=home)
    assert warm.returncode == 0, warm.stderr
    lane = run_cli("call", "lean.loaded", *names, site=site, home=home, env=TRACE)
    full = run_cli("call", "lean.loaded", *names, site=site, home=home, env=FULL)
    assert split_trace(lane)[0] == "lane", lane.stderr
    assert json.loads(lane.stdout) == []
    assert json.loads(full.stdout) == ["pathlib"]
