"""Restrictions for a plugin's worker process: environment, limits, and the kernel's own.

Used on both sides of process isolation: the host builds the worker's environment
(``worker_env``) and predicts what would apply (``probe`` + ``plan``, for ``jafhost
info``; no plugin code runs); the worker calls ``apply`` first thing, single-threaded and
before any plugin import. ``apply`` does whatever this kernel allows and reports each
step; a step that cannot be done is reported as missing rather than failing the worker.

One module per job: ``spec`` (what the worker is told), ``env``, ``limits``,
``privileges`` (pdeathsig, no_new_privs, capabilities), ``netns``, ``landlock``,
``seccomp``, ``features`` (probing and planning), ``kernel`` (libc and ``/proc``). Each
step, in order: docs/security.md, "Process isolation".
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
