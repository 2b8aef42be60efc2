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

The in-process audit guard (``jafhost.security.guard``) is installed by the worker on top.
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import math
import os
import resource
import signal
import stat
import struct
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from jafhost.security.policy import Policy

# -- constants (linux uapi) -------------------------------------------------------------

PR_SET_PDEATHSIG = 1
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CAP_SYS_ADMIN = 21
LINUX_CAPABILITY_VERSION_3 = 0x20080522

SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
LANDLOCK_RULE_NET_PORT = 2

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
# bits 4-12: remove dir/file, make char/dir/reg/sock/fifo/block/sym (ABI 1, granted as a range)
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ_RIGHTS = FS_READ_FILE | FS_READ_DIR

SYSTEM_LIBRARIES = (
    "/lib",
    "/lib32",
    "/lib64",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/local/lib",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/sys/devices/system/cpu",
    "/usr/share/locale",
)
"""Read-only for the worker: shared libraries that extension modules load later, user
and group names, CPU counts, locales. None of it is secret."""

ENV_ALWAYS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM")
ENV_PREFIXES = ("LC_", "PYTHON")
ENV_DROPPED = ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONBREAKPOINT")
ENV_NET = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
"""Passed to workers with any ``net`` grant (trust settings, not secrets). Proxy
variables (``HTTPS_PROXY`` ...) can hold credentials: only when granted by ``env``."""


# -- what the worker is told ------------------------------------------------------------


@dataclass(frozen=True)
class SandboxSpec:
    """Everything ``apply`` needs; sent by the host as the worker's first message."""

    plugin: str
    grants: tuple[str, ...]
    data_dir: str
    cache_dir: str
    memory_mb: int = 2048
    open_files: int = 256
    cpu_seconds: int = 120
    extra_read: tuple[str, ...] = ()
    parent_pid: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SandboxSpec:
        values = dict(data)
        values["grants"] = tuple(values.get("grants", ()))
        values["extra_read"] = tuple(values.get("extra_read", ()))
        return cls(**values)

    def policy(self) -> Policy:
        from pathlib import Path

        return Policy.compile(
            self.plugin,
            self.grants,
            Path(self.data_dir),
            Path(self.cache_dir),
            extra_read=self.extra_read,
        )

    @property
    def has_net(self) -> bool:
        return any(g.startswith("net:") for g in self.grants)

    @property
    def has_run(self) -> bool:
        return any(g.startswith("run:") for g in self.grants)


def cpu_budget(call_timeout: float, hook_timeout: float) -> int:
    """CPU seconds a worker may use per request before SIGXCPU ends it (a backstop:
    the per-call wall-clock timeout, after which the host kills the worker, comes first)."""
    return max(60, math.ceil(4 * max(call_timeout, hook_timeout)))


def import_path(paths: Iterable[str] | None = None, own: Iterable[str] = ()) -> list[str]:
    """The host's import path for the worker's ``PYTHONPATH``: absolute, existing
    entries, without the host's working folder (which may be the user's home) unless
    it is one of ``own`` (a folder plugin's own plugin folder), which always ends the
    path (appended, as in the host, so nothing in it shadows an installed module)."""
    cwd = os.getcwd()
    mine = [entry for entry in own if entry and os.path.isabs(entry)]
    found: list[str] = []
    for entry in sys.path if paths is None else paths:
        usable = entry and os.path.isabs(entry) and entry != cwd and os.path.exists(entry)
        if usable and entry not in found and entry not in mine:
            found.append(entry)
    return found + [entry for entry in dict.fromkeys(mine) if os.path.exists(entry)]


def worker_env(
    grants: Iterable[str],
    cache_dir: str,
    *,
    environ: Mapping[str, str] | None = None,
    paths: Iterable[str] | None = None,
    own: Iterable[str] = (),
) -> dict[str, str]:
    """The worker's whole environment: what Python needs plus the granted variables.

    Kept: ``PATH``, ``HOME`` (so ``~`` means the same as in the host; Landlock still
    guards the files), ``USER``/``LOGNAME``, ``LANG``/``LANGUAGE``/``LC_*``/``TZ``,
    ``TERM``, the interpreter's ``PYTHON*`` settings; with a ``net`` grant, the TLS trust
    variables. Set: ``PYTHONPATH`` (the host's import path, ``own`` folders kept: see
    ``import_path``), ``TMPDIR`` (the plugin's
    cache folder, writable in the sandbox) and ``MALLOC_ARENA_MAX=2`` (threads would
    otherwise reserve 64 MB of address space each against the memory limit).
    Everything else, secrets included, is left out unless an ``env`` grant names it.
    """
    source = os.environ if environ is None else environ
    grants = list(grants)
    patterns = [g[4:] for g in grants if g.startswith("env:")]
    has_net = any(g.startswith("net:") for g in grants)
    env: dict[str, str] = {}
    for name, value in source.items():
        keep = (
            name in ENV_ALWAYS
            or (name.startswith(ENV_PREFIXES) and name not in ENV_DROPPED)
            or (has_net and name in ENV_NET)
            or any(fnmatch.fnmatchcase(name, p) for p in patterns)
        )
        if keep:
            env[name] = value
    env["PYTHONPATH"] = os.pathsep.join(import_path(paths, own))
    env["TMPDIR"] = cache_dir
    env["MALLOC_ARENA_MAX"] = "2"
    env.setdefault("PATH", os.defpath)
    return env


# -- probing the kernel (cheap; no process is started) --------------------------------


@dataclass(frozen=True)
class Features:
    """What this kernel and this host's privileges allow a worker to use."""

    landlock_abi: int = 0
    seccomp: bool = False
    netns: str | None = None
    """``"root"`` (CAP_SYS_ADMIN), ``"userns"`` (unprivileged user namespaces) or None."""
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "landlock_abi": self.landlock_abi,
            "seccomp": self.seccomp,
            "netns": self.netns,
            "notes": list(self.notes),
        }


_LIBC: ctypes.CDLL | None = None
_PROBED: Features | None = None


def libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _status_field(name: str) -> str | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def landlock_abi() -> int:
    """The Landlock ABI version (0: not available)."""
    if not sys.platform.startswith("linux"):
        return 0
    lib = libc()
    lib.syscall.restype = ctypes.c_long
    version = lib.syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )
    return max(int(version), 0)


def _has_cap(cap: int) -> bool:
    text = _status_field("CapEff")
    try:
        return text is not None and bool(int(text, 16) >> cap & 1)
    except ValueError:
        return False


def probe(refresh: bool = False) -> Features:
    """What a worker started now would get, without starting one (cached).

    Landlock is asked for its ABI; seccomp needs x86-64 and ``PR_GET_SECCOMP``; a
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
    machine = os.uname().machine
    seccomp = machine == "x86_64" and lib.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0
    if machine != "x86_64":
        notes.append(f"seccomp filter not built for {machine}")
    netns: str | None = None
    host_filtered = (_status_field("Seccomp") or "0") != "0"
    if _has_cap(CAP_SYS_ADMIN):
        netns = "root"
    elif (
        (_read_int("/proc/sys/user/max_user_namespaces") or 0) > 0
        and _read_int("/proc/sys/kernel/unprivileged_userns_clone") in (None, 1)
        and _read_int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
        in (
            None,
            0,
        )
    ):
        netns = "userns"
    if host_filtered and netns:
        notes.append("the host runs under a seccomp filter: a network namespace may be refused")
    if netns is None:
        notes.append("no network namespace: neither CAP_SYS_ADMIN nor user namespaces")
    _PROBED = Features(abi, seccomp, netns, tuple(notes))
    return _PROBED


def _ports(spec: SandboxSpec) -> list[int] | None:
    """TCP ports Landlock should allow: [] for none, None when some grant allows any."""
    ports: set[int] = set()
    names = False
    for grant in spec.grants:
        if not grant.startswith("net:"):
            continue
        value = grant[4:]
        host, _, port = value.rpartition(":")
        if value == "*" or port == "*" or not port.isdigit():
            return None
        ports.add(int(port))
        if not _is_ip(host.strip("[]")):
            names = True
    if names:
        ports.add(53)  # DNS over TCP, for the names granted
    return sorted(ports)


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def plan(spec: SandboxSpec, features: Features | None = None) -> list[str]:
    """The protections a worker for ``spec`` would get here (see ``apply``'s report)."""
    found = features or probe()
    out = [
        "env-filter",
        f"rlimit-as:{spec.memory_mb}MB",
        f"rlimit-nofile:{spec.open_files}",
        f"rlimit-cpu:{spec.cpu_seconds}s",
        "no-core-dumps",
    ]
    if not sys.platform.startswith("linux"):
        return [*out, "audit-guard", "kill-on-timeout"]
    out.append("pdeathsig")
    if not spec.has_net and found.netns:
        out.append("netns")
    out.append("no-new-privs")
    if found.landlock_abi:
        out.append(f"landlock-fs:abi{found.landlock_abi}")
        ports = _ports(spec)
        if found.landlock_abi >= 4 and ports is not None:
            out.append("landlock-net:" + (",".join(map(str, ports)) or "none"))
        if found.landlock_abi >= 6:
            out.append("landlock-scope")
    if found.netns == "root":
        out.append("caps-dropped")
    if found.seccomp:
        out.append("seccomp")
    out += ["audit-guard", "kill-on-timeout"]
    return out


# -- applying (in the worker, single-threaded, before plugin code) --------------------


class SandboxError(Exception):
    """A restriction could not be applied; the message says which and why."""


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(code)} (errno {errno.errorcode.get(code)})")
    return result


def _prctl(option: int, *args: int) -> int:
    lib = libc()
    values = [ctypes.c_ulong(a) for a in args] + [ctypes.c_ulong(0)] * (4 - len(args))
    return int(lib.prctl(ctypes.c_int(option), *values))


def set_pdeathsig(parent_pid: int) -> None:
    """Die (SIGKILL) when the parent dies; exit at once if it already has."""
    _check(_prctl(PR_SET_PDEATHSIG, signal.SIGKILL), "prctl(PR_SET_PDEATHSIG)")
    if parent_pid and os.getppid() != parent_pid:
        os._exit(1)


def set_limits(spec: SandboxSpec) -> list[str]:
    done = []
    memory = spec.memory_mb * 1024 * 1024
    for limit, value, name in (
        (resource.RLIMIT_AS, memory, f"rlimit-as:{spec.memory_mb}MB"),
        (resource.RLIMIT_NOFILE, spec.open_files, f"rlimit-nofile:{spec.open_files}"),
        (resource.RLIMIT_CORE, 0, "no-core-dumps"),
    ):
        _, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, value))
        done.append(name)
    arm_cpu(spec.cpu_seconds)
    done.insert(2, f"rlimit-cpu:{spec.cpu_seconds}s")
    return done


_ARMED_AT = -math.inf


def arm_cpu(seconds: int) -> None:
    """Allow ``seconds`` more CPU time from now (soft limit: SIGXCPU ends the worker).

    Re-arming is skipped while less than a second of CPU was used since the last time
    (a clock read instead of three system calls per request).
    """
    global _ARMED_AT
    used = time.process_time()
    if used - _ARMED_AT < 1.0:
        return
    _ARMED_AT = used
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used) + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def new_netns() -> str:
    """Enter a new, empty network namespace; returns how."""
    lib = libc()
    if lib.unshare(ctypes.c_int(CLONE_NEWNET)) == 0:
        return "root"
    uid, gid = os.getuid(), os.getgid()
    _check(lib.unshare(ctypes.c_int(CLONE_NEWUSER | CLONE_NEWNET)), "unshare(CLONE_NEWNET)")
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


def no_new_privs() -> None:
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "prctl(PR_SET_NO_NEW_PRIVS)")


def drop_capabilities() -> bool:
    """Drop every capability (for good: bounding set first). False if there were none."""
    text = _status_field("CapEff") or "0"
    bounding = _status_field("CapBnd") or "0"
    if int(text, 16) == 0 and int(bounding, 16) == 0:
        return False
    last = _read_int("/proc/sys/kernel/cap_last_cap") or 40
    if _has_cap(8):  # CAP_SETPCAP: needed to shrink the bounding set
        for cap in range(last + 1):
            _prctl(PR_CAPBSET_DROP, cap)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = struct.pack("=Ii", LINUX_CAPABILITY_VERSION_3, 0)
    data = b"\0" * 24  # two __user_cap_data_struct: effective, permitted, inheritable
    head_buf = ctypes.create_string_buffer(header, len(header))
    data_buf = ctypes.create_string_buffer(data, len(data))
    _check(libc().capset(head_buf, data_buf), "capset")
    return True


# -- Landlock ---------------------------------------------------------------------------


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def _executables(spec: SandboxSpec, path_env: str) -> set[str]:
    """Files the ``run`` grants need executed: the programs, their ``#!`` interpreters
    and the ELF loader."""
    import glob
    import shutil

    found: set[str] = set()
    for grant in spec.grants:
        if not grant.startswith("run:"):
            continue
        program = grant[4:]
        located = program if "/" in program else shutil.which(program, path=path_env)
        if not located:
            continue
        target = os.path.realpath(located)
        found.add(target)
        try:
            with open(target, "rb") as f:
                head = f.read(256)
        except OSError:
            continue
        if head.startswith(b"#!"):
            words = head[2:].split(b"\n", 1)[0].split()
            if words:
                interpreter = os.fsdecode(words[0])
                found.add(os.path.realpath(interpreter))
                if os.path.basename(interpreter) == "env" and len(words) > 1:
                    other = shutil.which(os.fsdecode(words[1]), path=path_env)
                    if other:
                        found.add(os.path.realpath(other))
    if found:
        for loader in glob.glob("/lib*/ld-linux*.so*") + glob.glob("/lib/*/ld-linux*.so*"):
            found.add(os.path.realpath(loader))
    return found


def landlock_rules(spec: SandboxSpec, policy: Policy) -> dict[str, int]:
    """Path -> allowed Landlock rights (before masking by ABI and file type)."""
    rules: dict[str, int] = {}

    def allow(path: str, rights: int) -> None:
        rules[path] = rules.get(path, 0) | rights

    everything = _fs_rights(7) & ~FS_EXECUTE
    for path in policy.read:
        allow(path, READ_RIGHTS)
    for path in SYSTEM_LIBRARIES:
        allow(os.path.realpath(path), READ_RIGHTS)
    allow(f"/proc/{os.getpid()}", READ_RIGHTS)
    for path in policy.write:
        allow(path, everything)
    allow("/dev/null", FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV)
    allow("/dev/zero", FS_READ_FILE)
    for program in _executables(spec, os.environ.get("PATH", os.defpath)):
        allow(program, FS_EXECUTE | FS_READ_FILE)
    return rules


def apply_landlock(spec: SandboxSpec, policy: Policy, abi: int) -> list[str]:
    """Restrict this process (and its future children) with Landlock."""
    lib = libc()
    lib.syscall.restype = ctypes.c_long
    handled_fs = _fs_rights(abi)
    ports = _ports(spec) if abi >= 4 else None
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if ports is not None else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    elif abi >= 4:
        attr = struct.pack("=QQ", handled_fs, handled_net)
    else:
        attr = struct.pack("=Q", handled_fs)
    attr_buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(
        lib.syscall(
            ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
            attr_buf,
            ctypes.c_size_t(len(attr)),
            ctypes.c_uint32(0),
        ),
        "landlock_create_ruleset",
    )
    try:
        for path, rights in sorted(landlock_rules(spec, policy).items()):
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a grant for a path that does not exist (yet): nothing to allow
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    rights &= FILE_RIGHTS
                rights &= handled_fs
                if not rights:
                    continue
                rule = struct.pack("=Qi", rights, fd)
                rule_buf = ctypes.create_string_buffer(rule, len(rule))
                _check(
                    lib.syscall(
                        ctypes.c_long(SYS_LANDLOCK_ADD_RULE),
                        ctypes.c_int(ruleset),
                        ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                        rule_buf,
                        ctypes.c_uint32(0),
                    ),
                    f"landlock_add_rule({path})",
                )
            finally:
                os.close(fd)
        for port in ports or ():
            rule = struct.pack("=QQ", NET_BIND_TCP | NET_CONNECT_TCP, port)
            rule_buf = ctypes.create_string_buffer(rule, len(rule))
            _check(
                lib.syscall(
                    ctypes.c_long(SYS_LANDLOCK_ADD_RULE),
                    ctypes.c_int(ruleset),
                    ctypes.c_int(LANDLOCK_RULE_NET_PORT),
                    rule_buf,
                    ctypes.c_uint32(0),
                ),
                f"landlock_add_rule(port {port})",
            )
        _check(
            lib.syscall(
                ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)
            ),
            "landlock_restrict_self",
        )
    finally:
        os.close(ruleset)
    done = [f"landlock-fs:abi{abi}"]
    if ports is not None:
        done.append("landlock-net:" + (",".join(map(str, ports)) or "none"))
    if scoped:
        done.append("landlock-scope")
    return done


# -- seccomp (x86-64) -------------------------------------------------------------------

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_RET_K = 0x06
NAMESPACE_FLAGS = 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
NAMESPACE_FLAGS |= CLONE_NEWNET | 0x80
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16

X86_64_DENIED = {
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
    "chroot": 161, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
    "delete_module": 176, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "keyctl": 250, "add_key": 248, "request_key": 249, "open_by_handle_at": 304,
    "name_to_handle_at": 303, "iopl": 172, "ioperm": 173, "swapon": 167, "swapoff": 168,
    "reboot": 169, "acct": 163, "quotactl": 179, "syslog": 103, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442,
}  # fmt: skip
X86_64_EXEC = {"execve": 59, "execveat": 322}
X86_64_SOCKET, X86_64_CLONE, X86_64_CLONE3 = 41, 56, 435


class _Program:
    """A tiny BPF assembler with forward jumps to labels."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def emit(self, op: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append((op, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = b""
        for index, (op, jt, jf, k) in enumerate(self.code):
            jumps = [self.labels[j] - index - 1 if isinstance(j, str) else j for j in (jt, jf)]
            out += struct.pack("=HBBI", op, jumps[0], jumps[1], k & 0xFFFFFFFF)
        return out


def seccomp_program(allow_exec: bool, families: Iterable[int]) -> bytes:
    """The filter: deny dangerous calls with EPERM, clone3 with ENOSYS (so the C library
    falls back to clone, whose flags can be checked), other ABIs entirely."""
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    p = _Program()
    p.emit(BPF_LD_W_ABS, 4)  # seccomp_data.arch
    p.emit(BPF_JEQ_K, AUDIT_ARCH_X86_64, 0, "deny")
    p.emit(BPF_LD_W_ABS, 0)  # seccomp_data.nr
    p.emit(BPF_JGE_K, X32_SYSCALL_BIT, "deny", 0)
    p.emit(BPF_JEQ_K, X86_64_CLONE3, 0, "not_clone3")
    p.emit(BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS)
    p.label("not_clone3")
    p.emit(BPF_JEQ_K, X86_64_CLONE, 0, "not_clone")
    p.emit(BPF_LD_W_ABS, 16)  # args[0], low half: the clone flags
    p.emit(BPF_JSET_K, NAMESPACE_FLAGS, "deny", "allow")
    p.label("not_clone")
    p.emit(BPF_JEQ_K, X86_64_SOCKET, 0, "not_socket")
    p.emit(BPF_LD_W_ABS, 16)  # args[0]: the address family
    for family in sorted(set(families)):
        p.emit(BPF_JEQ_K, family, "allow", 0)
    p.emit(BPF_RET_K, eperm)
    p.label("not_socket")
    denied = dict(X86_64_DENIED)
    if not allow_exec:
        denied.update(X86_64_EXEC)
    for number in sorted(denied.values()):
        p.emit(BPF_JEQ_K, number, "deny", 0)
    p.label("allow")
    p.emit(BPF_RET_K, SECCOMP_RET_ALLOW)
    p.label("deny")
    p.emit(BPF_RET_K, eperm)
    return p.assemble()


def socket_families(spec: SandboxSpec) -> list[int]:
    """``socket()`` families a plugin may open: the internet ones (and netlink, used by
    name resolution) with a ``net`` grant, UNIX sockets with an explicit ``write`` grant
    (connecting to a socket file is writing to it)."""
    families: list[int] = []
    if spec.has_net:
        families += [AF_INET, AF_INET6, AF_NETLINK]
    if any(g.startswith("write:") for g in spec.grants):
        families.append(AF_UNIX)
    return families


def apply_seccomp(spec: SandboxSpec) -> None:
    program = seccomp_program(spec.has_run, socket_families(spec))
    count = len(program) // 8
    filter_buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("@HP", count, ctypes.addressof(filter_buf))
    fprog_buf = ctypes.create_string_buffer(fprog, len(fprog))
    _check(
        int(
            libc().prctl(
                ctypes.c_int(PR_SET_SECCOMP),
                ctypes.c_ulong(SECCOMP_MODE_FILTER),
                ctypes.c_void_p(ctypes.addressof(fprog_buf)),
                ctypes.c_ulong(0),
                ctypes.c_ulong(0),
            )
        ),
        "prctl(PR_SET_SECCOMP)",
    )


# -- all of it --------------------------------------------------------------------------


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
