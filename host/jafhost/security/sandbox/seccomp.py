"""The worker's seccomp filter: an allow-list of the system calls Python needs.

What CPython, its standard library (threads, asyncio, subprocess, sockets, sqlite3, ssl,
mmap, signals), pydantic's Rust core and the programs of ``run`` grants call is listed in
``ALLOWED``; every other call answers ENOSYS, the answer the C library and Python treat
as "this kernel has no such call" and fall back from (``clone3`` to ``clone``,
``faccessat2`` to ``faccessat``...). So do ``clone3``, whose flags sit in memory a filter
cannot read, and io_uring, which performs ``socket``, ``connect``, ``openat``... inside the
kernel, without the system calls this filter sees (as in Docker's default profile).

Refused with EPERM, so the message says why: the calls in ``REFUSED`` (namespaces,
mounts, ptrace, kernel modules, BPF, the keyring...), the file metadata calls
(``METADATA``) unless a read-only mount namespace already refuses them outside the write
grants, ``execve`` without a ``run`` grant, ``socket()`` of a family the grants do not
need, ``clone`` with namespace flags, ``prlimit64`` on another process (the host shares
the worker's uid) and ``ioctl`` ``TIOCSTI``/``TIOCLINUX`` (typing into the user's
terminal through an inherited descriptor). Another ABI (32-bit, x32) kills the process.

Built for the machines in ``syscalls.SYSCALLS`` (x86-64, aarch64), chosen by
``platform.machine()``; ``features.probe`` reports seccomp unavailable elsewhere.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Iterable

from jafhost.security.sandbox import bpf
from jafhost.security.sandbox.kernel import CLONE_NEWNET, PR_SET_SECCOMP, check, libc
from jafhost.security.sandbox.spec import SandboxSpec
from jafhost.security.sandbox.syscalls import AUDIT_ARCH, SYSCALLS

SECCOMP_MODE_FILTER = 2
X32_SYSCALL_BIT = 0x40000000
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
NAMESPACE_FLAGS = 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
NAMESPACE_FLAGS |= CLONE_NEWNET | 0x80
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
ARG0, ARG1 = 16, 24
"""Offsets in ``seccomp_data`` of the low halves of the first two arguments."""


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


ALLOWED = _names(
    """
    read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 open openat
    openat2 creat close close_range lseek stat fstat lstat newfstatat statx statfs
    fstatfs access faccessat faccessat2 readlink readlinkat getdents getdents64 dup dup2
    dup3 fcntl flock fsync fdatasync sync syncfs sync_file_range truncate ftruncate
    fallocate fadvise64 readahead mkdir mkdirat rmdir unlink unlinkat rename renameat
    renameat2 link linkat symlink symlinkat mknod mknodat chdir fchdir getcwd umask
    copy_file_range sendfile splice tee pipe pipe2 getxattr lgetxattr fgetxattr
    listxattr llistxattr flistxattr getxattrat listxattrat inotify_init inotify_init1
    inotify_add_watch inotify_rm_watch brk mmap munmap mremap mprotect madvise mlock
    munlock mincore msync membarrier map_shadow_stack mseal pkey_alloc pkey_free
    pkey_mprotect fork vfork exit exit_group wait4 waitid getpid getppid gettid getuid
    geteuid getgid getegid getgroups getresuid getresgid getpgid getpgrp getsid setsid
    setpgid set_tid_address set_robust_list get_robust_list futex futex_waitv futex_wake
    futex_wait futex_requeue rseq arch_prctl prctl sched_yield sched_getaffinity
    sched_setaffinity sched_getparam sched_getscheduler sched_get_priority_max
    sched_get_priority_min sched_getattr sched_rr_get_interval getpriority setpriority
    getrlimit setrlimit getrusage times sysinfo uname getrandom capget getcpu ioprio_get
    restart_syscall pidfd_open pidfd_send_signal clock_gettime clock_getres
    clock_nanosleep nanosleep gettimeofday time alarm setitimer getitimer timer_create
    timer_settime timer_gettime timer_delete timer_getoverrun timerfd_create
    timerfd_settime timerfd_gettime rt_sigaction rt_sigprocmask rt_sigreturn
    rt_sigpending rt_sigtimedwait rt_sigsuspend rt_sigqueueinfo rt_tgsigqueueinfo
    sigaltstack kill tgkill tkill pause poll ppoll select pselect6 epoll_create
    epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 eventfd eventfd2
    signalfd signalfd4 socketpair connect accept accept4 bind listen sendto recvfrom
    sendmsg recvmsg sendmmsg recvmmsg shutdown getsockname getpeername setsockopt
    getsockopt
    """
)
"""Allowed as they are. Not here on purpose (ENOSYS): ``memfd_create`` (an anonymous
file Landlock cannot see, which ``execveat`` would run under any ``run`` grant), System V
IPC (shared with the host: no IPC namespace), Linux AIO, ``setuid`` and friends, clock
setting, ``seccomp`` and ``landlock_*``."""
CHECKED = frozenset({"clone", "socket", "ioctl", "prlimit64", "execve", "execveat"})
"""Allowed depending on their arguments or on the grants (see ``seccomp_program``)."""
REFUSED = _names(
    """
    unshare setns mount umount2 pivot_root chroot ptrace process_vm_readv
    process_vm_writev kexec_load kexec_file_load init_module finit_module delete_module
    bpf perf_event_open userfaultfd keyctl add_key request_key open_by_handle_at
    name_to_handle_at iopl ioperm swapon swapoff reboot acct quotactl syslog open_tree
    move_mount fsopen fsconfig fsmount fspick mount_setattr personality pidfd_getfd
    process_madvise kcmp seccomp
    """
)
"""Refused with EPERM (a clear "not permitted" rather than "no such call")."""
METADATA = _names(
    """
    chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat utime utimes futimesat
    utimensat setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr
    setxattrat removexattrat
    """
)
"""File metadata calls: Landlock has no right for them and the worker shares the host's
uid, so they would change modes, owners, times and extended attributes of any file the
user owns. Refused with EPERM unless read-only mounts refuse them outside the grants."""
NOT_HERE = frozenset({"clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"})
"""Answered with ENOSYS like every call not listed, named for the documentation."""


def machine() -> str:
    """This machine's name as ``platform.machine()`` gives it (read without importing
    ``platform`` into the worker before its sandbox)."""
    return os.uname().machine.lower().replace("arm64", "aarch64")


def supported() -> bool:
    """Whether a filter is built for this machine."""
    return machine() in SYSCALLS


def _actions(allow_exec: bool, allow_metadata: bool) -> dict[str, str]:
    """Call name -> what the filter does with it: ``allow``, ``eperm`` or a checked
    call's own name."""
    actions = dict.fromkeys(ALLOWED, "allow")
    actions.update(dict.fromkeys(REFUSED, "eperm"))
    actions.update(dict.fromkeys(METADATA, "allow" if allow_metadata else "eperm"))
    actions.update({name: name for name in ("clone", "socket", "ioctl", "prlimit64")})
    actions.update(dict.fromkeys(("execve", "execveat"), "allow" if allow_exec else "eperm"))
    actions.update(dict.fromkeys(NOT_HERE, "enosys"))
    return actions


def _intervals(numbers: dict[int, str]) -> list[tuple[int, str]]:
    """(first number, action) of each run of numbers that share an action, in order;
    numbers not listed answer ENOSYS."""
    runs: list[tuple[int, str]] = []
    for number in range(max(numbers) + 2):
        action = numbers.get(number, "enosys")
        if not runs or runs[-1][1] != action or action in CHECKED:
            runs.append((number, action))
    return runs


def _leaf(p: bpf.Program, action: str, families: list[int]) -> None:
    """The instructions deciding a call whose number is known; each path ends in RET."""
    allow, eperm = SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | errno.EPERM
    if action in ("allow", "eperm", "enosys"):
        results = {"allow": allow, "eperm": eperm, "enosys": SECCOMP_RET_ERRNO | errno.ENOSYS}
        p.emit(bpf.RET_K, results[action])
    elif action == "clone":
        p.emit(bpf.LD_W_ABS, ARG0)  # the clone flags
        p.emit(bpf.JSET_K, NAMESPACE_FLAGS, 0, 1)
        p.emit(bpf.RET_K, eperm)
        p.emit(bpf.RET_K, allow)
    elif action == "socket":
        p.emit(bpf.LD_W_ABS, ARG0)  # the address family
        for family in families:
            p.emit(bpf.JEQ_K, family, 0, 1)
            p.emit(bpf.RET_K, allow)
        p.emit(bpf.RET_K, eperm)
    elif action == "ioctl":
        p.emit(bpf.LD_W_ABS, ARG1)  # the request (an unsigned int for the kernel)
        for request in (TIOCSTI, TIOCLINUX):
            p.emit(bpf.JEQ_K, request, 0, 1)
            p.emit(bpf.RET_K, eperm)
        p.emit(bpf.RET_K, allow)
    elif action == "prlimit64":
        p.emit(bpf.LD_W_ABS, ARG0)  # the process: 0 is the caller
        p.emit(bpf.JEQ_K, 0, 0, 1)
        p.emit(bpf.RET_K, allow)
        p.emit(bpf.RET_K, eperm)
    else:  # pragma: no cover - every action above
        raise ValueError(action)


def _tree(p: bpf.Program, runs: list[tuple[int, str]], families: list[int]) -> None:
    """A binary search over the runs, on the call number in the accumulator."""
    if len(runs) == 1:
        _leaf(p, runs[0][1], families)
        return
    middle = len(runs) // 2
    right = f"n{len(p)}"
    p.emit(bpf.JGE_K, runs[middle][0], 0, 1)
    p.jump(right)
    _tree(p, runs[:middle], families)
    p.label(right)
    _tree(p, runs[middle:], families)


def seccomp_program(
    allow_exec: bool,
    families: Iterable[int],
    *,
    allow_metadata: bool = False,
    arch: str | None = None,
) -> bytes:
    """The filter for ``arch`` (default: this machine's)."""
    arch = arch or machine()
    table = SYSCALLS[arch]
    actions = _actions(allow_exec, allow_metadata)
    numbers = {table[name]: action for name, action in actions.items() if name in table}
    p = bpf.Program()
    p.emit(bpf.LD_W_ABS, 4)  # seccomp_data.arch
    p.emit(bpf.JEQ_K, AUDIT_ARCH[arch], 1, 0)
    p.emit(bpf.RET_K, SECCOMP_RET_KILL_PROCESS)
    p.emit(bpf.LD_W_ABS, 0)  # seccomp_data.nr
    if arch == "x86_64":
        p.emit(bpf.JGE_K, X32_SYSCALL_BIT, 0, 1)
        p.emit(bpf.RET_K, SECCOMP_RET_KILL_PROCESS)
    _tree(p, _intervals(numbers), sorted(set(families)))
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


def apply_seccomp(spec: SandboxSpec, *, allow_metadata: bool = False) -> None:
    program = seccomp_program(spec.has_run, socket_families(spec), allow_metadata=allow_metadata)
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
