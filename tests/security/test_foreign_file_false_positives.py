"""Legitimately installed plugins that the check for files another distribution put
where a plugin's code is imported from must still let run.

- a plugin whose module lies in a PEP 420 namespace folder (``acme/vault.py``, no
  ``__init__.py``) beside another distribution's portion of the same namespace
  (``acme/colours.py``): the folder is shared by design;
- a plugin that ships a top-level ``tests`` package (a common packaging slip) beside
  another distribution that does the same: the plugin never imports it;
- an environment byte-compiled after install with ``compileall --invalidation-mode
  unchecked-hash`` (read-only images, reproducible bundles): the caches are the
  installer's, of the plugin's own sources;
- a plugin whose package is a subpackage of a regular package another distribution (its
  dependency) installs (``acme/__init__.py`` theirs, ``acme/vault/`` the plugin's).

Real wheels installed by the real ``pip``, real ``jafhost`` processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pip_wheels import VAULT, pip_install, settle, wheel

from conftest import ISOLATION_MODES, Site, run_cli


def _call(site: Site, home: Path, cwd: Path, isolation: str) -> subprocess.CompletedProcess[str]:
    enabled = run_cli("enable", "vault", "--yes", "--isolation", isolation, site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    settle(site.root, cwd)
    return run_cli("call", "vault.peek", site=site, home=home, cwd=cwd)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugin_module_in_a_shared_namespace_folder_runs(
    isolation: str, tmp_path: Path, home: Path
) -> None:
    prefix = tmp_path / "prefix"
    cwd = tmp_path / "work"
    cwd.mkdir()
    namespace = Site(tmp_path / "unused").module_for("acme")
    vault = wheel(
        tmp_path / "vault", "acme-jaf-vault", "1.0.0",
        {f"{namespace}/vault.py": textwrap.dedent(VAULT)},
        f"[jaf.plugins]\nvault = {namespace}.vault\n",
    )  # fmt: skip
    colours = wheel(
        tmp_path / "colours", "acme-colours", "1.0.0",
        {f"{namespace}/colours.py": "RED = 1\n"}, "",
    )  # fmt: skip
    pip_install(prefix, vault)
    site = Site(pip_install(prefix, colours))
    result = _call(site, home, cwd, isolation)
    assert (result.returncode, result.stdout.strip()) == (0, '"vault"'), result.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugin_shipping_a_tests_package_beside_another_runs(
    isolation: str, tmp_path: Path, home: Path
) -> None:
    prefix = tmp_path / "prefix"
    cwd = tmp_path / "work"
    cwd.mkdir()
    module = Site(tmp_path / "unused").module_for("vault")
    vault = wheel(
        tmp_path / "vault", "jaf-plugin-vault", "1.0.0",
        {
            f"{module}/__init__.py": "",
            f"{module}/plugin.py": textwrap.dedent(VAULT),
            "tests/__init__.py": "",
            "tests/test_vault.py": "def test_peek():\n    pass\n",
        },
        f"[jaf.plugins]\nvault = {module}.plugin\n",
    )  # fmt: skip
    colours = wheel(
        tmp_path / "colours", "jaf-colours", "1.0.0",
        {
            "jaf_colours/__init__.py": "",
            "tests/__init__.py": "",
            "tests/test_colours.py": "def test_red():\n    pass\n",
        },
        "",
    )  # fmt: skip
    pip_install(prefix, vault)
    site = Site(pip_install(prefix, colours))
    result = _call(site, home, cwd, isolation)
    assert (result.returncode, result.stdout.strip()) == (0, '"vault"'), result.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugin_byte_compiled_with_unchecked_hashes_runs(
    isolation: str, tmp_path: Path, home: Path
) -> None:
    prefix = tmp_path / "prefix"
    cwd = tmp_path / "work"
    cwd.mkdir()
    module = Site(tmp_path / "unused").module_for("vault")
    vault = wheel(
        tmp_path / "vault", "jaf-plugin-vault", "1.0.0",
        {f"{module}/__init__.py": "", f"{module}/plugin.py": textwrap.dedent(VAULT)},
        f"[jaf.plugins]\nvault = {module}.plugin\n",
    )  # fmt: skip
    site = Site(pip_install(prefix, vault))
    compiled = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-f", "--invalidation-mode",
         "unchecked-hash", str(site.root)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    result = _call(site, home, cwd, isolation)
    assert (result.returncode, result.stdout.strip()) == (0, '"vault"'), result.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugin_subpackage_of_a_package_its_dependency_installs_runs(
    isolation: str, tmp_path: Path, home: Path
) -> None:
    prefix = tmp_path / "prefix"
    cwd = tmp_path / "work"
    cwd.mkdir()
    parent = Site(tmp_path / "unused").module_for("acme")
    core = wheel(
        tmp_path / "core", "acme-core", "1.0.0",
        {f"{parent}/__init__.py": "", f"{parent}/core.py": "RED = 1\n"}, "",
    )  # fmt: skip
    vault = wheel(
        tmp_path / "vault", "acme-jaf-vault", "1.0.0",
        {f"{parent}/vault/__init__.py": "", f"{parent}/vault/plugin.py": textwrap.dedent(VAULT)},
        f"[jaf.plugins]\nvault = {parent}.vault.plugin\n",
    )  # fmt: skip
    pip_install(prefix, core)
    site = Site(pip_install(prefix, vault))
    result = _call(site, home, cwd, isolation)
    assert (result.returncode, result.stdout.strip()) == (0, '"vault"'), result.stderr
