"""What a model provider is and what it answers: the types every provider module shares.

A provider is any object with a ``name`` and an async ``complete``::

    async def complete(messages, tools, model) -> ModelTurn

``messages`` are OpenAI chat-format dicts (``system``, ``user``, ``assistant`` with
``tool_calls``, ``tool`` with ``tool_call_id``), ``tools`` OpenAI tool definitions
(tool names in the export form ``plugin__tool``), ``model`` the model name or None.
The answer is a ``ModelTurn``: the assistant's text and/or the tool calls it wants,
each named ``plugin.tool`` (``plugin__tool`` is accepted too).

A ``ProviderFactory`` stands in for a provider that is made for each run from the
model name and its ``[providers.NAME]`` settings (the built-in ones are).
Only the standard library is imported here, so the provider modules and the registry
build on this module without importing the package back.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from jafhost.errors import ProviderError

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


@dataclass(frozen=True)
class ProviderFactory:
    """A provider made for each run: ``make(model part or None, [providers.NAME] table)``.

    The registry finds it by ``name`` like any provider, then makes the provider, which
    the run owns (and closes). ``make`` raises ``ProviderError`` for bad settings
    (messages starting ``[providers.NAME]`` get the config file's path in front) and
    ``UsageError`` for a bad model part.
    """

    name: str
    description: str
    make: Callable[[str | None, dict[str, Any]], ModelProvider]


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


@dataclass(frozen=True, repr=False)
class PluginProvider:
    """A plugin's model provider as the host holds it: its name, description and default
    model read once, as its plugin (so the registry never runs the plugin's code when it
    lists or picks providers); ``complete`` is its own method, which a run calls as the
    plugin, and ``aclose`` closes it as the plugin."""

    name: str
    description: str
    complete: Callable[..., Any] | None
    aclose: Callable[[], Any] | None = None
    default_model: str | None = None
    shown: str = ""
    """Its ``repr``, read as the plugin (for warnings about it)."""

    def __repr__(self) -> str:
        return self.shown or f"PluginProvider({self.name!r})"


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


def usable(obj: Any) -> bool:
    """Whether the registry can offer ``obj``: a provider or a ``ProviderFactory`` with a
    name (no ``:``, which separates the model part)."""
    if isinstance(obj, ProviderFactory):
        return bool(obj.name) and ":" not in obj.name
    return is_provider(obj)
