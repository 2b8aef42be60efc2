"""``jaf_plugin_webhook.client`` and the config model, without a host or a network."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from jaf_plugin_webhook.client import (
    SLACK_SECTION_LIMIT,
    WebhookClient,
    escape_mrkdwn,
    event_payload,
    origin,
    slack_payload,
)
from jaf_plugin_webhook.plugin import WebhookConfig, first_match, token


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/secret", "https://hooks.slack.com"),
        ("http://127.0.0.1:8080/hook?key=secret", "http://127.0.0.1:8080"),
        ("http://[::1]:9000/x", "http://[::1]:9000"),
    ],
)
def test_origin_never_shows_the_path(url: str, shown: str) -> None:
    assert origin(url) == shown


def test_the_token_and_url_stay_out_of_repr() -> None:
    client = WebhookClient("https://hooks.slack.com/services/T0/B0/pathsecret", "tok3n")
    assert "tok3n" not in repr(client) and "pathsecret" not in repr(client)


def test_slack_payload_leaves_out_what_is_not_set() -> None:
    assert slack_payload("hi") == {"text": "hi"}
    blocks = [{"type": "divider"}]
    assert slack_payload("hi", channel="#ops", blocks=blocks) == {
        "text": "hi",
        "blocks": blocks,
        "channel": "#ops",
    }


def test_event_payload_escapes_and_truncates() -> None:
    assert escape_mrkdwn("<a> & <b>") == "&lt;a&gt; &amp; &lt;b&gt;"
    payload = event_payload("log.line", "audit", {"line": "x" * 10_000}, "e1")
    detail = payload["blocks"][1]["text"]["text"]
    assert len(detail) <= SLACK_SECTION_LIMIT
    assert detail.endswith("…```")
    without_data = event_payload("ping", "host", None, "e2", channel="#ops")
    assert [b["type"] for b in without_data["blocks"]] == ["section", "context"]
    assert without_data["channel"] == "#ops"
    json.dumps(event_payload("x", "y", {"when": object()}, "e3"))  # anything: shown as text


def test_config_defaults_and_token_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    config = WebhookConfig.model_validate({"url": "https://hooks.slack.com/services/T/B/X"})
    assert (config.token_env, config.timeout, config.forward) == ("WEBHOOK_TOKEN", 5.0, [])
    monkeypatch.delenv("WEBHOOK_TOKEN", raising=False)
    assert token(config) is None
    monkeypatch.setenv("WEBHOOK_TOKEN", "from-env")
    assert token(config) == "from-env"
    secret = WebhookConfig.model_validate({"url": "https://x.example/h", "token": "from-override"})
    assert token(secret) == "from-override"
    assert "from-override" not in repr(secret)
    no_variable = WebhookConfig.model_validate({"url": "https://x.example/h", "token_env": None})
    assert token(no_variable) is None


def test_config_refuses_bad_values() -> None:
    with pytest.raises(ValidationError, match="url"):
        WebhookConfig.model_validate({"url": "ftp://example.com/x"})
    with pytest.raises(ValidationError, match="bad event pattern"):
        WebhookConfig.model_validate({"url": "https://x.example/h", "forward": ["a b"]})
    with pytest.raises(ValidationError, match="extra"):
        WebhookConfig.model_validate({"url": "https://x.example/h", "forwards": ["a"]})


def test_first_match_picks_the_first_configured_pattern() -> None:
    patterns = ["order.*", "order.created", "*"]
    assert first_match(patterns, "order.created") == "order.*"
    assert first_match(patterns, "user.login") == "*"
    assert first_match(["order.*"], "orders") is None
    assert first_match(["a.*.c"], "a.b.x.c") == "a.*.c"  # * spans dots, as in jafhost
