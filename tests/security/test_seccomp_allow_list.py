"""The worker's seccomp filter is an allow-list: a call Python does not need is refused
(ENOSYS, or EPERM for the named dangerous ones), and what plugins do need still works.

The attacker is a real plugin in a real worker, with the audit guard switched off
(hostile code can), calling the kernel by number through ``ctypes`` (``syscall(NR,
...)``), so no Python-level check stands in the way. Each call is also made in process,
where no filter applies, for the ones that succeed there (System V shared memory, which
the worker would share with the host; an anonymous ``memfd`` file; ``personality``),
so the test fails if the filter lets them through. The workload plugin uses threads,
asyncio, a program under a ``run`` grant, sqlite3, ssl, mmap, signals and a TCP
connection to a listener of the test under a ``net`` grant; ground truth for the last
is the bytes the listener received.
"""

from __future__ import annotations

import asyncio
import platform
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import GUARD_OFF, Site, cli_call
from jafhost.host.host import Host
from jafhost.security import sandbox

FEATURES = sandbox.probe()
MACHINE = platform.machine().lower().replace("arm64", "aarch64")
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers"),
    pytest.mark.skipif(not FEATURES.seccomp, reason="seccomp filter not available here"),
]
MakeHost = Callable[..., Host]

NUMBERS = {
    "x86_64": {
        "shmget": 29, "personality": 135, "memfd_create": 319, "io_setup": 206,
        "ptrace": 101, "bpf": 321, "perf_event_open": 298, "keyctl": 250, "userfaultfd": 323,
        "kexec_load": 246, "init_module": 175, "process_vm_readv": 310, "unshare": 272,
        "setns": 308, "mount": 165, "pivot_root": 155, "open_tree": 428, "mount_setattr": 442,
        "io_uring_setup": 425, "add_key": 248, "setuid": 105, "clone3": 435,
        "prlimit64": 302, "ioctl": 16,
    },
    "aarch64": {
        "shmget": 194, "personality": 92, "memfd_create": 279, "io_setup": 0,
        "ptrace": 117, "bpf": 280, "perf_event_open": 241, "keyctl": 219, "userfaultfd": 282,
        "kexec_load": 104, "init_module": 105, "process_vm_readv": 270, "unshare": 97,
        "setns": 268, "mount": 40, "pivot_root": 41, "open_tree": 428, "mount_setattr": 442,
        "io_uring_setup": 425, "add_key": 217, "setuid": 146, "clone3": 435,
        "prlimit64": 261, "ioctl": 29,
    },
}  # fmt: skip
"""This machine's numbers of the calls tried (``asm/unistd*.h``), written out here rather
than taken from the filter's own table."""

CALLER = (
    GUARD_OFF
    + '''
import ctypes, errno, os


_guard_off()  # at import: loading the C library is an ffi permission otherwise
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
LIBC.syscall.argtypes = [ctypes.c_long] * 7


def call(numbers: dict) -> dict:
    """Each call with arguments that change nothing even where it is allowed (no
    ``PTRACE_TRACEME``: the caller would stop at its next signal): the value, or the
    errno's name."""
    _guard_off()
    n = numbers
    buffer = ctypes.create_string_buffer(256)
    address = ctypes.addressof(buffer)
    tries = {
        "shmget": (n["shmget"], 0, 4096, 0o1600),  # IPC_PRIVATE, IPC_CREAT | 0600
        "personality": (n["personality"], 0xFFFFFFFF),  # a query
        "memfd_create": (n["memfd_create"], ctypes.addressof(ctypes.c_char_p(b"x")), 0),
        "io_setup": (n["io_setup"], 1, address),
        "ptrace": (n["ptrace"], 0x7FFFFFFF, 0),  # no such request
        "bpf": (n["bpf"], 0, address, 8),
        "perf_event_open": (n["perf_event_open"], 0, 0, -1, -1, 0),
        "keyctl": (n["keyctl"], 0, -2, 0),  # KEYCTL_GET_KEYRING_ID of the process keyring
        "userfaultfd": (n["userfaultfd"], 0),
        "kexec_load": (n["kexec_load"], 0, 0, 0, 0xFFFFFFFF),  # no such flags
        "init_module": (n["init_module"], 0, 0, 0),
        "process_vm_readv": (n["process_vm_readv"], os.getppid(), 0, 0, 0, 0, 0),
        "unshare": (n["unshare"], 0),  # nothing
        "setns": (n["setns"], -1, 0),
        "mount": (n["mount"], 0, 0, 0, 0, 0),
        "pivot_root": (n["pivot_root"], 0, 0),
        "open_tree": (n["open_tree"], -100, address, 1),  # OPEN_TREE_CLONE
        "mount_setattr": (n["mount_setattr"], -1, address, 0, 0, 0),
        "io_uring_setup": (n["io_uring_setup"], 1, address),
        "add_key": (n["add_key"], 0, 0, 0, 0, 0),
        "setuid": (n["setuid"], os.getuid()),
        "clone3": (n["clone3"], 0, 0),
        "host_rlimit": (n["prlimit64"], os.getppid(), 7, 0, address),  # RLIMIT_NOFILE
        "tiocsti": (n["ioctl"], 2, 0x5412, address),  # type into stderr's terminal
    }
    out = {}
    for name, args in tries.items():
        value = LIBC.syscall(*args, *[0] * (7 - len(args)))
        out[name] = value if value >= 0 else errno.errorcode[ctypes.get_errno()]
        if name == "shmget" and value >= 0:
            LIBC.shmctl(ctypes.c_int(value), 0, None)  # IPC_RMID: the test leaves none
        elif name == "memfd_create" and value >= 0:
            os.close(value)
    return out


@hookimpl
def jaf_tools():
    return [call]
'''
)

REFUSED = {"EPERM", "ENOSYS"}


def run_tool(host: Host, tool: str, args: dict[str, Any]) -> Any:
    async def run() -> Any:
        async with host:
            return await host.call(tool, args)

    return asyncio.run(run())


@pytest.mark.skipif(MACHINE not in NUMBERS, reason=f"no system call numbers for {MACHINE}")
def test_calls_off_the_list_are_refused_in_a_worker(
    site: Site, make_host: MakeHost, home: Path
) -> None:
    site.plugin("caller", code=CALLER)
    numbers = NUMBERS[MACHINE]
    host = make_host()
    host.enable(["caller"], isolation="process")
    boxed = run_tool(host, "caller.call", {"numbers": numbers})
    assert boxed.ok, boxed.to_json()
    wrong = {name: value for name, value in boxed.result.items() if value not in REFUSED}
    assert not wrong, wrong
    assert boxed.result["shmget"] == "ENOSYS"  # off the list: "no such call here"
    assert boxed.result["ptrace"] == "EPERM"  # named: "not permitted"
    assert boxed.result["host_rlimit"] == "EPERM"  # the host's own limits
    assert boxed.result["tiocsti"] == "EPERM"

    free = cli_call(home, site, "inprocess", "caller", "caller.call", numbers=numbers)
    for name in ("shmget", "memfd_create", "personality", "host_rlimit"):
        assert isinstance(free[name], int), (name, free[name])
    assert free["tiocsti"] != "EPERM"  # ENOTTY on a pipe, EIO... never the filter's


WORKLOAD = """
import asyncio, hashlib, json, mmap, os, signal, socket, sqlite3, ssl, subprocess
import tempfile, threading, zlib

import pydantic


class Point(pydantic.BaseModel):
    x: int
    y: int


def work(port: int) -> dict:
    out = {}
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(i * i)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["threads"] = sorted(results)

    async def gather() -> list:
        async def one(i: int) -> int:
            await asyncio.sleep(0.01)
            return i
        loop = asyncio.get_running_loop()
        done = await asyncio.gather(*(one(i) for i in range(3)))
        done.append(await loop.run_in_executor(None, sum, [1, 2]))
        return done
    out["asyncio"] = asyncio.run(gather())

    out["echo"] = subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout

    db = sqlite3.connect("work.db")  # in the data folder
    db.execute("pragma journal_mode=wal")
    db.execute("create table if not exists t (v text)")
    with db:
        db.execute("insert into t values (?)", ("row",))
    out["sqlite"] = db.execute("select count(*) from t").fetchone()[0]
    db.close()

    with open("blob.bin", "wb") as f:
        f.write(b"\\0" * 4096)
    with open("blob.bin", "r+b") as f, mmap.mmap(f.fileno(), 4096) as m:
        m[:5] = b"hello"
        out["mmap"] = bytes(m[:5]).decode()

    fired = []
    signal.signal(signal.SIGALRM, lambda *a: fired.append(True))
    signal.setitimer(signal.ITIMER_REAL, 0.01)
    signal.sigtimedwait([signal.SIGUSR1], 0.2)
    out["signal"] = bool(fired) or "no alarm"

    with tempfile.NamedTemporaryFile() as tmp:  # TMPDIR: the cache folder
        tmp.write(b"x")
        out["tempfile"] = True

    out["ssl"] = isinstance(ssl.create_default_context(), ssl.SSLContext)
    out["pydantic"] = Point.model_validate({"x": 1, "y": "2"}).y
    out["misc"] = (hashlib.sha256(os.urandom(8)).hexdigest() != "", len(zlib.compress(b"a")))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"WORKLOAD")
    out["socket"] = True
    return out


@hookimpl
def jaf_tools():
    return [work]
"""


def test_a_full_workload_runs_under_the_allow_list(
    site: Site, make_host: MakeHost, home: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]
        manifest = f'[permissions]\nrun = ["echo"]\nnet = ["127.0.0.1:{port}"]\n'
        site.plugin("workload", code=WORKLOAD, manifest=manifest)
        (home / "plugins" / "workload" / "data").mkdir(parents=True)
        host = make_host()
        host.enable(["workload"], approve=lambda info, new: True, isolation="process")
        done = run_tool(host, "workload.work", {"port": port})
        assert done.ok, done.to_json()
        conn, _ = listener.accept()
        with conn:
            assert conn.recv(64) == b"WORKLOAD"
    assert done.result == {
        "threads": [0, 1, 4, 9],
        "asyncio": [0, 1, 2, 3],
        "echo": "hi\n",
        "sqlite": 1,
        "mmap": "hello",
        "signal": True,
        "tempfile": True,
        "ssl": True,
        "pydantic": 2,
        "misc": [True, 9],
        "socket": True,
    }
