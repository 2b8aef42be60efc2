"""The webhook plugin (entry point ``webhook = "jaf_plugin_webhook.plugin:WebhookPlugin"``).

The entry point names a class: jafhost makes one instance per load, and the instance
keeps the ``forward`` patterns it read in ``jaf_initialize`` for ``jaf_event_handlers``
(which takes no arguments). Several hosts in one process (tests) never share them.

The tool and the event handlers run under this plugin's identity, so the guard checks
their connections against *its* grants: another plugin that wants a message posted
emits an event matching ``forward`` and needs no network permission of its own.

No ``from __future__ import annotations``: the host reads the annotations of the tool
and the handlers at run time.
"""

import fnmatch
import os
import re
from collections.abc import Callable
from typing import Annotated, Any

from jafhost import Event, PluginContext, ToolError, hookimpl
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, field_validator

from jaf_plugin_webhook.client import WebhookClient, WebhookError, event_payload, slack_payload

EVENT_PATTERN = re.compile(r"^[A-Za-z0-9_.:*-]+$")
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class WebhookConfig(BaseModel):
    """``[plugins.webhook]`` in ``config.toml``; any field also ``JAFHOST_WEBHOOK__<FIELD>``."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(
        description="Where to post, e.g. https://hooks.slack.com/services/T000/B000/XXXX. "
        "Grant its host: jafhost grant webhook net:HOST:443"
    )
    token: SecretStr | None = Field(
        None,
        description="Bearer token; a secret: set JAFHOST_WEBHOOK__TOKEN, never config.toml. "
        "Takes precedence over token_env.",
    )
    token_env: str | None = Field(
        "WEBHOOK_TOKEN",
        pattern=ENV_NAME,
        description="Environment variable holding the bearer token (grant env:NAME for "
        "another name). No token: no Authorization header (Slack's own webhooks need none).",
    )
    timeout: float = Field(5.0, gt=0, le=60, description="Seconds to wait for the webhook.")
    channel: str | None = Field(None, description="Default channel, if the webhook honours it.")
    forward: list[str] = Field(
        default_factory=list,
        description='Event patterns to post as messages, e.g. ["order.*", "deploy.finished"].',
    )

    @field_validator("forward")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not EVENT_PATTERN.fullmatch(pattern):
                raise ValueError(
                    f"bad event pattern {pattern!r}: letters, digits, '.', '_', '-', ':' and '*'"
                )
        return list(dict.fromkeys(value))


def _config(ctx: PluginContext) -> WebhookConfig:
    config = ctx.config
    if not isinstance(config, WebhookConfig):  # the host validated it with our schema
        raise ToolError("the webhook plugin has no configuration", plugin=ctx.name)
    return config


def token(config: WebhookConfig) -> str | None:
    """The bearer token: ``token`` (from the environment override), else ``$token_env``."""
    if config.token is not None and config.token.get_secret_value():
        return config.token.get_secret_value()
    if config.token_env:
        return os.environ.get(config.token_env) or None
    return None


def client(config: WebhookConfig) -> WebhookClient:
    return WebhookClient(str(config.url), token(config), config.timeout)


def first_match(patterns: list[str], name: str) -> str | None:
    """The first pattern matching ``name`` (``*`` matches any run of characters)."""
    return next((p for p in patterns if fnmatch.fnmatchcase(name, p)), None)


class WebhookPlugin:
    """One load of the plugin: its hooks, and the event patterns of that load."""

    def __init__(self) -> None:
        self.forward: list[str] = []

    @hookimpl
    def jaf_config_schema(self) -> type[BaseModel]:
        return WebhookConfig

    @hookimpl
    def jaf_initialize(self, ctx: PluginContext) -> None:
        config = _config(ctx)
        self.forward = list(config.forward)
        ctx.logger.info(
            "webhook: posting to %s (%s); forwarding %s",
            client(config).origin,
            "with a bearer token" if token(config) else "no token",
            ", ".join(self.forward) or "no events",
        )

    @hookimpl
    def jaf_tools(self) -> list[Callable[..., Any]]:
        return [post_message]

    @hookimpl
    def jaf_event_handlers(self) -> dict[str, Callable[..., Any]]:
        return {pattern: self._handler(pattern) for pattern in self.forward}

    def _handler(self, pattern: str) -> Callable[..., Any]:
        def forward_event(event: Event, ctx: PluginContext) -> None:
            # An event matching several patterns reaches one handler per pattern: only the
            # handler of the first matching pattern posts it, so it is posted once.
            if first_match(self.forward, event.name) != pattern:
                return
            config = _config(ctx)
            payload = event_payload(
                event.name, event.source, event.data, event.id, channel=config.channel
            )
            client(config).post(payload)

        forward_event.__qualname__ = f"forward_event[{pattern}]"
        return forward_event


# -- tools -------------------------------------------------------------------------------


def post_message(
    text: Annotated[str, Field(min_length=1, max_length=40_000)],
    channel: str | None = None,
    blocks: Annotated[list[dict[str, Any]], Field(max_length=50)] | None = None,
    *,
    ctx: PluginContext,
) -> dict[str, Any]:
    """Post a message to the configured chat webhook (Slack-compatible JSON).

    Returns the webhook's HTTP status and its (short) answer. Fails with a clear error
    when the webhook answers with an error status, does not answer in time, or its
    host is not granted.

    Args:
        text: the message (Slack mrkdwn); also the notification text when blocks are given.
        channel: a channel to post to instead of the configured one, if the webhook allows it.
        blocks: optional Slack Block Kit blocks, e.g.
            [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deployed* v1.2"}}].
    """
    config = _config(ctx)
    poster = client(config)
    payload = slack_payload(text, channel=channel or config.channel, blocks=blocks)
    try:
        result = poster.post(payload)
    except WebhookError as exc:
        code = "timeout" if exc.timeout else "tool_error"
        raise ToolError(str(exc), plugin=ctx.name, code=code) from None
    return {
        "posted": True,
        "webhook": poster.origin,
        "status": result.status,
        "response": result.response,
    }
