"""Restrictions for a plugin's worker process: environment, limits, and the kernel's own.

Used on both sides of process isolation: the host builds the worker's environment
(``worker_env``) and predicts what would apply (``probe`` + ``plan``, for ``jafhost
info``; no plugin code runs); the worker calls ``apply`` first thing, single-threaded and
before any plugin import. ``apply`` does whatever this kernel allows and reports each
step; a step that cannot be done is reported as missing rather than failing the worker.

One module per job: ``spec`` (what the worker is told), ``env``, ``limits``,
``privileges`` (pdeathsig, no_new_privs, capabilities), ``netns`` (namespaces),
``mounts`` (read-only mounts), ``landlock``, ``seccomp`` (with ``syscalls`` and
``bpf``), ``features`` (probing and planning), ``kernel`` (libc and ``/proc``). Each
step, in order: docs/security.md, "Process isolation".
"""

from __future__ import annotations

import sys
import time
from importlib import import_module
from typing import TYPE_CHECKING, Any

from jafhost.security.sandbox.env import import_path, worker_env

if TYPE_CHECKING:
    from jafhost.security.policy import Policy
    from jafhost.security.sandbox.features import Features, kernel_features, plan, probe
    from jafhost.security.sandbox.kernel import SandboxError
    from jafhost.security.sandbox.landlock import landlock_abi
    from jafhost.security.sandbox.limits import arm_cpu, cpu_budget
    from jafhost.security.sandbox.netns import new_netns
    from jafhost.security.sandbox.privileges import set_pdeathsig
    from jafhost.security.sandbox.spec import SandboxSpec

_LAZY = {
    "SandboxError": "kernel",
    "arm_cpu": "limits",
    "cpu_budget": "limits",
    "SandboxSpec": "spec",
    "Features": "features",
    "kernel_features": "features",
    "plan": "features",
    "probe": "features",
    "landlock_abi": "landlock",
    "new_netns": "netns",
    "set_pdeathsig": "privileges",
}
"""Names imported from their module at first use: the host's side of a worker start
(its environment, the kill of its tree) needs none of the kernel steps, not even
``ctypes`` (``kernel``) or the sandbox description (``spec``)."""


_SUBMODULES = frozenset(
    (
        "bpf",
        "features",
        "kernel",
        "landlock",
        "limits",
        "mounts",
        "netns",
        "privileges",
        "process_tree",
        "seccomp",
        "spec",
        "syscalls",
    )
)
"""The modules of the kernel steps, imported at first use as attributes too."""


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


class Applied:
    """What ``apply`` did and what it could not do (a plain class: importing this
    package stays light for the host's side of a worker start)."""

    def __init__(
        self,
        protections: list[str] | None = None,
        missing: list[str] | None = None,
        policy: Policy | None = None,
        steps: dict[str, float] | None = None,
    ) -> None:
        self.protections: list[str] = [] if protections is None else protections
        self.missing: list[str] = [] if missing is None else missing
        self.policy = policy
        self.steps: dict[str, float] = {} if steps is None else steps
        """Seconds each step took, in order (where a worker's start-up time goes;
        reported with the worker's ``ready``)."""

    def __repr__(self) -> str:
        return f"Applied(protections={self.protections!r}, missing={self.missing!r})"

    def mark(self, step: str, began: float) -> float:
        """Record ``step`` as done now; returns now (the next step's start)."""
        now = time.perf_counter()
        self.steps[step] = now - began
        return now


def apply(spec: SandboxSpec, *, features: Features | None = None) -> Applied:
    """Apply every restriction this kernel allows to the current (single-threaded)
    process. Must run before any plugin code; never raises for a missing feature."""
    from jafhost.security.sandbox.features import kernel_features
    from jafhost.security.sandbox.kernel import SandboxError
    from jafhost.security.sandbox.landlock import apply_landlock
    from jafhost.security.sandbox.limits import set_limits
    from jafhost.security.sandbox.privileges import drop_capabilities, no_new_privs, set_pdeathsig
    from jafhost.security.sandbox.seccomp import apply_seccomp

    began = time.perf_counter()
    out = Applied(protections=["env-filter"])
    linux = sys.platform.startswith("linux")
    if linux:
        set_pdeathsig(spec.parent_pid)
    out.protections += set_limits(spec)
    began = out.mark("limits", began)
    policy = spec.policy()
    out.policy = policy
    began = out.mark("policy", began)
    out.missing += [f"grant {dropped}" for dropped in policy.dropped]
    if not linux:
        out.missing.append("kernel restrictions: not Linux")
        return out
    out.protections.append("pdeathsig")
    found = features or kernel_features()
    began = out.mark("features", began)
    read_only = _namespaces(spec, policy, out)
    began = out.mark("ro-mounts", began + out.steps.get("unshare", 0.0))
    no_new_privs()
    out.protections.append("no-new-privs")
    if found.landlock_abi:
        try:
            out.protections += apply_landlock(spec, policy, found.landlock_abi, out.missing)
        except SandboxError as exc:
            out.missing.append(f"landlock: {exc}")
    else:
        out.missing.append("landlock: not available")
    began = out.mark("landlock", began)
    try:
        if drop_capabilities():
            out.protections.append("caps-dropped")
    except SandboxError as exc:
        out.missing.append(f"capabilities: {exc}")
    began = out.mark("capabilities", began)
    if found.seccomp:
        try:
            apply_seccomp(spec, allow_metadata=read_only)
            out.protections.append("seccomp")
            if not read_only:
                out.protections.append("seccomp-metadata")
        except SandboxError as exc:
            out.missing.append(f"seccomp: {exc}")
    else:
        out.missing.append("seccomp: not available")
    out.mark("seccomp", began)
    return out


def _namespaces(spec: SandboxSpec, policy: Policy, out: Applied) -> bool:
    """A network namespace without ``net`` grants, and a mount namespace with every
    mount read-only but the write grants; True when the mounts are read-only (then the
    file metadata calls need no seccomp refusal: they fail with EROFS outside the
    grants and work inside)."""
    from jafhost.security.sandbox.kernel import CLONE_NEWNET, CLONE_NEWNS, SandboxError
    from jafhost.security.sandbox.mounts import home_read_only, read_only_except
    from jafhost.security.sandbox.netns import enter_namespaces, new_netns

    net = 0 if spec.has_net else CLONE_NEWNET
    began = time.perf_counter()
    try:
        enter_namespaces(net | CLONE_NEWNS)
    except SandboxError as exc:
        out.missing.append(f"ro-mounts: {exc}")
        if _home_exposed(policy):
            out.missing.append(f"home-ro: no mount namespace ({exc})")
        if net:
            try:
                new_netns()
                out.protections.append("netns")
            except SandboxError as net_exc:
                out.missing.append(f"netns: {net_exc}")
        return False
    if net:
        out.protections.append("netns")
    out.mark("unshare", began)
    try:
        out.missing += read_only_except(policy.write)
    except SandboxError as exc:
        out.missing.append(f"ro-mounts: {exc}")
        return False
    out.protections.append("ro-mounts")
    if _home_exposed(policy):
        assert policy.host_home is not None
        try:
            out.missing += home_read_only(policy.host_home, policy.own, policy.write)
            out.protections.append("home-ro")
        except SandboxError as exc:
            out.missing.append(f"home-ro: {exc}")
    return True


def _home_exposed(policy: Policy) -> bool:
    """True when a write grant reaches jafhost's home (``mounts.overlaps_home``)."""
    from jafhost.security.sandbox.mounts import overlaps_home

    home = policy.host_home
    return home is not None and overlaps_home(policy.write, home, policy.own)


__all__ = [
    "Applied",
    "Features",
    "SandboxError",
    "SandboxSpec",
    "apply",
    "arm_cpu",
    "cpu_budget",
    "import_path",
    "kernel_features",
    "landlock_abi",
    "new_netns",
    "plan",
    "probe",
    "set_pdeathsig",
    "worker_env",
]
