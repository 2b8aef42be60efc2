"""Run an agent: a plugin's ``AgentSpec``, a model provider, and the host's tools.

The loop: the model gets the conversation (system = the agent's instructions, user =
the message) and the OpenAI definitions of the tools the agent's spec allows, nothing
else; each tool call it makes goes through ``Host.call`` (validation, middleware,
time limit, structured errors) and its ``CallResult`` JSON goes back as a ``tool``
message; this repeats until the model answers without tool calls (the final answer)
or the turn limit is hit. A call to a tool outside the spec's globs never runs: the
model gets a ``permission_denied`` error (``not_found`` if no such tool exists).

Every step (the model's text, each tool call, each result) is handed to ``on_step``
as it happens, so the CLI can stream the run. Nothing the provider does (raise, hang,
answer nonsense) escapes: the run ends with ``ok`` False and an ``error`` saying why.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from jafhost.agents.profiles import AgentProfile, read_profiles
from jafhost.agents.providers import (
    ModelToolCall,
    ModelTurn,
    ProviderInfo,
    ResolvedProvider,
    available,
    is_provider,
    provider_for,
    split_model,
)
from jafhost.agents.providers.base import PluginProvider, ProviderFactory
from jafhost.agents.providers.builtin import builtin_providers
from jafhost.errors import (
    HookTimeout,
    PluginError,
    ProviderError,
    StateError,
    UsageError,
    describe,
    quoted,
)
from jafhost.home.config import read_config
from jafhost.runtime.call_origin import CALL_ORIGIN, CallOrigin
from jafhost.runtime.runner import call_plugin
from jafhost.runtime.scope import exact_str, plain, run_in_scope
from jafhost.security.guard import CURRENT_PLUGIN
from jafhost.tools import split_name
from jafhost.types import AgentLimits, AgentSpec, CallError, CallResult

if TYPE_CHECKING:
    from jafhost.agents.host_api import AgentHost
    from jafhost.runtime.routing import Confirm

DEFAULT_MAX_TURNS = 10
DEFAULT_MODEL_TIMEOUT = 300.0
"""Seconds one model turn may take before the run gives up."""

StepKind = Literal["text", "tool_call", "tool_result"]
StopReason = Literal["final", "max_turns", "provider_error"]


@dataclass(frozen=True)
class AgentInfo:
    """An agent: of an active plugin (``full_name`` is ``plugin.agent``), or an
    operator's profile from ``config.toml`` (``plugin`` None; ``full_name`` is its key).

    ``max_turns`` and ``tool_timeout`` are the profile's (None: the run's own), ``limits``
    what its policies let each named plugin do during its runs."""

    plugin: str | None
    spec: AgentSpec
    max_turns: int | None = None
    tool_timeout: float | None = None
    limits: Mapping[str, AgentLimits] = field(default_factory=dict, hash=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def full_name(self) -> str:
        return self.spec.name if self.plugin is None else f"{self.plugin}.{self.spec.name}"

    @property
    def source(self) -> str:
        """``config`` (an operator's profile) or ``plugin:NAME``."""
        return "config" if self.plugin is None else f"plugin:{self.plugin}"

    def to_json(self) -> dict[str, Any]:
        """The ``jafhost agents --json`` object."""
        return {
            "name": self.spec.name,
            "full_name": self.full_name,
            "source": self.source,
            "plugin": self.plugin,
            "description": self.spec.description,
            "tools": list(self.spec.tools),
            "model": self.spec.model,
            "instructions": self.spec.instructions,
        }


@dataclass
class Step:
    """One thing that happened in a run.

    ``text``: the model said ``text``; ``tool_call``: it asked for ``tool`` with
    ``arguments`` (call ``id``); ``tool_result``: that call's ``result``.
    """

    kind: StepKind
    turn: int
    text: str | None = None
    id: str | None = None
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    result: CallResult | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "turn": self.turn}
        if self.kind == "text":
            data["text"] = self.text
        else:
            data["id"] = self.id
            data["tool"] = self.tool
        if self.kind == "tool_call":
            data["arguments"] = self.arguments
        if self.result is not None:
            data.update(self.result.to_json())
            data["tool"] = self.tool
        return data


@dataclass
class AgentRun:
    """The outcome of a run: the final ``output`` when ``ok``, else ``error``.

    ``stop`` says how it ended: ``final`` (the model answered without tool calls),
    ``max_turns`` (the limit was hit first) or ``provider_error``. ``turns`` counts
    model turns; ``messages`` is the whole conversation in OpenAI chat format.
    """

    agent: str
    model: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ok: bool = False
    output: str | None = None
    stop: StopReason = "final"
    error: str | None = None
    turns: int = 0
    steps: list[Step] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tool_results(self) -> list[CallResult]:
        return [s.result for s in self.steps if s.result is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "run_id": self.run_id,
            "model": self.model,
            "ok": self.ok,
            "output": self.output,
            "stop": self.stop,
            "error": self.error,
            "turns": self.turns,
            "steps": [s.to_json() for s in self.steps],
        }


OnStep = Callable[[Step], "Awaitable[None] | None"]
"""Called with each step as it happens; may be sync or async."""


# -- agents ----------------------------------------------------------------------------


def plugin_agents(host: AgentHost) -> list[AgentInfo]:
    """The agents of the plugins the host offers (active, or idle with their agents
    recorded), in activation order."""
    found: list[AgentInfo] = []
    for name in host.serving:
        loaded = host.loaded(name)
        if loaded is not None:
            found.extend(AgentInfo(name, spec) for spec in loaded.agents)
    return found


def profile_agent(
    host: AgentHost, name: str, profile: AgentProfile, known: list[AgentInfo] | None = None
) -> AgentInfo:
    """The agent a profile describes, on top of its ``from`` agent when it names one
    (each key the profile sets replaces the base's). ``UsageError``/``PluginError``
    naming ``agents.NAME.from`` when that agent is not available."""
    base: AgentInfo | None = None
    if profile.from_ is not None:
        try:
            base = _find_plugin_agent(host, profile.from_, known)
        except (UsageError, PluginError) as exc:
            raise type(exc)(f"agents.{name}.from: {exc}") from None
    spec = AgentSpec(
        name=name,
        instructions=profile.instructions
        if profile.instructions is not None
        else (base.spec.instructions if base is not None else ""),
        tools=tuple(profile.tools)
        if profile.tools is not None
        else (base.spec.tools if base is not None else ()),
        description=base.spec.description if base is not None else "",
        model=profile.model or (base.spec.model if base is not None else None),
    )
    return AgentInfo(
        None,
        spec,
        max_turns=profile.max_turns,
        tool_timeout=profile.tool_timeout,
        limits=profile.limits(name),
    )


def config_agents(host: AgentHost) -> tuple[list[AgentInfo], dict[str, str]]:
    """The operator's agents (``[agents.NAME]`` in ``config.toml``) and, for each one
    that cannot be used, the one-line problem naming its key."""
    path = host.layout.config
    profiles, broken = read_profiles(read_config(path), path)
    known = plugin_agents(host)
    found: list[AgentInfo] = []
    for name, profile in profiles.items():
        try:
            found.append(profile_agent(host, name, profile, known))
        except (UsageError, PluginError) as exc:
            broken[name] = f"{path}: {exc}"
    return found, broken


def list_agents(host: AgentHost) -> list[AgentInfo]:
    """Every agent: the operator's (``config.toml``), then the plugins'."""
    return config_agents(host)[0] + plugin_agents(host)


def _plugin_status(host: AgentHost, plugin: str) -> str | None:
    """Why a known plugin is not active (None when unknown, active or idle)."""
    if plugin in host.serving:
        return None
    try:
        view = host.plugin(plugin)
    except UsageError:
        return None
    if view.runtime in ("broken", "blocked"):
        return f"{view.runtime}: {view.error}"
    if view.status != "enabled":
        return f"{view.status}: {view.reason}" if view.reason else view.status
    return "not active"


def find_agent(host: AgentHost, name: str) -> AgentInfo:
    """An agent by its key in ``config.toml`` (which wins), by ``plugin.agent``, or by a
    plugin agent's own name when only one plugin has it.

    ``StateError`` for a profile with a bad key (naming ``agents.NAME.KEY``),
    ``UsageError`` for an unknown or ambiguous name; ``PluginError`` when the name is
    ``plugin.agent`` and that plugin is installed but not active (saying its status).
    """
    path = host.layout.config
    profiles, broken = read_profiles(read_config(path), path)
    if name in broken:
        raise StateError(broken[name])
    if name in profiles:
        try:
            return profile_agent(host, name, profiles[name])
        except (UsageError, PluginError) as exc:
            raise type(exc)(f"{path}: {exc}") from None
    return _find_plugin_agent(host, name, None, list(profiles))


def _find_plugin_agent(
    host: AgentHost, name: str, known: list[AgentInfo] | None, configured: Sequence[str] = ()
) -> AgentInfo:
    """A plugin's agent by ``plugin.agent`` or its own name (see ``find_agent``)."""
    agents = plugin_agents(host) if known is None else known
    for agent in agents:
        if agent.full_name == name:
            return agent
    matches = [a for a in agents if a.name == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(a.full_name for a in matches)
        raise UsageError(f"agent name {quoted(name)} is ambiguous: use one of {names}")
    plugin, dot, _ = name.partition(".")
    if dot:
        status = _plugin_status(host, plugin)
        if status is not None:
            raise PluginError(
                f"agent {name} is not available: plugin {plugin} is {status}", plugin=plugin
            )
    listed_names = [*configured, *(a.full_name for a in agents)]
    close = difflib.get_close_matches(name, listed_names + [a.name for a in agents], n=3)
    suggested = dict.fromkeys(
        [c for c in close if c in configured]
        + [a.full_name for c in close for a in agents if c in (a.name, a.full_name)]
    )
    hint = f"; did you mean {', '.join(suggested)}?" if suggested else ""
    listed = ", ".join(listed_names) if listed_names else "none: no active plugin provides agents"
    raise UsageError(f"unknown agent {quoted(name)} (known: {listed}){hint}")


# -- providers ---------------------------------------------------------------------------


def plugin_providers(host: AgentHost) -> list[tuple[str, Any]]:
    """``(plugin, provider)`` for every provider of the active plugins, each as the
    host's stand-in read as its plugin (``_stand_in``)."""
    found: list[tuple[str, Any]] = []
    for name in host.active:
        loaded = host.loaded(name)
        if loaded is not None:
            identity = host.identity(name)
            for provider in loaded.providers:
                try:
                    found.append((name, run_in_scope(identity, _stand_in, provider, identity)))
                except Exception as exc:  # one plugin's broken provider: left out
                    logging.getLogger("jafhost").warning(
                        "plugin %s: a model provider cannot be read: %s", name, describe(exc)
                    )
    return found


def _stand_in(provider: Any, identity: str) -> Any:
    """In the plugin's scope: its provider (or ``ProviderFactory``) as a host object of
    plain values whose methods run as the plugin."""
    if isinstance(provider, ProviderFactory):
        make = provider.make

        def scoped_make(model: str | None, table: dict[str, Any]) -> Any:
            def body() -> tuple[Any, BaseException | None]:
                try:
                    return _stand_in(make(model, plain(table)), identity), None
                except ProviderError as exc:
                    return None, ProviderError(exact_str(str(exc)))
                except UsageError as exc:
                    return None, UsageError(exact_str(str(exc)))

            made, error = run_in_scope(identity, body)
            if error is not None:
                raise error
            return made

        return ProviderFactory(
            exact_str(provider.name), exact_str(provider.description), scoped_make
        )
    shown = exact_str(repr(provider))[:200]
    if not is_provider(provider):
        return PluginProvider("", "", None, shown=shown)
    doc = (getattr(provider, "description", None) or (type(provider).__doc__ or "")).strip()
    default = getattr(provider, "default_model", None)
    close = getattr(provider, "aclose", None)
    return PluginProvider(
        exact_str(provider.name),
        exact_str(doc),
        provider.complete,
        _closer(identity, close) if close is not None else None,
        exact_str(default) if isinstance(default, str) else None,
        shown,
    )


def _closer(identity: str, close: Callable[[], Any]) -> Callable[[], Any]:
    async def aclose() -> None:
        token = CURRENT_PLUGIN.set(identity)
        try:
            await call_plugin(
                close, timeout=None, label=f"plugin {identity}: model provider aclose"
            )
        finally:
            CURRENT_PLUGIN.reset(token)

    return aclose


def list_providers(host: AgentHost) -> list[ProviderInfo]:
    """The built-in plugin's providers (registered in ``host.pm``), then those of the
    active plugins."""
    return available(plugin_providers(host), builtins=builtin_providers(host.pm))


def resolve_provider(
    host: AgentHost, agent: AgentInfo, provider: Any = None, model: str | None = None
) -> ResolvedProvider:
    """Pick the provider for a run.

    - ``provider`` an object (``name`` + ``complete``): used as is; ``model`` is the
      model name passed to it (default: the model part of the agent's ``model`` when it
      names this provider).
    - ``provider`` a name: ``provider:model`` is resolved as below.
    - neither: ``model`` (``provider:model``), else the agent's default model.
    """
    if provider is not None and not isinstance(provider, str):
        if not is_provider(provider):
            raise UsageError(
                f"{provider!r} is not a model provider (it needs a name and complete())"
            )
        if model is None and agent.spec.model:
            name, default = split_model(agent.spec.model)
            model = default if name == provider.name else None
        label = f"{provider.name}:{model}" if model else str(provider.name)
        return ResolvedProvider(provider, model, label)
    if isinstance(provider, str):
        spec = f"{provider}:{model}" if model else provider
    else:
        spec = model if model is not None else agent.spec.model or ""  # "": refused below
        if model is None and not spec:
            known = ", ".join(i.name for i in list_providers(host))
            raise UsageError(
                f"agent {agent.full_name} has no default model: choose one with "
                f"--model provider:model (providers: {known})"
            )
    config = read_config(host.layout.config)
    return provider_for(
        spec,
        plugin_providers(host),
        config,
        str(host.layout.config),
        builtins=builtin_providers(host.pm),
    )


# -- the run -------------------------------------------------------------------------------


def _export_name(name: str) -> str:
    parts = split_name(name)
    return f"{parts[0]}__{parts[1]}" if parts else name


def _full_name(name: str) -> str:
    parts = split_name(name)
    return f"{parts[0]}.{parts[1]}" if parts else name


def _check_turn(value: Any, label: str) -> ModelTurn:
    if isinstance(value, Mapping):
        return ModelTurn.from_json(value, f"provider {label}")
    if not isinstance(value, ModelTurn):
        raise ProviderError(f"provider {label} returned {type(value).__name__}, not a ModelTurn")
    if value.content is not None and not isinstance(value.content, str):
        raise ProviderError(f"provider {label} returned content that is not a string")
    for call in value.tool_calls:
        if not isinstance(call, ModelToolCall) or not isinstance(call.arguments, dict):
            raise ProviderError(
                f"provider {label} returned a tool call that is not a ModelToolCall "
                "with a dict of arguments"
            )
    return value


def _plain_turn(value: Any, label: str) -> ModelTurn:
    """In the provider's plugin scope (its objects' methods are its code): the turn it
    returned, checked, as a new ``ModelTurn`` of plain data."""
    turn = _check_turn(value, label)
    data = plain(turn.to_json())
    calls = [
        ModelToolCall(c["id"], c["name"], c["arguments"], c.get("error"))
        for c in data["tool_calls"]
    ]
    return ModelTurn(data["content"], calls)


class _Runner:
    """The state of one run; ``run_agent`` is its public face."""

    def __init__(
        self,
        host: AgentHost,
        agent: AgentInfo,
        resolved: ResolvedProvider,
        *,
        on_step: OnStep | None,
        confirm: Confirm | None,
        model_timeout: float | None,
        tool_timeout: float | None,
    ) -> None:
        self.host = host
        self.agent = agent
        self.resolved = resolved
        self.on_step = on_step
        self.confirm = confirm
        self.model_timeout = model_timeout
        self.tool_timeout = tool_timeout
        self.patterns = list(agent.spec.tools)
        self.run = AgentRun(agent=agent.full_name, model=resolved.label)

    async def report(self, step: Step) -> None:
        self.run.steps.append(step)
        if self.on_step is not None:
            outcome = self.on_step(step)
            if inspect.isawaitable(outcome):
                await outcome

    def allowed(self, full_name: str) -> bool:
        return any(fnmatch.fnmatchcase(full_name, p) for p in self.patterns)

    async def ask_model(self, tools: list[dict[str, Any]]) -> ModelTurn:
        provider = self.resolved.provider
        token = CURRENT_PLUGIN.set(
            self.host.identity(self.resolved.plugin) if self.resolved.plugin else None
        )
        try:
            value = await call_plugin(
                provider.complete,
                list(self.run.messages),
                tools,
                self.resolved.model,
                timeout=self.model_timeout,
                label=f"model provider {provider.name}",
            )
            label = str(provider.name)
            turn: ModelTurn = await call_plugin(
                _plain_turn,
                value,
                label,
                timeout=self.model_timeout,
                label=f"model provider {label}",
            )
        except HookTimeout:
            raise ProviderError(
                f"model provider {provider.name} did not answer within {self.model_timeout:g} s"
            ) from None
        finally:
            CURRENT_PLUGIN.reset(token)
        return turn

    async def call_tool(self, call: ModelToolCall) -> CallResult:
        name = _full_name(call.name)
        if call.error is not None:
            return CallResult(
                name,
                False,
                error=CallError("invalid_arguments", f"invalid arguments: {call.error}", tool=name),
            )
        parts = split_name(call.name)
        if parts is None or not self.allowed(name):
            exists = parts is not None and any(t.full_name == name for t in self.host.tools())
            may_use = ", ".join(self.patterns) or "no tools"
            if exists:
                assert parts is not None
                error = CallError(
                    "permission_denied",
                    f"agent {self.agent.full_name} may not use tool {name} (it may use: {may_use})",
                    tool=name,
                    plugin=parts[0],
                    permission=f"agent:{self.agent.full_name}",
                )
            else:
                error = CallError(
                    "not_found",
                    f"agent {self.agent.full_name} has no tool {name!r} (it may use: {may_use})",
                    tool=name,
                )
            return CallResult(name, False, error=error)
        origin = CallOrigin(
            caller="agent",
            agent=self.agent.full_name,
            run_id=self.run.run_id,
            messages=tuple(json.loads(json.dumps(self.run.messages))),
            limits=self.agent.limits,
        )
        token = CALL_ORIGIN.set(origin)
        try:
            return await self.host.call(
                name, call.arguments, timeout=self.tool_timeout, confirm=self.confirm
            )
        finally:
            CALL_ORIGIN.reset(token)

    async def __call__(self, message: str, max_turns: int) -> AgentRun:
        run = self.run
        spec = self.agent.spec
        if spec.instructions:
            run.messages.append({"role": "system", "content": spec.instructions})
        run.messages.append({"role": "user", "content": message})
        tools = self.host.tool_definitions("openai", self.patterns)
        while True:
            run.turns += 1
            try:
                turn = await self.ask_model(tools)
            except ProviderError as exc:
                run.stop, run.error = "provider_error", str(exc)
                return run
            except Exception as exc:
                run.stop = "provider_error"
                run.error = f"model provider {self.resolved.label} failed: {describe(exc)}"
                return run
            assistant: dict[str, Any] = {"role": "assistant", "content": turn.content}
            if turn.tool_calls:
                assistant["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": _export_name(call.name),
                            "arguments": json.dumps(call.arguments),
                        },
                    }
                    for call in turn.tool_calls
                ]
            run.messages.append(assistant)
            if turn.content:
                await self.report(Step("text", run.turns, text=turn.content))
            if not turn.tool_calls:
                run.ok, run.stop, run.output = True, "final", turn.content or ""
                return run
            if run.turns >= max_turns:
                wanted = ", ".join(_full_name(c.name) for c in turn.tool_calls)
                run.stop = "max_turns"
                run.error = (
                    f"agent {self.agent.full_name} hit the limit of {max_turns} turn(s) "
                    f"without a final answer (it still wanted to call {wanted})"
                )
                return run
            for call in turn.tool_calls:
                name = _full_name(call.name)
                await self.report(
                    Step(
                        "tool_call",
                        run.turns,
                        id=call.id,
                        tool=name,
                        arguments=dict(call.arguments),
                    )
                )
                result = await self.call_tool(call)
                run.messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "content": json.dumps(result.to_json()),
                    }
                )
                await self.report(
                    Step("tool_result", run.turns, id=call.id, tool=name, result=result)
                )


async def run_agent(
    host: AgentHost,
    agent_name: str | AgentProfile,
    message: str,
    *,
    provider: Any = None,
    model: str | None = None,
    max_turns: int | None = None,
    on_step: OnStep | None = None,
    confirm: Confirm | None = None,
    model_timeout: float | None = DEFAULT_MODEL_TIMEOUT,
    tool_timeout: float | None = None,
    name: str | None = None,
) -> AgentRun:
    """Run agent ``agent_name`` (a key of ``config.toml``'s ``[agents]``, ``plugin.agent``
    or a plugin agent's own name; or an ``AgentProfile``, run as ``name``) on ``message``.

    ``provider``/``model`` pick the model (see ``resolve_provider``; default: the
    agent's ``model``). ``max_turns`` limits model turns (default: the profile's, else
    10). ``on_step`` sees each step as it happens. ``confirm`` answers for tools that
    need the user's yes (default: the host's policy, which refuses). ``tool_timeout``
    overrides the host's per-call limit (default: the profile's).

    Raises ``UsageError`` for an unknown agent or provider and a bad ``max_turns``,
    ``PluginError`` for an agent of an inactive plugin, ``ProviderError`` when the
    provider cannot be set up; everything after that ends in the returned ``AgentRun``.
    """
    if isinstance(agent_name, AgentProfile):
        agent = profile_agent(host, name or "agent", agent_name)
    else:
        agent = find_agent(host, agent_name)
    if max_turns is None:
        max_turns = agent.max_turns or DEFAULT_MAX_TURNS
    if tool_timeout is None:
        tool_timeout = agent.tool_timeout
    if max_turns < 1:
        raise UsageError(f"max_turns must be at least 1, not {max_turns}")
    resolved = resolve_provider(host, agent, provider, model)
    runner = _Runner(
        host,
        agent,
        resolved,
        on_step=on_step,
        confirm=confirm,
        model_timeout=model_timeout,
        tool_timeout=tool_timeout,
    )
    try:
        return await runner(message, max_turns)
    finally:
        close = getattr(resolved.provider, "aclose", None)
        if resolved.owned and close is not None:
            try:
                await close()
            except Exception as exc:  # closing must not hide the run's outcome
                logging.getLogger("jafhost").warning(
                    "closing model provider %s: %s", resolved.label, describe(exc)
                )


__all__ = [
    "AgentInfo",
    "AgentRun",
    "OnStep",
    "Step",
    "config_agents",
    "find_agent",
    "list_agents",
    "list_providers",
    "plugin_agents",
    "plugin_providers",
    "profile_agent",
    "resolve_provider",
    "run_agent",
]
