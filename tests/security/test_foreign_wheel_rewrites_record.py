"""Another wheel that rewrites an approved plugin's ``RECORD`` or ``direct_url.json``
never gets its code run as the plugin.

A wheel may carry at most one ``.dist-info`` folder at its root, but pip installs the
files under its ``<name>.data/purelib/`` (and ``platlib``) into the site folder
whatever they are called, over whatever is there: a wheel of another project (asking
for no permission) can carry ``<name>.data/purelib/<plugin>.dist-info/RECORD`` and
replace the plugin's. The plugin's ``RECORD`` is what the check before import compares
the plugin's files with, and what tells it which files are the plugin's; its
``direct_url.json`` saying ``editable`` makes the check pass the plugin unverified. So
the other wheel replaces ``pkg/plugin.py`` and either rewrites ``RECORD`` to name the
new file's hash, or marks the install editable.

Real wheels installed by the real ``pip``, real ``jafhost`` processes, both isolation
modes, lane on and off. Ground truth: the secret only the approved plugin may read is
never printed, and the foreign code's marker is never written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from call_paths import TRACE
from pip_wheels import VAULT, approve_and_warm, foreign_code, pip_install, settle, wheel

from conftest import ISOLATION_MODES, Site, run_cli

INFO = "jaf_plugin_vault-1.0.0.dist-info"


def _row(path: str, text: str) -> str:
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


@pytest.mark.xfail(
    strict=True,
    reason="limit (docs/security.md): RECORD is the reference, and a wheel's .data/purelib "
    "can rewrite another distribution's RECORD or direct_url.json",
)
@pytest.mark.parametrize("how", ["record", "editable"])
@pytest.mark.parametrize("lane", ["1", "0"])
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_wheel_rewriting_the_plugins_install_record_does_not_run_as_the_plugin(
    isolation: str, lane: str, how: str, tmp_path: Path, home: Path, secret: Path
) -> None:
    prefix = tmp_path / "prefix"
    cwd = tmp_path / "work"
    cwd.mkdir()
    module = Site(tmp_path / "unused").module_for("vault")
    manifest = f'[permissions]\nread = ["{secret}"]\n'
    vault = wheel(
        tmp_path / "vault", "jaf-plugin-vault", "1.0.0",
        {
            f"{module}/__init__.py": "",
            f"{module}/plugin.py": textwrap.dedent(VAULT),
            f"{module}/jaf-plugin.toml": manifest,
        },
        f"[jaf.plugins]\nvault = {module}.plugin\n",
    )  # fmt: skip
    site = Site(pip_install(prefix, vault))
    marker = tmp_path / "foreign-ran"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**TRACE, "JAFHOST_CALL_LANE": lane}
        return run_cli(*args, site=site, home=home, env=env, cwd=cwd)

    approve_and_warm(cli, isolation, site.root, cwd)
    code = foreign_code(marker, secret)
    purelib = "jaf_colours-1.0.0.data/purelib"
    files = {f"{module}/plugin.py": code, "jaf_colours/__init__.py": ""}
    if how == "record":  # the plugin's files as its public wheel has them, but plugin.py
        rows = [_row(f"{module}/__init__.py", ""), _row(f"{module}/plugin.py", code)]
        rows += [_row(f"{module}/jaf-plugin.toml", manifest), f"{INFO}/RECORD,,"]
        files[f"{purelib}/{INFO}/RECORD"] = "\n".join(rows) + "\n"
    else:
        editable = {"url": "file:///src/vault", "dir_info": {"editable": True}}
        files[f"{purelib}/{INFO}/direct_url.json"] = json.dumps(editable)
    pip_install(prefix, wheel(tmp_path / "foreign", "jaf-colours", "1.0.0", files, ""))
    settle(site.root, cwd)
    result = cli("call", "vault.peek")
    assert "TOP-SECRET" not in result.stdout + result.stderr
    assert not marker.exists()
    assert result.returncode == 1, result.stdout
