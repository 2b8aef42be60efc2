"""A folder plugin cannot read the files of another folder plugin in the same plugin
folder.

Both are imported from the one plugin folder, yet each reads only its own package
folder; the plugin folder itself may only be listed (the import system lists it to find
the package). Plugin ``a`` tries to read ``bpkg/settings.py`` of its sibling ``b``: with
its guard on in both modes, and in a worker also with the guard switched off (hostile
code can), where Landlock alone stands. Ground truth: the secret never printed, while
``a`` still imports, runs and reads a file of its own package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import jafhost.security.sandbox as sandbox_package
from conftest import ISOLATION_MODES, folder_plugin, run_cli

FEATURES = sandbox_package.probe()

READER = '''
def read(path: str, guard_off: bool = False) -> str:
    """Read a file and return it, or the error."""
    if guard_off:
        from jafhost.security import guard

        guard._POLICIES.clear()
        guard._STATE.busy = True
        guard.CURRENT_PLUGIN.set(None)
    try:
        with open(path) as f:
            return f.read()
    except Exception as exc:
        return "refused: " + type(exc).__name__


@hookimpl
def jaf_tools():
    return [read]
'''


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    """A plugin folder holding folder plugins ``a`` (the reader) and ``b`` (a secret)."""
    root = tmp_path / "plugins"
    own = folder_plugin(root, "apkg", "a", READER)
    (own / "notes.txt").write_text("A-OWN-NOTES")
    sibling = folder_plugin(root, "bpkg", "b", "TOKEN = 'B-PLUGIN'\n")
    (sibling / "settings.py").write_text("TOKEN = 'B-SETTINGS-SECRET'\n")
    return root


def read_as_a(home: Path, plugins: Path, isolation: str, path: Path, guard_off: bool) -> str:
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    env = {"JAFHOST_PLUGIN_PATH": str(plugins)}
    args = ["-a", f"path={json.dumps(str(path))}", "-a", f"guard_off={json.dumps(guard_off)}"]
    ran = run_cli("call", "a.read", *args, home=home, env=env)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert isinstance(result, str)
    return result


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_folder_plugin_cannot_read_its_siblings_files(
    isolation: str, home: Path, plugins: Path
) -> None:
    result = read_as_a(home, plugins, isolation, plugins / "bpkg" / "settings.py", False)
    assert "B-SETTINGS-SECRET" not in result
    assert result == "refused: PermissionDenied", result
    own = read_as_a(home, plugins, isolation, plugins / "apkg" / "notes.txt", False)
    assert own == "A-OWN-NOTES"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
@pytest.mark.skipif(not FEATURES.landlock_abi, reason="Landlock not available")
def test_a_worker_cannot_read_its_siblings_files_with_its_guard_off(
    home: Path, plugins: Path
) -> None:
    result = read_as_a(home, plugins, "process", plugins / "bpkg" / "settings.py", True)
    assert "B-SETTINGS-SECRET" not in result
    assert result == "refused: PermissionError", result
    own = read_as_a(home, plugins, "process", plugins / "apkg" / "notes.txt", True)
    assert own == "A-OWN-NOTES"
