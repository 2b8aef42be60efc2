"""What a malicious index's wheel cannot slip past ``jafhost install``'s review.

- A plugin the review never showed is not approved, even with ``--yes``. ``jaf-test-quiet``
  declares no plugin in its ``.dist-info``, so the review shows a plain library; but the
  wheel also ships, at its root (which pip copies into site-packages as it is), an
  ``.egg-info`` folder declaring a ``jaf.plugins`` entry point and a package whose
  manifest requests ``read`` of the user's whole home. Once installed, discovery finds
  that plugin; its permissions were never shown, so it stays unapproved. Ground truth:
  the home's state (nothing granted) and a real ``jafhost call`` of its tool reading a
  secret file in the user's home (refused, its text never printed).
- Code Python runs at every start is asked about. ``jaf-test-startup`` is a plugin that
  requests nothing (installed without a question so far) and ships a ``.pth`` file
  whose ``import`` line would run, with the user's rights and before any guard exists,
  at every start of any Python in that environment. Without a terminal and without
  ``--yes`` nothing is installed. Ground truth: pip's list of the environment and a
  marker file that a later Python start would have created.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


def wheel(folder: Path, dist: str, members: dict[str, bytes]) -> Path:
    """A wheel of ``dist`` 1.0.0 holding ``members`` besides its ``.dist-info``."""
    module = dist.replace("-", "_")
    info = f"{module}-1.0.0.dist-info"
    members = dict(members)
    members[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0.0\nSummary: Harmless\n\n".encode()
    )
    members[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: jafhost-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [_record_line(path, data) for path, data in members.items()]
    members[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = folder / f"{module}-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@dataclass
class Env:
    """A new virtual environment whose pip knows only a local index serving one wheel."""

    python: str
    user: Path
    environ: dict[str, str]

    def jafhost(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.python, "-m", "jafhost", *args],
            capture_output=True,
            text=True,
            env=self.environ,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    def pip_list(self) -> dict[str, str]:
        listed = subprocess.run(
            [self.python, "-m", "pip", "list", "--format=json"],
            capture_output=True,
            text=True,
            env=self.environ,
            timeout=120,
        )
        assert listed.returncode == 0, listed.stderr
        return {item["name"]: item["version"] for item in json.loads(listed.stdout)}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], Env]]:
    """Serve one wheel from an index on 127.0.0.1; the environment to install it into."""
    servers: list[IndexServer] = []

    def make(built: Path) -> Env:
        project = built.name.split("-")[0].replace("_", "-")
        server = IndexServer(
            Index({built.name: (built.read_bytes(), None)}, {project: [built.name]})
        )
        servers.append(server)
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
        return Env(python, user, environ)

    yield make
    for server in servers:
        server.stop()


def test_a_plugin_the_review_did_not_show_is_not_approved_by_yes(
    tmp_path: Path, serve: Callable[[Path], Env]
) -> None:
    built = wheel(
        tmp_path,
        "jaf-test-quiet",
        {
            "jaf_test_quiet/__init__.py": b'"""A plain library, it says."""\n',
            "jaf_test_hidden/__init__.py": HIDDEN_CODE.encode(),
            "jaf_test_hidden/jaf-plugin.toml": (
                b'[plugin]\nkinds = ["tool"]\n\n[permissions]\nread = ["~"]\n'
            ),
            "jaf_test_hidden-1.0.0.egg-info/PKG-INFO": (
                b"Metadata-Version: 2.1\nName: jaf-test-hidden\nVersion: 1.0.0\n\n"
            ),
            "jaf_test_hidden-1.0.0.egg-info/entry_points.txt": (
                b"[jaf.plugins]\nhidden = jaf_test_hidden\n"
            ),
        },
    )
    env = serve(built)
    secret = env.user / "secret.txt"
    secret.write_text(SECRET_TEXT)
    installed = env.jafhost("install", "--yes", "jaf-test-quiet")
    assert installed.returncode == 0, installed.stderr
    assert "also installs (no plugin): jaf-test-quiet 1.0.0" in installed.stderr
    listed = env.jafhost("info", "hidden", "--json")
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)
    assert shown["status"] == "needs-approval", shown
    assert shown["granted"] == [], shown
    called = env.jafhost("call", "hidden.peek", "-a", f"path={secret}")
    assert called.returncode != 0
    assert SECRET_TEXT not in called.stdout + called.stderr
    assert "plugin hidden (jaf-test-hidden) was not in the review" in installed.stderr


STARTUP_CODE = '''
from jafhost import hookimpl


def ping() -> str:
    """Answer pong."""
    return "pong"


@hookimpl
def jaf_tools():
    return [ping]
'''


@pytest.mark.parametrize("where", ["root", "purelib"])
def test_code_that_runs_at_every_python_start_is_not_installed_unasked(
    tmp_path: Path, serve: Callable[[Path], Env], where: str
) -> None:
    marker = tmp_path / "ran-at-start"
    pth = f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n".encode()
    name = "jaf_test_startup.pth"
    if where == "purelib":
        name = f"jaf_test_startup-1.0.0.data/purelib/{name}"
    built = wheel(
        tmp_path,
        "jaf-test-startup",
        {
            "jaf_test_startup/__init__.py": STARTUP_CODE.encode(),
            "jaf_test_startup-1.0.0.dist-info/entry_points.txt": (
                b"[jaf.plugins]\nstartup = jaf_test_startup\n"
            ),
            name: pth,
        },
    )
    env = serve(built)
    before = env.pip_list()
    refused = env.jafhost("install", "jaf-test-startup")
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.splitlines()[-1] == (
        "error: nothing installed: it ships code that Python runs at every start "
        f"(jaf-test-startup: {name}) and there is no terminal to ask; run again with --yes "
        "to accept it"
    )
    assert env.pip_list() == before
    subprocess.run([env.python, "-c", "pass"], check=True, env=env.environ, timeout=60)
    assert not marker.exists()
