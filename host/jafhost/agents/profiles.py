"""Agent profiles: the operator's agents, ``[agents.NAME]`` in ``config.toml``, and the
same model in the Python API (``AgentProfile``, passed to ``host.run_agent``).

A profile names its instructions, model, tools (globs over full tool names), turn and
time limits, and optionally a plugin's agent to start from (``from``: every key it sets
replaces the base agent's). Its ``[agents.NAME.policies.PLUGIN]`` tables, in the
``[permissions]`` vocabulary, say what each named plugin may at most do during the
agent's runs; they become ``AgentLimits`` (a kind listed narrows that kind to the
plugin's grants AND the policy; a kind not listed keeps the grants), which the host
reads on its side of each call the run makes.

The model is strict, unknown keys are refused, and every problem is one line naming
``agents.NAME.KEY``: one broken profile never hides the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from jafhost.discovery.manifest import check_plugin_name
from jafhost.discovery.manifest_model import PermissionsTable
from jafhost.errors import ManifestError
from jafhost.security import permissions
from jafhost.types import AgentLimits


def _plugin_name(value: str) -> str:
    try:
        return check_plugin_name(value)
    except ManifestError as exc:
        raise ValueError(str(exc)) from None


PluginName = Annotated[str, AfterValidator(_plugin_name)]


class AgentProfile(BaseModel):
    """One agent profile; the field names are the TOML keys (``from`` is ``from_`` in
    Python, and may be given as ``from`` too)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    from_: str | None = Field(None, alias="from")
    """A plugin's agent to start from: ``plugin.agent`` (or its own name when only one
    plugin has it)."""
    instructions: str | None = None
    """The system message; required unless ``from`` gives one."""
    model: str | None = None
    """``provider:model``; ``run --model`` overrides it."""
    tools: list[Annotated[str, Field(min_length=1)]] | None = None
    """Globs over full tool names (``sqlite.*``); replaces the base agent's."""
    max_turns: int | None = Field(None, ge=1)
    tool_timeout: float | None = Field(None, gt=0)
    """Seconds each tool call of a run may take (the host's ``call_timeout`` otherwise)."""
    policies: dict[PluginName, PermissionsTable] = {}
    """Per plugin, what it may at most do during this agent's runs."""

    @model_validator(mode="after")
    def _instructions_or_base(self) -> AgentProfile:
        if self.from_ is None and self.instructions is None:
            raise ValueError("instructions: required unless `from` names an agent to start from")
        return self

    def limits(self, agent: str) -> dict[str, AgentLimits]:
        """The policies as ``AgentLimits`` per plugin: each kind the table lists, mapped
        to the canonical permissions it allows (``ffi``/``observe``: themselves when
        true, nothing when false)."""
        found: dict[str, AgentLimits] = {}
        for plugin, table in self.policies.items():
            kinds: dict[str, tuple[str, ...]] = {}
            for kind in permissions.KINDS:
                if kind not in table.model_fields_set:
                    continue
                if kind in permissions.FLAGS:
                    kinds[kind] = (kind,) if getattr(table, kind) else ()
                else:
                    values = [permissions.Permission(kind, v) for v in getattr(table, kind)]
                    kinds[kind] = tuple(permissions.canonical(values))
            found[plugin] = AgentLimits(agent=agent, plugin=plugin, kinds=kinds)
        return found


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def profile_problem(name: str, exc: ValidationError) -> str:
    """The first problem of ``[agents.NAME]`` as ``agents.NAME.KEY: what is wrong``."""
    error = exc.errors()[0]
    loc = tuple(p for p in error["loc"] if p != "[key]")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
        if len(loc) == 3 and loc[0] == "policies":
            message = f"unknown permission kind (known: {', '.join(permissions.KINDS)})"
    elif message.startswith("instructions: "):
        loc, message = ("instructions",), message.removeprefix("instructions: ")
    where = _where(loc)
    return f"agents.{name}.{where}: {message}" if where else f"agents.{name}: {message}"


PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""A profile's key: no ``.``, which would shadow a plugin agent's full name."""


def parse_profile(name: str, table: Any) -> AgentProfile:
    """``[agents.NAME]`` as a profile; ``ValueError`` with the one-line problem."""
    if not PROFILE_NAME.fullmatch(name):
        raise ValueError(
            f"agents.{name}: a profile's name is letters, digits, '-' and '_' (at most 64; "
            "no '.': plugin.agent names a plugin's agent)"
        )
    if not isinstance(table, Mapping):
        raise ValueError(f"agents.{name}: must be a table, not {type(table).__name__}")
    try:
        return AgentProfile.model_validate(dict(table))
    except ValidationError as exc:
        raise ValueError(profile_problem(name, exc)) from None


def read_profiles(
    config: Mapping[str, Any], path: Path | str
) -> tuple[dict[str, AgentProfile], dict[str, str]]:
    """The profiles of a parsed ``config.toml``: the valid ones by name, and for each
    broken one its problem (``PATH: agents.NAME.KEY: ...``)."""
    table = config.get("agents", {})
    if not isinstance(table, Mapping):
        return {}, {"": f"{path}: agents: must be a table of agent profiles"}
    valid: dict[str, AgentProfile] = {}
    broken: dict[str, str] = {}
    for name, body in table.items():
        try:
            valid[name] = parse_profile(name, body)
        except ValueError as exc:
            broken[name] = f"{path}: {exc}"
    return valid, broken


__all__ = ["AgentProfile", "parse_profile", "profile_problem", "read_profiles"]
