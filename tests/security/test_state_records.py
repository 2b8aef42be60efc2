"""What ``state.json`` holds decides no trust unchecked (DESIGN.md, State).

The attacks, each a state file written by hand (any program of the user's can): a
malformed or non-canonical grant (``garbage perm !!``, ``read:`` with no path, which
the guard would resolve to the working folder, a path through ``..`` never normalised)
is never applied; a record
pre-approving permissions for a plugin that is not installed, naming no distribution,
grants nothing to the plugin that later claims the name: it starts as
``needs-approval``, and one that requests nothing runs without the grants. Ground truth:
the secret's content never reaches the output. ``doctor`` names each record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli

READER = '''
from pathlib import Path

def read(path: str) -> str:
    """Read a file."""
    return Path(path).read_text()

@hookimpl
def jaf_tools():
    return [read]
'''


def _write_state(home: Path, isolation: str, plugins: dict[str, object]) -> None:
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    (home / "state.json").write_text(json.dumps({"format": 1, "plugins": plugins}))


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_malformed_grants_are_never_applied(
    isolation: str, site: Site, home: Path, secret: Path
) -> None:
    site.plugin("files", code=READER)
    detour = f"read:{secret.parent}/../{secret.parent.name}"
    grants = ["garbage perm !!", "read:", detour]
    record = {"grants": grants, "distribution": "jaf-plugin-files"}
    _write_state(home, isolation, {"files": record})
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["status"] == "enabled"
    assert view["granted"] == []
    ran = run_cli("call", "files.read", "-a", f"path={secret}", site=site, home=home)
    assert ran.returncode == 1 and "permission denied" in ran.stderr
    assert secret.read_text() not in ran.stdout + ran.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_record_of_a_plugin_not_installed_grants_nothing_to_a_later_one(
    isolation: str, site: Site, home: Path, secret: Path
) -> None:
    granted = f"read:{secret.parent}"
    _write_state(home, isolation, {"files": {"approved": [granted], "grants": [granted]}})
    site.plugin("files", code=READER, manifest=f'[permissions]\nread = ["{secret.parent}"]\n')
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["status"] == "needs-approval"
    assert view["granted"] == []
    ran = run_cli("call", "files.read", "-a", f"path={secret}", site=site, home=home)
    assert ran.returncode == 1
    assert secret.read_text() not in ran.stdout + ran.stderr

    site.remove("jaf-plugin-files")
    # another distribution requesting nothing: enabled, but without the grants
    site.plugin("files", dist="jaf-plugin-other", code=READER, module=site.module_for("other"))
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["status"] == "enabled" and view["granted"] == []
    ran = run_cli("call", "files.read", "-a", f"path={secret}", site=site, home=home)
    assert ran.returncode == 1 and "permission denied" in ran.stderr
    assert secret.read_text() not in ran.stdout + ran.stderr
