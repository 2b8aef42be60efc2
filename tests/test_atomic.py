"""``jafhost.atomic``: the one way the host replaces a file, and the lock around it."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jafhost.atomic import file_lock, write_atomic
from jafhost.errors import StateError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_new_mode(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomic(target, b"{}\n")
    assert target.read_bytes() == b"{}\n"
    assert mode(target) == 0o600
    shared = tmp_path / "config.toml"
    write_atomic(shared, b"a = 1\n", new_mode=0o644)
    assert mode(shared) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "state.json"]


@pytest.mark.parametrize("durable", [True, False])
def test_an_existing_file_keeps_its_mode(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / "config.toml"
    target.write_text("old\n")
    target.chmod(0o640)
    write_atomic(target, b"new\n", new_mode=0o644, durable=durable)
    assert target.read_text() == "new\n"
    assert mode(target) == 0o640


def test_a_symbolic_link_is_followed_and_stays(tmp_path: Path) -> None:
    (tmp_path / "dotfiles").mkdir()
    real = tmp_path / "dotfiles" / "config.toml"
    real.write_text("old\n")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    write_atomic(link, b"new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert list((tmp_path / "dotfiles").iterdir()) == [real]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")

    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_missing_folder_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "nowhere" / "state.json", b"")


HOLDER = """
import sys
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


def test_the_lock_names_the_file_it_guards_when_it_times_out(tmp_path: Path) -> None:
    lock_file = tmp_path / "config.toml.lock"
    with file_lock(lock_file, guarding=tmp_path / "config.toml", timeout=1):
        pass  # free: taken and released
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        guarded = file_lock(lock_file, guarding=tmp_path / "config.toml", timeout=0.05)
        with pytest.raises(StateError) as caught, guarded:
            pass
        assert str(caught.value) == (
            f"{tmp_path / 'config.toml'} is locked by another jafhost process "
            f"(waited 0.05 s for {lock_file})"
        )
    finally:
        holder.communicate("")
