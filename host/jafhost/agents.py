"""``AgentSpec``: an agent a plugin provides, and the tools it may use."""

from __future__ import annotations

from dataclasses import dataclass


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
