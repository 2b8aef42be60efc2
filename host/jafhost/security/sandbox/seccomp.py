"""The worker's seccomp filter (x86-64), written with a tiny BPF assembler.

Denied with EPERM: namespace, mount, ptrace, kernel-module, BPF and keyring calls; the
file metadata calls (chmod, chown, utime and xattr families);
``socket()`` for address families the grants do not need; ``execve`` without a ``run``
grant; ``clone`` with namespace flags; every other ABI (x32, 32-bit). ``clone3`` gets
ENOSYS, so the C library falls back to ``clone``, whose flags can be checked; so do the
io_uring calls (as in Docker's default profile): io_uring performs ``socket``, ``connect``,
``openat``... in the kernel without the system calls this filter sees, so a ring would
open any socket file the user can reach (ssh-agent, Docker, D-Bus). Programs treat ENOSYS
as "no io_uring here" and fall back to ordinary calls.

Built for x86-64 only (``features.probe`` reports seccomp unavailable elsewhere).
"""

from __future__ import annotations

import ctypes
import errno
import struct
from collections.abc import Iterable

from jafhost.security.sandbox.kernel import CLONE_NEWNET, PR_SET_SECCOMP, check, libc
from jafhost.security.sandbox.spec import SandboxSpec

SECCOMP_MODE_FILTER = 2
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
X86_64_METADATA = {
    "chmod": 90, "fchmod": 91, "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93,
    "lchown": 94, "fchownat": 260, "utime": 132, "utimes": 235, "futimesat": 261,
    "utimensat": 280, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
    "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "setxattrat": 463,
    "removexattrat": 466,
}  # fmt: skip
"""File metadata calls: Landlock has no right for them and the worker shares the host's
uid, so they would change modes, owners, times and extended attributes of any file the
user owns. Refused with EPERM wherever no read-only mount namespace stands in the way."""
X86_64_EXEC = {"execve": 59, "execveat": 322}
X86_64_SOCKET, X86_64_CLONE, X86_64_CLONE3 = 41, 56, 435
X86_64_IO_URING = {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427}
"""Answered with ENOSYS, like ``clone3``: the kernel has them, the worker does not."""


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
    """The filter: deny dangerous calls with EPERM, clone3 (so the C library falls back
    to clone, whose flags can be checked) and io_uring with ENOSYS, other ABIs entirely."""
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    p = _Program()
    p.emit(BPF_LD_W_ABS, 4)  # seccomp_data.arch
    p.emit(BPF_JEQ_K, AUDIT_ARCH_X86_64, 0, "deny")
    p.emit(BPF_LD_W_ABS, 0)  # seccomp_data.nr
    p.emit(BPF_JGE_K, X32_SYSCALL_BIT, "deny", 0)
    for number in (X86_64_CLONE3, *sorted(X86_64_IO_URING.values())):
        p.emit(BPF_JEQ_K, number, "enosys", 0)
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
    denied = dict(X86_64_DENIED, **X86_64_METADATA)
    if not allow_exec:
        denied.update(X86_64_EXEC)
    for number in sorted(denied.values()):
        p.emit(BPF_JEQ_K, number, "deny", 0)
    p.label("allow")
    p.emit(BPF_RET_K, SECCOMP_RET_ALLOW)
    p.label("deny")
    p.emit(BPF_RET_K, eperm)
    p.label("enosys")
    p.emit(BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS)
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
    check(
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
