"""New namespaces for a worker: an empty network namespace for one without ``net``
grants (no interface but a downed loopback, so no TCP, UDP or raw traffic can leave), and
a mount namespace for its read-only view of the files (``mounts``).

As root they are made directly; otherwise inside a new user namespace that maps the
worker's own uid and gid (so it stays the same user, with no capabilities outside).
"""

from __future__ import annotations

import ctypes
import os

from jafhost.security.sandbox.kernel import (
    CLONE_NEWNET,
    CLONE_NEWUSER,
    SandboxError,
    check,
    libc,
)


def enter_namespaces(flags: int, what: str = "unshare") -> str:
    """Enter new namespaces (``CLONE_NEW*`` ``flags``); returns how (``root`` or
    ``userns``). ``what`` names the step in the error when neither works."""
    lib = libc()
    if lib.unshare(ctypes.c_int(flags)) == 0:
        return "root"
    uid, gid = os.getuid(), os.getgid()
    check(lib.unshare(ctypes.c_int(CLONE_NEWUSER | flags)), what)
    for path, text in (
        ("/proc/self/setgroups", "deny"),
        ("/proc/self/uid_map", f"{uid} {uid} 1"),
        ("/proc/self/gid_map", f"{gid} {gid} 1"),
    ):
        try:
            with open(path, "w", encoding="ascii") as f:
                f.write(text)
        except OSError as exc:
            raise SandboxError(f"user namespace: writing {path}: {exc}") from None
    return "userns"


def new_netns() -> str:
    """Enter a new, empty network namespace; returns how (``root`` or ``userns``)."""
    return enter_namespaces(CLONE_NEWNET, "unshare(CLONE_NEWNET)")
