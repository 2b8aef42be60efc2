"""A module jafhost probes for and the interpreter does not have is never taken from a
site folder.

``runtime/activation_records.py`` tries ``from _sha256 import sha256`` first: CPython
3.12 renamed that module ``_sha2``, so on 3.12 and later the import system goes on
searching ``sys.path`` past the standard library, into the site folders, and any wheel
(of another project, asking for no permission) carrying a top-level ``_sha256.py`` has
its code run by every ``jafhost`` process that imports the module (the call lane, the
host), before any plugin is checked.

Runs each CPython 3.12 or later found beside the one running the tests or on ``PATH``
(only the standard library is needed: the module imports nothing else at its top);
skipped where there is none. Ground truth: the foreign module's marker is never written.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import jafhost

PROBE = "import sys; print(sys.version_info >= (3, 12), sys.version)"


def _newer_pythons() -> list[str]:
    found: dict[str, str] = {}
    candidates = [shutil.which(f"python3.{minor}") for minor in range(12, 20)]
    candidates += glob.glob(
        os.path.join(os.path.dirname(sys.base_prefix), "3.1[2-9]*", "bin", "python3")
    )
    for candidate in filter(None, candidates):
        try:
            ran = subprocess.run(
                [candidate, "-I", "-c", PROBE],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        newer, _, version = ran.stdout.strip().partition(" ")
        if ran.returncode == 0 and newer == "True":
            found.setdefault(version, candidate)
    return sorted(found.values())


PYTHONS = _newer_pythons()


@pytest.mark.skipif(not PYTHONS, reason="no CPython 3.12 or later here")
@pytest.mark.parametrize("python", PYTHONS)
def test_a_foreign_sha256_module_in_a_site_folder_never_runs(python: str, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    marker = tmp_path / "foreign-ran"
    (site / "_sha256.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    host = str(Path(jafhost.__file__).parent.parent)
    ran = subprocess.run(
        [python, "-c", "import jafhost.runtime.activation_records"],
        capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": os.pathsep.join([host, str(site)]), "PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert not marker.exists()
