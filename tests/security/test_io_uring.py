"""io_uring in a worker: the kernel's second door to sockets and files.

io_uring performs ``socket``, ``connect``, ``openat``... inside the kernel, without the
system calls a seccomp filter sees. A worker without a ``write`` grant has
``socket(AF_UNIX)`` refused by seccomp, and Landlock (ABI 7) does not restrict
``connect()`` to an existing socket file: through a ring the plugin could connect to any
socket file the user reaches (ssh-agent, the Docker daemon, D-Bus). The worker's filter
therefore answers the three io_uring calls with ENOSYS.

The plugin below is the attacker: real code in a real distribution, run by the real CLI,
with the audit guard switched off (hostile code can), driving a ring through ctypes. The
same code is run in process first, to show the attack is real on this kernel; ground
truth is the ring descriptor it gets (none) and the connections the listener the test
owns has accepted (none).
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import GUARD_OFF, Site, run_cli
from jafhost.security import sandbox

FEATURES = sandbox.probe()
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers"),
    pytest.mark.skipif(not FEATURES.seccomp, reason="seccomp filter not available here"),
]

URING = (
    GUARD_OFF
    + '''
import ctypes, errno, mmap, os, socket, struct


_guard_off()
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
LIBC.syscall.argtypes = [ctypes.c_long] * 7
LIBC.mmap.restype = ctypes.c_void_p
LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
SETUP, ENTER = 425, 426  # io_uring_setup, io_uring_enter (x86-64)
OP_CONNECT, OP_SOCKET = 16, 45
OFF_SQ_RING, OFF_CQ_RING, OFF_SQES = 0, 0x8000000, 0x10000000


def _name(err: int) -> str:
    return errno.errorcode.get(err, str(err))


def setup() -> dict:
    """syscall(425, 1, params): a ring descriptor, or the errno."""
    _guard_off()
    params = ctypes.create_string_buffer(120)
    fd = LIBC.syscall(SETUP, 1, ctypes.addressof(params), 0, 0, 0, 0)
    err = ctypes.get_errno()
    if fd >= 0:
        os.close(fd)
        return {"fd": fd}
    return {"fd": fd, "errno": _name(err)}


class Ring:
    """A minimal io_uring: one request at a time."""

    def __init__(self) -> None:
        params = ctypes.create_string_buffer(120)
        self.fd = LIBC.syscall(SETUP, 4, ctypes.addressof(params), 0, 0, 0, 0)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "io_uring_setup")
        sq_entries, cq_entries = struct.unpack_from("=2I", params.raw, 0)
        sq = struct.unpack_from("=8IQ", params.raw, 40)  # io_sqring_offsets
        cq = struct.unpack_from("=8IQ", params.raw, 80)  # io_cqring_offsets
        prot, flags = mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED
        self.sq = LIBC.mmap(None, sq[6] + sq_entries * 4, prot, flags, self.fd, OFF_SQ_RING)
        self.cq = LIBC.mmap(None, cq[5] + cq_entries * 16, prot, flags, self.fd, OFF_CQ_RING)
        self.sqes = LIBC.mmap(None, sq_entries * 64, prot, flags, self.fd, OFF_SQES)
        if any(ctypes.c_long(a or 0).value in (0, -1) for a in (self.sq, self.cq, self.sqes)):
            raise OSError(ctypes.get_errno(), "mmap")
        self.sq_tail, self.sq_mask, self.sq_array = sq[1], sq[2], sq[6]
        self.cq_head, self.cq_mask, self.cqes = cq[0], cq[2], cq[5]

    def _u32(self, address: int) -> ctypes.c_uint32:
        return ctypes.c_uint32.from_address(address)

    def run(self, opcode: int, fd: int, addr: int = 0, length: int = 0, off: int = 0) -> int:
        """Submit one request, wait for it; its result (a descriptor, 0 or -errno)."""
        tail = self._u32(self.sq + self.sq_tail)
        index = tail.value & self._u32(self.sq + self.sq_mask).value
        sqe = struct.pack("=BBHiQQIIQHHiQQ", opcode, 0, 0, fd, off, addr, length, 0, 1,
                          0, 0, 0, 0, 0)
        ctypes.memmove(self.sqes + index * 64, sqe, 64)
        self._u32(self.sq + self.sq_array + index * 4).value = index
        tail.value += 1
        if LIBC.syscall(ENTER, self.fd, 1, 1, 1, 0, 0) < 0:  # IORING_ENTER_GETEVENTS
            raise OSError(ctypes.get_errno(), "io_uring_enter")
        head = self._u32(self.cq + self.cq_head)
        at = self.cq + self.cqes + (head.value & self._u32(self.cq + self.cq_mask).value) * 16
        _, res, _ = struct.unpack("=QiI", ctypes.string_at(at, 16))
        head.value += 1
        return res


def attack(path: str) -> dict:
    """An AF_UNIX socket connected to ``path``, by io_uring alone (no socket() call)."""
    _guard_off()
    try:
        ring = Ring()
    except OSError as exc:
        return {"setup": _name(exc.errno)}
    sock = ring.run(OP_SOCKET, socket.AF_UNIX, off=socket.SOCK_STREAM)
    if sock < 0:
        return {"setup": "ok", "socket": _name(-sock)}
    address = ctypes.create_string_buffer(
        struct.pack("=H", socket.AF_UNIX) + path.encode() + b"\\0"
    )
    res = ring.run(OP_CONNECT, sock, addr=ctypes.addressof(address), off=len(address.raw))
    os.close(sock)
    return {"setup": "ok", "socket": "ok", "connect": "connected" if res == 0 else _name(-res)}


@hookimpl
def jaf_tools():
    return [setup, attack]
'''
)


def call(home: Path, site: Site, isolation: str, *args: str) -> object:
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    ran = run_cli("call", *args, site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


@pytest.fixture
def listener() -> Iterator[tuple[str, socket.socket]]:
    """A UNIX socket listening on a file (a short path: ``sun_path`` holds 108 bytes),
    standing for ssh-agent's or Docker's."""
    with tempfile.TemporaryDirectory(prefix="jafu") as folder:
        path = str(Path(folder) / "agent.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen(8)
        sock.setblocking(False)
        try:
            yield path, sock
        finally:
            sock.close()


def accepted(sock: socket.socket) -> int:
    """Connections made to the listener so far (accepted and closed here)."""
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_io_uring_setup_is_refused_in_a_worker(home: Path, site: Site) -> None:
    site.plugin("uring", code=URING)
    assert call(home, site, "process", "uring.setup") == {"fd": -1, "errno": "ENOSYS"}
    free = call(home, site, "inprocess", "uring.setup")
    assert isinstance(free, dict)
    if free.get("errno"):
        pytest.skip(f"io_uring is not available on this host at all ({free['errno']})")
    assert free["fd"] >= 0  # the same code gets a ring where no filter stands in the way


def test_io_uring_cannot_connect_a_worker_to_a_unix_socket_file(
    home: Path, site: Site, listener: tuple[str, socket.socket]
) -> None:
    path, sock = listener
    site.plugin("uring", code=URING)
    free = call(home, site, "inprocess", "uring.attack", "-a", f"path={path}")
    if free == {"setup": "ok", "socket": "ok", "connect": "connected"}:
        assert accepted(sock) == 1  # the attack is real on this kernel
    assert accepted(sock) == 0
    boxed = call(home, site, "process", "uring.attack", "-a", f"path={path}")
    assert boxed == {"setup": "ENOSYS"}
    assert accepted(sock) == 0, "the worker reached the socket file"
