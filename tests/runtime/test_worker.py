"""Process isolation with real worker processes, sockets, files and signals.

Each denial is shown twice where it matters: the same plugin code succeeds in process
(or with the grant), and fails in its sandboxed worker, so a test fails if the
enforcement is removed. The ``raw_*`` tools use ctypes (with ``ffi`` granted), which
the in-process audit hook cannot see: they prove the kernel layer (Landlock, the
network namespace, seccomp) rather than the guard.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Site, run_cli
from jafhost.host.host import Host
from jafhost.runtime.isolation.client import WorkerClient
from jafhost.runtime.isolation.launch import worker_of
from jafhost.security import sandbox
from jafhost.types import CallResult

MakeHost = Callable[..., Host]
FEATURES = sandbox.probe()
needs_landlock = pytest.mark.skipif(not FEATURES.landlock_abi, reason="Landlock not available")
needs_kernel_net = pytest.mark.skipif(
    FEATURES.netns is None and not FEATURES.seccomp and FEATURES.landlock_abi < 4,
    reason="no kernel network restriction available",
)
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

TOOLS = """
import _thread, ctypes, errno, os, signal, socket, struct, subprocess, urllib.request
from jafhost import PluginContext, ToolError

LIBC = ctypes.CDLL(None, use_errno=True)

def add(a: int, b: int) -> int:
    '''Add two numbers.'''
    return a + b

async def add_async(a: int, b: int = 2) -> dict:
    return {"sum": a + b, "items": (a, b)}

def env(name: str) -> str | None:
    return os.environ.get(name)

def pid() -> int:
    # the pid as the host sees it: in a PID namespace getpid() is the namespace's number
    return int(os.readlink("/proc/self"))

def read(path: str) -> str:
    with open(path) as f:
        return f.read()

def raw_read(path: str) -> str:
    fd = LIBC.open(path.encode(), os.O_RDONLY)
    if fd < 0:
        return "errno:" + errno.errorcode[ctypes.get_errno()]
    buf = ctypes.create_string_buffer(256)
    n = LIBC.read(fd, buf, 256)
    LIBC.close(fd)
    return buf.raw[:n].decode()

def raw_system(command: str) -> int:
    return LIBC.system(command.encode())

def capabilities() -> list[int]:
    # effective, permitted, inheritable (low words), from capget: /proc is not needed
    header = ctypes.create_string_buffer(struct.pack("=Ii", 0x20080522, 0), 8)
    data = ctypes.create_string_buffer(24)
    if LIBC.capget(header, data) != 0:
        return [-1]
    return list(struct.unpack_from("=III", data.raw, 0))

def run(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

def connect(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return "connected"

def fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
        return r.read().decode()

def raw_connect(port: int) -> str:
    fd = LIBC.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    if fd < 0:
        return "socket errno:" + errno.errorcode[ctypes.get_errno()]
    addr = struct.pack("=H", socket.AF_INET) + struct.pack("!H", port)
    addr += socket.inet_aton("127.0.0.1") + bytes(8)
    rc = LIBC.connect(fd, addr, len(addr))
    err = ctypes.get_errno()
    LIBC.close(fd)
    return "connected" if rc == 0 else "connect errno:" + errno.errorcode[err]

def thread_read(path: str) -> str:
    done = _thread.allocate_lock()
    done.acquire()
    box = {}
    def work():
        try:
            with open(path) as f:
                box["text"] = f.read()
        except OSError as exc:
            box["error"] = f"{type(exc).__name__}: {exc}"
        done.release()
    _thread.start_new_thread(work, ())
    done.acquire()
    return box.get("text") or box["error"]

def fail(kind: str) -> None:
    if kind == "value":
        raise ValueError("bad value")
    if kind == "coded":
        raise ToolError("no such record", code="not_found")
    if kind == "exit":
        raise SystemExit(3)
    if kind == "oserror":
        raise FileNotFoundError(2, "No such file", "/nope")

def die(code: int) -> None:
    os._exit(code)

def segfault() -> None:
    ctypes.string_at(0)

def out_of_cpu() -> None:
    os.kill(os.getpid(), signal.SIGXCPU)

def spin() -> None:
    while True:
        pass

def bomb(mb: int) -> int:
    return len(bytearray(mb * 1024 * 1024))

def note(ctx: PluginContext, text: str) -> str:
    (ctx.data_dir / "note.txt").write_text(text)
    return (ctx.data_dir / "note.txt").read_text()

@hookimpl
def jaf_tools():
    return [add, add_async, env, pid, read, raw_read, raw_system, run, connect, fetch, raw_connect,
            thread_read, fail, die, segfault, out_of_cpu, spin, bomb, note, capabilities]
"""


class CountingHTTPServer(http.server.ThreadingHTTPServer):
    """A loopback HTTP server that counts the connections it accepts."""

    daemon_threads = True

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"hello")

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.count = 0
        self.port: int = self.server_address[1]  # type: ignore[assignment]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.count += 1
        super().process_request(request, client_address)

    def wait_for(self, count: int, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.count


@pytest.fixture
def server() -> Iterator[CountingHTTPServer]:
    srv = CountingHTTPServer()
    yield srv
    srv.shutdown()
    srv.server_close()


def boxed(
    site: Site,
    make_host: MakeHost,
    *grants: str,
    isolation: str = "process",
    code: str = TOOLS,
    config: str = "",
    name: str = "boxed",
) -> Host:
    """A host with plugin ``boxed`` (the tools above) enabled with ``isolation``."""
    if site.module_for(name) not in {p.name for p in site.root.iterdir()}:
        site.plugin(name, code=code)
    host = make_host()
    if config:
        host.layout.config.parent.mkdir(parents=True, exist_ok=True)
        host.layout.config.write_text(textwrap.dedent(config))
    host.enable([name], isolation=isolation)
    for grant in grants:
        host.grant(name, grant)
    return host


def worker(host: Host, name: str = "boxed") -> WorkerClient:
    loaded = host.loaded(name)
    assert loaded is not None
    found = worker_of(loaded)
    assert found is not None, f"{name} has no worker ({loaded.status}: {loaded.error})"
    return found


def calls(host: Host, *actions: tuple[str, dict[str, Any]], timeout: float | None = None
          ) -> list[CallResult]:  # fmt: skip
    async def scenario() -> list[CallResult]:
        async with host:
            return [await host.call(f"boxed.{tool}", args, timeout=timeout)
                    for tool, args in actions]  # fmt: skip

    return asyncio.run(scenario())


def gone(pid: int, seconds: float = 5.0) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie of somebody else)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):  # gone between open and read
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def error_of(result: CallResult) -> dict[str, Any]:
    assert not result.ok, result.to_json()
    assert result.error is not None
    return result.error.to_json()


# -- the basics ----------------------------------------------------------------------------


def test_same_results_in_process_and_in_a_worker(
    site: Site, make_host: MakeHost, secret: Path, tmp_path: Path
) -> None:
    actions: list[tuple[str, dict[str, Any]]] = [
        ("add", {"a": 1, "b": "2"}),
        ("add_async", {"a": 40}),
        ("add", {"a": "x", "c": 1}),
        ("add", {}),
        ("read", {"path": str(secret)}),
        ("fail", {"kind": "value"}),
        ("fail", {"kind": "coded"}),
        ("fail", {"kind": "exit"}),
        ("fail", {"kind": "oserror"}),
        ("note", {"text": "kept"}),
    ]
    inprocess = calls(boxed(site, make_host, isolation="inprocess"), *actions)
    other = Host(tmp_path / "home2", paths=[str(site.root)], hook_timeout=5)
    other.enable(["boxed"], isolation="process")
    process = calls(other, *actions)
    for a, b in zip(inprocess, process, strict=True):
        left, right = a.to_json(), b.to_json()
        assert left == right
    assert process[0].result == 3 and process[1].result == {"sum": 42, "items": [40, 2]}
    assert error_of(process[2])["code"] == "invalid_arguments"
    assert "TOP-SECRET-KEY" not in json.dumps([r.to_json() for r in process])


def test_a_worker_is_reused_and_stopped_with_the_host(site: Site, make_host: MakeHost) -> None:
    host = boxed(site, make_host)

    async def scenario() -> tuple[int, list[Any]]:
        async with host:
            pid = worker(host).plugin_pid
            assert pid is not None and pid != os.getpid()
            results = [(await host.call("boxed.pid", {})).result for _ in range(3)]
            return pid, results

    pid, results = asyncio.run(scenario())
    assert results == [pid, pid, pid]
    assert gone(pid)


def test_killing_the_host_kills_its_workers(site: Site, make_host: MakeHost) -> None:
    host = boxed(site, make_host)
    script = textwrap.dedent(
        f"""
        import asyncio
        from jafhost.host.host import Host
        from jafhost.runtime.isolation.launch import worker_of

        async def main():
            host = Host({str(host.layout.home)!r}, paths=[{str(site.root)!r}])
            async with host:
                # a busy worker: it will not notice its pipe closing, only PDEATHSIG stops it
                busy = asyncio.create_task(host.call("boxed.spin", {{}}, timeout=60))
                await asyncio.sleep(0.3)
                worker = worker_of(host.loaded("boxed"))
                print(worker.pid, worker.plugin_pid, flush=True)
                await busy

        asyncio.run(main())
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        pid, inner = (int(word) for word in child.stdout.readline().split())
        assert not gone(pid, 0) and not gone(inner, 0)
        child.kill()  # SIGKILL: no clean-up code runs in the host
        child.wait(10)
        assert gone(pid), f"worker {pid} outlived its host"
        assert gone(inner), f"the plugin's process {inner} outlived its host"
    finally:
        child.kill()
        child.wait()
        for left in (locals().get("pid"), locals().get("inner")):
            if left is not None and not gone(left, 0):
                os.kill(left, 9)


# -- what the worker may see and touch -----------------------------------------------------


def test_a_secret_environment_variable_is_invisible(
    site: Site, make_host: MakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAF_TEST_SECRET", "hunter2")
    monkeypatch.setenv("JAF_TEST_GRANTED", "visible")
    actions = [("env", {"name": "JAF_TEST_SECRET"}), ("env", {"name": "JAF_TEST_GRANTED"})]
    inprocess = calls(boxed(site, make_host, isolation="inprocess"), *actions)
    assert inprocess[0].result is None  # in process, the guard's os.environ hides it

    host = boxed(site, make_host, "env:JAF_TEST_GRANTED")

    async def scenario() -> tuple[list[Any], bytes]:
        async with host:
            results = [(await host.call(f"boxed.{t}", a)).result for t, a in actions]
            with open(f"/proc/{worker(host).plugin_pid}/environ", "rb") as f:
                return results, f.read()

    results, environ = asyncio.run(scenario())
    assert results == [None, "visible"]
    assert b"hunter2" not in environ and b"JAF_TEST_SECRET" not in environ


@needs_landlock
def test_secret_files_stay_unreadable_even_through_ctypes(
    site: Site, make_host: MakeHost, secret: Path, tmp_path: Path
) -> None:
    granted = tmp_path / "granted"
    granted.mkdir()
    (granted / "ok.txt").write_text("fine")
    (granted / "link").symlink_to(secret)
    actions = [
        ("raw_read", {"path": str(secret)}),
        ("raw_read", {"path": str(granted / "link")}),
        ("raw_read", {"path": str(granted / "ok.txt")}),
        ("read", {"path": str(secret)}),
    ]
    grants = ("ffi", f"read:{granted}")
    inprocess = calls(boxed(site, make_host, *grants, isolation="inprocess"), *actions)
    assert inprocess[0].result == "TOP-SECRET-KEY"  # ctypes bypasses the audit hook
    process = calls(boxed(site, make_host, *grants), *actions)
    assert process[0].result == "errno:EACCES"
    assert process[1].result == "errno:EACCES"  # a symlink out of the granted folder
    assert process[2].result == "fine"
    assert error_of(process[3])["code"] == "permission_denied"
    assert "TOP-SECRET-KEY" not in json.dumps([r.to_json() for r in process])


def test_a_thread_started_with_low_level_thread_is_still_confined(
    site: Site, make_host: MakeHost, secret: Path
) -> None:
    action = ("thread_read", {"path": str(secret)})
    inprocess = calls(boxed(site, make_host, isolation="inprocess"), action)
    assert inprocess[0].result == "TOP-SECRET-KEY"  # the documented in-process gap
    (process,) = calls(boxed(site, make_host), action)
    assert "TOP-SECRET-KEY" not in str(process.result)
    assert f"read:{secret}" in str(process.result) or "Permission denied" in str(process.result)


@needs_kernel_net
def test_the_server_is_never_reached_without_net(
    site: Site, make_host: MakeHost, server: CountingHTTPServer
) -> None:
    actions = [("connect", {"port": server.port}), ("raw_connect", {"port": server.port})]
    inprocess = calls(boxed(site, make_host, "ffi", isolation="inprocess"), *actions)
    assert error_of(inprocess[0])["code"] == "permission_denied"
    assert inprocess[1].result == "connected"  # ctypes slips past the audit hook
    assert server.wait_for(1, 5) == 1

    process = calls(boxed(site, make_host, "ffi"), *actions)
    assert error_of(process[0])["permission"] == f"net:127.0.0.1:{server.port}"
    assert process[1].result.split(":")[-1] in ("EPERM", "ENETUNREACH", "EACCES")
    assert server.wait_for(2, 0.5) == 1  # nothing more arrived


def test_a_net_grant_reaches_the_server_from_a_worker(
    site: Site, make_host: MakeHost, server: CountingHTTPServer
) -> None:
    host = boxed(site, make_host, f"net:127.0.0.1:{server.port}")
    (result,) = calls(host, ("fetch", {"port": server.port}))
    assert result.result == "hello"
    assert server.wait_for(1, 5) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="the host holds no capabilities to drop")
def test_a_root_hosts_capabilities_are_dropped_in_its_worker(
    site: Site, make_host: MakeHost
) -> None:
    inprocess = calls(boxed(site, make_host, "ffi", isolation="inprocess"), ("capabilities", {}))
    assert inprocess[0].result[0] != 0  # the host itself runs with capabilities
    host = Host(site.root.parent / "home2", paths=[str(site.root)], hook_timeout=5)
    host.enable(["boxed"], isolation="process")
    host.grant("boxed", "ffi")
    [result] = calls(host, ("capabilities", {}))
    assert result.result == [0, 0, 0], result.to_json()


def test_programs_cannot_be_started_without_run(
    site: Site, make_host: MakeHost, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    actions = [
        ("run", {"argv": ["touch", str(marker)]}),
        ("raw_system", {"command": f"touch {marker}"}),
    ]
    inprocess = calls(boxed(site, make_host, "ffi", isolation="inprocess"), *actions)
    assert error_of(inprocess[0])["permission"] == "run:touch"
    assert marker.exists()  # libc's system() is invisible to the audit hook
    marker.unlink()
    process = calls(boxed(site, make_host, "ffi", f"write:{tmp_path}"), *actions)
    assert error_of(process[0])["permission"] == "run:touch"
    assert process[1].result != 0
    assert not marker.exists()


def test_grants_follow_the_state_at_each_worker_start(
    site: Site, make_host: MakeHost, secret: Path
) -> None:
    host = boxed(site, make_host, "ffi", f"read:{secret.parent}")
    action = {"path": str(secret)}

    async def scenario() -> list[Any]:
        seen = []
        async with host:
            seen.append((await host.call("boxed.raw_read", action)).result)
            host.revoke("boxed", f"read:{secret.parent}")
            seen.append((await host.call("boxed.raw_read", action)).result)  # same worker
            worker(host).kill()
            seen.append((await host.call("boxed.raw_read", action)).result)  # new worker
            seen.append((await host.call("boxed.read", action)).to_json()["error"]["code"])
            host.grant("boxed", f"read:{secret.parent}")
            await host.deactivate("boxed")
            await host.activate("boxed")
            seen.append((await host.call("boxed.read", action)).result)
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == seen[1] == "TOP-SECRET-KEY"
    assert seen[2] == ("errno:EACCES" if FEATURES.landlock_abi else "TOP-SECRET-KEY")
    assert seen[3] == "permission_denied"
    assert seen[4] == "TOP-SECRET-KEY"


# -- crashes, hangs, limits ------------------------------------------------------------------


def test_an_endless_loop_times_out_and_its_worker_is_killed(
    site: Site, make_host: MakeHost
) -> None:
    host = boxed(site, make_host)

    async def scenario() -> tuple[int, CallResult, CallResult, int | None]:
        async with host:
            first = worker(host).pid
            assert first is not None
            inner = worker(host).plugin_pid
            assert inner is not None
            hung = await host.call("boxed.spin", {}, timeout=0.5)
            assert gone(first, 0)  # killed and reaped before the call returned
            assert gone(inner)
            after = await host.call("boxed.pid", {})
            return inner, hung, after, worker(host).plugin_pid

    first, hung, after, second = asyncio.run(scenario())
    assert error_of(hung)["code"] == "timeout"
    assert after.ok and after.result == second and second != first


def test_a_worker_killed_between_calls_is_replaced_silently(
    site: Site, make_host: MakeHost
) -> None:
    host = boxed(site, make_host)

    async def scenario() -> tuple[int, CallResult]:
        async with host:
            first = worker(host).pid
            inner = worker(host).plugin_pid
            assert first is not None and inner is not None
            os.kill(first, 9)  # from outside, while no call is in flight
            if worker(host).forked:  # the zygote's child: it reaps it
                assert gone(first)
            else:  # until every thread has exited (and the pipes are closed), without reaping
                os.waitid(os.P_PID, first, os.WEXITED | os.WNOWAIT)
            assert gone(inner)  # the plugin's process goes with the one the host started
            return inner, await host.call("boxed.pid", {})

    first, after = asyncio.run(scenario())
    assert after.ok and after.result != first, after.to_json()


@pytest.mark.parametrize(
    ("tool", "args", "how"),
    [
        ("die", {"code": 3}, "exited with status 3"),
        ("segfault", {}, "SIGSEGV"),
        ("out_of_cpu", {}, "CPU time limit"),
    ],
)
def test_a_crash_fails_the_call_clearly_then_the_next_call_works(
    site: Site, make_host: MakeHost, tool: str, args: dict[str, Any], how: str
) -> None:
    host = boxed(site, make_host, "ffi")
    crashed, after = calls(host, (tool, args), ("add", {"a": 2, "b": 3}))
    error = error_of(crashed)
    assert error["code"] == "tool_error"
    assert "plugin boxed" in error["message"] and how in error["message"]
    assert after.result == 5, after.to_json()


def test_a_memory_bomb_is_reported_and_the_worker_restarts(site: Site, make_host: MakeHost) -> None:
    host = boxed(site, make_host, config="[host]\nmemory_mb = 512\n")
    bomb, after, small = calls(
        host, ("bomb", {"mb": 1024}), ("add", {"a": 1, "b": 1}), ("bomb", {"mb": 16})
    )
    error = error_of(bomb)
    assert error["exception"] == "MemoryError" and "512 MB" in error["message"]
    assert after.result == 2 and small.result == 16 * 1024 * 1024


def test_a_plugin_that_dies_while_importing_is_broken_not_fatal(
    site: Site, make_host: MakeHost
) -> None:
    site.plugin("exits", code="import os\nos._exit(4)\n")
    site.plugin("raises", code="raise ValueError('no config file')\n")
    host = make_host()
    host.enable(["exits", "raises"], isolation="process")

    async def scenario() -> dict[str, Any]:
        async with host:
            return {n: host.loaded(n) for n in ("exits", "raises")}

    loaded = asyncio.run(scenario())
    assert loaded["exits"].status == "broken"
    assert "exited with status 4" in (loaded["exits"].error or "")
    assert loaded["raises"].status == "broken"
    assert "ValueError: no config file" in (loaded["raises"].error or "")


# -- events, reporting ---------------------------------------------------------------------

EVENTS = """
from jafhost import PluginContext

def handler(event, ctx: PluginContext):
    with open(ctx.data_dir / "events.txt", "a") as f:
        f.write(f"{event.name} {event.data}\\n")

def shout(ctx: PluginContext, text: str) -> str:
    ctx.emit("boxed.shouted", text)
    return text

@hookimpl
def jaf_event_handlers():
    return {"note.*": handler}

@hookimpl
def jaf_tools():
    return [shout]
"""


def test_events_reach_handlers_in_the_worker(site: Site, make_host: MakeHost) -> None:
    host = boxed(site, make_host, code=EVENTS)
    received: list[Any] = []

    async def scenario() -> Any:
        async with host:
            report = await host.emit("note.added", {"id": 1})
            result = await host.call("boxed.shout", {"text": "hey"})
            await asyncio.sleep(0.05)
            return report, result

    original = host.emit

    async def spy(name: str, data: Any = None, *, source: str = "host") -> Any:
        received.append((name, data, source))
        return await original(name, data, source=source)

    host.emit = spy  # type: ignore[method-assign]
    report, result = asyncio.run(scenario())
    assert report.delivered == [{"plugin": "boxed", "pattern": "note.*"}]
    text = (host.layout.data_dir("boxed") / "events.txt").read_text()
    assert text == "note.added {'id': 1}\n"
    assert result.result == "hey" and ("boxed.shouted", "hey", "boxed") in received


AUDITOR = """
import json
from jafhost import PluginContext

def record(event, ctx: PluginContext):
    with open(ctx.data_dir / "denied.jsonl", "a") as f:
        f.write(json.dumps(event.data) + "\\n")

@hookimpl
def jaf_event_handlers():
    return {"permission.denied": record}
"""


def test_denials_in_a_worker_are_published_as_events(
    site: Site, make_host: MakeHost, secret: Path
) -> None:
    site.plugin("auditor", code=AUDITOR, manifest="[permissions]\nobserve = true\n")
    host = boxed(site, make_host)
    host.enable(["auditor"], approve=lambda info, new: True)  # denials of others: observe

    async def scenario() -> CallResult:
        async with host:
            result = await host.call("boxed.read", {"path": str(secret)})
            for _ in range(100):
                await asyncio.sleep(0.01)
                if (host.layout.data_dir("auditor") / "denied.jsonl").exists():
                    break
            return result

    result = asyncio.run(scenario())
    assert error_of(result)["permission"] == f"read:{secret}"
    lines = (host.layout.data_dir("auditor") / "denied.jsonl").read_text().splitlines()
    assert [json.loads(line)["permission"] for line in lines] == [f"read:{secret}"]
    assert json.loads(lines[0])["plugin"] == "boxed"


def test_info_and_doctor_report_protections(site: Site, make_host: MakeHost) -> None:
    host = boxed(site, make_host)
    info = run_cli("info", "boxed", "--json", site=site, home=host.layout.home)
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["isolation"] == "process"
    assert data["protections"] == sandbox.plan(worker_spec(host))
    doctor = run_cli("doctor", "--json", site=site, home=host.layout.home)
    entry = next(p for p in json.loads(doctor.stdout)["plugins"] if p["name"] == "boxed")
    assert "kill-on-timeout" in entry["protections"] and "audit-guard" in entry["protections"]
    if FEATURES.landlock_abi:
        assert f"landlock-fs:abi{FEATURES.landlock_abi}" in entry["protections"]
    if FEATURES.netns:
        assert "netns" in entry["protections"]
    table = run_cli("info", "boxed", site=site, home=host.layout.home)
    assert "protections" in table.stdout and "env-filter" in table.stdout


def worker_spec(host: Host) -> sandbox.SandboxSpec:
    info = host.resolution().get("boxed")
    assert info is not None
    spec = host.runtime.worker_spec(info.info, {})
    return spec.sandbox(spec.grants())
