"""The http plugin in a real host (``jafhost_factory``), against loopback HTTP servers.

Every server is the standard library's ``ThreadingHTTPServer`` on ``127.0.0.1`` with a
port the system picks, run in a thread and shut down after its test. It counts the
connections it accepts and the requests it answers, so a denied fetch can be shown to
have never arrived. The host grants ``net:127.0.0.1:<port>`` of one server only, in
place of what the plugin requests (``*:80`` and ``*:443``): no test leaves the machine.

Needs the distribution installed (``pip install -e sample_plugins/jaf-plugin-http``).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100)


class Server(ThreadingHTTPServer):
    """A loopback server with a few routes, counting what reaches it."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = int(self.server_address[1])
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.sent: dict[str, int] = {}
        self.release = threading.Event()
        self.redirect_to = ""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    def stop(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()
        self._thread.join(5)


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers)}
        )
        # the client may stop reading: exactly what some tests want
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route(parts.path, query)

    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        if path == "/hello":
            self._send(
                200,
                "hello, world ✓\n".encode(),
                "text/plain; charset=utf-8",
                ETag='"v1"',
                X_Internal="not for agents",
            )
        elif path == "/latin1":
            self._send(200, "café".encode("latin-1"), "text/plain; charset=iso-8859-1")
        elif path == "/json":
            self._send(200, json.dumps({"ok": True}).encode(), "application/json")
        elif path == "/headers":
            body = json.dumps(dict(self.headers)).encode()
            self._send(200, body, "application/json")
        elif path == "/big":
            self._send(200, b"a" * int(query["size"][0]), "text/plain")
        elif path == "/endless":
            self._endless()
        elif path == "/slow":
            self.server.release.wait(10)
            self._send(200, b"late", "text/plain")
        elif path == "/trickle":
            self._trickle()
        elif path == "/missing":
            self._send(404, b"not here", "text/plain")
        elif path == "/png":
            self._send(200, PNG, "image/png")
        elif path == "/redirect":
            self._send(302, b"", "text/plain", Location=self.server.redirect_to or "/hello")
        else:
            self._send(500, b"no such route", "text/plain")

    def _endless(self) -> None:
        """A body without end (HTTP/1.0, no length): only the client can stop it."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        chunk = b"x" * 65536
        sent = 0
        while not self.server.release.is_set() and sent < 1_000_000_000:
            self.wfile.write(chunk)
            sent += len(chunk)
            self.server.sent["/endless"] = sent

    def _trickle(self) -> None:
        """One byte every 50 ms: each read is quick, the whole never is."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):
            if self.server.release.wait(0.05):
                return
            self.wfile.write(b"t")
            self.wfile.flush()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.stop()


@pytest.fixture
def other_server() -> Iterator[Server]:
    """A second server, on a port the plugin is never granted."""
    running = Server()
    yield running
    running.stop()


@pytest.fixture
def host(jafhost_factory: Callable[..., Any], server: Server) -> Any:
    return jafhost_factory("http", grants={"http": [f"net:127.0.0.1:{server.port}"]})


def test_manifest_requests_the_web_ports_only(jafhost_factory: Callable[..., Any]) -> None:
    host = jafhost_factory("http", grants=None, activate=False)
    view = host.plugin("http")
    assert view.status == "needs-approval"
    assert (view.info.distribution, view.info.version) == ("jaf-plugin-http", "1.0.0")
    assert view.info.permissions == ("net:*:443", "net:*:80")


def test_the_tool_and_its_schema(host: Any) -> None:
    [tool] = host.tools()
    assert tool.full_name == "http.fetch"
    properties = tool.input_schema["properties"]
    assert tool.input_schema["required"] == ["url"]
    assert properties["method"]["enum"] == ["GET", "HEAD"]
    assert properties["max_bytes"]["default"] == 1_000_000
    assert properties["timeout"]["default"] == 10.0
    assert "ctx" not in properties
    [openai] = host.tool_definitions("openai")
    assert openai["function"]["name"] == "http__fetch"
    assert sorted(openai["function"]["parameters"]["properties"]) == [
        "max_bytes",
        "method",
        "timeout",
        "url",
    ]


def test_fetch_from_a_granted_port(host: Any, server: Server) -> None:
    result = host.call_ok("http__fetch", {"url": server.url("/hello")})  # the export name
    assert result["status"] == 200 and result["reason"] == "OK"
    assert result["text"] == "hello, world ✓\n"
    assert result["final_url"] == server.url("/hello")
    assert result["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert result["headers"]["etag"] == '"v1"'
    assert "x-internal" not in {h.lower() for h in result["headers"]}  # only a useful subset
    assert result["truncated"] is False and result["binary"] is False
    assert result["bytes"] == len("hello, world ✓\n".encode())
    [request] = server.requests
    assert request["headers"]["User-Agent"] == "jaf-plugin-http/1.0 (jafhost)"
    assert request["headers"]["Accept-Encoding"] == "identity"


def test_charsets_json_binary_head_and_error_statuses(host: Any, server: Server) -> None:
    assert host.call_ok("http.fetch", {"url": server.url("/latin1")})["text"] == "café"
    assert host.call_ok("http.fetch", {"url": server.url("/json")})["text"] == '{"ok": true}'
    png = host.call_ok("http.fetch", {"url": server.url("/png")})
    assert png["binary"] is True and png["text"] is None and png["bytes"] == len(PNG)
    head = host.call_ok("http.fetch", {"url": server.url("/hello"), "method": "HEAD"})
    assert head["status"] == 200 and head["text"] == "" and head["bytes"] == 0
    assert server.requests[-1]["method"] == "HEAD"
    missing = host.call_ok("http.fetch", {"url": server.url("/missing")})
    assert (missing["status"], missing["reason"], missing["text"]) == (404, "Not Found", "not here")


def test_redirects_are_followed(host: Any, server: Server) -> None:
    result = host.call_ok("http.fetch", {"url": server.url("/redirect")})
    assert result["status"] == 200
    assert result["final_url"] == server.url("/hello")
    assert [r["path"] for r in server.requests] == ["/redirect", "/hello"]


def test_redirects_beyond_the_configured_number_are_returned(
    jafhost_factory: Callable[..., Any], server: Server
) -> None:
    host = jafhost_factory(
        "http",
        grants={"http": [f"net:127.0.0.1:{server.port}"]},
        config={"plugins": {"http": {"max_redirects": 0}}},
    )
    result = host.call_ok("http.fetch", {"url": server.url("/redirect")})
    assert result["status"] == 302
    assert result["headers"]["location"] == "/hello"
    assert [r["path"] for r in server.requests] == ["/redirect"]


def test_size_limit_truncates(host: Any, server: Server) -> None:
    result = host.call_ok("http.fetch", {"url": server.url("/big?size=10000"), "max_bytes": 1000})
    assert result["truncated"] is True
    assert result["bytes"] == 1000
    assert result["text"].startswith("a" * 1000)
    assert result["text"][1000:] == "\n[truncated: only the first 1000 bytes were read]"
    exact = host.call_ok("http.fetch", {"url": server.url("/big?size=1000"), "max_bytes": 1000})
    assert exact["truncated"] is False and exact["text"] == "a" * 1000


def test_reading_stops_at_the_limit_of_an_endless_body(host: Any, server: Server) -> None:
    started = time.monotonic()
    result = host.call_ok("http.fetch", {"url": server.url("/endless"), "max_bytes": 5000})
    assert time.monotonic() - started < 5
    assert result["truncated"] is True and result["bytes"] == 5000
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the server notices the closed connection
        before = server.sent.get("/endless", 0)
        time.sleep(0.2)
        if server.sent.get("/endless", 0) == before:
            break
    assert server.sent.get("/endless", 0) < 50_000_000  # far from the billion it offers


def test_config_sets_the_user_agent_and_caps_the_limits(
    jafhost_factory: Callable[..., Any], server: Server
) -> None:
    host = jafhost_factory(
        "http",
        grants={"http": [f"net:127.0.0.1:{server.port}"]},
        config={"plugins": {"http": {"user_agent": "tester/2.0", "max_bytes_limit": 2000}}},
    )
    echoed = host.call_ok("http.fetch", {"url": server.url("/headers")})
    assert echoed["truncated"] is False
    assert json.loads(echoed["text"])["User-Agent"] == "tester/2.0"
    capped = host.call_ok("http.fetch", {"url": server.url("/big?size=5000")})  # 1 MB asked
    assert capped["bytes"] == 2000 and capped["truncated"] is True


def test_a_bad_config_is_reported_not_ignored(
    jafhost_factory: Callable[..., Any], server: Server
) -> None:
    host = jafhost_factory(
        "http",
        grants={"http": [f"net:127.0.0.1:{server.port}"]},
        config={"plugins": {"http": {"max_redirect": 3}}},  # a typo of max_redirects
    )
    loaded = host.loaded("http")
    assert loaded.status == "broken"
    assert "max_redirect" in loaded.error
    result = host.call("http.fetch", {"url": server.url("/hello")})
    assert result.error.code == "unavailable" and "broken" in result.error.message
    assert server.requests == []


def test_timeout_against_a_slow_server(host: Any, server: Server) -> None:
    started = time.monotonic()
    result = host.call("http.fetch", {"url": server.url("/slow"), "timeout": 0.5})
    elapsed = time.monotonic() - started
    assert not result.ok and result.error.code == "timeout"
    assert result.error.message == f"fetching {server.url('/slow')} did not finish within 0.5 s"
    assert elapsed < 3


def test_the_timeout_covers_the_whole_fetch_not_each_read(host: Any, server: Server) -> None:
    """The trickling server answers every read within 50 ms; only an overall deadline
    stops it before its 50 s are up."""
    started = time.monotonic()
    result = host.call("http.fetch", {"url": server.url("/trickle"), "timeout": 0.6})
    elapsed = time.monotonic() - started
    assert result.error.code == "timeout"
    assert 0.5 < elapsed < 3


def test_a_port_not_granted_is_denied_and_never_reached(
    host: Any, server: Server, other_server: Server
) -> None:
    error = host.assert_denied(
        "http.fetch",
        {"url": other_server.url("/hello")},
        permission=f"net:127.0.0.1:{other_server.port}",
    )
    assert error.plugin == "http"
    time.sleep(0.2)  # time for a connection that should not exist to be counted
    assert other_server.connections == 0 and other_server.requests == []
    assert host.call_ok("http.fetch", {"url": server.url("/hello")})["status"] == 200


def test_a_host_name_needs_its_own_grant(host: Any, server: Server) -> None:
    """``net:127.0.0.1:PORT`` does not cover ``localhost``: the name is refused before
    it is even looked up."""
    url = f"http://localhost:{server.port}/hello"
    host.assert_denied("http.fetch", {"url": url}, permission=f"net:localhost:{server.port}")
    assert server.connections == 0


def test_a_redirect_cannot_lead_to_a_port_not_granted(
    host: Any, server: Server, other_server: Server
) -> None:
    server.redirect_to = other_server.url("/hello")
    host.assert_denied(
        "http.fetch",
        {"url": server.url("/redirect")},
        permission=f"net:127.0.0.1:{other_server.port}",
    )
    assert [r["path"] for r in server.requests] == ["/redirect"]
    time.sleep(0.2)
    assert other_server.connections == 0


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/x", "http://", "localhost:80", "http://h:abc/"],
)
def test_only_http_urls_are_fetched(host: Any, url: str) -> None:
    result = host.call("http.fetch", {"url": url})
    assert result.error.code == "invalid_arguments", result.error
    assert url in result.error.message
