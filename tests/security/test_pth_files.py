"""``.pth`` files run in a worker only after its sandbox is applied.

A wheel can ship a ``*.pth`` file: ``site`` executes its ``import`` lines at every
interpreter start. Started normally, a worker would run it before ``sandbox.apply``,
with the host's full rights. Workers start with ``-I -S`` and the host's import path;
the host's site folders are processed after the sandbox and the guard are in force.

The host process itself processes its own site folders when it starts (a documented
limit), so the hostile ``.pth`` here lives in a site folder only the worker is told about
(``WorkerSpec.site_dirs``): the test's temporary site. Ground truth: the marker file
outside the grants is never written, the listener the test owns accepts nothing, and the
file the same ``.pth`` writes into the plugin's own data folder shows it did run, inside
the sandbox. An editable install (a ``.pth`` path entry) still imports in a worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Site
from jafhost.host.host import Host
from jafhost.runtime.isolation.client import WorkerClient
from jafhost.runtime.isolation.spec import WorkerSpec

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
MakeHost = Callable[..., Host]

FLAGS = """
import sys

def flags() -> dict:
    '''How this interpreter was started.'''
    return {"isolated": sys.flags.isolated, "no_site": sys.flags.no_site}

@hookimpl
def jaf_tools():
    return [flags]
"""

PAYLOAD = """
import os, socket
try:
    open({marker!r}, "w").write("written by a .pth file")
except Exception:
    pass
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"from a .pth file")
except Exception:
    pass
open("pth-ran.txt", "w").write(str(os.getpid()))
"""


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback listener no worker may reach; its backlog holds any connection."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def accepted(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def spec_with_site(host: Host, name: str, site: Site) -> WorkerSpec:
    """The worker spec the host would use, ``site`` on its import path (as the host puts
    its search paths) and one more site folder."""
    entry = host.resolution().get(name)
    assert entry is not None
    spec = host.runtime.worker_spec(entry.info, {})
    paths = [str(site.root), *spec.paths]
    return dataclasses.replace(spec, paths=paths, site_dirs=[*spec.site_dirs, str(site.root)])


def run_worker(spec: WorkerSpec, tool: str) -> tuple[dict[str, Any], Any]:
    """Start a real worker for ``spec``, call ``tool``, stop it; the start reply and the
    tool's result."""

    async def scenario() -> tuple[dict[str, Any], Any]:
        client = WorkerClient(spec)
        try:
            reply = await client.boot()
            result = await client.call(tool, {}) if reply.get("status") == "active" else None
            return reply, result
        finally:
            await client.stop(5)

    return asyncio.run(scenario())


def test_a_pth_file_runs_only_inside_the_sandbox(
    site: Site, make_host: MakeHost, tmp_path: Path, listener: socket.socket
) -> None:
    marker = tmp_path / "outside" / "pth-marker.txt"
    marker.parent.mkdir()
    port = listener.getsockname()[1]
    payload = PAYLOAD.format(marker=str(marker), port=port)
    site.plugin("pthx", code=FLAGS)
    (site.root / "zz_jaf_evil.pth").write_text(f"import sys; exec({payload!r})\n")
    host = make_host()
    host.enable(["pthx"], isolation="process")
    spec = spec_with_site(host, "pthx", site)

    reply, flags = run_worker(spec, "flags")

    assert reply.get("status") == "active", reply
    assert flags == {"isolated": 1, "no_site": 1}
    assert (spec.data_dir / "pth-ran.txt").exists(), "the .pth file never ran in the worker"
    assert not marker.exists(), "a .pth file wrote outside the grants"
    assert accepted(listener) == 0, "a .pth file reached the loopback listener"


EDITABLE = """
from jafhost import hookimpl

def hello() -> str:
    '''Say hello from source found through a .pth path entry.'''
    return "hello from an editable install"

@hookimpl
def jaf_tools():
    return [hello]
"""


def test_an_editable_install_still_runs_in_a_worker(site: Site, make_host: MakeHost) -> None:
    module = site.module_for("edit")
    source = site.root / "src"
    (source / module).mkdir(parents=True)
    (source / module / "__init__.py").write_text(EDITABLE)
    site.distribution("jaf-plugin-edit", entry_points={"edit": module})
    (site.root / f"__editable__.{module}.pth").write_text(f"{source}\n")
    host = make_host()
    host.enable(["edit"], isolation="process")
    spec = spec_with_site(host, "edit", site)
    assert str(source) not in spec.paths  # only the .pth file, processed in the worker, names it

    reply, result = run_worker(spec, "hello")

    assert reply.get("status") == "active", reply
    assert result == "hello from an editable install"
