"""A new, empty network namespace for a worker without ``net`` grants: no interface but
a downed loopback, so no TCP, UDP or raw traffic can leave."""

from __future__ import annotations

import ctypes
import os

from jafhost.security.sandbox.kernel import CLONE_NEWNET, CLONE_NEWUSER, SandboxError, check, libc


def new_netns() -> str:
    """Enter a new, empty network namespace; returns how (``root`` or ``userns``)."""
    lib = libc()
    if lib.unshare(ctypes.c_int(CLONE_NEWNET)) == 0:
        return "root"
    uid, gid = os.getuid(), os.getgid()
    check(lib.unshare(ctypes.c_int(CLONE_NEWUSER | CLONE_NEWNET)), "unshare(CLONE_NEWNET)")
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
