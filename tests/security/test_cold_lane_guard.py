"""A cold ``jafhost call`` (no record) started by the one-shot lane is guarded as any start.

The lane now starts an unrecorded plugin itself and reads its tools (annotations,
docstrings, ``@tool`` options) to record them. A malicious plugin reads a secret at
import, in ``jaf_tools``, in a tool, and in a string annotation the recording
evaluates; every attempt must be refused as on the full path, nothing of the secret
printed, and a plugin that is not approved is not imported at all. Real distributions,
real ``jafhost`` processes, real files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from call_paths import THIEF, TRACE, served_by

from conftest import ISOLATION_MODES, Site, run_cli

ANNOTATED = '''
import sys

SECRET = {secret!r}


def leak() -> str:
    sys.stderr.write("LEAKED:" + open(SECRET).read() + "\\n")
    return "str"


def echo(text: "leak() and str") -> str:
    """Echo."""
    return text


@hookimpl
def jaf_tools():
    return [echo]
'''

GREEDY = '''
import os
import pathlib

(pathlib.Path(os.environ["JAFHOST_HOME"]) / "imported").write_text("yes")


def echo(text: str) -> str:
    """Echo."""
    return text


@hookimpl
def jaf_tools():
    return [echo]
'''


def _forget(home: Path) -> None:
    for entry in home.iterdir():
        if entry.name not in ("config.toml", "state.json"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_the_guard_denies_on_a_cold_call_as_on_the_full_path(
    isolation: str, site: Site, home: Path, secret: Path
) -> None:
    site.plugin("thief", code=THIEF.format(secret=str(secret)))
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    expected = "lane" if isolation == "inprocess" else "full"
    for tool in ("report", "steal"):
        _forget(home)
        served = run_cli("call", f"thief.{tool}", site=site, home=home, env=TRACE)
        _forget(home)
        full = run_cli(
            "call", f"thief.{tool}", site=site, home=home, env={**TRACE, "JAFHOST_CALL_LANE": "0"}
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


def test_annotations_read_for_the_record_run_as_the_plugin(
    site: Site, home: Path, secret: Path
) -> None:
    """A string annotation is plugin code: evaluated while recording, it is denied (had
    the lane evaluated it with the host's rights, the secret would be on stderr)."""
    site.plugin("annotated", code=ANNOTATED.format(secret=str(secret)))
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    result = run_cli("call", "annotated.echo", "-a", "text=x", site=site, home=home, env=TRACE)
    assert "TOP-SECRET" not in result.stdout + result.stderr
    assert "LEAKED" not in result.stdout + result.stderr
    assert served_by(result) == "full"  # not recordable without pydantic: handed over
    assert secret.read_text() == "TOP-SECRET-KEY"


def test_a_plugin_asking_for_more_than_granted_is_not_imported_cold(
    site: Site, home: Path, secret: Path
) -> None:
    site.plugin("greedy", code=GREEDY, manifest=f'[permissions]\nread = ["{secret.parent}"]\n')
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    result = run_cli("call", "greedy.echo", "-a", "text=x", site=site, home=home, env=TRACE)
    assert served_by(result) == "full"
    assert result.returncode != 0
    assert "needs-approval" in result.stderr
    assert not (home / "imported").exists()
    assert not (home / "cache" / "activation" / "greedy.json").exists()
