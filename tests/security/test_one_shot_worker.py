"""The one-shot worker of ``jafhost call``'s lane confines a plugin as a pool worker does.

A malicious process-isolated plugin, recorded so the lane serves it, tries in one of
its tools to read a secret, to reach a listener on 127.0.0.1, to write a marker outside
its grants and to read an environment variable it was not granted; another leaves a
process behind and outlives its time limit. Ground truth each time: the secret is not
printed, the listener accepted nothing, the marker does not exist, the variable's value
is not printed, the left process is gone. With the guard switched off inside the
worker (``GUARD_OFF``), the kernel's own layers must still hold where ``doctor`` says
this machine has them (Landlock, network namespace, seccomp, no_new_privs); each is
skipped with the reason where it is missing. Every case is checked to be served by the
lane (``JAFHOST_TRACE_CALL``), so none passes by the full path quietly serving it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from call_paths import TRACE

from conftest import GUARD_OFF, Site, run_cli
from jafhost.security import sandbox

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
FEATURES = sandbox.probe() if sys.platform.startswith("linux") else None

HOSTILE = (
    GUARD_OFF
    + '''
import os
import socket
import time


def steal(path: str) -> str:
    """Read a file."""
    with open(path) as handle:
        return handle.read()


def phone(port: int) -> str:
    """Connect to 127.0.0.1."""
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return "connected"


def drop(path: str) -> str:
    """Write a marker."""
    with open(path, "w") as handle:
        handle.write("was here")
    return "written"


def sniff(name: str) -> str | None:
    """Read an environment variable."""
    return os.environ.get(name)


def leave(record: str) -> str:
    """Fork a process that outlives the call, then hang."""
    _guard_off()
    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                with open(record, "w") as handle:
                    handle.write(os.readlink("/proc/self"))
                time.sleep(120)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    time.sleep(120)
    return "never"


def raw(what: str, target: str) -> str:
    """The same with the guard off: only the kernel's layers stand."""
    _guard_off()
    try:
        if what == "read":
            with open(target) as handle:
                return handle.read()
        if what == "write":
            with open(target, "w") as handle:
                handle.write("was here")
            return "written"
        if what == "connect":
            with socket.create_connection(("127.0.0.1", int(target)), timeout=2):
                return "connected"
        if what == "status":
            with open("/proc/self/status") as handle:
                return handle.read()
    except OSError as exc:
        return f"refused: {type(exc).__name__}"
    return "?"


@hookimpl
def jaf_tools():
    return [steal, phone, drop, sniff, leave, raw]
'''
)


class Listener:
    """A loopback TCP server that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.3)
        self.port: int = self.sock.getsockname()[1]

    def accepted(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                return count
            count += 1
            conn.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.sock.close()


@pytest.fixture
def hostile_home(site: Site, home: Path) -> Path:
    site.plugin("hostile", code=HOSTILE)
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    warm = run_cli("call", "hostile.sniff", "-a", "name=PATH", site=site, home=home)
    assert warm.returncode == 0, warm.stderr
    return home


def call(
    site: Site, home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``jafhost call`` served by the lane (checked)."""
    result = run_cli("call", *args, site=site, home=home, env={**TRACE, **(env or {})})
    assert "jafhost call: lane path" in result.stderr, result.stderr
    return result


def test_a_secret_outside_the_grants_is_denied(
    site: Site, hostile_home: Path, secret: Path
) -> None:
    result = call(site, hostile_home, "hostile.steal", "-a", f"path={secret}")
    assert result.returncode == 1
    assert f"permission denied: read:{secret}" in result.stderr
    assert "TOP-SECRET" not in result.stdout + result.stderr


def test_a_listener_on_loopback_is_never_reached(
    site: Site, hostile_home: Path, listener: Listener
) -> None:
    result = call(site, hostile_home, "hostile.phone", "-a", f"port={listener.port}")
    assert result.returncode == 1
    assert "permission denied: net" in result.stderr
    assert listener.accepted() == 0


def test_a_marker_outside_the_write_grants_is_not_written(
    site: Site, hostile_home: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    result = call(site, hostile_home, "hostile.drop", "-a", f"path={marker}")
    assert result.returncode == 1
    assert "permission denied: write" in result.stderr
    assert not marker.exists()


def test_a_variable_not_granted_is_not_visible(site: Site, hostile_home: Path) -> None:
    env = {"JAF_TEST_TOKEN": "token-4711"}
    result = call(site, hostile_home, "hostile.sniff", "-a", "name=JAF_TEST_TOKEN", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is None
    assert "token-4711" not in result.stdout + result.stderr


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_nothing_the_plugin_started_outlives_a_timeout(site: Site, hostile_home: Path) -> None:
    record = hostile_home / "plugins" / "hostile" / "data" / "left"
    result = call(site, hostile_home, "hostile.leave", "-a", f"record={record}", "--timeout", "3")
    assert result.returncode == 1
    assert "timed out after 3.0 s" in result.stderr
    pid = int(record.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), f"process {pid} left by the plugin is still running"


# -- the kernel's layers, the guard switched off ---------------------------------------------


needs_landlock = pytest.mark.skipif(
    FEATURES is None or not FEATURES.landlock_abi, reason="Landlock not available here"
)
needs_netns = pytest.mark.skipif(
    FEATURES is None or FEATURES.netns is None, reason="no network namespaces here"
)
needs_seccomp = pytest.mark.skipif(
    FEATURES is None or not FEATURES.seccomp, reason="seccomp filter not available here"
)


@needs_landlock
def test_landlock_refuses_the_secret_and_the_marker(
    site: Site, hostile_home: Path, secret: Path, tmp_path: Path
) -> None:
    read = call(site, hostile_home, "hostile.raw", "-a", "what=read", "-a", f"target={secret}")
    assert json.loads(read.stdout) == "refused: PermissionError"
    marker = tmp_path / "raw-marker"
    write = call(site, hostile_home, "hostile.raw", "-a", "what=write", "-a", f"target={marker}")
    assert json.loads(write.stdout).startswith("refused: ")
    assert not marker.exists()


@needs_netns
def test_the_network_namespace_keeps_the_listener_out_of_reach(
    site: Site, hostile_home: Path, listener: Listener
) -> None:
    args = ["hostile.raw", "--json", json.dumps({"what": "connect", "target": str(listener.port)})]
    result = call(site, hostile_home, *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout).startswith("refused: ")
    assert listener.accepted() == 0


@needs_seccomp
def test_seccomp_and_no_new_privs_are_in_force(site: Site, hostile_home: Path) -> None:
    result = call(site, hostile_home, "hostile.raw", "-a", "what=status", "-a", "target=-")
    status = dict(
        line.split(":", 1) for line in json.loads(result.stdout).splitlines() if ":" in line
    )
    assert status["Seccomp"].strip() == "2"  # filter mode
    assert status["NoNewPrivs"].strip() == "1"
    assert os.getpid() != int(status["Pid"])  # a process of its own, not the host


# -- nothing stale: a revoked grant, an upgrade asking for more ----------------------------


def test_a_revoked_grant_is_not_kept_by_the_lane(
    site: Site, hostile_home: Path, secret: Path
) -> None:
    granted = run_cli("grant", "hostile", f"read:{secret.parent}", site=site, home=hostile_home)
    assert granted.returncode == 0, granted.stderr
    warm = run_cli("call", "hostile.steal", "-a", f"path={secret}", site=site, home=hostile_home)
    assert warm.returncode == 0, warm.stderr  # recorded under the new grants
    allowed = call(site, hostile_home, "hostile.steal", "-a", f"path={secret}")
    assert json.loads(allowed.stdout) == "TOP-SECRET-KEY"  # the grant is in force
    revoked = run_cli("revoke", "hostile", f"read:{secret.parent}", site=site, home=hostile_home)
    assert revoked.returncode == 0, revoked.stderr
    for _ in range(2):  # the first call records anew, the second is the lane's again
        after = run_cli(
            "call", "hostile.steal", "-a", f"path={secret}", site=site, home=hostile_home
        )
        assert after.returncode == 1
        assert "TOP-SECRET" not in after.stdout + after.stderr
    assert (
        "jafhost call: lane path"
        in call(site, hostile_home, "hostile.steal", "-a", f"path={secret}").stderr
    )


GROWER_V1 = '''
def hello() -> str:
    """Answer."""
    return "v1"


@hookimpl
def jaf_tools():
    return [hello]
'''

GROWER_V2 = '''
import os

open(os.path.join(os.getcwd(), "v2-ran"), "w").close()


def hello() -> str:
    """Answer."""
    return "v2"


@hookimpl
def jaf_tools():
    return [hello]
'''


def test_an_upgrade_asking_for_more_does_not_run_on_its_old_record(
    site: Site, home: Path, secret: Path
) -> None:
    (home / "config.toml").write_text('[host]\nisolation = "process"\n')
    module = site.plugin("grower", code=GROWER_V1)
    first = run_cli("call", "grower.hello", site=site, home=home)
    assert first.stdout == '"v1"\n', first.stderr
    assert json.loads(call(site, home, "grower.hello").stdout) == "v1"
    site.remove("jaf-plugin-grower")
    site.plugin(
        "grower",
        "2.0.0",
        code=GROWER_V2,
        module=module,
        manifest=f'[permissions]\nread = ["{secret.parent}"]\n',
    )
    upgraded = run_cli("call", "grower.hello", site=site, home=home, env=TRACE)
    assert "jafhost call: full path" in upgraded.stderr
    assert upgraded.returncode != 0
    assert "needs-approval" in upgraded.stderr
    assert not (home / "plugins" / "grower" / "data" / "v2-ran").exists()
