"""The pydantic models of the operator's ``[policy]`` (read by ``operator_policy``).

Strict (``extra="forbid"``): a misspelt key such as ``denny`` must never silently drop a
deny rule, so it is an error naming the key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class PolicyTable(BaseModel):
    """``[policy]``: what no grant may exceed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deny: list[str] = []
    """Permissions no plugin may use, in the ``[permissions]`` vocabulary."""
    isolation: Literal["inprocess", "process"] | None = None
    """``process``: every plugin runs in a sandboxed worker, whatever else says."""


class PolicyFile(BaseModel):
    """An administrator's policy file: a ``[policy]`` table and nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: PolicyTable = PolicyTable()
