"""``jafhost call``'s one-shot lane runs a plugin under the same guard as any start.

A malicious plugin reads a secret file at import, in ``jaf_tools`` and in a tool; the
lane must refuse each exactly as the full path does (``permission_denied``, nothing of
the secret printed); under process isolation the lane's one-shot worker refuses them
as a pool worker does.
And a plugin upgraded to a version that asks for more than was approved is not run by
the lane on the strength of its old record: nothing of the new version runs at all.
Real distributions, real ``jafhost`` processes, real files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from call_paths import THIEF, TRACE, served_by

from conftest import ISOLATION_MODES, Site, run_cli


@pytest.fixture
def thief_home(site: Site, home: Path, secret: Path) -> Path:
    site.plugin("thief", code=THIEF.format(secret=str(secret)))
    return home


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_the_guard_denies_in_the_lane_as_in_the_full_path(
    isolation: str, site: Site, thief_home: Path, secret: Path
) -> None:
    (thief_home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    warm = run_cli("call", "thief.report", site=site, home=thief_home)
    assert warm.returncode == 0, warm.stderr
    expected = "lane"
    for tool in ("report", "steal"):
        served = run_cli("call", f"thief.{tool}", site=site, home=thief_home, env=TRACE)
        full = run_cli(
            "call",
            f"thief.{tool}",
            site=site,
            home=thief_home,
            env={**TRACE, "JAFHOST_CALL_LANE": "0"},
        )
        assert served_by(served) == expected
        for result in (served, full):
            assert "TOP-SECRET" not in result.stdout + result.stderr
        assert (served.returncode, served.stdout) == (full.returncode, full.stdout)
        if tool == "report":
            assert served.returncode == 0, served.stderr
            seen = json.loads(served.stdout)
            assert "import refused: PermissionDenied" in seen
            assert "jaf_tools refused: PermissionDenied" in seen
        else:
            assert served.returncode == 1
            assert "error: permission denied" in served.stderr
    assert secret.read_text() == "TOP-SECRET-KEY"


V2 = '''
import os
import pathlib

_DATA = pathlib.Path(os.environ["JAFHOST_HOME"]) / "plugins" / "grower" / "data"
(_DATA / "v2-ran").write_text("v2")


def hello() -> str:
    """Answer."""
    return "v2"


@hookimpl
def jaf_tools():
    return [hello]
'''

V1 = '''
def hello() -> str:
    """Answer."""
    return "v1"


@hookimpl
def jaf_tools():
    return [hello]
'''


def test_an_upgrade_asking_for_more_is_not_run_on_its_old_record(
    site: Site, home: Path, secret: Path
) -> None:
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    module = site.plugin("grower", code=V1)
    first = run_cli("call", "grower.hello", site=site, home=home)
    again = run_cli("call", "grower.hello", site=site, home=home, env=TRACE)
    assert (first.stdout, again.stdout) == ('"v1"\n', '"v1"\n'), first.stderr + again.stderr
    assert served_by(again) == "lane"
    # the upgrade: new code, and a manifest asking to read the secret's folder
    site.remove("jaf-plugin-grower")
    site.plugin(
        "grower",
        "2.0.0",
        code=V2,
        module=module,
        manifest=f'[permissions]\nread = ["{secret.parent}"]\n',
    )
    upgraded = run_cli("call", "grower.hello", site=site, home=home, env=TRACE)
    assert served_by(upgraded) == "full"
    assert upgraded.returncode != 0
    assert "needs-approval" in upgraded.stderr
    assert not (home / "plugins" / "grower" / "data" / "v2-ran").exists()
    assert "TOP-SECRET" not in upgraded.stdout + upgraded.stderr


RUNNER = """
import os
import subprocess
import sys

MARKER = {marker!r}


def launch() -> str:
    \"\"\"Start a program that leaves a marker (no run grant).\"\"\"
    try:
        subprocess.run([sys.executable, "-c", "open(%r, 'w').close()" % MARKER])
    except Exception as exc:
        return f"refused: {{type(exc).__name__}}"
    return "ran"


def launch_raw() -> str:
    \"\"\"The same through ``_posixsubprocess.fork_exec`` alone (no ``Popen`` event).\"\"\"
    from multiprocessing.util import spawnv_passfds

    try:
        program = os.fsencode(sys.executable)
        spawnv_passfds(program, [sys.executable, "-c", "open(%r, 'w').close()" % MARKER], [])
    except Exception as exc:
        return f"refused: {{type(exc).__name__}}"
    return "ran"


@hookimpl
def jaf_tools():
    return [launch, launch_raw]
"""


def test_a_program_started_from_the_lane_is_refused(site: Site, home: Path, tmp_path: Path) -> None:
    """The lane arms the guard without importing ``subprocess``; the plugin imports it
    afterwards and still gets the guarded ``fork_exec``: no program starts."""
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    marker = tmp_path / "marker"
    site.plugin("runner", code=RUNNER.format(marker=str(marker)))
    env = TRACE
    for _ in range(3):
        result = run_cli("call", "runner.launch", site=site, home=home, env=env)
        assert json.loads(result.stdout) == "refused: PermissionDenied", result.stderr
        if served_by(result) == "lane":
            break
    assert served_by(result) == "lane", result.stderr
    raw = run_cli("call", "runner.launch_raw", site=site, home=home, env=env)
    assert served_by(raw) == "lane", raw.stderr
    assert json.loads(raw.stdout) == "refused: PermissionDenied", raw.stderr
    assert not marker.exists()
