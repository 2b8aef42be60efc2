"""A write grant that covers jafhost's home is no way to more grants.

The home holds ``state.json`` (every plugin's grants), ``config.toml`` and the caches
the one-shot lane plans from. A plugin the user let write a folder holding the home
(``write:~``, the home being ``~/.local/share/jafhost``) edits ``state.json`` to grant
itself ``read`` of a secret, then reads it on the next call. Ground truth: the state
file keeps its bytes, the secret is never printed. In a worker both layers refuse: its
guard, and with the guard switched off (``GUARD_OFF``) its mounts, which bind the home
read-only (EROFS) but the plugin's own data folder, still writable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import GUARD_OFF, ISOLATION_MODES, Site, run_cli
from jafhost.security import sandbox

LINUX = sys.platform.startswith("linux")
FEATURES = sandbox.probe() if LINUX else None

CLIMBER = (
    GUARD_OFF
    + '''
import errno
import json
import os


def climb(state: str, secret: str) -> str:
    """Grant itself a read of the secret in the state file."""
    try:
        with open(state) as handle:
            data = json.load(handle)
        data["plugins"]["climber"]["grants"].append("read:" + secret)
        with open(state, "w") as handle:
            json.dump(data, handle)
    except Exception as exc:
        return f"refused: {type(exc).__name__}"
    return "edited"


def peek(secret: str) -> str:
    """Read the secret."""
    with open(secret) as handle:
        return handle.read()


def scribble(state: str, own: str) -> list[str]:
    """With the guard off, truncate the state file, then write in its own data folder."""
    _guard_off()
    said = []
    for path, mode in ((state, "r+"), (own + "/note.txt", "w")):
        try:
            with open(path, mode) as handle:
                handle.write("{}")
            said.append("written")
        except OSError as exc:
            said.append(errno.errorcode.get(exc.errno or 0, type(exc).__name__))
    return said


def move(folder: str, to: str, guard_off: bool = True) -> str:
    """Move a folder holding the home aside (to make a new home), by default with the
    guard off."""
    if guard_off:
        _guard_off()
    try:
        os.rename(folder, to)
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return "moved"


@hookimpl
def jaf_tools():
    return [climb, peek, scribble, move]
'''
)


@pytest.mark.parametrize(
    "isolation",
    [
        "inprocess",
        pytest.param(
            "process",
            marks=[
                pytest.mark.skipif(not LINUX, reason="Linux workers"),
            ],
        ),
    ],
)
def test_a_write_grant_over_the_home_does_not_edit_the_grants(
    isolation: str, site: Site, home: Path, secret: Path
) -> None:
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    site.plugin("climber", code=CLIMBER, manifest=f'[permissions]\nwrite = ["{home}"]\n')
    enabled = run_cli("enable", "climber", "--yes", site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    state = home / "state.json"
    before = state.read_bytes()
    for _ in range(2):  # the full path and the lane alike
        climbed = run_cli(
            "call", "climber.climb", "-a", f"state={state}", "-a", f"secret={secret}",
            site=site, home=home,
        )  # fmt: skip
        assert climbed.returncode == 0, climbed.stderr
        assert json.loads(climbed.stdout) == "refused: PermissionDenied", climbed.stdout  # guard
        assert state.read_bytes() == before
    peeked = run_cli("call", "climber.peek", "-a", f"secret={secret}", site=site, home=home)
    assert "TOP-SECRET" not in peeked.stdout + peeked.stderr
    assert secret.read_text() == "TOP-SECRET-KEY"


@pytest.mark.skipif(not LINUX, reason="Linux workers")
def test_a_workers_mounts_alone_keep_the_home_read_only(
    site: Site, home: Path, secret: Path
) -> None:
    """The guard switched off in the worker: the kernel alone refuses the state file
    (EROFS: the home is bound read-only), and the plugin's own data folder, inside the
    home, stays writable."""
    assert FEATURES is not None
    if not FEATURES.netns:
        pytest.skip("no mount namespace here, so no read-only home in a worker (doctor)")
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    site.plugin("climber", code=CLIMBER, manifest=f'[permissions]\nwrite = ["{home}"]\n')
    enabled = run_cli("enable", "climber", "--yes", site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    state = home / "state.json"
    before = state.read_bytes()
    own = home / "plugins" / "climber" / "data"
    for zygote in ("0", "0", "1"):  # the full path, the lane, a worker forked from a zygote
        said = run_cli(
            "call", "climber.scribble", "-a", f"state={state}", "-a", f"own={own}",
            site=site, home=home, env={"JAFHOST_WORKER_ZYGOTE": zygote},
        )  # fmt: skip
        assert said.returncode == 0, said.stderr
        assert json.loads(said.stdout) == ["EROFS", "written"], said.stdout
        assert state.read_bytes() == before
        assert (own / "note.txt").read_text() == "{}"
        (own / "note.txt").unlink()


@pytest.mark.skipif(not LINUX, reason="Linux workers")
def test_a_workers_mounts_keep_the_folders_above_the_home_in_place(
    tmp_path: Path, site: Site
) -> None:
    """Under a write grant over the folders above the home, moving one aside (to put a
    home of the plugin's making in its place) fails with EBUSY, the guard switched off:
    the worker binds each of them on itself."""
    assert FEATURES is not None
    if not FEATURES.netns:
        pytest.skip("no mount namespace here, so no read-only home in a worker (doctor)")
    top = tmp_path / "top"
    home = top / "share" / "jafhost"
    home.mkdir(parents=True)
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    site.plugin("climber", code=CLIMBER, manifest=f'[permissions]\nwrite = ["{top}"]\n')
    enabled = run_cli("enable", "climber", "--yes", site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    before = (home / "state.json").read_bytes()
    for _ in range(2):  # the full path and the lane alike
        moved = run_cli(
            "call", "climber.move", "-a", f"folder={top / 'share'}", "-a", f"to={top / 'aside'}",
            site=site, home=home,
        )  # fmt: skip
        assert moved.returncode == 0, moved.stderr
        assert json.loads(moved.stdout) == "EBUSY", moved.stdout
        assert not (top / "aside").exists()
        assert (home / "state.json").read_bytes() == before


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_the_guard_keeps_the_folders_above_the_home_in_place(
    isolation: str, tmp_path: Path, site: Site
) -> None:
    """The guard, in process and in a worker, refuses moving aside a folder that holds
    the home, under a write grant covering it (the move itself names no path inside)."""
    top = tmp_path / "top"
    home = top / "share" / "jafhost"
    home.mkdir(parents=True)
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    site.plugin("climber", code=CLIMBER, manifest=f'[permissions]\nwrite = ["{top}"]\n')
    enabled = run_cli("enable", "climber", "--yes", site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    before = (home / "state.json").read_bytes()
    for _ in range(2):  # the full path and the lane alike
        moved = run_cli(
            "call", "climber.move", "-a", f"folder={top / 'share'}", "-a", f"to={top / 'aside'}",
            "-a", "guard_off=false", site=site, home=home,
        )  # fmt: skip
        assert moved.returncode == 0, moved.stderr
        assert json.loads(moved.stdout) != "moved", moved.stdout
        assert not (top / "aside").exists()
        assert (home / "state.json").read_bytes() == before
