"""What this kernel and the host's privileges let a worker use (``probe``, cheap and
cached; no process is started), and the protections a worker would get (``plan``),
for ``jafhost info``/``doctor`` before any plugin runs."""

from __future__ import annotations

import sys
from typing import Any

from jafhost.frozen import Frozen
from jafhost.security.sandbox.kernel import (
    CAP_SYS_ADMIN,
    PR_GET_SECCOMP,
    has_cap,
    libc,
    read_int,
    status_field,
)
from jafhost.security.sandbox.landlock import granted_ports, landlock_abi
from jafhost.security.sandbox.seccomp import machine, supported
from jafhost.security.sandbox.spec import SandboxSpec


class Features(Frozen):
    """What this kernel and this host's privileges allow a worker to use (``netns``:
    ``"root"`` (CAP_SYS_ADMIN), ``"userns"`` (unprivileged user namespaces) or None).
    A ``Frozen`` value: the worker imports this module on its way to ``ready``."""

    _fields = ("landlock_abi", "seccomp", "netns", "notes")
    __slots__ = _fields
    landlock_abi: int
    seccomp: bool
    netns: str | None
    notes: tuple[str, ...]

    def __init__(
        self,
        landlock_abi: int = 0,
        seccomp: bool = False,
        netns: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        object.__setattr__(self, "landlock_abi", landlock_abi)
        object.__setattr__(self, "seccomp", seccomp)
        object.__setattr__(self, "netns", netns)
        object.__setattr__(self, "notes", notes)

    def to_json(self) -> dict[str, Any]:
        return {
            "landlock_abi": self.landlock_abi,
            "seccomp": self.seccomp,
            "netns": self.netns,
            "notes": list(self.notes),
        }


_PROBED: Features | None = None


def probe(refresh: bool = False) -> Features:
    """What a worker started now would get, without starting one (cached).

    Landlock is asked for its ABI; seccomp needs a machine the filter is built for
    (x86-64, aarch64) and ``PR_GET_SECCOMP``; a
    network namespace needs CAP_SYS_ADMIN or unprivileged user namespaces, and is
    reported unknown when the host itself runs under a seccomp filter (a container's
    profile may forbid ``unshare``). The worker reports what actually applied.
    """
    global _PROBED
    if _PROBED is not None and not refresh:
        return _PROBED
    if not sys.platform.startswith("linux"):
        _PROBED = Features(notes=("not Linux: only limits and the audit guard apply",))
        return _PROBED
    notes: list[str] = []
    abi = landlock_abi()
    if not abi:
        notes.append("Landlock is not available (kernel older than 5.13 or not enabled)")
    lib = libc()
    seccomp = supported() and lib.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0
    if not supported():
        notes.append(f"seccomp filter not built for {machine()}")
    netns: str | None = None
    host_filtered = (status_field("Seccomp") or "0") != "0"
    if has_cap(CAP_SYS_ADMIN):
        netns = "root"
    elif (
        (read_int("/proc/sys/user/max_user_namespaces") or 0) > 0
        and read_int("/proc/sys/kernel/unprivileged_userns_clone") in (None, 1)
        and read_int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") in (None, 0)
    ):
        netns = "userns"
    if host_filtered and netns:
        notes.append("the host runs under a seccomp filter: a network namespace may be refused")
    if netns is None:
        notes.append(
            "no network or mount namespace: neither CAP_SYS_ADMIN nor user namespaces"
            " (file metadata refused by seccomp instead of read-only mounts)"
        )
    _PROBED = Features(abi, seccomp, netns, tuple(notes))
    return _PROBED


def kernel_features() -> Features:
    """What ``apply`` needs to know, and only that: the Landlock ABI and whether a
    seccomp filter can be installed here (the namespaces are simply tried). Cheaper
    than ``probe``, which reads ``/proc`` for the report of ``jafhost info``: a worker
    asks this once, single-threaded, before its sandbox."""
    if _PROBED is not None:
        return _PROBED
    if not sys.platform.startswith("linux"):
        return Features()
    seccomp = supported() and libc().prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0
    return Features(landlock_abi(), seccomp)


def _home_exposed(spec: SandboxSpec) -> bool:
    """True when a write grant reaches jafhost's home, so the worker binds it read-only."""
    from jafhost.security.sandbox.mounts import overlaps_home

    policy = spec.policy()
    home = policy.host_home
    return home is not None and overlaps_home(policy.write, home, policy.own)


def plan(spec: SandboxSpec, features: Features | None = None) -> list[str]:
    """The protections a worker for ``spec`` would get here (see ``apply``'s report)."""
    found = features or probe()
    out = [
        "env-filter",
        f"rlimit-as:{spec.memory_mb}MB",
        f"rlimit-nofile:{spec.open_files}",
        f"rlimit-fsize:{spec.file_size_mb}MB",
        f"rlimit-cpu:{spec.cpu_seconds}s",
        "no-core-dumps",
    ]
    if not sys.platform.startswith("linux"):
        return [*out, "audit-guard", "site-after-sandbox", "kill-on-timeout"]
    out.append("pdeathsig")
    if not spec.has_net and found.netns:
        out.append("netns")
    if found.netns:
        out.append("ro-mounts")
        if spec.host_home and _home_exposed(spec):
            out.append("home-ro")
    out.append("no-new-privs")
    if found.landlock_abi:
        out.append(f"landlock-fs:abi{found.landlock_abi}")
        ports = granted_ports(spec)
        if found.landlock_abi >= 4 and ports is not None:
            out.append("landlock-net:" + (",".join(map(str, ports)) or "none"))
        if found.landlock_abi >= 6:
            out.append("landlock-scope")
    if found.netns == "root":
        out.append("caps-dropped")
    if found.seccomp:
        out.append("seccomp")
        if not found.netns:
            out.append("seccomp-metadata")
    out.append("pidns" if found.netns else "subreaper")  # the same namespaces a netns needs
    out += ["audit-guard", "site-after-sandbox", "kill-on-timeout"]
    return out
