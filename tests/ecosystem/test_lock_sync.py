"""``jafhost lock`` and ``jafhost sync`` between two real environments and a real index.

Environment A installs ``notes`` 1.0.0 from the local index (``tests/local_index.py``:
``notes`` requests permissions and requires the ``storage`` plugin, which requires a plain
library), gets one more grant and is locked. Environment B is a clean virtual
environment with a clean home: syncing the lock there must give the same
``jafhost list --json``, a second sync must change nothing, and a tampered file on the
index, a grant the operator's policy denies, or no terminal without ``--yes`` must leave
B as it was (ground truth: ``pip list`` and the home's files).

Both environments see jafhost and its dependencies through a ``.pth`` file and pip knows
only the local index, so nothing leaves 127.0.0.1. Both homes live under the same user
folder (``HOME``), so ``~`` means the same folder in both listings.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
import tomli_w
from local_index import IndexServer, LocalIndexes, index_only_environ, make_venv

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ("jaf-plugin-notes", "jaf-plugin-storage", "jaf-test-textlib")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX venv layout")


@dataclass
class Env:
    """A virtual environment whose pip knows only the local index, and a jafhost home."""

    path: Path
    index_url: str
    home: Path

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def environ(self) -> dict[str, str]:
        return index_only_environ(self.home, self.index_url)

    def jafhost(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.python, "-m", "jafhost", *args],
            capture_output=True,
            text=True,
            env=self.environ(),
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    def pip_list(self) -> dict[str, str]:
        result = subprocess.run(
            [self.python, "-m", "pip", "list", "--format=json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.environ(),
        )
        assert result.returncode == 0, result.stderr
        return {item["name"]: item["version"] for item in json.loads(result.stdout)}

    def listing(self) -> list[dict[str, object]]:
        result = self.jafhost("list", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def home_files(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.home)): p.read_bytes()
            for p in sorted(self.home.rglob("*"))
            if p.is_file() and p.suffix != ".lock" and "cache" not in p.parts
        }


def _venv(root: Path, index_url: str, home: Path) -> Env:
    made = Env(root, index_url, home)
    make_venv(root, ROOT / "host")
    home.mkdir(parents=True, exist_ok=True)
    return made


@dataclass
class Locked:
    """Environment A after install, grant and lock; the lock file and A's listing."""

    env: Env
    lock: Path
    listing: list[dict[str, object]]


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory, package_index: LocalIndexes) -> Locked:
    root = tmp_path_factory.mktemp("lock-a")
    env = _venv(root / "venv", package_index.json.url, root / "user" / "jafhost-home")
    done = env.jafhost("install", "--yes", "jaf-plugin-notes==1.0.0")
    assert done.returncode == 0, done.stderr
    granted = env.jafhost("grant", "notes", "read:~/more-notes")
    assert granted.returncode == 0, granted.stderr
    lock = root / "fleet.lock"
    made = env.jafhost("lock", "--output", str(lock))
    assert made.returncode == 0, made.stderr
    return Locked(env, lock, env.listing())


@pytest.fixture(scope="module")
def clean_venv(
    tmp_path_factory: pytest.TempPathFactory, package_index: LocalIndexes, locked: Locked
) -> Env:
    # the same user folder as A's: ~ expands to the same path in both listings
    return _venv(
        tmp_path_factory.mktemp("lock-b") / "venv",
        package_index.json.url,
        locked.env.home.parent / "unused",
    )


@pytest.fixture
def clean(clean_venv: Env, locked: Locked, tmp_path: Path) -> Iterator[Env]:
    """Environment B with a new home (next to A's) and no plugin installed."""
    home = locked.env.home.parent / f"home-{tmp_path.name}"
    home.mkdir()
    env = Env(clean_venv.path, clean_venv.index_url, home)
    yield env
    subprocess.run(
        [env.python, "-m", "pip", "uninstall", "--yes", "--quiet", *PLUGINS],
        capture_output=True,
        timeout=120,
        env=env.environ(),
    )


def test_the_lock_pins_every_needed_distribution_by_its_wheel_hash(
    locked: Locked, package_index: LocalIndexes
) -> None:
    data = tomllib.loads(locked.lock.read_text())
    assert data["version"] == 1
    dists = {d["name"]: d for d in data["distribution"]}
    # the plugins and the library they need; not the host nor what it needs
    assert sorted(dists) == ["jaf-plugin-notes", "jaf-plugin-storage", "jaf-test-textlib"]
    for name, dist in dists.items():
        wheel = f"{name.replace('-', '_')}-{dist['version']}-py3-none-any.whl"
        assert dist["hashes"] == [f"sha256:{package_index.index.sha256(wheel)}"]
    assert dists["jaf-plugin-notes"]["version"] == "1.0.0"
    notes = dists["jaf-plugin-notes"]["plugins"]["notes"]
    assert notes["enabled"] is True
    # as written: ~ kept, so the grant means the same folder for another user
    assert sorted(notes["grants"]) == ["env:NOTES_TOKEN", "read:~/more-notes", "read:~/notes"]
    assert dists["jaf-plugin-storage"]["plugins"]["storage"]["grants"] == ["env:STORAGE_URL"]
    assert "plugins" not in dists["jaf-test-textlib"]


def test_without_recorded_hashes_the_lock_takes_them_from_the_index(
    locked: Locked, tmp_path: Path
) -> None:
    recorded = locked.env.home / "wheel-hashes.json"
    kept = recorded.read_bytes()
    recorded.unlink()
    try:
        again = tmp_path / "again.lock"
        made = locked.env.jafhost("lock", "--output", str(again))
        assert made.returncode == 0, made.stderr
        assert tomllib.loads(again.read_text()) == tomllib.loads(locked.lock.read_text())
        # an index that does not hold the installed version: refused, naming it
        refused = locked.env.jafhost(
            "lock",
            "--output",
            str(tmp_path / "never.lock"),
            "--index",
            "http://127.0.0.1:9/simple/",
        )
        assert refused.returncode == 1
        assert refused.stderr.startswith("error: nothing written: index http://127.0.0.1:9/")
        assert not (tmp_path / "never.lock").exists()
    finally:
        recorded.write_bytes(kept)


def test_sync_reproduces_the_listing_on_a_clean_environment_and_then_changes_nothing(
    locked: Locked, clean: Env
) -> None:
    done = clean.jafhost("sync", str(locked.lock), "--yes")
    assert done.returncode == 0, done.stderr
    assert "jaf-plugin-notes" in done.stderr  # the plan was shown
    assert clean.pip_list()["jaf-plugin-notes"] == "1.0.0"
    assert {p["name"]: p["status"] for p in locked.listing} == {
        "notes": "enabled",
        "storage": "enabled",
    }
    assert clean.listing() == locked.listing
    state = json.loads((clean.home / "state.json").read_text())
    assert "read:" + str(clean.home.parent / "more-notes") in state["plugins"]["notes"]["grants"]
    files = clean.home_files()
    again = clean.jafhost("sync", str(locked.lock))  # no --yes needed: nothing to do
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout
    assert clean.home_files() == files


def test_sync_disables_plugins_not_in_the_lock(locked: Locked, clean: Env, tmp_path: Path) -> None:
    assert clean.jafhost("sync", str(locked.lock), "--yes").returncode == 0
    data = tomllib.loads(locked.lock.read_text())
    data["distribution"] = [d for d in data["distribution"] if d["name"] != "jaf-plugin-notes"]
    smaller = tmp_path / "smaller.lock"
    smaller.write_text(tomli_w.dumps(data))
    done = clean.jafhost("sync", str(smaller), "--yes")
    assert done.returncode == 0, done.stderr
    status = {p["name"]: p["status"] for p in clean.listing()}
    assert status == {"notes": "disabled", "storage": "enabled"}


def test_without_a_terminal_sync_refuses_and_changes_nothing(locked: Locked, clean: Env) -> None:
    packages = clean.pip_list()
    result = clean.jafhost("sync", str(locked.lock))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        f"error: syncing {locked.lock} needs a yes and there is no terminal to ask"
    )
    assert clean.pip_list() == packages
    assert clean.home_files() == {}


def test_a_tampered_wheel_on_the_index_installs_nothing(
    locked: Locked, clean: Env, package_index: LocalIndexes
) -> None:
    wheel = "jaf_test_textlib-1.0.0-py3-none-any.whl"
    bad = package_index.index.files[wheel][0] + b"\0"
    server = IndexServer(package_index.index, tampered={wheel: bad})
    try:
        packages = clean.pip_list()
        result = clean.jafhost("sync", str(locked.lock), "--yes", "--index", server.url)
        assert result.returncode == 1
        last = result.stderr.splitlines()[-1]
        assert last.startswith("error: nothing changed: pip download failed:")
        assert "hash" in result.stderr.lower(), result.stderr  # pip's reason: the hash
        assert clean.pip_list() == packages
        assert not (clean.home / "state.json").exists()
    finally:
        server.stop()


def test_a_grant_inside_the_operators_deny_rule_refuses_the_sync(
    locked: Locked, clean: Env
) -> None:
    denied = clean.home.parent / "more-notes"
    (clean.home / "config.toml").write_text(f'[policy]\ndeny = ["read:{denied}"]\n')
    packages = clean.pip_list()
    result = clean.jafhost("sync", str(locked.lock), "--yes")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        f"error: nothing changed: cannot grant read:{denied} to notes: denied by"
    )
    assert "config.toml" in result.stderr.splitlines()[-1]
    assert clean.pip_list() == packages
    assert not (clean.home / "state.json").exists()


@pytest.mark.parametrize("answer", ["no", "interrupt"])
def test_refused_or_interrupted_at_the_terminal_sync_changes_nothing(
    locked: Locked, clean: Env, answer: str
) -> None:
    packages = clean.pip_list()
    child = pexpect.spawn(
        clean.python,
        ["-m", "jafhost", "sync", str(locked.lock)],
        env=clean.environ(),
        encoding="utf-8",
        timeout=120,
    )
    child.expect(f"Apply {locked.lock}")
    if answer == "no":
        child.sendline("n")
    else:
        child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1, child.before
    assert clean.pip_list() == packages
    assert not (clean.home / "state.json").exists()


def test_a_plugin_requesting_inside_the_operators_deny_rule_refuses_the_sync(
    locked: Locked, clean: Env, tmp_path: Path
) -> None:
    data = tomllib.loads(locked.lock.read_text())
    for dist in data["distribution"]:
        if dist["name"] == "jaf-plugin-notes":
            dist["plugins"]["notes"]["grants"] = ["read:~/more-notes"]  # not what it requests
    narrower = tmp_path / "narrower.lock"
    narrower.write_text(tomli_w.dumps(data))
    denied = clean.home.parent / "notes"
    (clean.home / "config.toml").write_text(f'[policy]\ndeny = ["read:{denied}"]\n')
    packages = clean.pip_list()
    result = clean.jafhost("sync", str(narrower), "--yes")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        f"error: nothing changed: cannot enable notes: it requests read:{denied}, denied by"
    )
    assert clean.pip_list() == packages
    assert not (clean.home / "state.json").exists()


def test_a_locked_plugin_the_wheel_does_not_provide_refuses_the_sync(
    locked: Locked, clean: Env, tmp_path: Path
) -> None:
    data = tomllib.loads(locked.lock.read_text())
    for dist in data["distribution"]:
        if dist["name"] == "jaf-test-textlib":
            dist["plugins"] = {"ghost": {"enabled": True, "grants": []}}
    ghostly = tmp_path / "ghost.lock"
    ghostly.write_text(tomli_w.dumps(data))
    packages = clean.pip_list()
    result = clean.jafhost("sync", str(ghostly), "--yes")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "error: nothing changed: jaf-test-textlib 1.0.0 provides no plugin ghost"
    )
    assert clean.pip_list() == packages
    assert not (clean.home / "state.json").exists()
