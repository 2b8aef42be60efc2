"""``jafhost install``: review before install, against a real index on 127.0.0.1.

The index (``tests/local_index.py``) holds ``notes`` (requests permissions, requires the
``storage`` plugin, which requires a plain library), ``notes`` 2.0.0 (requests more) and
a plugin published as a source distribution only. pip runs for real in a new virtual
environment made once for the module; it sees jafhost and its dependencies through a
``.pth`` file (nothing is downloaded for them) and installs the plugins into the
environment's own site-packages. pip reads no configuration file and knows only the
local index, so nothing leaves 127.0.0.1.

Ground truth is what pip lists in the environment, the home's files and the index
server's own hashes: a refused review leaves all of them as they were.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
from local_index import IndexServer, LocalIndexes, index_only_environ, make_venv

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ("jaf-plugin-notes", "jaf-plugin-storage", "jaf-test-textlib", "jaf-plugin-sourceonly")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX venv layout")


@dataclass
class Env:
    """A virtual environment whose pip knows only ``index_url``."""

    path: Path
    index_url: str

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def environ(self, home: Path, index_url: str | None = None) -> dict[str, str]:
        return index_only_environ(home, index_url or self.index_url)

    def jafhost(
        self, home: Path, *args: str, index_url: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.python, "-m", "jafhost", *args],
            capture_output=True,
            text=True,
            env=self.environ(home, index_url),
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    def pip_list(self) -> dict[str, str]:
        """What pip lists in the environment: name -> version."""
        result = subprocess.run(
            [self.python, "-m", "pip", "list", "--format=json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.environ(Path("/nonexistent/home")),
        )
        assert result.returncode == 0, result.stderr
        return {item["name"]: item["version"] for item in json.loads(result.stdout)}

    def remove(self) -> None:
        subprocess.run(
            [self.python, "-m", "pip", "uninstall", "--yes", "--quiet", *PLUGINS],
            capture_output=True,
            timeout=120,
            env=self.environ(Path("/nonexistent/home")),
        )


@pytest.fixture(scope="module")
def made_env(tmp_path_factory: pytest.TempPathFactory, package_index: LocalIndexes) -> Env:
    root = tmp_path_factory.mktemp("review-venv")
    made = Env(root / "venv", package_index.json.url)
    make_venv(made.path, ROOT / "host")  # jafhost from this checkout
    return made


@pytest.fixture
def env(made_env: Env) -> Iterator[Env]:
    """The module's environment, with what a test installed removed afterwards."""
    yield made_env
    made_env.remove()


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "user" / "jafhost-home"
    home.mkdir(parents=True)
    return home


def test_without_a_terminal_the_review_refuses_and_installs_nothing(
    env: Env, tmp_path: Path
) -> None:
    home = _home(tmp_path)
    packages = env.pip_list()
    result = env.jafhost(home, "install", "jaf-plugin-notes==1.0.0")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "error: nothing installed: notes, storage request permissions and there is no "
        "terminal to ask; run again with --yes to approve them"
    )
    notes_dir = tmp_path / "user" / "notes"
    # the table shows the plugin and the plugin it depends on, before anything is installed
    for text in (
        "env:NOTES_TOKEN",
        f"read:{notes_dir}",
        "env:STORAGE_URL",
        "also installs (no plugin): jaf-test-textlib 1.0.0",
    ):
        assert text in result.stderr, text
    assert env.pip_list() == packages
    assert not (home / "state.json").exists()
    assert not (home / "wheel-hashes.json").exists()


@pytest.mark.parametrize("answer", ["no", "ctrl-c"])
def test_refusing_or_interrupting_the_prompt_installs_nothing(
    env: Env, tmp_path: Path, answer: str
) -> None:
    home = _home(tmp_path)
    packages = env.pip_list()
    child = pexpect.spawn(
        env.python,
        ["-m", "jafhost", "install", "jaf-plugin-notes==1.0.0"],
        env=env.environ(home),
        encoding="utf-8",
        timeout=120,
    )
    child.expect("Install and grant these permissions to notes, storage")
    if answer == "no":
        child.sendline("n")
    else:
        child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1, child.before
    assert "nothing installed" in (child.before or "")
    assert env.pip_list() == packages
    assert not (home / "state.json").exists()


def test_accepting_installs_the_reviewed_wheels_approves_and_records_their_hashes(
    env: Env, tmp_path: Path, package_index: LocalIndexes
) -> None:
    home = _home(tmp_path)
    result = env.jafhost(home, "install", "jaf-plugin-notes==1.0.0", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "added notes 1.0.0 (jaf-plugin-notes): enabled",
        "added storage 1.0.0 (jaf-plugin-storage): enabled",
    ]
    installed = env.pip_list()
    assert {k: installed.get(k) for k in PLUGINS[:3]} == dict.fromkeys(PLUGINS[:3], "1.0.0")
    listed = {p["name"]: p for p in json.loads(env.jafhost(home, "list", "--json").stdout)}
    notes_dir = tmp_path / "user" / "notes"
    assert listed["notes"]["granted"] == ["env:NOTES_TOKEN", f"read:{notes_dir}"]
    assert listed["storage"]["granted"] == ["env:STORAGE_URL"]
    recorded = json.loads((home / "wheel-hashes.json").read_text())["distributions"]
    index = package_index.index
    for dist in PLUGINS[:3]:
        filename = f"{dist.replace('-', '_')}-1.0.0-py3-none-any.whl"
        assert recorded[dist] == {
            "name": dist,
            "version": "1.0.0",
            "filename": filename,
            "hashes": [f"sha256:{index.sha256(filename)}"],
        }

    again = env.jafhost(home, "install", "jaf-plugin-notes==1.0.0")
    assert again.returncode == 0, again.stderr
    assert "nothing to install" in again.stdout

    # an upgrade shows only what is new beyond the grants
    refused = env.jafhost(home, "install", "--upgrade", "jaf-plugin-notes")
    assert refused.returncode == 1
    assert "1.0.0 -> 2.0.0" in refused.stderr and "net:127.0.0.1:9" in refused.stderr
    assert "env:NOTES_TOKEN" not in refused.stderr and "storage" not in refused.stderr
    assert env.pip_list()["jaf-plugin-notes"] == "1.0.0"
    upgraded = env.jafhost(home, "install", "--upgrade", "jaf-plugin-notes", "--yes")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.splitlines() == [
        "upgraded notes 1.0.0 -> 2.0.0 (jaf-plugin-notes): enabled"
    ]
    info = json.loads(env.jafhost(home, "info", "notes", "--json").stdout)
    assert info["permissions_granted"] == [
        "env:NOTES_TOKEN",
        "net:127.0.0.1:9",
        f"read:{notes_dir}",
    ]
    recorded = json.loads((home / "wheel-hashes.json").read_text())["distributions"]
    assert recorded["jaf-plugin-notes"]["version"] == "2.0.0"

    gone = env.jafhost(home, "uninstall", "notes", "--yes")
    assert gone.returncode == 0, gone.stderr
    recorded = json.loads((home / "wheel-hashes.json").read_text())["distributions"]
    assert "jaf-plugin-notes" not in recorded and "jaf-plugin-storage" in recorded


def test_the_html_index_serves_the_same_review(
    env: Env, tmp_path: Path, package_index: LocalIndexes
) -> None:
    home = _home(tmp_path)
    result = env.jafhost(
        home,
        "install",
        "jaf-plugin-notes==1.0.0",
        "--index",
        package_index.html.url,
        index_url="http://127.0.0.1:1/simple/",  # pip's own index: --index replaces it
    )
    assert result.returncode == 1
    assert "env:STORAGE_URL" in result.stderr and "nothing installed" in result.stderr


def test_a_source_distribution_is_refused_naming_it(env: Env, tmp_path: Path) -> None:
    home = _home(tmp_path)
    packages = env.pip_list()
    result = env.jafhost(home, "install", "jaf-plugin-sourceonly", "--yes")
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: pip install failed: no wheel of jaf-plugin-sourceonly ")
    assert "--allow-sdist" in last
    folder = tmp_path / "jaf-plugin-local"  # a project folder would be built: refused first
    folder.mkdir()
    (folder / "setup.py").write_text(f"open({str(tmp_path / 'built')!r}, 'w').close()\n")
    local = env.jafhost(home, "install", str(folder), "--yes")
    assert local.returncode == 1
    assert local.stderr.splitlines() == [
        f"error: {str(folder)!r} is a folder or source archive that pip would build "
        "(building runs its code); --allow-sdist installs it"
    ]
    assert not (tmp_path / "built").exists()
    assert env.pip_list() == packages


def test_a_wheel_that_does_not_match_the_index_hash_is_not_installed(
    env: Env,
    tmp_path: Path,
    package_index: LocalIndexes,
) -> None:
    """pip's dry run downloads the wheel and checks it against the index's hash; the
    review's own check (the file changing after that run) is in test_review_parts.py."""
    filename = "jaf_plugin_notes-1.0.0-py3-none-any.whl"
    original = package_index.index.files[filename][0]
    middle = len(original) // 2
    tampered = original[:middle] + bytes([original[middle] ^ 0xFF]) + original[middle + 1 :]
    server = IndexServer(package_index.index, tampered={filename: tampered})
    try:
        home = _home(tmp_path)
        packages = env.pip_list()
        result = env.jafhost(
            home, "install", "jaf-plugin-notes==1.0.0", "--yes", index_url=server.url
        )
    finally:
        server.stop()
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: pip install failed: THESE PACKAGES DO NOT MATCH THE HASHES")
    assert env.pip_list() == packages
    assert not (home / "state.json").exists()
