"""Calling the Linux kernel from Python: libc through ctypes, ``prctl``, the process's
``/proc/self/status``, and the one error every sandbox step raises.

The numbers are the Linux uapi's (``<linux/prctl.h>``, ``<linux/sched.h>``,
``<linux/capability.h>``); each step's own numbers live in its module.
"""

from __future__ import annotations

import ctypes
import errno
import os

PR_SET_PDEATHSIG = 1
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CAP_SETPCAP = 8
CAP_SYS_ADMIN = 21
LINUX_CAPABILITY_VERSION_3 = 0x20080522


class SandboxError(Exception):
    """A restriction could not be applied; the message says which and why."""


_LIBC: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def check(result: int, what: str) -> int:
    """``result`` of a libc call, or ``SandboxError`` naming ``what`` and the errno."""
    if result < 0:
        code = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(code)} (errno {errno.errorcode.get(code)})")
    return result


def prctl(option: int, *args: int) -> int:
    lib = libc()
    values = [ctypes.c_ulong(a) for a in args] + [ctypes.c_ulong(0)] * (4 - len(args))
    return int(lib.prctl(ctypes.c_int(option), *values))


def status_field(name: str) -> str | None:
    """One field of ``/proc/self/status`` (``CapEff``, ``Seccomp`` ...), None if absent."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def has_cap(cap: int) -> bool:
    """Whether this process holds capability ``cap`` in its effective set."""
    text = status_field("CapEff")
    try:
        return text is not None and bool(int(text, 16) >> cap & 1)
    except ValueError:
        return False


class LinkedAway(SandboxError):
    """A path resolved earlier now leads elsewhere through a link."""


def open_exact(path: str) -> int:
    """An ``O_PATH`` descriptor naming ``path`` itself (a real path), refused with
    ``LinkedAway`` when a link swapped in since the path was resolved leads elsewhere:
    what the descriptor opened is checked, so no later change of the folder matters."""
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        opened = os.readlink(f"/proc/self/fd/{fd}")
    except OSError as exc:
        os.close(fd)
        raise SandboxError(f"cannot check what {path} names: {exc}") from exc
    if opened != path:
        os.close(fd)
        raise LinkedAway(f"{path} leads to {opened} through a link")
    return fd
