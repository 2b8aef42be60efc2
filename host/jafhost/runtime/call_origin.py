"""Where the tool call being routed comes from, for the parts of the host that care.

The skins set ``CALL_ORIGIN`` around the calls they make (the CLI ``caller="cli"``, the MCP
server ``"mcp"``, an agent run ``"agent"`` with its name, run id, messages and the limits
of its policies); a call made with none set comes from the embedding program (``"api"``).
It is read on the host's side of a call, never by plugin code: the tool's ``RunContext``
is built from it, and a plugin named in ``limits`` runs that call with its grants narrowed.
A lazy start runs in an empty context, so a start never inherits a caller's narrowing.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jafhost.types import AgentLimits, RunContext


@dataclass(frozen=True)
class CallOrigin:
    """The caller of a tool call and, in an agent run, the agent's policy limits."""

    caller: str = "api"
    agent: str | None = None
    run_id: str | None = None
    messages: tuple[Mapping[str, Any], ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    limits: Mapping[str, AgentLimits] = field(default_factory=dict)

    def run_context(self, with_messages: bool) -> RunContext:
        """The ``RunContext`` a tool gets (``messages`` only for tools that ask for it)."""
        return RunContext(
            caller=self.caller,
            agent=self.agent,
            run_id=self.run_id,
            messages=self.messages if with_messages else (),
            metadata=dict(self.metadata),
        )


CALL_ORIGIN: ContextVar[CallOrigin | None] = ContextVar("jafhost_call_origin", default=None)


def current_origin() -> CallOrigin:
    """The origin of the call being routed now (the embedding program when none is set)."""
    return CALL_ORIGIN.get() or CallOrigin()
