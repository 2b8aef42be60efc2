"""Another wheel's file over a module an approved plugin imports from its dependency
never runs as the plugin.

The check before import compares the plugin's own distribution with its ``RECORD``;
the modules it imports from the distributions it requires run with its grants too.
pip overwrites whatever file a wheel lists, whoever installed it: a wheel of another
project (asking for no permission) carrying ``helpers/__init__.py`` replaces the
dependency's, whose ``RECORD`` then no longer matches, and the plugin imports it.

Real wheels installed by the real ``pip``, real ``jafhost`` processes, both isolation
modes, lane on and off. Ground truth: the secret only the approved plugin may read is
never printed, and the foreign code's marker is never written.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from call_paths import TRACE
from pip_wheels import approve_and_warm, pip_install, rewrite, settle, vault_wheel, wheel

from conftest import ISOLATION_MODES, Site, run_cli

VAULT = '''
from jafhost import hookimpl

import {helpers}


def peek() -> str:
    """Answer."""
    return {helpers}.answer()


@hookimpl
def jaf_tools():
    return [peek]
'''

HELPERS = """
def answer() -> str:
    return "vault"
"""

FOREIGN = """
try:
    open({marker!r}, "w").close()
except OSError:
    pass


def answer() -> str:
    with open({secret!r}) as handle:
        return handle.read()
"""


@pytest.mark.xfail(
    strict=True,
    reason="limit (docs/security.md): the files of the distributions a plugin requires "
    "are not checked against their RECORD; their code runs as the plugin",
)
@pytest.mark.parametrize("lane", ["1", "0"])
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_foreign_file_over_a_dependency_does_not_run_as_the_plugin(
    isolation: str, lane: str, tmp_path: Path, home: Path, secret: Path
) -> None:
    prefix = tmp_path / "prefix"
    cwd = tmp_path / "work"
    cwd.mkdir()
    module = Site(tmp_path / "unused").module_for("vault")
    helpers = f"{module}_helpers"
    built = wheel(
        tmp_path / "helpers", "jaf-vault-helpers", "1.0.0",
        {f"{helpers}/__init__.py": textwrap.dedent(HELPERS)}, "",
    )  # fmt: skip
    pip_install(prefix, built)
    vault = vault_wheel(tmp_path, module, secret, textwrap.dedent(VAULT.format(helpers=helpers)))
    metadata = "Metadata-Version: 2.1\nName: jaf-plugin-vault\nVersion: 1.0.0\n"
    metadata += "Requires-Dist: jaf-vault-helpers\n\n"
    rewrite(vault, {"jaf_plugin_vault-1.0.0.dist-info/METADATA": metadata.encode()})
    site = Site(pip_install(prefix, vault))
    marker = tmp_path / "foreign-ran"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**TRACE, "JAFHOST_CALL_LANE": lane}
        return run_cli(*args, site=site, home=home, env=env, cwd=cwd)

    approve_and_warm(cli, isolation, site.root, cwd)
    code = textwrap.dedent(FOREIGN.format(marker=str(marker), secret=str(secret)))
    foreign = wheel(
        tmp_path / "foreign", "jaf-colours", "1.0.0",
        {f"{helpers}/__init__.py": code, "jaf_colours/__init__.py": ""}, "",
    )  # fmt: skip
    pip_install(prefix, foreign)
    settle(site.root, cwd)
    result = cli("call", "vault.peek")
    assert "TOP-SECRET" not in result.stdout + result.stderr
    assert not marker.exists()
    assert result.returncode == 1, result.stdout
