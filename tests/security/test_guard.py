"""The in-process guard against real files, sockets, programs and threads.

Every plugin here runs in the test process under the audit hook; each test shows a
denial that would not happen without the guard (the side effect is checked directly:
a file's content never returned, a loopback server never reached, a program never run).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import Site
from jafhost.host.host import Host
from jafhost.security import guard

MakeHost = Callable[..., Host]

TOOLS = """
import ctypes.util, os, socket, subprocess, threading, urllib.request
from jafhost import PluginContext

def read(path: str) -> str:
    with open(path) as f:
        return f.read()

def write(path: str, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    return "ok"

def listdir(path: str) -> list[str]:
    return sorted(os.listdir(path))

def remove(path: str) -> str:
    os.remove(path)
    return "ok"

def connect(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=2) as s:
        s.sendall(b"hello")
    return "sent"

def run(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True,
                          stdin=subprocess.DEVNULL).stdout

def system(command: str) -> int:
    return os.system(command)

def setenv(name: str, value: str) -> str:
    os.environ[name] = value
    return "ok"

def native() -> str:
    return str(ctypes.CDLL(None).getpid())

def read_in_thread(path: str) -> str:
    box = {}
    def work():
        try:
            with open(path) as f:
                box["text"] = f.read()
        except PermissionError as exc:
            box["error"] = str(exc)
    t = threading.Thread(target=work)
    t.start()
    t.join()
    if "error" in box:
        raise PermissionError(box["error"])
    return box["text"]

def sqlite_read(path: str) -> int:
    import sqlite3
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("select count(*) from secrets").fetchone()[0]
    finally:
        db.close()

def fetch(url: str) -> int:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status

def own_data(ctx: PluginContext) -> str:
    target = ctx.data_dir / "note.txt"
    target.write_text("mine")
    return target.read_text()

@hookimpl
def jaf_tools():
    return [read, write, listdir, remove, connect, run, system, setenv, native,
            read_in_thread, own_data, sqlite_read, fetch]
"""


class CountingServer:
    """A loopback TCP server that counts the connections it accepts; stops by itself."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.count += 1
            conn.close()

    def wait_for(self, count: int, seconds: float = 5.0) -> int:
        """The count once it reaches ``count`` (accepts happen in the server's thread)."""
        deadline = time.monotonic() + seconds
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def server() -> Iterator[CountingServer]:
    srv = CountingServer()
    yield srv
    srv.close()


def _host(
    site: Site, make_host: MakeHost, manifest: str = "", grants: list[str] | None = None
) -> Host:
    site.plugin("guarded", code=TOOLS, manifest=manifest or None)
    host = make_host()
    if manifest:
        host.enable(["guarded"], approve=lambda info, new: True)
    for grant in grants or []:
        host.grant("guarded", grant)
    return host


def _call(target: Host, tool: str, /, **args: object):  # type: ignore[no-untyped-def]
    async def scenario():  # type: ignore[no-untyped-def]
        async with target:
            return await target.call(f"guarded.{tool}", args)

    return asyncio.run(scenario())


def test_reading_outside_the_grants_is_denied(
    site: Site, make_host: MakeHost, secret: Path
) -> None:
    result = _call(_host(site, make_host), "read", path=str(secret))
    assert result.error is not None and result.error.code == "permission_denied"
    assert result.error.permission == f"read:{secret}"
    assert "TOP-SECRET-KEY" not in str(result.to_json())
    assert guard.DENIALS[-1][:2] == ("guarded", f"read:{secret}")


def test_reading_inside_a_granted_folder_works(
    site: Site, make_host: MakeHost, secret: Path
) -> None:
    manifest = f'[permissions]\nread = ["{secret.parent}"]\n'
    assert _call(_host(site, make_host, manifest), "read", path=str(secret)).result == (
        "TOP-SECRET-KEY"
    )


def test_prefix_is_matched_by_whole_components(
    site: Site, make_host: MakeHost, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "database").mkdir()
    (tmp_path / "database" / "x").write_text("no")
    manifest = f'[permissions]\nread = ["{tmp_path / "data"}"]\n'
    result = _call(_host(site, make_host, manifest), "read", path=str(tmp_path / "database/x"))
    assert result.error is not None and result.error.code == "permission_denied"


def test_symlink_and_dotdot_cannot_escape(
    site: Site, make_host: MakeHost, tmp_path: Path, secret: Path
) -> None:
    granted = tmp_path / "granted"
    granted.mkdir()
    (granted / "link").symlink_to(secret)
    manifest = f'[permissions]\nread = ["{granted}"]\n'
    host = _host(site, make_host, manifest)
    via_link = _call(host, "read", path=str(granted / "link"))
    assert via_link.error is not None and via_link.error.code == "permission_denied"
    dotdot = _call(host, "read", path=f"{granted}/../secrets/id_rsa")
    assert dotdot.error is not None and dotdot.error.code == "permission_denied"


def test_writes_need_write_grants_but_own_data_is_free(
    site: Site, make_host: MakeHost, tmp_path: Path
) -> None:
    target = tmp_path / "out.txt"
    readable = f'[permissions]\nread = ["{tmp_path}"]\n'
    host = _host(site, make_host, readable)
    denied = _call(host, "write", path=str(target), text="x")
    assert denied.error is not None and denied.error.permission == f"write:{target}"
    assert not target.exists()
    assert _call(host, "own_data").result == "mine"
    target.write_text("keep")
    removal = _call(host, "remove", path=str(target))
    assert removal.error is not None and removal.error.code == "permission_denied"
    assert target.read_text() == "keep"


def test_listing_a_folder_needs_read(site: Site, make_host: MakeHost, secret: Path) -> None:
    result = _call(_host(site, make_host), "listdir", path=str(secret.parent))
    assert result.error is not None and result.error.code == "permission_denied"


def test_denied_connection_never_reaches_the_server(
    site: Site, make_host: MakeHost, server: CountingServer
) -> None:
    result = _call(_host(site, make_host), "connect", host="127.0.0.1", port=server.port)
    assert result.error is not None and result.error.code == "permission_denied"
    assert result.error.permission == f"net:127.0.0.1:{server.port}"
    assert server.wait_for(1, 0.5) == 0


def test_granted_connection_works_and_other_ports_stay_closed(
    site: Site, make_host: MakeHost, server: CountingServer
) -> None:
    manifest = f'[permissions]\nnet = ["127.0.0.1:{server.port}"]\n'
    host = _host(site, make_host, manifest)
    assert _call(host, "connect", host="127.0.0.1", port=server.port).result == "sent"
    other = CountingServer()
    try:
        denied = _call(host, "connect", host="127.0.0.1", port=other.port)
        assert denied.error is not None and denied.error.code == "permission_denied"
        assert other.wait_for(1, 0.5) == 0
    finally:
        other.close()
    assert server.wait_for(1) == 1


def test_host_name_grant_allows_its_addresses(
    site: Site, make_host: MakeHost, server: CountingServer
) -> None:
    manifest = '[permissions]\nnet = ["localhost"]\n'
    host = _host(site, make_host, manifest)
    assert _call(host, "connect", host="localhost", port=server.port).result == "sent"
    assert server.wait_for(1) == 1


def test_narrowed_grant_denies_outside_it(
    site: Site, make_host: MakeHost, server: CountingServer
) -> None:
    manifest = '[permissions]\nnet = ["*"]\n'
    host = _host(site, make_host, manifest)
    host.revoke("guarded", "net:*")
    host.grant("guarded", "net:api.example.com:443")
    result = _call(host, "connect", host="127.0.0.1", port=server.port)
    assert result.error is not None and result.error.code == "permission_denied"
    assert server.wait_for(1, 0.5) == 0


def test_programs_need_run_grants(site: Site, make_host: MakeHost, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    host = _host(site, make_host)
    denied = _call(host, "run", argv=["touch", str(marker)])
    assert denied.error is not None and denied.error.permission == "run:touch"
    shell = _call(host, "system", command=f"touch {marker}")
    assert shell.error is not None and shell.error.permission == "run:sh"
    assert not marker.exists()

    granted = _host(site, make_host, '[permissions]\nrun = ["echo"]\n')
    assert _call(granted, "run", argv=["echo", "hi"]).result == "hi\n"


def test_environment_writes_and_ctypes_are_denied(site: Site, make_host: MakeHost) -> None:
    host = _host(site, make_host)
    env = _call(host, "setenv", name="JAF_GUARD_TEST", value="x")
    assert env.error is not None and env.error.permission == "env:JAF_GUARD_TEST"
    assert "JAF_GUARD_TEST" not in os.environ or os.environ["JAF_GUARD_TEST"] != "x"
    native = _call(host, "native")
    assert native.error is not None and native.error.permission == "ffi"


def test_threads_started_by_the_plugin_are_attributed_to_it(
    site: Site, make_host: MakeHost, secret: Path
) -> None:
    result = _call(_host(site, make_host), "read_in_thread", path=str(secret))
    assert result.error is not None and result.error.code in ("permission_denied", "tool_error")
    assert f"read:{secret}" in result.error.message
    assert "TOP-SECRET-KEY" not in str(result.to_json())


def test_host_code_is_not_restricted(site: Site, make_host: MakeHost, secret: Path) -> None:
    _call(_host(site, make_host), "read", path=str(secret))
    assert secret.read_text() == "TOP-SECRET-KEY"  # the test (host side) may still read it


def test_import_time_access_is_guarded(site: Site, make_host: MakeHost, secret: Path) -> None:
    site.plugin("sneaky", code=f"open({str(secret)!r}).read()\n")
    host = make_host()

    async def scenario() -> None:
        async with host:
            sneaky = host.loaded("sneaky")
            assert sneaky is not None and sneaky.status == "broken"
            assert f"read:{secret}" in (sneaky.error or "")

    asyncio.run(scenario())


def test_sqlite_files_are_checked_too(site: Site, make_host: MakeHost, tmp_path: Path) -> None:
    import sqlite3

    database = tmp_path / "private" / "secrets.db"
    database.parent.mkdir()
    with sqlite3.connect(database) as db:
        db.execute("create table secrets (value text)")
        db.execute("insert into secrets values ('TOP-SECRET')")
    db.close()
    denied = _call(_host(site, make_host), "sqlite_read", path=str(database))
    assert denied.error is not None and denied.error.permission == f"read:{database}"
    manifest = f'[permissions]\nread = ["{database.parent}"]\n'
    assert _call(_host(site, make_host, manifest), "sqlite_read", path=str(database)).result == 1


def test_a_denial_wrapped_by_a_library_is_still_a_denial(
    site: Site, make_host: MakeHost, server: CountingServer
) -> None:
    result = _call(_host(site, make_host), "fetch", url=f"http://127.0.0.1:{server.port}/")
    assert result.error is not None and result.error.code == "permission_denied"
    assert result.error.permission == f"net:127.0.0.1:{server.port}"
    assert server.wait_for(1, 0.5) == 0


def test_every_event_the_guard_checks_passes_its_first_filter() -> None:
    """``_hook`` returns at once for events outside ``_HANDLED``: an event ``_check``
    handles but ``_HANDLED`` lacks would silently never be checked."""
    import inspect
    import re

    checked = set(
        re.findall(r'"([A-Za-z_0-9]+\.[A-Za-z_0-9./]+|open)"', inspect.getsource(guard._check))
    )
    checked = {e for e in checked if not e.startswith("ctypes.")}
    assert checked and checked <= guard._HANDLED, checked - guard._HANDLED
