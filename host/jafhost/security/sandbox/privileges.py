"""The worker's ties and privileges: it dies with the host (``PR_SET_PDEATHSIG``), gains
no privileges (``no_new_privs``), and drops every capability a root host gave it."""

from __future__ import annotations

import ctypes
import os
import signal
import struct

from jafhost.security.sandbox.kernel import (
    CAP_SETPCAP,
    LINUX_CAPABILITY_VERSION_3,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAPBSET_DROP,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    check,
    libc,
    prctl,
    read_int,
)


def set_pdeathsig(parent_pid: int) -> None:
    """Die (SIGKILL) when the parent dies; exit at once if it already has."""
    check(prctl(PR_SET_PDEATHSIG, signal.SIGKILL), "prctl(PR_SET_PDEATHSIG)")
    if parent_pid and os.getppid() != parent_pid:
        os._exit(1)


def no_new_privs() -> None:
    check(prctl(PR_SET_NO_NEW_PRIVS, 1), "prctl(PR_SET_NO_NEW_PRIVS)")


PR_CAPBSET_READ = 23


def _capabilities() -> tuple[int, int, int]:
    """This process's effective, permitted and inheritable sets, from ``capget`` (not
    ``/proc/self/status``: in a PID namespace ``/proc/self`` is not the path Landlock
    was told is the worker's own)."""
    header = ctypes.create_string_buffer(struct.pack("=Ii", LINUX_CAPABILITY_VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(24)
    check(libc().capget(header, data), "capget")
    low = struct.unpack_from("=III", data.raw, 0)
    high = struct.unpack_from("=III", data.raw, 12)
    eff, perm, inh = (low[i] | high[i] << 32 for i in range(3))
    return eff, perm, inh


def _last_cap() -> int:
    last = read_int("/proc/sys/kernel/cap_last_cap")
    if last is not None:
        return last
    cap = 0
    while prctl(PR_CAPBSET_READ, cap + 1) >= 0:  # EINVAL past the last one
        cap += 1
    return cap


def drop_capabilities() -> bool:
    """Drop every capability (for good: bounding set first). False if there were none."""
    eff, perm, inh = _capabilities()
    last = _last_cap()
    bounding = any(prctl(PR_CAPBSET_READ, cap) == 1 for cap in range(last + 1))
    if not (eff or perm or inh or bounding):
        return False
    if eff >> CAP_SETPCAP & 1:  # needed to shrink the bounding set
        for cap in range(last + 1):
            prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = struct.pack("=Ii", LINUX_CAPABILITY_VERSION_3, 0)
    data = b"\0" * 24  # two __user_cap_data_struct: effective, permitted, inheritable
    head_buf = ctypes.create_string_buffer(header, len(header))
    data_buf = ctypes.create_string_buffer(data, len(data))
    check(libc().capset(head_buf, data_buf), "capset")
    return True
