"""Fetch one URL with a byte limit and an overall deadline, on the standard library.

Limits are the plugin's own job (the host only bounds the whole tool call):

* size: the body is streamed in chunks and reading stops as soon as ``max_bytes`` is
  passed; the rest is never downloaded and the result says ``truncated``;
* time: one deadline covers name lookup, connecting, TLS, redirects, the headers and
  every read of the body. Each connection is made with the time left, and before each
  read the socket's timeout is set to the time left, so a server that trickles a byte
  at a time cannot stretch a 10 s fetch.

Where the plugin may connect is not decided here: name lookups and connections raise
audit events, and jafhost's guard refuses those the user's ``net:`` grants do not
cover. urllib wraps such an ``OSError`` in ``URLError``; ``fetch`` unwraps it, so the
host reports ``permission_denied`` naming the missing permission. Proxies from the
environment are ignored on purpose (a proxy would be another host to grant).
"""

from __future__ import annotations

import codecs
import contextlib
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from http.client import (
    HTTPConnection,
    HTTPException,
    HTTPMessage,
    HTTPResponse,
    HTTPSConnection,
)
from typing import IO, Any

from jafhost import PermissionDenied, ToolError

PLUGIN = "http"
CHUNK = 64 * 1024
SNIFF_BYTES = 8192
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "content-encoding",
    "content-language",
    "last-modified",
    "etag",
    "cache-control",
    "expires",
    "location",
    "retry-after",
    "date",
    "server",
)
"""The response headers a result carries (the rest is rarely useful to an agent)."""
TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/xml",
        "application/xhtml+xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-javascript",
        "application/x-www-form-urlencoded",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "image/svg+xml",
    }
)


@dataclass(frozen=True)
class Limits:
    """What one fetch may use; the plugin builds it from the call and its config."""

    max_bytes: int
    timeout: float
    user_agent: str
    max_redirects: int = 5


class Expired(TimeoutError):
    """The fetch's deadline has passed."""


class Deadline:
    """One point in time every step of a fetch must finish by."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; ``Expired`` once there are none."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise Expired(f"timed out after {self.seconds:g} s")
        return left


class Connections:
    """Makes the connections urllib asks for, each with the time left, and keeps
    their sockets so that each read can be limited to the time left as well."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.sockets: list[socket.socket] = []
        self.tls: ssl.SSLContext | None = None

    def plain(self, host: str, **options: Any) -> HTTPConnection:
        options["timeout"] = self.deadline.remaining()
        return _HTTPConnection(self, host, **options)

    def secure(self, host: str, **options: Any) -> HTTPConnection:
        options["timeout"] = self.deadline.remaining()
        if self.tls is None:
            self.tls = ssl.create_default_context()
        options["context"] = self.tls
        return _HTTPSConnection(self, host, **options)

    def opened(self, sock: socket.socket | None) -> None:
        if sock is not None:
            self.sockets.append(sock)
            self.limit_next_read()

    def limit_next_read(self) -> None:
        """Give the latest connection's next read only the time left."""
        left = self.deadline.remaining()
        if self.sockets:
            # urllib drops its own reference to the socket once the headers are in;
            # the response's file still holds it open, and settimeout still applies
            with contextlib.suppress(OSError):
                self.sockets[-1].settimeout(left)


class _HTTPConnection(HTTPConnection):
    def __init__(self, connections: Connections, host: str, **options: Any) -> None:
        super().__init__(host, **options)
        self._connections = connections

    def connect(self) -> None:
        super().connect()
        self._connections.opened(self.sock)


class _HTTPSConnection(HTTPSConnection):
    def __init__(self, connections: Connections, host: str, **options: Any) -> None:
        super().__init__(host, **options)
        self._connections = connections

    def connect(self) -> None:
        super().connect()
        self._connections.opened(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, connections: Connections) -> None:
        super().__init__()
        self._connections = connections

    def http_open(self, req: urllib.request.Request) -> HTTPResponse:
        return self.do_open(self._connections.plain, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, connections: Connections) -> None:
        super().__init__()
        self._connections = connections

    def https_open(self, req: urllib.request.Request) -> HTTPResponse:
        return self.do_open(self._connections.secure, req)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows at most ``most`` redirects; the next one is returned as the response."""

    def __init__(self, most: int) -> None:
        super().__init__()
        self._left = most

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if self._left <= 0:
            return None
        self._left -= 1
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(connections: Connections, max_redirects: int) -> urllib.request.OpenerDirector:
    """http and https with redirects, and nothing else: no file://, ftp://, data:, and
    no proxies from the environment."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        _HTTPHandler(connections),
        _HTTPSHandler(connections),
        _Redirects(max_redirects),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _fail(message: str, code: str = "tool_error") -> ToolError:
    return ToolError(message, plugin=PLUGIN, code=code)


def check_url(url: str) -> str:
    """The URL if it is ``http(s)://host...``; ``invalid_arguments`` otherwise."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise _fail(f"cannot fetch {url!r}: {exc}", "invalid_arguments") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(
            f"cannot fetch {url!r}: only http:// and https:// URLs with a host are supported",
            "invalid_arguments",
        )
    return parts.geturl()


def _read(stream: Any, max_bytes: int, connections: Connections) -> tuple[bytes, bool]:
    """Up to ``max_bytes`` of the body and whether there was more. ``read1`` returns as
    soon as some data arrives, so each wait is bounded by the socket's timeout."""
    if stream is None:
        return b"", False
    read = getattr(stream, "read1", None) or stream.read
    chunks: list[bytes] = []
    total = 0
    while total <= max_bytes:
        connections.limit_next_read()
        data = read(min(CHUNK, max_bytes + 1 - total))
        if not data:
            break
        chunks.append(data)
        total += len(data)
    body = b"".join(chunks)
    return body[:max_bytes], len(body) > max_bytes


def _text(body: bytes, headers: Message, complete: bool) -> str | None:
    """The body as text, or None when it is binary. Declared text types are decoded
    with their charset (UTF-8 by default); other types only if they are valid UTF-8."""
    if b"\x00" in body[:SNIFF_BYTES]:
        return None
    kind = headers.get_content_type()
    textual = kind.startswith("text/") or kind in TEXT_TYPES or kind.endswith(("+json", "+xml"))
    if not textual:
        try:
            return codecs.getincrementaldecoder("utf-8")().decode(body, final=complete)
        except UnicodeDecodeError:
            return None
    charset = headers.get_content_charset() or "utf-8"
    try:
        decoder = codecs.getincrementaldecoder(charset)(errors="replace")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(body, final=complete)


def fetch(url: str, method: str, limits: Limits) -> dict[str, Any]:
    """Fetch ``url`` within ``limits``; see the module docstring."""
    url = check_url(url)
    started = time.monotonic()
    connections = Connections(Deadline(limits.timeout))
    request = urllib.request.Request(
        url,
        method=method,
        headers={
            "User-Agent": limits.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "identity",
        },
    )
    response: Any = None
    final_url: str | None
    try:
        try:
            response = _opener(connections, limits.max_redirects).open(request)
            status, reason = int(response.status), str(response.reason)
            headers, final_url, stream = response.headers, response.url, response
        except urllib.error.HTTPError as error:  # 4xx, 5xx: still an answer to report
            response = error
            status, reason = error.code, str(error.reason)
            headers, stream = error.headers, error.fp
            final_url = getattr(error, "url", None) or error.filename
        body, truncated = _read(stream, limits.max_bytes, connections)
    except PermissionDenied:
        raise
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, PermissionDenied):
            raise exc.reason from None
        if isinstance(exc.reason, TimeoutError):
            raise _timeout(url, limits) from None
        raise _fail(f"could not fetch {url}: {exc.reason}") from None
    except TimeoutError:
        raise _timeout(url, limits) from None
    except (HTTPException, OSError, ValueError) as exc:
        detail = str(exc) or type(exc).__name__
        raise _fail(f"could not fetch {url}: {detail}") from None
    finally:
        if response is not None:
            with contextlib.suppress(Exception):
                response.close()
    text = _text(body, headers, complete=not truncated)
    if text is not None and truncated:
        text += f"\n[truncated: only the first {limits.max_bytes} bytes were read]"
    return {
        "url": url,
        "final_url": final_url,
        "status": status,
        "reason": reason,
        "headers": {name: headers[name] for name in KEPT_HEADERS if headers.get(name)},
        "bytes": len(body),
        "truncated": truncated,
        "binary": text is None,
        "text": text,
        "seconds": round(time.monotonic() - started, 3),
    }


def _timeout(url: str, limits: Limits) -> ToolError:
    return _fail(f"fetching {url} did not finish within {limits.timeout:g} s", "timeout")
