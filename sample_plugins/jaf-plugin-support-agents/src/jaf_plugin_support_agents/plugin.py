"""Two agents and an escalation tool (entry point ``support-agents``).

The agents own no data: orders come from the ``sqlite`` plugin (a read-only database
the user configures), what the agent learns about a customer goes to ``memory``, follow-up
work to ``planner``, and carrier tracking pages to ``http`` when that optional plugin is
installed and granted. Each tool runs under its own plugin's grants, so an agent can do
no more than the plugins it uses were allowed to.

No ``from __future__ import annotations``: the host reads the tools' annotations.
"""

import json
import time
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from jafhost import AgentSpec, PluginContext, hookimpl

SUPPORT = """You are a customer support agent for an online shop.
Look orders up with sqlite.query (table `orders`: id, customer, status, carrier,
tracking_url, total). Remember what you learn about a customer with memory.remember and
check memory.recall first. Put follow-up work on the plan with planner.add_task. If a
customer is unhappy or an order is stuck, escalate with support-agents.escalate.
Answer briefly and never invent order data."""

BILLING = """You are a billing specialist. Look invoices and order totals up with
sqlite.query and recall earlier conversations with memory.recall. You cannot change
orders; escalate refunds with support-agents.escalate."""


@hookimpl
def jaf_agents() -> list[AgentSpec]:
    return [
        AgentSpec(
            name="support",
            description="Answers questions about orders and shipping.",
            instructions=SUPPORT,
            tools=(
                "sqlite.query",
                "sqlite.tables",
                "memory.*",
                "planner.*",
                "http.fetch",
                "support-agents.escalate",
            ),
        ),
        AgentSpec(
            name="billing",
            description="Answers questions about invoices and refunds.",
            instructions=BILLING,
            tools=("sqlite.query", "memory.recall", "support-agents.escalate"),
        ),
    ]


@hookimpl
def jaf_tools() -> list[Callable[..., Any]]:
    return [escalate]


def escalate(
    order_id: int,
    reason: Annotated[str, Field(min_length=3, max_length=500)],
    *,
    ctx: PluginContext,
) -> dict[str, Any]:
    """Escalate an order to a human: records a ticket and emits ``support.escalated``.

    Args:
        order_id: the order concerned.
        reason: why a human should look at it.
    """
    tickets = ctx.data_dir / "tickets.jsonl"
    number = sum(1 for _ in tickets.open()) + 1 if tickets.exists() else 1
    ticket = {"ticket": number, "order_id": order_id, "reason": reason, "time": time.time()}
    with tickets.open("a", encoding="utf-8") as out:
        out.write(json.dumps(ticket) + "\n")
    ctx.emit("support.escalated", ticket)
    return ticket
