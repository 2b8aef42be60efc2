"""A worker cannot write a file past ``RLIMIT_FSIZE`` (1 GiB): one plugin cannot fill the
disk with one file.

The plugin writes at the limit's last byte and past it, in its own data folder (where it
may write), with raw ``os.pwrite``/``os.ftruncate``. The file is sparse, so the test costs
no disk. Ground truth: the file's size as the test sees it, and the worker still serving
the next call (Python ignores SIGXFSZ, so the write fails with EFBIG and nothing dies).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import Site
from jafhost.host.host import Host

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
MakeHost = Callable[..., Host]
LIMIT = 1024 * 1024 * 1024
"""``SandboxSpec.file_size_mb``'s default, in bytes."""

GROWER = '''
import errno, os


def grow(limit: int) -> dict:
    """Write the limit's last byte and one more, then past it; then truncate past it."""
    out = {"pid": os.getpid()}
    fd = os.open("big.bin", os.O_RDWR | os.O_CREAT, 0o600)  # in the data folder
    try:
        out["at_edge"] = os.pwrite(fd, b"xy", limit - 1)
        try:
            out["past"] = os.pwrite(fd, b"z", limit)
        except OSError as exc:
            out["past"] = errno.errorcode[exc.errno]
        try:
            os.ftruncate(fd, 2 * limit)
            out["truncate"] = "done"
        except OSError as exc:
            out["truncate"] = errno.errorcode[exc.errno]
    finally:
        os.close(fd)
    return out


def pid() -> int:
    return os.getpid()


@hookimpl
def jaf_tools():
    return [grow, pid]
'''


def test_a_worker_cannot_write_a_file_past_the_limit(
    site: Site, make_host: MakeHost, home: Path
) -> None:
    site.plugin("grower", code=GROWER)
    host = make_host()
    host.enable(["grower"], isolation="process")

    async def run() -> tuple[Any, Any]:
        async with host:
            grown = await host.call("grower.grow", {"limit": LIMIT})
            after = await host.call("grower.pid", {})
            return grown, after

    grown, after = asyncio.run(run())
    assert grown.ok, grown.to_json()
    assert grown.result["at_edge"] == 1  # the last byte below the limit, no more
    assert grown.result["past"] == "EFBIG"
    assert grown.result["truncate"] == "EFBIG"
    big = home / "plugins" / "grower" / "data" / "big.bin"
    assert big.stat().st_size == LIMIT
    assert after.ok and after.result == grown.result["pid"]  # the same worker, still serving
