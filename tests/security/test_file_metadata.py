"""A worker cannot change the metadata of a file outside its write grants: mode (the
issue's ``04777`` on ``state.json`` and ``~/.ssh/id_rsa``), owner, times, extended
attributes.

Landlock has no rights for these calls and the worker runs as the host's user, so only
something else in the kernel can refuse them. The plugin below has no grants, switches
the audit guard off (hostile code can) and calls the C library directly; the target is a
file of the test standing for ``state.json``. Ground truth is the file as the test sees
it afterwards: mode, owner, times, extended attributes and its change time (``st_ctime``
moves on any metadata change, even one that sets the same value) all unchanged.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import GUARD_OFF, Site, cli_call
from jafhost.host.host import Host

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
MakeHost = Callable[..., Host]

TOUCHER = (
    GUARD_OFF
    + '''
import ctypes, errno, os


_guard_off()  # at import: loading the C library is an ffi permission otherwise
LIBC = ctypes.CDLL(None, use_errno=True)


def _result(rc: int) -> str:
    return "done" if rc == 0 else errno.errorcode[ctypes.get_errno()]


def touch(path: str, uid: int, gid: int) -> dict:
    """Change every kind of metadata of ``path`` the raw C library way."""
    _guard_off()
    name = path.encode()
    times = (ctypes.c_long * 4)(1, 0, 1, 0)  # two timespecs: 1970-01-01T00:00:01
    return {
        "chmod": _result(LIBC.chmod(name, 0o4777)),
        "fchmodat": _result(LIBC.fchmodat(-100, name, 0o4777, 0)),  # AT_FDCWD
        "chown": _result(LIBC.chown(name, uid, gid)),
        "lchown": _result(LIBC.lchown(name, uid, gid)),
        "utimensat": _result(LIBC.utimensat(-100, name, times, 0)),
        "utimes": _result(LIBC.utimes(name, None)),
        "setxattr": _result(LIBC.setxattr(name, b"user.planted", b"x", 1, 0)),
        "removexattr": _result(LIBC.removexattr(name, b"user.kept")),
    }


@hookimpl
def jaf_tools():
    return [touch]
'''
)


def snapshot(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {
        "mode": st.st_mode,
        "owner": (st.st_uid, st.st_gid),
        "times": (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns),
        "xattrs": sorted(os.listxattr(path)),
    }


def run_touch(host: Host, path: Path, uid: int, gid: int) -> Any:
    async def run() -> Any:
        async with host:
            return await host.call("toucher.touch", {"path": str(path), "uid": uid, "gid": gid})

    return asyncio.run(run())


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """A file outside every grant, standing for the host's ``state.json``."""
    path = tmp_path / "elsewhere" / "state.json"
    path.parent.mkdir()
    path.write_text("{}")
    path.chmod(0o600)
    try:
        os.setxattr(path, "user.kept", b"1")
    except OSError as exc:
        pytest.skip(f"no user extended attributes on {path.parent}: {exc}")
    return path


def test_a_worker_cannot_change_metadata_outside_its_grants(
    site: Site, make_host: MakeHost, state_file: Path
) -> None:
    site.plugin("toucher", code=TOUCHER)
    # root could give the file away; another user can only name its own ids (still a
    # change: st_ctime moves)
    uid, gid = (4321, 4321) if os.getuid() == 0 else (os.getuid(), os.getgid())
    before = snapshot(state_file)
    host = make_host()
    host.enable(["toucher"], isolation="process")
    touched = run_touch(host, state_file, uid, gid)
    assert touched.ok, touched.to_json()
    assert snapshot(state_file) == before, touched.result
    refused = {"EPERM", "EROFS", "EACCES"}
    assert set(touched.result.values()) <= refused, touched.result


def test_the_same_plugin_in_process_without_the_kernel_changes_it(
    site: Site, home: Path, state_file: Path
) -> None:
    """The attack is real: in process, with the guard switched off, nothing stops it."""
    site.plugin("toucher", code=TOUCHER)
    before = snapshot(state_file)
    args = {"path": str(state_file), "uid": os.getuid(), "gid": os.getgid()}
    touched = cli_call(home, site, "inprocess", "toucher", "toucher.touch", **args)
    assert touched["chmod"] == "done", touched
    assert snapshot(state_file) != before
    assert state_file.stat().st_mode & 0o777 == 0o777  # (chown then cleared the setuid bit)


OWN_FILES = '''
import errno, os, shutil


def own() -> dict:
    """Metadata of files in the plugin's own data folder (the working folder)."""
    out = {}
    with open("mine.txt", "w") as f:
        f.write("mine")
    for name, action in (
        ("chmod", lambda: os.chmod("mine.txt", 0o600)),
        ("copy2", lambda: shutil.copy2("mine.txt", "copy.txt")),
        ("utime", lambda: os.utime("mine.txt", (1, 1))),
    ):
        try:
            action()
            out[name] = "done"
        except OSError as exc:
            out[name] = errno.errorcode[exc.errno]
    return out


@hookimpl
def jaf_tools():
    return [own]
'''


def test_metadata_in_the_plugins_own_folder_works_where_mounts_protect(
    site: Site, make_host: MakeHost, home: Path
) -> None:
    """With read-only mounts (``ro-mounts``), its own files are the plugin's to change;
    with the seccomp fallback (``seccomp-metadata``) they are not (the documented cost)."""
    site.plugin("owner", code=OWN_FILES)
    host = make_host()
    host.enable(["owner"], isolation="process")

    async def run() -> tuple[Any, list[str]]:
        async with host:
            result = await host.call("owner.own", {})
            return result, host.protections("owner")

    result, protections = asyncio.run(run())
    assert result.ok, result.to_json()
    if "ro-mounts" in protections:
        assert result.result == {"chmod": "done", "copy2": "done", "utime": "done"}
        mine = home / "plugins" / "owner" / "data" / "mine.txt"
        assert mine.stat().st_mode & 0o777 == 0o600 and mine.stat().st_mtime == 1
    else:
        assert "seccomp-metadata" in protections, protections
        assert result.result == {"chmod": "EPERM", "copy2": "EPERM", "utime": "EPERM"}
