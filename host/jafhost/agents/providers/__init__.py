"""Model providers: what an agent run asks for its next turn.

A provider is any object with a ``name`` and an async ``complete``::

    async def complete(messages, tools, model) -> ModelTurn

``messages`` are OpenAI chat-format dicts (``system``, ``user``, ``assistant`` with
``tool_calls``, ``tool`` with ``tool_call_id``), ``tools`` OpenAI tool definitions
(tool names in the export form ``plugin__tool``), ``model`` the model name or None.
The answer is a ``ModelTurn``: the assistant's text and/or the tool calls it wants,
each named ``plugin.tool`` (``plugin__tool`` is accepted too).

A model is chosen with a string ``provider:model``: ``scripted:demo.jsonl`` replays a
file, ``openai:gpt-4o-mini`` asks an OpenAI-compatible server, ``NAME:model`` asks the
provider called ``NAME`` that a plugin returns from ``jaf_model_providers``. Built-in
names win over plugin providers of the same name (a plugin cannot stand in for the
OpenAI provider and read what was meant for it); between plugins, the first active one
wins.

Built-in providers read their settings from ``config.toml``, table
``[providers.NAME]`` (``[host]`` is reserved for the host's own settings)::

    [providers.openai]
    base_url = "http://127.0.0.1:11434/v1"   # else $OPENAI_BASE_URL, else api.openai.com
    api_key_env = "OLLAMA_KEY"               # env var holding the key; OPENAI_API_KEY
    model = "llama3.1"                       # used for --model openai (no model part)
    timeout = 60                             # seconds per request
    max_retries = 2
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from jafhost.errors import ProviderError, UsageError, quoted

LOGGER = logging.getLogger("jafhost")
_IDS = itertools.count(1)


@dataclass(frozen=True)
class ModelToolCall:
    """One tool call the model asks for.

    ``name`` is ``plugin.tool`` (or ``plugin__tool``); ``error`` is set instead of
    ``arguments`` when the model's arguments could not be read (not JSON, not an object):
    the run tells the model so and runs nothing.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "arguments": self.arguments}
        if self.error is not None:
            data["error"] = self.error
        return data


@dataclass
class ModelTurn:
    """The model's answer for one turn: text, tool calls, or both.

    No tool calls means the text is the final answer.
    """

    content: str | None = None
    tool_calls: list[ModelToolCall] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Any, where: str = "model turn") -> ModelTurn:
        """Read ``{"content": ..., "tool_calls": [{"id"?, "name", "arguments"}]}``.

        ``arguments`` may be an object or a JSON string holding one; missing ids are
        generated. ``ProviderError`` names ``where`` and the field at fault.
        """
        if not isinstance(data, Mapping):
            raise ProviderError(f"{where}: expected a JSON object, not {type(data).__name__}")
        unknown = sorted(set(data) - {"content", "tool_calls"})
        if unknown:
            raise ProviderError(
                f"{where}: unknown key(s) {', '.join(unknown)} (expected content, tool_calls)"
            )
        content = data.get("content")
        if content is not None and not isinstance(content, str):
            raise ProviderError(f"{where}: content must be a string or null")
        raw_calls = data.get("tool_calls") or []
        if not isinstance(raw_calls, list):
            raise ProviderError(f"{where}: tool_calls must be a list")
        calls = []
        for index, raw in enumerate(raw_calls):
            at = f"{where}: tool_calls[{index}]"
            if not isinstance(raw, Mapping):
                raise ProviderError(f"{at}: expected an object with name and arguments")
            unknown = sorted(set(raw) - {"id", "name", "arguments"})
            if unknown:
                raise ProviderError(
                    f"{at}: unknown key(s) {', '.join(unknown)} (expected id, name, arguments)"
                )
            name = raw.get("name")
            if not isinstance(name, str) or not name:
                raise ProviderError(f"{at}: name must be a tool name such as notes.add")
            call_id = raw.get("id")
            if call_id is not None and not isinstance(call_id, str):
                raise ProviderError(f"{at}: id must be a string")
            arguments, error = parse_arguments(raw.get("arguments"))
            calls.append(ModelToolCall(call_id or new_call_id(), name, arguments, error))
        return cls(content, calls)

    def to_json(self) -> dict[str, Any]:
        return {"content": self.content, "tool_calls": [c.to_json() for c in self.tool_calls]}


def new_call_id() -> str:
    return f"call_{next(_IDS)}"


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """Tool-call arguments as a dict; a JSON string is decoded. The second item is a
    problem description when they cannot be used (then the dict is empty)."""
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            return {}, f"the arguments are not valid JSON: {exc}"
    if not isinstance(raw, dict):
        return {}, f"the arguments must be a JSON object, not {type(raw).__name__}"
    return raw, None


@runtime_checkable
class ModelProvider(Protocol):
    """What an agent run needs of a model: a name, and the next turn for a conversation."""

    name: str

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], model: str | None
    ) -> ModelTurn: ...


ProviderFactory = Callable[[str | None, dict[str, Any]], "ModelProvider"]
"""Built-in: ``factory(model part or None, [providers.NAME] table) -> provider``."""


def _scripted(model: str | None, settings: dict[str, Any]) -> ModelProvider:
    from jafhost.agents.providers.scripted import ScriptedProvider

    if settings:
        raise ProviderError("[providers.scripted] takes no settings")
    if not model:
        raise UsageError("the scripted provider needs a file: --model scripted:PATH.jsonl")
    return ScriptedProvider(model)


def _openai(model: str | None, settings: dict[str, Any]) -> ModelProvider:
    from jafhost.agents.providers.openai_compat import OpenAIProvider

    return OpenAIProvider.from_settings(settings, model=model)


BUILTINS: dict[str, tuple[str, ProviderFactory]] = {
    "scripted": ("replays model turns from a JSONL file (offline demos and tests)", _scripted),
    "openai": ("an OpenAI-compatible chat completions API (extra jafhost[openai])", _openai),
}


@dataclass(frozen=True)
class ProviderInfo:
    """One provider a run can use: built in (``plugin`` None) or from a plugin."""

    name: str
    plugin: str | None
    description: str = ""
    shadowed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "plugin": self.plugin,
            "description": self.description,
            "shadowed": self.shadowed,
        }


@dataclass
class ResolvedProvider:
    """A provider ready for one run, with the model name to pass it.

    ``owned``: the provider was made for this run, so the run closes it afterwards.
    """

    provider: Any
    model: str | None
    label: str
    plugin: str | None = None
    owned: bool = False


def split_model(spec: str) -> tuple[str, str | None]:
    """``provider:model`` -> (provider, model); ``provider`` alone -> (provider, None)."""
    name, sep, model = spec.strip().partition(":")
    return name.strip(), (model.strip() or None) if sep else None


def is_provider(obj: Any) -> bool:
    name = getattr(obj, "name", None)
    return (
        isinstance(name, str)
        and bool(name)
        and ":" not in name
        and callable(getattr(obj, "complete", None))
    )


def available(plugin_providers: Iterable[tuple[str, Any]]) -> list[ProviderInfo]:
    """Built-ins, then plugin providers (``(plugin, provider)`` in activation order)."""
    infos = [ProviderInfo(name, None, text) for name, (text, _) in BUILTINS.items()]
    seen = set(BUILTINS)
    for plugin, obj in plugin_providers:
        if not is_provider(obj):
            LOGGER.warning(
                "plugin %s: model provider %r has no usable name (no ':') or complete()",
                plugin,
                obj,
            )
            continue
        doc = (getattr(obj, "description", None) or (type(obj).__doc__ or "")).strip()
        infos.append(
            ProviderInfo(obj.name, plugin, doc.splitlines()[0] if doc else "", obj.name in seen)
        )
        seen.add(obj.name)
    return infos


def provider_for(
    spec: str,
    plugin_providers: Iterable[tuple[str, Any]] = (),
    config: Mapping[str, Any] | None = None,
    config_source: str = "config.toml",
) -> ResolvedProvider:
    """The provider for ``provider:model``.

    ``config`` is the parsed ``config.toml`` (``[providers.NAME]`` tables), and
    ``config_source`` its path for messages. ``UsageError`` for an unknown provider
    (naming the known ones), a malformed spec or a missing script file;
    ``ProviderError`` when a known provider cannot be set up (missing package, no API
    key, bad settings).
    """
    name, model = split_model(spec)
    plugin_providers = list(plugin_providers)
    if not name:
        raise UsageError(f"model {quoted(spec)} names no provider: use provider:model")
    if name in BUILTINS:
        table = _provider_table(config or {}, name, config_source)
        try:
            provider = BUILTINS[name][1](model, table)
        except ProviderError as exc:
            message = str(exc)
            if message.startswith("[providers."):
                message = f"{config_source}: {message}"
            raise ProviderError(message) from None
        return ResolvedProvider(
            provider, model or getattr(provider, "default_model", None), spec, owned=True
        )
    for plugin, obj in plugin_providers:
        if is_provider(obj) and obj.name == name:
            return ResolvedProvider(obj, model, spec, plugin=plugin)
    known = ", ".join(dict.fromkeys(i.name for i in available(plugin_providers)))
    raise UsageError(f"unknown model provider {quoted(name)} in {quoted(spec)} (known: {known})")


def _provider_table(config: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    providers = config.get("providers", {})
    if not isinstance(providers, Mapping):
        raise ProviderError(f"{source}: providers must be a table of [providers.NAME] tables")
    table = providers.get(name, {})
    if not isinstance(table, Mapping):
        raise ProviderError(f"{source}: [providers.{name}] must be a table")
    return dict(table)


__all__ = [
    "BUILTINS",
    "ModelProvider",
    "ModelToolCall",
    "ModelTurn",
    "ProviderInfo",
    "ResolvedProvider",
    "available",
    "new_call_id",
    "parse_arguments",
    "provider_for",
    "split_model",
]
