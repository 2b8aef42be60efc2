"""The webhook plugin in a real host (``jafhost_factory``) against real HTTP servers on
127.0.0.1 that record what they receive. Nothing leaves the machine.

Needs the distribution installed: ``pip install -e sample_plugins/jaf-plugin-webhook``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Factory = Callable[..., Any]
TOKEN = "s3cret-token-value"
SECRET_PATH = "/services/T000/B000/pathsecret"  # Slack URLs carry their secret in the path


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (the timeout test) is expected, not worth a traceback


class RecordingServer:
    """A real HTTP server on 127.0.0.1 in a daemon thread, recording every request.

    ``status``/``reply``/``headers`` shape the answer; ``delay`` holds it back (until
    ``close`` releases it, at the latest). ``close`` stops the server and its thread.
    """

    def __init__(
        self,
        status: int = 200,
        reply: bytes = b"ok",
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.requests: list[Received] = []
        self.status, self.reply, self.delay = status, reply, delay
        self.extra_headers = headers or {}
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.requests.append(
                    Received("POST", self.path, dict(self.headers.items()), self.rfile.read(length))
                )
                if owner.delay:
                    owner.release.wait(owner.delay)
                self.send_response(owner.status)
                for name, value in owner.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(owner.reply)))
                self.end_headers()
                self.wfile.write(owner.reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def connections(self) -> int:
        """Connections accepted so far (a request or not)."""
        return self.httpd.connections

    def url(self, path: str = SECRET_PATH) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[..., RecordingServer]]:
    """Start recording servers; all are stopped when the test ends."""
    started: list[RecordingServer] = []

    def start(**options: Any) -> RecordingServer:
        server = RecordingServer(**options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def server(serve: Callable[..., RecordingServer]) -> RecordingServer:
    return serve()


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_TOKEN", TOKEN)
    monkeypatch.delenv("JAFHOST_WEBHOOK__TOKEN", raising=False)


def start(
    factory: Factory,
    url: str,
    *,
    port: int | None = None,
    grants: list[str] | None = None,
    **config: Any,
) -> Any:
    """A host running webhook posting to ``url``, granted exactly ``net:127.0.0.1:<port>``
    (the URL's port unless given) and ``env:WEBHOOK_TOKEN``."""
    if port is None:
        port = int(url.split(":")[2].split("/")[0])
    allowed = grants if grants is not None else [f"net:127.0.0.1:{port}", "env:WEBHOOK_TOKEN"]
    return factory(
        "webhook",
        grants={"webhook": allowed},
        config={"plugins": {"webhook": {"url": url, **config}}},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- discovery -----------------------------------------------------------------------------


def test_manifest_requests_the_slack_host_and_the_token_variable(jafhost_factory: Factory) -> None:
    host = jafhost_factory("webhook", activate=False)
    view = host.plugin("webhook")
    assert view.info.distribution == "jaf-plugin-webhook"
    assert view.info.version == "1.0.0"
    assert view.info.kinds == ("tool", "event")
    assert list(view.info.permissions) == ["env:WEBHOOK_TOKEN", "net:hooks.slack.com:443"]


def test_catalog(jafhost_factory: Factory, server: RecordingServer) -> None:
    host = start(jafhost_factory, server.url())
    [tool] = host.tool_definitions("json")
    assert tool["name"] == "webhook.post_message"
    assert tool["input_schema"]["required"] == ["text"]
    assert set(tool["input_schema"]["properties"]) == {"text", "channel", "blocks"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://127.0.0.1:1/", "forward": ["order created"]}, "forward"),
        ({"url": "http://127.0.0.1:1/", "timeout": 0}, "timeout"),
        ({"url": "http://127.0.0.1:1/", "token_env": "NOT-A-NAME"}, "token_env"),
    ],
)
def test_bad_configuration_names_the_field(
    jafhost_factory: Factory, config: dict[str, Any], field: str
) -> None:
    host = jafhost_factory("webhook", config={"plugins": {"webhook": config}})
    loaded = host.loaded("webhook")
    assert loaded.status == "broken"
    if config:  # a bad value names the field; a missing one says how to set it
        assert f"[plugins.webhook] {field}" in loaded.error
    else:
        assert f"needs configuration: jafhost config set webhook {field} " in loaded.error


# -- posting -------------------------------------------------------------------------------


def test_posts_slack_json_with_the_bearer_token(
    jafhost_factory: Factory, server: RecordingServer
) -> None:
    host = start(jafhost_factory, server.url())
    result = host.call_ok("webhook.post_message", {"text": "Deploy *finished* ✅"})
    assert result == {
        "posted": True,
        "webhook": f"http://127.0.0.1:{server.port}",
        "status": 200,
        "response": "ok",
    }
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == SECRET_PATH
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {"text": "Deploy *finished* ✅"}


def test_channel_and_blocks(jafhost_factory: Factory, server: RecordingServer) -> None:
    host = start(jafhost_factory, server.url(), channel="#general")
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Release 1.2"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*3* fixes"}},
    ]
    host.call_ok("webhook.post_message", {"text": "Release 1.2", "blocks": blocks})
    host.call_ok("webhook.post_message", {"text": "to ops", "channel": "#ops"})
    first, second = (r.json() for r in server.requests)
    assert first == {"text": "Release 1.2", "blocks": blocks, "channel": "#general"}
    assert second == {"text": "to ops", "channel": "#ops"}


def test_without_a_token_no_authorization_header(
    jafhost_factory: Factory, server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBHOOK_TOKEN")
    host = start(jafhost_factory, server.url())
    host.call_ok("webhook.post_message", {"text": "hi"})
    assert "Authorization" not in server.requests[0].headers


def test_token_from_another_variable(
    jafhost_factory: Factory, server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_HOOK_TOKEN", "other-token")
    host = start(
        jafhost_factory,
        server.url(),
        grants=[f"net:127.0.0.1:{server.port}", "env:OPS_HOOK_TOKEN"],
        token_env="OPS_HOOK_TOKEN",
    )
    host.call_ok("webhook.post_message", {"text": "hi"})
    assert server.requests[0].headers["Authorization"] == "Bearer other-token"


def test_secret_token_from_the_environment_override(
    jafhost_factory: Factory, server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAFHOST_WEBHOOK__TOKEN", "override-token")  # wins over $WEBHOOK_TOKEN
    host = start(jafhost_factory, server.url())
    host.call_ok("webhook.post_message", {"text": "hi"})
    assert server.requests[0].headers["Authorization"] == "Bearer override-token"


def test_arguments_are_validated_before_anything_is_sent(
    jafhost_factory: Factory, server: RecordingServer
) -> None:
    host = start(jafhost_factory, server.url())
    assert host.call("webhook.post_message", {"text": ""}).error.code == "invalid_arguments"
    assert host.call("webhook.post_message", {}).error.code == "invalid_arguments"
    too_many = {"text": "x", "blocks": [{"type": "divider"}] * 51}
    assert host.call("webhook.post_message", too_many).error.code == "invalid_arguments"
    assert server.requests == []


# -- failures --------------------------------------------------------------------------------


def test_a_server_error_is_a_clear_tool_error(
    jafhost_factory: Factory, serve: Callable[..., RecordingServer]
) -> None:
    failing = serve(status=500, reply=b"internal trouble\n")
    host = start(jafhost_factory, failing.url())
    result = host.call("webhook.post_message", {"text": "hi"})
    assert result.error.code == "tool_error"
    assert result.error.message == (
        f"http://127.0.0.1:{failing.port} answered HTTP 500 Internal Server Error: internal trouble"
    )
    assert "pathsecret" not in result.error.message and TOKEN not in result.error.message
    assert len(failing.requests) == 1  # it was sent once, not retried


def test_rate_limit_says_when_to_retry(
    jafhost_factory: Factory, serve: Callable[..., RecordingServer]
) -> None:
    limited = serve(status=429, reply=b"rate_limited", headers={"Retry-After": "30"})
    host = start(jafhost_factory, limited.url())
    message = host.call("webhook.post_message", {"text": "hi"}).error.message
    assert "HTTP 429" in message and "retry after 30 s" in message


def test_a_slow_webhook_times_out(
    jafhost_factory: Factory, serve: Callable[..., RecordingServer]
) -> None:
    slow = serve(delay=10)
    host = start(jafhost_factory, slow.url(), timeout=0.3)
    started = time.monotonic()
    result = host.call("webhook.post_message", {"text": "hi"})
    assert time.monotonic() - started < 5
    assert result.error.code == "timeout"
    assert result.error.message == f"http://127.0.0.1:{slow.port} did not answer within 0.3 s"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(
    jafhost_factory: Factory, serve: Callable[..., RecordingServer], status: int
) -> None:
    """A redirect would carry the message and the token to a host nobody approved
    (urllib on its own follows 301-303 and keeps the Authorization header)."""
    elsewhere = serve()
    redirecting = serve(status=status, reply=b"", headers={"Location": elsewhere.url("/steal")})
    host = start(jafhost_factory, redirecting.url(), port=0, grants=["net:127.0.0.1:*"])
    result = host.call("webhook.post_message", {"text": "hi"})
    assert result.error.code == "tool_error"
    assert f"HTTP {status}" in result.error.message and "not followed" in result.error.message
    assert elsewhere.connections == 0 and elsewhere.requests == []


def test_nothing_listening_is_a_clear_tool_error(jafhost_factory: Factory) -> None:
    port = free_port()
    host = start(jafhost_factory, f"http://127.0.0.1:{port}/hook")
    result = host.call("webhook.post_message", {"text": "hi"})
    assert result.error.code == "tool_error"
    assert result.error.message.startswith(f"cannot reach http://127.0.0.1:{port}: ")


def test_a_port_that_is_not_granted_is_denied_and_never_contacted(
    jafhost_factory: Factory, serve: Callable[..., RecordingServer]
) -> None:
    granted, other = serve(), serve()
    host = start(jafhost_factory, other.url(), port=granted.port)
    error = host.assert_denied(
        "webhook.post_message", {"text": "hi"}, permission=f"net:127.0.0.1:{other.port}"
    )
    assert error.plugin == "webhook"
    time.sleep(0.1)  # a connection, had one been made, would have been accepted by now
    assert other.connections == 0 and other.requests == []
    assert granted.connections == 0


def test_the_default_grants_do_not_reach_a_local_server(
    jafhost_factory: Factory, server: RecordingServer
) -> None:
    host = jafhost_factory(  # grants="requested": hooks.slack.com:443 and the token only
        "webhook", config={"plugins": {"webhook": {"url": server.url()}}}
    )
    host.assert_denied("webhook.post_message", {"text": "hi"}, permission="net:127.0.0.1:")
    assert server.connections == 0


# -- events ----------------------------------------------------------------------------------


def test_configured_events_are_forwarded_once(
    jafhost_factory: Factory, server: RecordingServer
) -> None:
    host = start(jafhost_factory, server.url(), forward=["order.*", "order.created"])
    report = host.emit("order.created", {"id": 7, "total": 12.5, "note": "<b>&"})
    assert report.ok
    assert [d["plugin"] for d in report.delivered] == ["webhook", "webhook"]  # two patterns...
    [request] = server.requests  # ...one message
    body = request.json()
    assert body["text"] == "order.created (from host)"
    headline, detail, context = body["blocks"]
    assert headline["text"]["text"] == "*order.created* from `host`"
    assert json.loads(
        detail["text"]["text"]
        .strip("`")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    ) == {"id": 7, "total": 12.5, "note": "<b>&"}
    assert "&lt;b&gt;&amp;" in detail["text"]["text"]  # Slack's control characters escaped
    assert context["elements"][0]["text"] == f"event {report.event.id}"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"

    other = host.emit("user.login", {"user": "ann"})
    assert other.delivered == []
    assert len(server.requests) == 1


def test_no_forward_setting_subscribes_to_nothing(
    jafhost_factory: Factory, server: RecordingServer
) -> None:
    host = start(jafhost_factory, server.url())
    assert host.emit("order.created", {"id": 1}).delivered == []
    assert server.requests == []


def test_a_failed_forward_is_reported(
    jafhost_factory: Factory, serve: Callable[..., RecordingServer]
) -> None:
    failing = serve(status=503, reply=b"maintenance")
    host = start(jafhost_factory, failing.url(), forward=["deploy.*"])
    report = host.emit("deploy.finished", {"version": "1.2"})
    [failure] = report.failed
    assert failure["plugin"] == "webhook" and failure["pattern"] == "deploy.*"
    assert "HTTP 503" in failure["error"] and "maintenance" in failure["error"]
