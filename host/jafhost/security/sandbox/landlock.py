"""Landlock for the worker: which files it may read, write and execute, which TCP ports
it may use, and the scoping of signals and abstract UNIX sockets.

Files are readable only under the Python installation, the import path, a few system
files (``SYSTEM_LIBRARIES``) and the read grants; writable only under the write grants
and the plugin's own folders; executable only when granted by ``run``. Each right is
asked for only when the kernel's Landlock ABI knows it.

Hard links and renames between folders need ``REFER`` (ABI 2) on both sides, and the
kernel refuses one whose new place would give more rights than the old: ``REFER`` is
granted only with the write rights, so no file the worker may only read (a read grant,
the Python installation, jafhost itself) can be linked into a folder it may write and
written through the link. Under ABI 1 the kernel refuses every such link.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import stat
import struct
import sys

from jafhost.security.policy import Policy, covers
from jafhost.security.sandbox.kernel import LinkedAway, check, libc, open_exact
from jafhost.security.sandbox.spec import SandboxSpec

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
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

FS_ABI1 = (
    FS_EXECUTE
    | FS_WRITE_FILE
    | FS_READ_FILE
    | FS_READ_DIR
    | FS_REMOVE_DIR
    | FS_REMOVE_FILE
    | FS_MAKE_CHAR
    | FS_MAKE_DIR
    | FS_MAKE_REG
    | FS_MAKE_SOCK
    | FS_MAKE_FIFO
    | FS_MAKE_BLOCK
    | FS_MAKE_SYM
)
"""The file system rights of Landlock ABI 1: execute .. make_sym."""
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


def granted_ports(spec: SandboxSpec) -> list[int] | None:
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
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _fs_rights(abi: int) -> int:
    rights = FS_ABI1
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
    found: set[str] = set()
    programs = [grant[4:] for grant in spec.grants if grant.startswith("run:")]
    if not programs:
        return found
    # only for ``run`` grants: kept out of the worker's imports before its sandbox
    import glob
    import shutil

    for program in programs:
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

    everything = _fs_rights(7) & ~FS_EXECUTE  # REFER included: granted with write only
    for path in policy.read:
        allow(path, READ_RIGHTS)
    for path in policy.listable:
        allow(path, FS_READ_DIR)  # listed, never read: a folder plugin's plugin folder
    for path in SYSTEM_LIBRARIES:
        allow(os.path.realpath(path), READ_RIGHTS)
    # its own /proc folder as the mounted /proc numbers it (in a PID namespace getpid()
    # gives the namespace's number, which names another process there)
    allow(os.path.realpath("/proc/self"), READ_RIGHTS)
    for path in policy.write:
        allow(path, everything)
    allow("/dev/null", FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV)
    allow("/dev/zero", FS_READ_FILE)
    for program in _executables(spec, os.environ.get("PATH", os.defpath)):
        allow(program, FS_EXECUTE | FS_READ_FILE)
    return rules


def _add_rule(ruleset: int, kind: int, rule: bytes, what: str) -> None:
    rule_buf = ctypes.create_string_buffer(rule, len(rule))
    check(
        libc().syscall(
            ctypes.c_long(SYS_LANDLOCK_ADD_RULE),
            ctypes.c_int(ruleset),
            ctypes.c_int(kind),
            rule_buf,
            ctypes.c_uint32(0),
        ),
        what,
    )


def apply_landlock(
    spec: SandboxSpec, policy: Policy, abi: int, refused: list[str] | None = None
) -> list[str]:
    """Restrict this process (and its future children) with Landlock. A rule whose
    (real) path now leads elsewhere through a link is left out and noted in
    ``refused``: the rule is for the path resolved, never for a link's target."""
    lib = libc()
    lib.syscall.restype = ctypes.c_long
    handled_fs = _fs_rights(abi)
    ports = granted_ports(spec) if abi >= 4 else None
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if ports is not None else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    elif abi >= 4:
        attr = struct.pack("=QQ", handled_fs, handled_net)
    else:
        attr = struct.pack("=Q", handled_fs)
    attr_buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = check(
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
                # where the plugin may write, it may have swapped a link in since
                exact = covers(policy.write, path)
                fd = open_exact(path) if exact else os.open(path, os.O_PATH | os.O_CLOEXEC)
            except LinkedAway as exc:
                if refused is not None:
                    refused.append(f"landlock rule: {exc}")
                continue
            except OSError:
                continue  # a grant for a path that does not exist (yet): nothing to allow
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    rights &= FILE_RIGHTS
                rights &= handled_fs
                if not rights:
                    continue
                rule = struct.pack("=Qi", rights, fd)
                _add_rule(ruleset, LANDLOCK_RULE_PATH_BENEATH, rule, f"landlock_add_rule({path})")
            finally:
                os.close(fd)
        for port in ports or ():
            rule = struct.pack("=QQ", NET_BIND_TCP | NET_CONNECT_TCP, port)
            _add_rule(ruleset, LANDLOCK_RULE_NET_PORT, rule, f"landlock_add_rule(port {port})")
        check(
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
