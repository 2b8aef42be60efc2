"""The worker sandbox on its own: real child processes, real files, sockets and syscalls.

Each test starts a fresh Python process that applies ``jafhost.security.sandbox.apply`` (without
the audit guard, so only the kernel and the limits stand in the way) and then tries
something; ctypes calls go straight to the C library, so nothing here is stopped by
Python-level checks. Every denial is paired with the same action succeeding in an
unsandboxed process or with a grant, so a test fails if the enforcement is removed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jafhost.security import sandbox
from jafhost.security.sandbox import SandboxSpec

FEATURES = sandbox.probe()
LINUX = sys.platform.startswith("linux")
needs_landlock = pytest.mark.skipif(not FEATURES.landlock_abi, reason="Landlock not available")
needs_seccomp = pytest.mark.skipif(not FEATURES.seccomp, reason="seccomp filter not available")
needs_netns = pytest.mark.skipif(FEATURES.netns is None, reason="no network namespaces")

CHILD = """
import ctypes, errno, json, os, socket, struct, sys
from jafhost.security import sandbox
spec = sandbox.SandboxSpec.from_json(json.loads(sys.argv[1]))
applied = None
if sys.argv[2] == "apply":
    applied = sandbox.apply(spec)
libc = ctypes.CDLL(None, use_errno=True)

def raw_read(path):
    fd = libc.open(path.encode(), os.O_RDONLY)
    if fd < 0:
        return "errno:" + errno.errorcode[ctypes.get_errno()]
    buf = ctypes.create_string_buffer(256)
    n = libc.read(fd, buf, 256)
    libc.close(fd)
    return buf.raw[:n].decode()

def raw_write(path, text):
    fd = libc.open(path.encode(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    if fd < 0:
        return "errno:" + errno.errorcode[ctypes.get_errno()]
    libc.write(fd, text.encode(), len(text))
    libc.close(fd)
    return "written"

def raw_connect(port):
    fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    if fd < 0:
        return "socket errno:" + errno.errorcode[ctypes.get_errno()]
    addr = struct.pack("=H", socket.AF_INET) + struct.pack("!H", port)
    addr += socket.inet_aton("127.0.0.1") + bytes(8)
    rc = libc.connect(fd, addr, len(addr))
    err = ctypes.get_errno()
    libc.close(fd)
    return "connected" if rc == 0 else "connect errno:" + errno.errorcode[err]

out = {}
%s
out["protections"] = applied.protections if applied else []
out["missing"] = applied.missing if applied else []
print(json.dumps(out))
"""


def run_child(
    spec: SandboxSpec, body: str, *, apply: bool = True, timeout: float = 30
) -> dict[str, Any]:
    """Run ``body`` (which fills ``out``) in a new process, sandboxed by ``spec``."""
    code = CHILD % textwrap.dedent(body)
    env = sandbox.worker_env(spec.grants, spec.cache_dir)
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec.to_json()), "apply" if apply else "no"],
        capture_output=True,
        text=True,
        env=env,
        cwd=spec.data_dir,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    made = {}
    for name in ("data", "cache", "granted", "secrets", "outside"):
        made[name] = tmp_path / name
        made[name].mkdir()
    (made["secrets"] / "id_rsa").write_text("TOP-SECRET-KEY")
    (made["granted"] / "notes.txt").write_text("fine to read")
    (made["granted"] / "link").symlink_to(made["secrets"] / "id_rsa")
    return made


def make_spec(folders: dict[str, Path], *grants: str, **limits: Any) -> SandboxSpec:
    return SandboxSpec(
        plugin="sandboxed",
        grants=tuple(grants),
        data_dir=str(folders["data"]),
        cache_dir=str(folders["cache"]),
        parent_pid=os.getpid(),
        **limits,
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
    srv = Listener()
    yield srv
    srv.sock.close()


# -- the environment -----------------------------------------------------------------------


def test_worker_env_keeps_only_what_python_needs_and_the_grants() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "AWS_SECRET_ACCESS_KEY": "nope",
        "WEATHER_API_KEY": "granted",
        "HTTPS_PROXY": "http://user:pw@proxy:3128",
        "SSL_CERT_FILE": "/etc/ssl/cert.pem",
        "PYTHONPATH": "/elsewhere",
        "PYTHONHASHSEED": "0",
    }
    env = sandbox.worker_env(["env:WEATHER_*"], "/cache", environ=environ, paths=["/usr"])
    assert env["WEATHER_API_KEY"] == "granted"
    for secret in ("AWS_SECRET_ACCESS_KEY", "HTTPS_PROXY", "SSL_CERT_FILE"):
        assert secret not in env
    assert env["PYTHONPATH"] == "/usr" and env["TMPDIR"] == "/cache"
    assert env["LC_ALL"] == "C.UTF-8" and env["PYTHONHASHSEED"] == "0"
    with_net = sandbox.worker_env(["net:api.example.com:443"], "/c", environ=environ, paths=[])
    assert with_net["SSL_CERT_FILE"] == "/etc/ssl/cert.pem" and "HTTPS_PROXY" not in with_net


def test_plan_matches_what_a_worker_gets(folders: dict[str, Path]) -> None:
    spec = make_spec(folders)
    result = run_child(spec, "")
    added_by_the_worker = ("pidns", "subreaper", "audit-guard", "site-after-sandbox")
    assert result["protections"] == [p for p in sandbox.plan(spec) if p not in (
        *added_by_the_worker, "kill-on-timeout")]  # fmt: skip
    assert result["missing"] == []


@pytest.mark.skipif(FEATURES.netns is None, reason="no mount namespace: home-ro is missing")
def test_a_write_grant_inside_the_home_is_bound_read_only(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    """jafhost's home (here the folder holding the plugin's own folders) under a write
    grant: the kernel alone refuses writing there (EROFS) but in the plugin's data
    folder, and ``plan`` says so as the worker does."""
    granted = folders["granted"]
    body = f"""
    out["granted"] = raw_write({str(granted / "x")!r}, "TEXT")
    out["data"] = raw_write({str(folders["data"] / "x")!r}, "x")
    """
    plain = make_spec(folders, f"write:{granted}")
    assert "home-ro" not in sandbox.plan(plain)
    free = run_child(plain, body.replace("TEXT", "first"))
    assert (free["granted"], free["data"]) == ("written", "written")
    assert "home-ro" not in free["protections"]
    spec = make_spec(folders, f"write:{granted}", host_home=str(tmp_path))
    boxed = run_child(spec, body.replace("TEXT", "second"))
    assert (boxed["granted"], boxed["data"]) == ("errno:EROFS", "written")
    assert (granted / "x").read_text() == "first"
    assert "home-ro" in boxed["protections"] and "home-ro" in sandbox.plan(spec)


# -- files (Landlock) ------------------------------------------------------------------------

FILES = """
out["secret"] = raw_read(sys.argv[3] + "/secrets/id_rsa")
out["granted"] = raw_read(sys.argv[3] + "/granted/notes.txt")
out["link"] = raw_read(sys.argv[3] + "/granted/link")
out["outside_write"] = raw_write(sys.argv[3] + "/outside/x", "x")
out["data_write"] = raw_write(sys.argv[3] + "/data/x", "x")
out["python"] = bool(raw_read(os.__file__))
"""


def _files(spec: SandboxSpec, root: Path, apply: bool = True) -> dict[str, Any]:
    body = FILES.replace("sys.argv[3]", repr(str(root)))
    return run_child(spec, body, apply=apply)


@needs_landlock
def test_landlock_limits_files_even_for_raw_system_calls(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    spec = make_spec(folders, f"read:{folders['granted']}")
    free = _files(spec, tmp_path, apply=False)
    assert free["secret"] == "TOP-SECRET-KEY" and free["link"] == "TOP-SECRET-KEY"
    assert free["outside_write"] == "written"
    (folders["outside"] / "x").unlink()

    boxed = _files(spec, tmp_path)
    assert boxed["secret"] == "errno:EACCES"
    assert boxed["link"] == "errno:EACCES"  # the symlink resolves outside the grant
    assert boxed["granted"] == "fine to read"
    assert boxed["outside_write"] in ("errno:EACCES", "errno:EROFS")  # Landlock, ro-mounts
    assert not (folders["outside"] / "x").exists()
    assert boxed["data_write"] == "written"  # the plugin's own folder
    assert boxed["python"]


@needs_landlock
def test_write_grant_allows_writing_there_only(folders: dict[str, Path], tmp_path: Path) -> None:
    spec = make_spec(folders, f"write:{folders['outside']}")
    boxed = _files(spec, tmp_path)
    assert boxed["outside_write"] == "written"
    assert boxed["secret"] == "errno:EACCES"


@needs_landlock
def test_programs_run_only_with_a_run_grant(folders: dict[str, Path]) -> None:
    body = """
import subprocess
try:
    out["echo"] = subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout
except OSError as exc:
    out["echo"] = f"{type(exc).__name__}: {exc.errno}"
try:
    out["ls"] = subprocess.run(["ls", "/"], capture_output=True, text=True).returncode
except OSError as exc:
    out["ls"] = f"{type(exc).__name__}: {exc.errno}"
"""
    denied = run_child(make_spec(folders), body)
    assert denied["echo"].startswith("PermissionError")
    granted = run_child(make_spec(folders, "run:echo"), body)
    assert granted["echo"] == "hi\n"
    assert granted["ls"] != 0  # not granted: refused by Landlock (or seccomp)


# -- network -------------------------------------------------------------------------------

CONNECT = 'out["raw"] = raw_connect(PORT)'


@needs_netns
def test_no_net_grant_means_no_network_at_all(folders: dict[str, Path], listener: Listener) -> None:
    body = CONNECT.replace("PORT", str(listener.port))
    assert run_child(make_spec(folders), body, apply=False)["raw"] == "connected"
    assert listener.accepted() == 1
    boxed = run_child(make_spec(folders), body)
    assert boxed["raw"].split(":")[-1] in ("EPERM", "ENETUNREACH", "EACCES")
    assert "netns" in boxed["protections"]
    assert listener.accepted() == 0


@needs_netns
def test_netns_alone_stops_connections(folders: dict[str, Path], listener: Listener) -> None:
    body = f"""
sandbox.set_pdeathsig(spec.parent_pid)
sandbox.new_netns()
out["raw"] = raw_connect({listener.port})
"""
    result = run_child(make_spec(folders), body, apply=False)
    assert result["raw"] == "connect errno:ENETUNREACH"
    assert listener.accepted() == 0


@pytest.mark.skipif(FEATURES.landlock_abi < 4, reason="Landlock without TCP rules")
def test_landlock_allows_only_the_granted_tcp_port(
    folders: dict[str, Path], listener: Listener
) -> None:
    other = Listener()
    try:
        body = f"""
out["granted"] = raw_connect({listener.port})
out["other"] = raw_connect({other.port})
"""
        result = run_child(make_spec(folders, f"net:127.0.0.1:{listener.port}"), body)
        assert result["granted"] == "connected"
        assert result["other"] == "connect errno:EACCES"
        assert f"landlock-net:{listener.port}" in result["protections"]
        assert listener.accepted() == 1 and other.accepted() == 0
    finally:
        other.sock.close()


# -- seccomp, capabilities, limits -------------------------------------------------------------


@needs_seccomp
def test_seccomp_denies_namespaces_and_unix_sockets(folders: dict[str, Path]) -> None:
    body = """
out["unshare"] = libc.unshare(0x40000000)
out["unshare_errno"] = ctypes.get_errno()
out["unix"] = libc.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
out["unix_errno"] = ctypes.get_errno()
a, b = socket.socketpair()  # asyncio needs these: still allowed
out["socketpair"] = a.fileno() > 0
import threading
t = threading.Thread(target=lambda: None)
t.start(); t.join()
out["threads"] = True
"""
    result = run_child(make_spec(folders), body)
    assert result["unshare"] == -1 and result["unshare_errno"] == 1  # EPERM
    assert result["unix"] == -1 and result["unix_errno"] == 1
    assert result["socketpair"] and result["threads"]
    free = run_child(make_spec(folders), body, apply=False)
    assert free["unix"] >= 0


@pytest.mark.skipif(FEATURES.netns != "root", reason="needs a host with capabilities")
def test_capabilities_are_dropped(folders: dict[str, Path]) -> None:
    body = """
out["cap"] = sandbox.kernel.status_field("CapEff")
out["bnd"] = sandbox.kernel.status_field("CapBnd")
"""
    result = run_child(make_spec(folders), body)
    assert int(result["cap"], 16) == 0 and int(result["bnd"], 16) == 0
    assert int(run_child(make_spec(folders), body, apply=False)["cap"], 16) != 0


def test_limits_apply(folders: dict[str, Path]) -> None:
    body = """
import resource
files = []
try:
    for _ in range(100):
        files.append(open(os.devnull))
    out["files"] = len(files)
except OSError as exc:
    out["files"] = exc.errno
try:
    block = bytearray(600 * 1024 * 1024)
    out["memory"] = "allocated"
except MemoryError:
    out["memory"] = "MemoryError"
out["core"] = resource.getrlimit(resource.RLIMIT_CORE)
out["cpu"] = resource.getrlimit(resource.RLIMIT_CPU)[0]
"""
    result = run_child(make_spec(folders, memory_mb=400, open_files=32, cpu_seconds=60), body)
    assert result["files"] == 24  # EMFILE
    assert result["memory"] == "MemoryError"
    assert result["core"] == [0, 0]
    assert 60 <= result["cpu"] <= 70
    free = run_child(make_spec(folders), body, apply=False)
    assert free["files"] == 100 and free["memory"] == "allocated"


@pytest.mark.skipif(not LINUX, reason="PR_SET_PDEATHSIG is Linux only")
def test_probe_is_cheap_and_consistent() -> None:
    found = sandbox.probe(refresh=True)
    assert found == sandbox.probe()
    assert found.landlock_abi == sandbox.landlock_abi()


@needs_seccomp
def test_seccomp_alone_refuses_file_metadata(folders: dict[str, Path]) -> None:
    """The fallback where no mount namespace can be made: the filter refuses the
    metadata calls everywhere (EPERM)."""
    target = folders["outside"] / "state.json"
    target.write_text("{}")
    target.chmod(0o600)
    body = f"""
from jafhost.security.sandbox.seccomp import apply_seccomp
sandbox.privileges.no_new_privs()
apply_seccomp(spec)
out["chmod"] = libc.chmod({str(target)!r}.encode(), 0o4777)
out["errno"] = ctypes.get_errno()
"""
    result = run_child(make_spec(folders), body, apply=False)
    assert result["chmod"] == -1 and result["errno"] == 1  # EPERM
    assert target.stat().st_mode & 0o7777 == 0o600
    mounts = run_child(make_spec(folders), body.replace("apply_seccomp(spec)", "pass"), apply=False)
    assert mounts["chmod"] == 0  # nothing else stood in the way
