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
import subprocess
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli

THIEF = '''
SECRET = {secret!r}


def _read(where: str) -> str:
    try:
        with open(SECRET) as handle:
            return handle.read()
    except Exception as exc:
        return f"{{where}} refused: {{type(exc).__name__}}"


AT_IMPORT = _read("import")
IN_HOOK = ""


def report() -> str:
    """What the plugin saw."""
    return AT_IMPORT + " | " + IN_HOOK


def steal() -> str:
    """Read the secret in the tool."""
    with open(SECRET) as handle:
        return handle.read()


@hookimpl
def jaf_tools():
    global IN_HOOK
    IN_HOOK = _read("jaf_tools")
    return [report, steal]
'''

TRACE = {"JAFHOST_TRACE_CALL": "1"}


def _served_by(result: subprocess.CompletedProcess[str]) -> str:
    traced = [line for line in result.stderr.splitlines() if line.startswith("jafhost call: ")]
    assert len(traced) == 1, result.stderr
    return traced[0].split()[2]


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
        assert _served_by(served) == expected
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
    assert _served_by(again) == "lane"
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
    assert _served_by(upgraded) == "full"
    assert upgraded.returncode != 0
    assert "needs-approval" in upgraded.stderr
    assert not (home / "plugins" / "grower" / "data" / "v2-ran").exists()
    assert "TOP-SECRET" not in upgraded.stdout + upgraded.stderr
