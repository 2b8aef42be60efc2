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
    has_cap,
    libc,
    prctl,
    read_int,
    status_field,
)


def set_pdeathsig(parent_pid: int) -> None:
    """Die (SIGKILL) when the parent dies; exit at once if it already has."""
    check(prctl(PR_SET_PDEATHSIG, signal.SIGKILL), "prctl(PR_SET_PDEATHSIG)")
    if parent_pid and os.getppid() != parent_pid:
        os._exit(1)


def no_new_privs() -> None:
    check(prctl(PR_SET_NO_NEW_PRIVS, 1), "prctl(PR_SET_NO_NEW_PRIVS)")


def drop_capabilities() -> bool:
    """Drop every capability (for good: bounding set first). False if there were none."""
    text = status_field("CapEff") or "0"
    bounding = status_field("CapBnd") or "0"
    if int(text, 16) == 0 and int(bounding, 16) == 0:
        return False
    last = read_int("/proc/sys/kernel/cap_last_cap") or 40
    if has_cap(CAP_SETPCAP):  # needed to shrink the bounding set
        for cap in range(last + 1):
            prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = struct.pack("=Ii", LINUX_CAPABILITY_VERSION_3, 0)
    data = b"\0" * 24  # two __user_cap_data_struct: effective, permitted, inheritable
    head_buf = ctypes.create_string_buffer(header, len(header))
    data_buf = ctypes.create_string_buffer(data, len(data))
    check(libc().capset(head_buf, data_buf), "capset")
    return True
