"""Another wheel's copy of an approved plugin's package, in a site folder searched
before the plugin's own, never runs as the plugin.

``import`` takes the first folder on ``sys.path`` that holds the module: with two site
folders (a user site before the system's, ``/usr/local`` before ``/usr`` on Debian, a
``--target`` folder on ``PYTHONPATH``), another project's wheel installed into the
earlier one can carry ``pkg/__init__.py`` and ``pkg/plugin.py`` of the plugin's names.
The plugin's distribution, its ``RECORD`` and every file it lists are untouched; the
entry point ``pkg.plugin`` it declares is imported from the other folder.

Real wheels installed by the real ``pip``, real ``jafhost`` processes, both isolation
modes, lane on and off. Ground truth: the secret only the approved plugin may read is
never printed, and the foreign code's marker is never written.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from call_paths import TRACE
from pip_wheels import (
    approve_and_warm,
    foreign_code,
    pip_install,
    settle,
    vault_wheel,
    wheel,
)

from conftest import ISOLATION_MODES, Site, run_cli


@pytest.mark.parametrize("lane", ["1", "0"])
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_foreign_package_in_an_earlier_site_folder_does_not_run_as_the_plugin(
    isolation: str, lane: str, tmp_path: Path, home: Path, secret: Path
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    module = Site(tmp_path / "unused").module_for("vault")
    vault = vault_wheel(tmp_path, module, secret)
    site = Site(pip_install(tmp_path / "system", vault))
    earlier = tmp_path / "user"
    earlier.mkdir()
    marker = tmp_path / "foreign-ran"
    path = {"PYTHONPATH": os.pathsep.join([str(earlier), str(site.root)])}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**TRACE, "JAFHOST_CALL_LANE": lane, **path}
        return run_cli(*args, site=site, home=home, env=env, cwd=cwd)

    approve_and_warm(cli, isolation, site.root, cwd)
    code = foreign_code(marker, secret)
    foreign = wheel(
        tmp_path / "foreign", "jaf-colours", "1.0.0",
        {f"{module}/__init__.py": "", f"{module}/plugin.py": code, "jaf_colours/__init__.py": ""},
        "",
    )  # fmt: skip
    found = pip_install(tmp_path / "userprefix", foreign)
    for entry in os.listdir(found):  # the earlier folder, as a user site holds it
        os.rename(found / entry, earlier / entry)
    settle(site.root, earlier, cwd)
    result = cli("call", "vault.peek")
    assert "TOP-SECRET" not in result.stdout + result.stderr
    assert not marker.exists()
    assert result.returncode == 1, result.stdout
