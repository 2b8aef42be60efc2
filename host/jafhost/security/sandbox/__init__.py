"""Restrictions for a plugin's worker process: environment, limits, and the kernel's own.

Used on both sides of process isolation:

* the host builds the worker's environment with ``worker_env`` (only granted variables
  ever reach the child, so not even ``/proc/PID/environ`` holds a secret) and predicts
  what would apply with ``probe`` + ``plan`` (for ``jafhost info``; no plugin code runs);
* the worker calls ``apply`` first thing, single-threaded and before any plugin import.

``apply`` does, in order, whatever this kernel allows (each step is reported, and a
step that cannot be done is reported as missing rather than failing the worker):

1. ``PR_SET_PDEATHSIG`` (SIGKILL): the worker dies with the host, even on ``kill -9``;
2. resource limits: address space (``memory_mb``), open files (``open_files``), CPU
   seconds (a backstop re-armed per request, see ``arm_cpu``), no core dumps;
3. a new network namespace (``unshare(CLONE_NEWNET)``) when no ``net`` is granted: no
   interface but a downed loopback, so no TCP, UDP or raw traffic can leave;
4. ``no_new_privs``;
5. Landlock: files readable only under the Python installation, the import path, a few
   system files and the read grants; writable only under the write grants and the
   plugin's own folders; programs executable only when granted by ``run``; TCP
   connect/bind limited to the granted ports (or none); signals and abstract UNIX
   sockets scoped to the worker;
6. capabilities dropped (bounding set, ambient, effective/permitted/inheritable), for a
   host running as root;
7. a seccomp filter (x86-64): no namespace, mount, ptrace, kernel-module, BPF or keyring
   calls; ``socket()`` only for the address families the grants need; ``execve`` only
   when a ``run`` grant exists.

One module per job: ``spec`` (what the worker is told), ``env``, ``limits``,
``privileges`` (pdeathsig, no_new_privs, capabilities), ``netns``, ``landlock``,
``seccomp``, ``features`` (probing and planning), ``kernel`` (libc and ``/proc``).
The in-process audit guard (``jafhost.security.guard``) is installed by the worker on top.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from jafhost.security.policy import Policy
from jafhost.security.sandbox.env import import_path, worker_env
from jafhost.security.sandbox.features import Features, plan, probe
from jafhost.security.sandbox.kernel import SandboxError
from jafhost.security.sandbox.landlock import apply_landlock, landlock_abi
from jafhost.security.sandbox.limits import arm_cpu, cpu_budget, set_limits
from jafhost.security.sandbox.netns import new_netns
from jafhost.security.sandbox.privileges import drop_capabilities, no_new_privs, set_pdeathsig
from jafhost.security.sandbox.seccomp import apply_seccomp
from jafhost.security.sandbox.spec import SandboxSpec


@dataclass
class Applied:
    """What ``apply`` did and what it could not do."""

    protections: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    policy: Policy | None = None


def apply(spec: SandboxSpec, *, features: Features | None = None) -> Applied:
    """Apply every restriction this kernel allows to the current (single-threaded)
    process. Must run before any plugin code; never raises for a missing feature."""
    out = Applied(protections=["env-filter"])
    linux = sys.platform.startswith("linux")
    if linux:
        set_pdeathsig(spec.parent_pid)
    out.protections += set_limits(spec)
    if not linux:
        out.missing.append("kernel restrictions: not Linux")
        out.policy = spec.policy()
        return out
    out.protections.append("pdeathsig")
    found = features or probe()
    if not spec.has_net:
        try:
            new_netns()
            out.protections.append("netns")
        except SandboxError as exc:
            out.missing.append(f"netns: {exc}")
    no_new_privs()
    out.protections.append("no-new-privs")
    policy = spec.policy()
    out.policy = policy
    if found.landlock_abi:
        try:
            out.protections += apply_landlock(spec, policy, found.landlock_abi)
        except SandboxError as exc:
            out.missing.append(f"landlock: {exc}")
    else:
        out.missing.append("landlock: not available")
    try:
        if drop_capabilities():
            out.protections.append("caps-dropped")
    except SandboxError as exc:
        out.missing.append(f"capabilities: {exc}")
    if found.seccomp:
        try:
            apply_seccomp(spec)
            out.protections.append("seccomp")
        except SandboxError as exc:
            out.missing.append(f"seccomp: {exc}")
    else:
        out.missing.append("seccomp: not available")
    return out


__all__ = [
    "Applied",
    "Features",
    "SandboxError",
    "SandboxSpec",
    "apply",
    "arm_cpu",
    "cpu_budget",
    "import_path",
    "landlock_abi",
    "new_netns",
    "plan",
    "probe",
    "set_pdeathsig",
    "worker_env",
]
