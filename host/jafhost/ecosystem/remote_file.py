"""A file on an index read as a seekable file: HTTP ``Range`` requests when the server
honours them, else one download.

A wheel's plugin manifest sits inside the zip, not in its core metadata, so ``search`` must
read the wheel. A zip keeps its table of contents at the end: with ranges, the end of the
file and the few members wanted are fetched (a few kilobytes), not the whole wheel.
``open_remote`` asks for the last ``TAIL`` bytes; a ``206`` answer means ranges work, a
``200`` answer is the whole file (read into memory up to ``limit``).
"""

from __future__ import annotations

import io
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import IO

TAIL = 64 * 1024
"""Bytes fetched from the end first: the zip's central directory of a plugin wheel fits."""
BLOCK = 64 * 1024
DOWNLOAD_LIMIT = 64 * 1024 * 1024
"""The largest file downloaded whole when the server does not honour ranges."""
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class RemoteFileError(Exception):
    """The file could not be read (network, refused, too large)."""


@dataclass
class Fetched:
    """How much of a remote file was transferred, and how (for display and tests)."""

    ranged: bool = False
    received: int = 0
    requests: int = 0
    size: int = 0
    _chunks: dict[int, bytes] = field(default_factory=dict)


def _open(url: str, headers: dict[str, str], timeout: float) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(DOWNLOAD_LIMIT + 1)
            return response.status, dict(response.headers.items()), body
    except urllib.error.HTTPError as exc:
        raise RemoteFileError(f"{url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RemoteFileError(f"{url}: {getattr(exc, 'reason', exc)}") from None


class RangedFile(io.RawIOBase):
    """A read-only, seekable view of a remote file of known size, fetched block by block."""

    def __init__(self, url: str, fetched: Fetched, timeout: float) -> None:
        super().__init__()
        self.url = url
        self.fetched = fetched
        self.timeout = timeout
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.fetched.size}
        self.position = max(0, base[whence] + offset)
        return self.position

    def _byte_range(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive), from what was fetched or a new request."""
        for begin, chunk in self.fetched._chunks.items():
            if begin <= start and end <= begin + len(chunk):
                return chunk[start - begin : end - begin]
        stop = min(self.fetched.size, max(end, start + BLOCK))
        status, _, body = _open(self.url, {"Range": f"bytes={start}-{stop - 1}"}, self.timeout)
        self.fetched.requests += 1
        self.fetched.received += len(body)
        if status != 206 or len(body) != stop - start:
            raise RemoteFileError(f"{self.url}: the server stopped honouring byte ranges")
        self.fetched._chunks[start] = body
        return body[: end - start]

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = min(len(buffer), self.fetched.size - self.position)
        if size <= 0:
            return 0
        data = self._byte_range(self.position, self.position + size)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def open_remote(
    url: str, *, timeout: float = 30.0, limit: int = DOWNLOAD_LIMIT
) -> tuple[IO[bytes], Fetched]:
    """A seekable binary file over ``url`` and what was transferred to open it.

    ``RemoteFileError`` when the file cannot be read or is larger than ``limit`` without
    range support."""
    fetched = Fetched()
    status, headers, body = _open(url, {"Range": f"bytes=-{TAIL}"}, timeout)
    fetched.requests, fetched.received = 1, len(body)
    found = _CONTENT_RANGE.fullmatch(
        {k.lower(): v for k, v in headers.items()}.get("content-range", "").strip()
    )
    if status == 206 and found:
        start, _, size = (int(g) for g in found.groups())
        fetched.ranged, fetched.size = True, size
        fetched._chunks[start] = body
        return io.BufferedReader(RangedFile(url, fetched, timeout), BLOCK), fetched
    if len(body) > limit:
        raise RemoteFileError(f"{url} is larger than {limit} bytes and the server sends it whole")
    fetched.size = len(body)
    return io.BytesIO(body), fetched
