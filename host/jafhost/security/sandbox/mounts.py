"""A read-only view of every mount for the worker, writable again only under its write
grants: so ``chmod``, ``chown``, ``utime`` and xattr calls, which Landlock has no right
for, fail with EROFS on every other file the user owns (bubblewrap's method, done with
the kernel's new mount API through ``syscall``; nothing to install).

Runs in a new mount namespace (``namespaces.enter``), before Landlock (which forbids
mount changes) and before the capabilities are dropped. Every mount is made private
first, so nothing done here propagates to the host's namespace.
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct
from collections.abc import Iterable

from jafhost.security.policy import covers
from jafhost.security.sandbox.kernel import LinkedAway, check, libc, open_exact

SYS_OPEN_TREE = 428  # the same numbers on every architecture
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOUNT_ATTR_RDONLY = 0x1
MS_PRIVATE = 1 << 18


def _setattr(fd: int, path: bytes, flags: int, set_: int, clear: int, propagation: int) -> int:
    attr = struct.pack("=QQQQ", set_, clear, propagation, 0)  # struct mount_attr
    buf = ctypes.create_string_buffer(attr, len(attr))
    return int(
        libc().syscall(
            ctypes.c_long(SYS_MOUNT_SETATTR),
            ctypes.c_int(fd),
            ctypes.c_char_p(path),
            ctypes.c_uint(flags),
            buf,
            ctypes.c_size_t(len(attr)),
        )
    )


def _bind_again(path: str, *, read_only: bool = False) -> None:
    """Put a read-write (or ``read_only``) copy of the mount at ``path`` (a bind of
    itself) on top of it.

    Both ends are the one descriptor ``open_exact`` checked, never the path again: a
    link the plugin swapped into its folder cannot point the bind elsewhere."""
    lib = libc()
    lib.syscall.restype = ctypes.c_long
    place = open_exact(path)
    try:
        _bind_on_itself(lib, place, path, read_only)
    finally:
        os.close(place)


def _bind_on_itself(lib: ctypes.CDLL, place: int, path: str, read_only: bool) -> None:
    fd = check(
        lib.syscall(
            ctypes.c_long(SYS_OPEN_TREE),
            ctypes.c_int(place),
            ctypes.c_char_p(b""),
            ctypes.c_uint(OPEN_TREE_CLONE | os.O_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH),
        ),
        f"open_tree({path})",
    )
    try:
        if read_only:
            every = AT_EMPTY_PATH | AT_RECURSIVE  # write grants bound inside it too
            check(_setattr(fd, b"", every, MOUNT_ATTR_RDONLY, 0, 0), f"ro {path}")
        elif _setattr(fd, b"", AT_EMPTY_PATH | AT_RECURSIVE, 0, MOUNT_ATTR_RDONLY, 0) < 0:
            # a mount below it that was read-only before the worker stays so
            check(_setattr(fd, b"", AT_EMPTY_PATH, 0, MOUNT_ATTR_RDONLY, 0), f"rw {path}")
        check(
            lib.syscall(
                ctypes.c_long(SYS_MOVE_MOUNT),
                ctypes.c_int(fd),
                ctypes.c_char_p(b""),
                ctypes.c_int(place),
                ctypes.c_char_p(b""),
                ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
            ),
            f"move_mount({path})",
        )
    finally:
        os.close(fd)


def read_only_except(writable: Iterable[str]) -> list[str]:
    """Make every mount private and read-only, then ``writable`` (folders and regular
    files that exist, as real paths) read-write again; returns those left read-only
    because a link now leads elsewhere. The working folder is entered again, so it
    names the writable copy."""
    libc().syscall.restype = ctypes.c_long
    flags = AT_RECURSIVE
    check(_setattr(AT_FDCWD, b"/", flags, MOUNT_ATTR_RDONLY, 0, MS_PRIVATE), "read-only /")
    refused: list[str] = []
    for path in sorted(set(writable)):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue  # a grant for a path that does not exist (yet): Landlock skips it too
        if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
            try:
                _bind_again(path)
            except LinkedAway as exc:
                refused.append(f"rw {exc}")
    os.chdir(os.getcwd())
    return refused


def overlaps_home(writable: Iterable[str], home: str, own: Iterable[str]) -> bool:
    """True when a write grant other than the plugin's own folders covers jafhost's
    ``home`` or lies inside it (all real paths): then the home must be bound read-only."""
    mine = tuple(own)
    for path in writable:
        if covers(mine, path):
            continue
        if covers((path,), home) or covers((home,), path):
            return True
    return False


def _pinned(writable: Iterable[str], home: str) -> list[str]:
    """The folders above ``home`` that a write grant covers (and is not itself), top
    first: each becomes a mount point, which no rename or removal moves (EBUSY), so the
    plugin cannot move the home aside and make another in its place."""
    grants = tuple(writable)
    out: list[str] = []
    parent = os.path.dirname(home)
    while parent not in ("/", ""):
        if covers(grants, parent) and parent not in grants:
            out.append(parent)
        parent = os.path.dirname(parent)
    return out[::-1]


def home_read_only(home: str, own: Iterable[str], writable: Iterable[str] = ()) -> list[str]:
    """Bind jafhost's ``home`` (a real path) read-only on itself, over the write grants
    bound before, then the plugin's ``own`` data and cache folders read-write again:
    its grants (``state.json``) are never written from the worker, whatever a grant
    covers. The folders above the home under a ``writable`` grant are bound on
    themselves first (``_pinned``). Returns the folders left unbound because a link now
    leads elsewhere; raises ``SandboxError`` (``LinkedAway`` for a link) when the home
    cannot be bound."""
    libc().syscall.restype = ctypes.c_long
    refused: list[str] = []
    for above in _pinned(writable, home):
        try:
            _bind_again(above)
        except LinkedAway as exc:
            refused.append(f"pin {exc}")
    _bind_again(home, read_only=True)
    for path in sorted(set(own)):
        if not covers((home,), path) or not os.path.isdir(path):
            continue  # outside the home its grant's bind already stands
        try:
            _bind_again(path)
        except LinkedAway as exc:
            refused.append(f"rw {exc}")
    os.chdir(os.getcwd())
    return refused
