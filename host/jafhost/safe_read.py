"""Reading the small text files the host is handed (plugin manifests, ``config.toml``) safely.

Whoever controls such a file controls what it is: a FIFO would block a plain ``open``
forever, a link to ``/dev/zero`` would fill memory with one ``read``. ``read_bytes``
accepts only a regular file (after following links), checks that before opening it,
opens it without blocking (``O_NONBLOCK``) and checks again on the open descriptor
(the path may be swapped in between), and reads at most ``limit + 1`` bytes, so neither
kind of file can hang the host or grow its memory. Stdlib only: the discovery cache
fingerprints manifests with it on every ``jafhost list``.
"""

from __future__ import annotations

import os
import stat

MANIFEST_LIMIT = 64 * 1024
"""The largest ``jaf-plugin.toml`` read, in bytes (a real one is well under 1 KiB)."""

CONFIG_LIMIT = 1024 * 1024
"""The largest ``config.toml`` read, in bytes."""
STATE_LIMIT = 16 * 1024 * 1024
"""The largest ``state.json`` read, in bytes."""

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
_CHUNK = 64 * 1024


class UnsafeFile(Exception):
    """The file exists but is not read: the message says why in a few words (``not a
    regular file``, ``larger than 65536 bytes``, ``not UTF-8 text``, ``cannot read: ...``),
    for the caller to prefix with the file's name."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "special"


def _check(st: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"not a regular file ({_kind(st.st_mode)})")
    if st.st_size > limit:
        raise UnsafeFile(f"larger than {limit} bytes")


def read_bytes(path: str | os.PathLike[str], limit: int) -> bytes:
    """The content of the regular file at ``path``, at most ``limit`` bytes.

    ``FileNotFoundError`` when there is none (the caller decides whether that matters);
    ``UnsafeFile`` when it is not a regular file, is larger than ``limit`` or cannot be
    read. Never blocks on a FIFO and never reads more than ``limit + 1`` bytes."""
    try:
        _check(os.stat(path), limit)
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnsafeFile(f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        _check(st, limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            # one byte more than the file holds: a short read of a regular file is its
            # end, so a small file takes one read (one that grew is read on, up to limit)
            want = min(_CHUNK, limit + 1 - size, max(st.st_size + 1 - size, 1))
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if len(chunk) < want and size >= st.st_size:
                break
    except OSError as exc:
        raise UnsafeFile(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise UnsafeFile(f"larger than {limit} bytes")  # grew after the check
    return b"".join(chunks)


def read_text(path: str | os.PathLike[str], limit: int) -> str:
    """``read_bytes`` decoded as UTF-8; text that is not UTF-8 is an ``UnsafeFile`` too."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeFile(f"not UTF-8 text (byte {exc.start})") from None
