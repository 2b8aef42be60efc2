"""The ``openai`` provider: any OpenAI-compatible chat completions API, through the
official ``openai`` SDK (``pip install 'jafhost[openai]'``), imported only when used.

Settings, first found wins:

- base URL: ``base_url`` in ``config.toml [providers.openai]``, else ``$OPENAI_BASE_URL``,
  else the SDK's default (api.openai.com);
- API key: the environment variable named by ``api_key_env`` in that table
  (default ``OPENAI_API_KEY``); never the config file itself, so keys stay out of it.
  With a custom base URL and no key, a placeholder is sent (local servers such as
  Ollama or vLLM ignore it);
- model: the part after ``openai:`` in ``--model``, else ``model`` in the table.

Tools go out as OpenAI tool definitions named ``plugin__tool``; the tool calls that
come back are named ``plugin.tool`` again.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jafhost.agents.providers.base import ModelToolCall, ModelTurn, parse_arguments
from jafhost.errors import ProviderError
from jafhost.tools import split_name

INSTALL_HINT = "pip install 'jafhost[openai]'"
PLACEHOLDER_KEY = "not-needed"


class OpenAISettings(BaseModel):
    """``[providers.openai]`` in ``config.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    model: str | None = None
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0)


def _require_sdk() -> Any:
    try:
        import openai
    except ImportError:
        raise ProviderError(
            f"the openai provider needs the openai package: {INSTALL_HINT}"
        ) from None
    return openai


def full_tool_name(name: str) -> str:
    """``plugin__tool`` (the export form the model saw) -> ``plugin.tool``."""
    if "__" in name:
        parts = split_name(name)
        if parts is not None:
            return f"{parts[0]}.{parts[1]}"
    return name


class OpenAIProvider:
    """Chat completions over the ``openai`` SDK's ``AsyncOpenAI`` client."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        default_model: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        client: Any = None,
    ) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.default_model = default_model
        self.timeout = timeout
        self.max_retries = max_retries
        self._client = client
        self._owns_client = client is None

    @classmethod
    def from_settings(cls, table: dict[str, Any], model: str | None = None) -> OpenAIProvider:
        """Build from a ``[providers.openai]`` table and the environment."""
        try:
            settings = OpenAISettings.model_validate(table)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "(table)"
            raise ProviderError(f"[providers.openai] {where}: {error['msg']}") from None
        _require_sdk()
        base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = os.environ.get(settings.api_key_env) or None
        if api_key is None:
            if base_url is None:
                raise ProviderError(
                    f"the openai provider has no API key: set {settings.api_key_env} "
                    "(or name another variable with api_key_env in [providers.openai])"
                )
            api_key = PLACEHOLDER_KEY
        if not (model or settings.model):
            raise ProviderError(
                "the openai provider needs a model: --model openai:MODEL "
                "(or model in [providers.openai])"
            )
        return cls(
            base_url=base_url,
            api_key=api_key,
            default_model=model or settings.model,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )

    @property
    def client(self) -> Any:
        """The ``AsyncOpenAI`` client, made on first use."""
        if self._client is None:
            openai = _require_sdk()
            self._client = openai.AsyncOpenAI(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], model: str | None
    ) -> ModelTurn:
        openai = _require_sdk()
        chosen = model or self.default_model
        if not chosen:
            raise ProviderError("the openai provider needs a model: --model openai:MODEL")
        request: dict[str, Any] = {"model": chosen, "messages": messages}
        if tools:
            request["tools"] = tools
        client = self.client
        try:
            response = await client.chat.completions.create(**request)
        except openai.APIStatusError as exc:
            body = exc.body
            text = body.get("message") if isinstance(body, dict) else None
            raise ProviderError(
                f"{client.base_url} answered HTTP {exc.status_code}: {text or exc.message}"
            ) from None
        except openai.APIConnectionError as exc:
            raise ProviderError(f"cannot reach {client.base_url}: {exc}") from None
        except openai.APIError as exc:
            raise ProviderError(f"{client.base_url}: {exc.message}") from None
        if not response.choices:
            raise ProviderError(f"{client.base_url} answered with no choices")
        message = response.choices[0].message
        calls = []
        for call in message.tool_calls or []:
            function = getattr(call, "function", None)
            if function is None:  # a "custom" tool call: nothing jafhost offered
                calls.append(
                    ModelToolCall(
                        call.id,
                        str(getattr(call, "type", "custom")),
                        {},
                        "only function tool calls are supported",
                    )
                )
                continue
            arguments, error = parse_arguments(function.arguments)
            calls.append(ModelToolCall(call.id, full_tool_name(function.name), arguments, error))
        content = message.content
        if content is None and not calls:
            content = getattr(message, "refusal", None)
        return ModelTurn(content, calls)

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it."""
        if self._client is not None and self._owns_client:
            await self._client.close()
            self._client = None
