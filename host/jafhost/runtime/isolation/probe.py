"""The probe plugin ``jafhost doctor`` runs in a worker of its own (``host/proofs.py``).

Its one tool attempts what the sandbox must refuse, through libc (ctypes, the probe's
only grant: ``ffi``), so the audit guard never sees it and the kernel's restrictions
alone answer: read a file the host created outside the grants, create a file in a
folder the host created outside the grants, connect to a loopback listener the host
opened. It first writes the host's nonce into its own data folder, so the host knows
the attempts really ran. What it returns is not believed: the host checks each outcome
itself (the file's content never reaching it, no file created, no connection accepted).
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
from typing import Any

from jafhost.hookspecs import hookimpl

_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _errno() -> str:
    return os.strerror(ctypes.get_errno())


def _write(path: str, text: str) -> str:
    libc = _libc()
    fd = libc.open(path.encode(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    if fd < 0:
        return f"refused: {_errno()}"
    data = text.encode()
    libc.write(fd, data, len(data))
    libc.close(fd)
    return "done"


def _read(path: str) -> str:
    libc = _libc()
    fd = libc.open(path.encode(), os.O_RDONLY | os.O_CLOEXEC)
    if fd < 0:
        return f"refused: {_errno()}"
    buf = ctypes.create_string_buffer(4096)
    count = libc.read(fd, buf, 4096)
    libc.close(fd)
    return buf.raw[: max(count, 0)].decode("utf-8", "replace")


def _connect(port: int) -> str:
    libc = _libc()
    fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    if fd < 0:
        return f"refused at socket(): {_errno()}"
    address = struct.pack("=H", socket.AF_INET) + struct.pack("!H", port)
    address += socket.inet_aton("127.0.0.1") + bytes(8)
    result = libc.connect(fd, address, len(address))
    error = _errno()
    libc.close(fd)
    return "connected" if result == 0 else f"refused at connect(): {error}"


def attempt(mark: str, nonce: str, read: str, create: str, port: int) -> dict[str, Any]:
    """Write ``nonce`` to ``mark`` (allowed), then try the three denied actions."""
    return {
        "mark": _write(mark, nonce),
        "read": _read(read),
        "create": _write(create, nonce),
        "connect": _connect(port),
    }


@hookimpl
def jaf_tools() -> list[Any]:
    return [attempt]
