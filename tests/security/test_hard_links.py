"""A worker cannot hard-link a file it may not write into a folder it may write, then
write through the link.

``realpath`` does not see through hard links: a link in the plugin's data folder to a
file of a folder it may only read (or to a file of the Python installation, or of
jafhost itself) would be written as "its own" file. Landlock's ``REFER`` right decides
which folders a file may be linked or moved between; the worker handles it and grants it
only under write grants (data, cache, ``write:``), and Landlock also refuses a link
whose new place would give more rights than the old one. The plugin switches the audit
guard off (hostile code can) and tries ``link``, and ``linkat`` through
``/proc/self/fd`` of a descriptor it opened for reading. Ground truth: the original
file's content and link count, and no file created in the data folder. The same code run
in process, where only the (disabled) guard stands, shows the attack is real.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import jafhost.security.sandbox as sandbox_package
from conftest import GUARD_OFF, Site, cli_call
from jafhost.host.host import Host

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
MakeHost = Callable[..., Host]
FEATURES = sandbox_package.probe()

LINKER = (
    GUARD_OFF
    + '''
import ctypes, errno, os


_guard_off()  # at import: loading the C library is an ffi permission otherwise
LIBC = ctypes.CDLL(None, use_errno=True)


def link(source: str, target: str, how: str) -> str:
    """Hard-link ``source`` as ``target`` (in the data folder), then append through
    the link."""
    _guard_off()
    if how == "link":
        rc = LIBC.link(source.encode(), target.encode())
    else:  # linkat of an open descriptor's /proc/self/fd entry
        fd = os.open(source, os.O_RDONLY)
        rc = LIBC.linkat(-100, f"/proc/self/fd/{fd}".encode(), -100, target.encode(), 0x400)
        os.close(fd)
    if rc != 0:
        return errno.errorcode[ctypes.get_errno()]
    with open(target, "a") as f:
        f.write("# TAMPERED\\n")
    return "linked and written"


@hookimpl
def jaf_tools():
    return [link]
'''
)


def data_folder(home: Path) -> Path:
    folder = home / "plugins" / "linker" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_links(host: Host, calls: list[dict[str, str]]) -> list[Any]:
    async def run() -> list[Any]:
        async with host:
            return [await host.call("linker.link", args) for args in calls]

    return asyncio.run(run())


def ground_truth(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_nlink


@pytest.fixture
def readable(tmp_path: Path) -> Path:
    """A folder the plugin may read (``read:`` grant), with a file in it."""
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "config.py").write_text("SAFE = True\n")
    return folder


def linker_host(site: Site, make_host: MakeHost, readable: Path, isolation: str) -> Host:
    site.plugin("linker", code=LINKER, manifest=f'[permissions]\nread = ["{readable}"]\n')
    host = make_host()
    host.enable(["linker"], approve=lambda info, new: True, isolation=isolation)
    return host


@pytest.mark.skipif(not FEATURES.landlock_abi, reason="Landlock not available")
@pytest.mark.parametrize("how", ["link", "proc-fd"])
def test_a_worker_cannot_link_a_file_it_may_not_write_into_its_data_folder(
    how: str, site: Site, make_host: MakeHost, readable: Path, home: Path
) -> None:
    # a module of the host itself: appending to it would run in every later process
    own = Path(sandbox_package.__file__)
    targets = {"granted": readable / "config.py", "jafhost": own, "python": Path(sys.executable)}
    before = {name: ground_truth(path) for name, path in targets.items()}
    host = linker_host(site, make_host, readable, "process")
    data = data_folder(home)
    calls = [{"source": str(p), "target": str(data / n), "how": how} for n, p in targets.items()]
    results = run_links(host, calls)
    for name, result in zip(targets, results, strict=True):
        assert result.ok, result.to_json()
        assert result.result in ("EXDEV", "EACCES", "EPERM"), (name, result.result)
        assert ground_truth(targets[name]) == before[name], name
    assert not any((data / name).exists() for name in targets)


def test_the_same_link_in_process_without_the_kernel_tampers(
    site: Site, readable: Path, home: Path
) -> None:
    """The attack is real: only the guard (switched off here) stands in the way in
    process; the target is the test's own file, never the host's."""
    site.plugin("linker", code=LINKER, manifest=f'[permissions]\nread = ["{readable}"]\n')
    args = {"source": str(readable / "config.py"), "target": str(data_folder(home) / "c")}
    result = cli_call(home, site, "inprocess", "linker", "linker.link", how="link", **args)
    assert result == "linked and written"
    assert "TAMPERED" in (readable / "config.py").read_text()


def test_refer_is_granted_only_where_the_worker_may_write(tmp_path: Path) -> None:
    from jafhost.security.sandbox.landlock import FS_REFER, landlock_rules

    spec = sandbox_package.SandboxSpec(
        plugin="linker",
        grants=(f"read:{tmp_path / 'r'}", f"write:{tmp_path / 'w'}"),
        data_dir=str(tmp_path / "data"),
        cache_dir=str(tmp_path / "cache"),
    )
    policy = spec.policy()
    referable = {path for path, rights in landlock_rules(spec, policy).items() if rights & FS_REFER}
    assert referable == {str(p) for p in policy.write}
    assert str(tmp_path / "w") in referable and str(tmp_path / "r") not in referable
