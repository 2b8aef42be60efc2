"""Post Slack-compatible JSON to a webhook with the standard library (no jafhost here).

The request is a plain ``POST`` of ``{"text": ..., "blocks": [...], "channel": ...}``
with ``Content-Type: application/json`` and, when there is a token,
``Authorization: Bearer <token>``. Slack incoming webhooks, Mattermost, Rocket.Chat,
Discord's ``/slack`` endpoints and most chat tools accept this shape.

Deliberate choices:

* no proxies from the environment (``HTTP_PROXY``...): the connection goes straight to
  the URL's host, which is the one the user granted (``net:HOST:PORT``);
* no redirects: a redirect would send the message, and the token, to a host nobody
  approved, so a ``3xx`` answer is an error;
* error messages name the URL's origin only (``https://hooks.slack.com``), never its
  path: a Slack webhook URL carries its secret in the path;
* a ``PermissionError`` (jafhost's guard raises ``PermissionDenied``, a subclass) is
  re-raised as it is, not wrapped, so the host reports ``permission_denied``.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

MAX_RESPONSE = 64 * 1024
"""Bytes of an answer kept (webhooks answer ``ok`` or a short error)."""
SLACK_SECTION_LIMIT = 3000
"""Slack refuses a section text longer than this."""


class WebhookError(Exception):
    """Posting failed; the message is safe to show (no token, no URL path)."""

    def __init__(self, message: str, *, timeout: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.status = status


@dataclass(frozen=True)
class PostResult:
    status: int
    response: str


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what messages may show of it."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def slack_payload(
    text: str, *, channel: str | None = None, blocks: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON body: ``text`` always (Slack's fallback for notifications), the rest if set."""
    payload: dict[str, Any] = {"text": text}
    if blocks:
        payload["blocks"] = [dict(block) for block in blocks]
    if channel:
        payload["channel"] = channel
    return payload


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def event_payload(
    name: str, source: str, data: Any, event_id: str, *, channel: str | None = None
) -> dict[str, Any]:
    """A message describing an event: a headline, its data as JSON, and its id."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{escape_mrkdwn(name)}* from `{source}`"},
        }
    ]
    if data is not None:
        detail = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        room = SLACK_SECTION_LIMIT - 10
        if len(detail) > room:
            detail = detail[: room - 2] + "\n…"
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"```{escape_mrkdwn(detail)}```"},
            }
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"event {event_id}"}]}
    )
    return slack_payload(f"{name} (from {source})", channel=channel, blocks=blocks)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Follow no redirect: urllib then raises ``HTTPError`` for the ``3xx`` answer."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def _snippet(raw: bytes, limit: int = 300) -> str:
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class WebhookClient:
    """Posts JSON to one webhook URL."""

    url: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    timeout: float = 5.0
    user_agent: str = "jaf-plugin-webhook/1.0"

    @property
    def origin(self) -> str:
        return origin(self.url)

    def post(self, payload: Mapping[str, Any]) -> PostResult:
        """POST ``payload`` as JSON; ``WebhookError`` unless the answer is ``2xx``."""
        where = self.origin
        request = urllib.request.Request(
            self.url,
            data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Accept": "application/json, text/plain;q=0.9, */*;q=0.1",
                "User-Agent": self.user_agent,
            },
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_RESPONSE)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            with exc:
                detail = _snippet(exc.read(2000) if exc.fp is not None else b"")
            message = f"{where} answered HTTP {exc.code} {exc.reason}"
            if 300 <= exc.code < 400:
                message += " (a redirect: not followed, the message was not delivered)"
            retry = exc.headers.get("Retry-After") if exc.headers else None
            if exc.code == 429 and retry:
                message += f" (retry after {retry} s)"
            if detail:
                message += f": {detail}"
            raise WebhookError(message, status=exc.code) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, PermissionError):
                raise reason from None  # the guard's denial: the host reports permission_denied
            if isinstance(reason, TimeoutError):
                raise self._timed_out(where) from None
            raise WebhookError(f"cannot reach {where}: {reason}") from None
        except PermissionError:
            raise
        except TimeoutError:
            raise self._timed_out(where) from None
        except (OSError, http.client.HTTPException) as exc:
            raise WebhookError(f"the connection to {where} failed: {exc!r}") from None
        return PostResult(status, _snippet(body, 1000))

    def _timed_out(self, where: str) -> WebhookError:
        return WebhookError(f"{where} did not answer within {self.timeout:g} s", timeout=True)
