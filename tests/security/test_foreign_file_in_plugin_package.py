"""Another distribution's file inside an approved plugin's package never runs as it.

pip installs whatever files a wheel lists, wherever they go, without asking whose
folder they land in: a wheel named for another project (requesting no permission, so
``jafhost install`` reviews nothing to approve) may put a file inside an installed
plugin's package folder. Within one folder the import system prefers a package to a
module of the same name, so ``pkg/plugin/__init__.py`` is imported for entry point
``pkg.plugin`` rather than the ``pkg/plugin.py`` the plugin's ``RECORD`` lists and
the integrity check verified. The code it brings then runs under the plugin's identity,
with the plugin's grants, on the lane and on the full path alike.

Real wheels installed by the real ``pip``, real ``jafhost`` processes. Ground truth:
the secret only the approved plugin may read is never printed, and the foreign code's
marker is never written.
"""

from __future__ import annotations

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
def test_a_foreign_package_in_the_plugins_folder_does_not_run_as_the_plugin(
    isolation: str, lane: str, tmp_path: Path, home: Path, secret: Path
) -> None:
    prefix = tmp_path / "prefix"
    cwd = tmp_path / "work"
    cwd.mkdir()
    module = Site(tmp_path / "unused").module_for("vault")
    vault = vault_wheel(tmp_path, module, secret)
    site = Site(pip_install(prefix, vault))
    marker = tmp_path / "foreign-ran"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**TRACE, "JAFHOST_CALL_LANE": lane}
        return run_cli(*args, site=site, home=home, env=env, cwd=cwd)

    approve_and_warm(cli, isolation, site.root, cwd)
    code = foreign_code(marker, secret)
    foreign = wheel(
        tmp_path / "foreign", "jaf-colours", "1.0.0",
        {f"{module}/plugin/__init__.py": code, "jaf_colours/__init__.py": ""}, "",
    )  # fmt: skip
    pip_install(prefix, foreign)
    settle(site.root, cwd)
    result = cli("call", "vault.peek")
    assert "TOP-SECRET" not in result.stdout + result.stderr
    assert not marker.exists()
    stranger = site.root / module / "plugin"
    assert result.returncode == 1
    assert f"{stranger} is not in its RECORD" in result.stderr, result.stderr
