"""The values that cross between the host, plugins and embedding programs.

What a plugin gets (``PluginContext``, ``RunContext``, ``Event``, ``ToolCall``), what it offers
(``AgentSpec``, ``Integration``) and what a call returns (``CallResult``, ``CallError``).
Plain dataclasses, stdlib only, so every layer (the hook specifications included) can
import them without pulling in the runtime.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class PluginContext:
    """Given to lifecycle hooks, and injected into tools and event handlers that ask.

    ``config`` is the validated configuration model (None without a schema),
    ``data_dir`` the plugin's own folder (created before any plugin code runs),
    ``emit`` publishes an event as this plugin, ``integration`` reaches a service of a
    plugin this one depends on. ``name`` is read-only: it says which plugin this is,
    and no plugin may claim to be another.
    """

    name: str
    config: Any
    data_dir: Path
    logger: logging.Logger
    _emit: Callable[[str, str, Any], Any] | None = field(default=None, repr=False)
    _integration: Callable[[str, str], Any] | None = field(default=None, repr=False)

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "name" and "name" in self.__dict__:
            raise AttributeError(f"plugin {self.__dict__['name']}: ctx.name is read-only")
        object.__setattr__(self, key, value)

    def emit(self, name: str, data: Any = None) -> Any:
        """Publish event ``name`` with ``data``; its source is this plugin.

        Returns an awaitable delivery report when called from async code (the plugin's
        own event loop), the delivery report itself when called from sync code.
        """
        if self._emit is None:
            raise RuntimeError(f"plugin {self.name}: events are not available in this host")
        return self._emit(self.name, name, data)

    def integration(self, name: str) -> Any:
        """The client of integration ``name`` (``plugin.service``) of a dependency."""
        if self._integration is None:
            raise RuntimeError(f"plugin {self.name}: integrations are not available in this host")
        return self._integration(self.name, name)


@dataclass(frozen=True)
class RunContext:
    """Who is calling a tool: injected into a tool parameter annotated ``RunContext``
    (never part of the tool's schema), in both isolation modes.

    ``caller`` is ``"cli"``, ``"mcp"``, ``"api"`` or ``"agent"``; ``agent`` the agent's name
    in an agent run, else None; ``run_id`` the run's id (None outside runs); ``messages``
    the run's messages so far in OpenAI chat format (empty outside runs, and for tools
    that do not ask for a ``RunContext``); ``metadata`` the JSON-serializable mapping the
    embedding program passed with the call.
    """

    caller: str = "api"
    agent: str | None = None
    run_id: str | None = None
    messages: tuple[Mapping[str, Any], ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentLimits:
    """What one agent's policy lets one plugin do during that agent's runs.

    ``kinds`` maps a permission kind (``read``, ``write``, ``net``, ``env``, ``run``,
    ``ffi``, ``observe``) to the permissions the policy allows of it: such a kind is
    narrowed to the plugin's grants AND these (an empty tuple: nothing of it). A kind not
    listed keeps the plugin's grants.
    """

    agent: str
    plugin: str
    kinds: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class AgentSpec:
    """An agent: its instructions, and the tools it may call (full names or globs).

    ``tools`` like ``("notes.*", "calendar.add")``; an agent cannot call anything else.
    ``model`` is an optional default model (``provider:model``).
    """

    name: str
    instructions: str
    tools: tuple[str, ...] = ()
    description: str = ""
    model: str | None = None

    def __post_init__(self) -> None:
        """Refuse values of the wrong type at once, naming the field: a bare string as
        ``tools`` would be read character by character, and its ``*`` would let the
        agent call every tool."""
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"AgentSpec name must be a non-empty string, not {self.name!r}")
        label = f"AgentSpec {self.name!r}"
        for key in ("instructions", "description"):
            value = getattr(self, key)
            if not isinstance(value, str):
                raise TypeError(f"{label}: {key} must be a string, not {type(value).__name__}")
        tools = self.tools
        if not isinstance(tools, list | tuple):
            raise TypeError(
                f"{label}: tools must be a list or tuple of strings (globs such as "
                f"'notes.*'), not {type(tools).__name__}"
            )
        for item in tools:
            if not isinstance(item, str) or not item:
                raise TypeError(
                    f"{label}: tools must hold non-empty strings (globs such as 'notes.*'), "
                    f"not {item!r}"
                )
        object.__setattr__(self, "tools", tuple(tools))
        if self.model is not None and not isinstance(self.model, str):
            raise TypeError(
                f"{label}: model must be a string (provider:model) or None, "
                f"not {type(self.model).__name__}"
            )


@dataclass(frozen=True)
class Integration:
    """``connect`` returns the client object; ``close`` releases it; ``health`` checks it.

    Each callable may be sync or async. The full name is ``<plugin>.<name>``.
    """

    name: str
    connect: Callable[[], Any | Awaitable[Any]]
    close: Callable[[Any], Any | Awaitable[Any]] | None = None
    health: Callable[[Any], Any | Awaitable[Any]] | None = None
    description: str = ""


@dataclass(frozen=True)
class Event:
    """A named occurrence with data; ``source`` is the emitting plugin (or ``host``)."""

    name: str
    data: Any = None
    source: str = "host"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data": self.data,
            "source": self.source,
            "id": self.id,
            "time": self.time,
        }


class ToolInfo(Protocol):
    """What middleware may read of the tool being called (``jafhost.tools.Tool`` has it).

    A protocol rather than the class itself keeps this module at the bottom of the
    layers: the tool machinery (schemas, validators) lives above it.
    """

    @property
    def plugin(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def full_name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def input_schema(self) -> dict[str, Any]: ...


_CALL_IDS = itertools.count(1)


@dataclass
class ToolCall:
    """What middleware (``jaf_tool_call``) sees of a call: the tool, its validated
    ``arguments``, an ``id`` and ``meta``, a dict middleware may use to talk to each other;
    ``caller`` (``cli``, ``mcp``, ``api`` or ``agent``) and ``agent`` (the agent whose run
    made the call, else None) say who is calling."""

    tool: ToolInfo
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: f"call-{next(_CALL_IDS)}")
    meta: dict[str, Any] = field(default_factory=dict)
    caller: str = "api"
    agent: str | None = None

    @property
    def name(self) -> str:
        return self.tool.full_name

    @property
    def plugin(self) -> str:
        return self.tool.plugin


@dataclass
class CallError:
    """A structured error an agent can read and act on; ``code`` is one of
    ``invalid_arguments``, ``not_found``, ``permission_denied``, ``timeout``,
    ``tool_error``, ``busy`` (no worker of the plugin could take the call in time) or
    ``unavailable``."""

    code: str
    message: str
    tool: str | None = None
    plugin: str | None = None
    fields: list[dict[str, str]] = field(default_factory=list)
    permission: str | None = None
    status: str | None = None
    exception: str | None = None
    traceback: str | None = None
    step: str | None = None
    """For ``unavailable`` from a plugin that failed to start: the step that failed
    (``import``, ``config``, ``jaf_initialize``, ``jaf_activate``...)."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        for key in ("tool", "plugin", "permission", "status", "step", "exception", "traceback"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.fields:
            data["fields"] = self.fields
        return data


@dataclass
class CallResult:
    """The outcome of one call: ``ok`` with ``result``, or ``error``."""

    name: str
    ok: bool
    result: Any = None
    error: CallError | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        if self.ok:
            return {"ok": True, "tool": self.name, "result": self.result}
        assert self.error is not None
        return {"ok": False, "tool": self.name, "error": self.error.to_json()}
