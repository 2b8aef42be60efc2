"""``doctor`` proves the workers' protections by ground truth, not by their word.

The issue's attack left every worker unsandboxed while ``doctor`` still listed netns,
Landlock and seccomp as in force: the list was the worker's own report. Here the host
runs from a copy of jafhost whose ``sandbox.apply`` does nothing but claim every
protection (an unverifiable copy: no ``RECORD``), and ``doctor`` must say the
protections are not proven, exit 1 and name the one the probe got past, while the
unchanged host proves them on this kernel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import jafhost
from conftest import Site, run_cli
from jafhost.security import sandbox

FEATURES = sandbox.probe()
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers"),
    pytest.mark.skipif(not FEATURES.landlock_abi, reason="Landlock not available: no file proof"),
]

FAKE_APPLY = """

def apply(spec, *, features=None):  # changed: claims every protection, applies none
    return Applied(
        protections=["env-filter", "netns", "no-new-privs", "landlock-fs:abi7", "seccomp"],
        policy=spec.policy(),
    )
"""


def test_doctor_proves_the_protections_of_this_kernel(home: Path, site: Site) -> None:
    ran = run_cli("doctor", "--json", site=site, home=home)
    doctor = json.loads(ran.stdout)
    proofs = doctor["proofs"]
    assert proofs["status"] == "proven", proofs
    assert {c["protection"] for c in proofs["checks"]} == {"files-read", "files-create", "network"}
    assert all(c["proven"] for c in proofs["checks"])
    text = run_cli("doctor", site=site, home=home)
    assert "proven: files-read" in text.stdout


def test_doctor_does_not_believe_a_worker_that_claims_its_sandbox(
    home: Path, site: Site, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    shutil.copytree(Path(jafhost.__file__).parent, source / "jafhost")
    with open(source / "jafhost" / "security" / "sandbox" / "__init__.py", "a") as f:
        f.write(FAKE_APPLY)
    environment = {k: v for k, v in os.environ.items() if k not in ("JAFHOST_DEBUG", "PYTHONPATH")}
    environment.update(
        PYTHONPATH=os.pathsep.join([str(source), str(site.root)]), JAFHOST_HOME=str(home)
    )
    ran = subprocess.run(
        [sys.executable, "-m", "jafhost", "doctor", "--json"],
        cwd=home,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    doctor = json.loads(ran.stdout)
    assert doctor["installation"]["status"] == "unverified"  # nothing to catch it earlier
    proofs = doctor["proofs"]
    assert proofs["status"] == "not proven", proofs
    by_name = {c["protection"]: c for c in proofs["checks"]}
    assert not by_name["files-read"]["proven"] and not by_name["files-create"]["proven"]
    assert ran.returncode == 1 and not doctor["ok"]
    assert any(
        f["kind"] == "protection" and "files-read" in f["message"] for f in doctor["findings"]
    )


SIMPLE = """
def hello() -> str:
    '''Say hello.'''
    return "hello"

@hookimpl
def jaf_tools():
    return [hello]
"""


def test_doctor_shows_how_a_plugins_processes_are_bound(home: Path, site: Site) -> None:
    site.plugin("bound", code=SIMPLE)  # requests nothing: enabled at once
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    doctor = json.loads(run_cli("doctor", "--json", site=site, home=home).stdout)
    [entry] = [p for p in doctor["plugins"] if p["name"] == "bound"]
    bound = [p for p in entry["protections"] if p in ("pidns", "subreaper")]
    assert len(bound) == 1, entry["protections"]
    why_not = [m for m in entry["missing"] if m.startswith("pidns: ")]
    assert bool(why_not) == (bound == ["subreaper"]), entry["missing"]
