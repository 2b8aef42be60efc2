"""A wheel cannot bring in a plugin the review never showed and have it approved.

A malicious index serves ``jaf-test-quiet``: its ``.dist-info`` declares no plugin, so
the review shows it as a plain library and ``jafhost install --yes`` installs it. But the
wheel also ships, at its root (which pip copies into site-packages as it is), an
``.egg-info`` folder declaring a ``jaf.plugins`` entry point and a package whose
manifest requests ``read`` of the user's whole home. Once installed, discovery finds that
plugin in the egg-info distribution. Its permissions were never shown, so it must not be
approved: ``--yes`` approves what the review showed, nothing else.

Ground truth: the home's state after the install (nothing granted to the hidden plugin,
which is not enabled) and, through the real CLI, a call of its tool that reads a secret
file in the user's home (refused: its text never printed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from local_index import Index, IndexServer, _record_line

ROOT = Path(__file__).resolve().parents[2]
SECRET_TEXT = "HIDDEN-PLUGIN-READ-THIS"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX venv layout")

HIDDEN_CODE = '''
from jafhost import hookimpl


def peek(path: str) -> str:
    """Read a file."""
    with open(path) as f:
        return f.read()


@hookimpl
def jaf_tools():
    return [peek]
'''


def quiet_wheel(folder: Path) -> Path:
    """A wheel whose ``.dist-info`` declares no plugin, and whose root holds an
    ``.egg-info`` that does (with a package requesting ``read:~``)."""
    info = "jaf_test_quiet-1.0.0.dist-info"
    members: dict[str, bytes] = {
        "jaf_test_quiet/__init__.py": b'"""A plain library, it says."""\n',
        "jaf_test_hidden/__init__.py": HIDDEN_CODE.encode(),
        "jaf_test_hidden/jaf-plugin.toml": b'[plugin]\nkinds = ["tool"]\n\n'
        b'[permissions]\nread = ["~"]\n',
        "jaf_test_hidden-1.0.0.egg-info/PKG-INFO": (
            b"Metadata-Version: 2.1\nName: jaf-test-hidden\nVersion: 1.0.0\n\n"
        ),
        "jaf_test_hidden-1.0.0.egg-info/entry_points.txt": (
            b"[jaf.plugins]\nhidden = jaf_test_hidden\n"
        ),
        f"{info}/METADATA": (
            b"Metadata-Version: 2.1\nName: jaf-test-quiet\nVersion: 1.0.0\n"
            b"Summary: A library that is no plugin\n\n"
        ),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: jafhost-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = [_record_line(path, data) for path, data in members.items()]
    members[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = folder / "jaf_test_quiet-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_plugin_the_review_did_not_show_is_not_approved_by_yes(tmp_path: Path) -> None:
    wheel = quiet_wheel(tmp_path)
    index = Index(
        files={wheel.name: (wheel.read_bytes(), None)},
        projects={"jaf-test-quiet": [wheel.name]},
    )
    server = IndexServer(index)
    try:
        venv = tmp_path / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        python = str(venv / "bin" / "python")
        site = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        ours = [str(ROOT / "host"), sysconfig.get_paths()["purelib"]]
        (Path(site) / "zz_jafhost_tests.pth").write_text("\n".join(ours) + "\n")
        user = tmp_path / "user"
        home = user / "jafhost-home"
        home.mkdir(parents=True)
        secret = user / "secret.txt"
        secret.write_text(SECRET_TEXT)
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PIP_", "JAFHOST_")) and k not in ("PYTHONPATH", "PYTHONHOME")
        }
        environ.update(
            JAFHOST_HOME=str(home),
            HOME=str(user),
            COLUMNS="200",
            PIP_CONFIG_FILE=os.devnull,
            PIP_INDEX_URL=server.url,
            PIP_NO_CACHE_DIR="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            NO_PROXY="127.0.0.1",
        )

        def jafhost(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [python, "-m", "jafhost", *args],
                capture_output=True,
                text=True,
                env=environ,
                timeout=300,
                stdin=subprocess.DEVNULL,
            )

        installed = jafhost("install", "--yes", "jaf-test-quiet")
        assert installed.returncode == 0, installed.stderr
        assert "also installs (no plugin): jaf-test-quiet 1.0.0" in installed.stderr
        listed = jafhost("info", "hidden", "--json")
        assert listed.returncode == 0, listed.stderr
        shown = json.loads(listed.stdout)
        assert shown["status"] == "needs-approval", shown
        assert shown["granted"] == [], shown
        called = jafhost("call", "hidden.peek", "-a", f"path={secret}")
        assert called.returncode != 0
        assert SECRET_TEXT not in called.stdout + called.stderr
        assert "plugin hidden (jaf-test-hidden) was not in the review" in installed.stderr
    finally:
        server.stop()
