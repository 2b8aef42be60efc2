"""A real OpenAI-compatible HTTP server for tests: ``POST /v1/chat/completions`` on
127.0.0.1 (an ephemeral port), answering from a script and recording every request.

    with OpenAIStub([
        {"tool_calls": [{"name": "shop__lookup_order", "arguments": {"order_id": 42}}]},
        {"content": "It has shipped."},
        {"status": 500, "error": "overloaded"},
    ]) as stub:
        ... OpenAI SDK with base_url=stub.url ...
    stub.requests  # [{"path", "headers", "body"}, ...]

Each scripted item is one answer, in order: an assistant message (``content`` and/or
``tool_calls`` with ``name`` in the export form, ``arguments`` as an object or a raw
string, optional ``id``) or an error (``status``, ``error``). A request past the end
of the script gets HTTP 500. The server runs in a daemon thread and stops when the
``with`` block ends, or by itself after ``lifetime`` seconds whatever happens.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OpenAIStub:
    """An OpenAI-compatible chat completions server with scripted answers."""

    def __init__(self, script: list[dict[str, Any]], *, lifetime: float = 60.0) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "the stub is not running"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the SDK (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- the answers -----------------------------------------------------------------

    def _next(self) -> dict[str, Any] | None:
        with self._lock:
            return self.script.pop(0) if self.script else None

    def _completion(self, item: dict[str, Any], model: str) -> dict[str, Any]:
        tool_calls = []
        for call in item.get("tool_calls", []):
            arguments = call.get("arguments", {})
            tool_calls.append(
                {
                    "id": call.get("id") or f"call_stub_{next(self._ids)}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": arguments
                        if isinstance(arguments, str)
                        else json.dumps(arguments),
                    },
                }
            )
        message: dict[str, Any] = {"role": "assistant", "content": item.get("content")}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "id": f"chatcmpl-stub-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if tool_calls else "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def handle(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
        if path.rstrip("/") != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {path}", "type": "invalid_request"}}
        if not isinstance(body, dict):
            return 400, {
                "error": {"message": "the body must be a JSON object", "type": "invalid_request"}
            }
        item = self._next()
        if item is None:
            return 500, {
                "error": {"message": "stub: no scripted answer left", "type": "server_error"}
            }
        if "status" in item:
            return int(item["status"]), {
                "error": {"message": item.get("error", "scripted error"), "type": "server_error"}
            }
        return 200, self._completion(item, str(body.get("model", "")))

    # -- the server ------------------------------------------------------------------

    def start(self) -> OpenAIStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw or b"null")
                except ValueError:
                    body = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer = stub.handle(self.path, headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openai-stub",
            daemon=True,
        )
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if self._timer is not None:
            self._timer.cancel()
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the SDK sent -----------------------------------------------------------

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat completion requests, in order."""
        return [r["body"] for r in self.requests if r["path"].rstrip("/").endswith("completions")]
