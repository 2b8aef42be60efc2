"""The support agents driven by a scripted model over real plugins and a real database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    folder.mkdir()
    database = folder / "orders.db"
    with sqlite3.connect(database) as db:
        db.execute(
            "create table orders (id integer primary key, customer text, status text, "
            "carrier text, tracking_url text, total real)"
        )
        db.execute(
            "insert into orders values (42, 'ada@example.com', 'shipped', 'PostCo', "
            "'https://track.postco.example/42', 99.5)"
        )
    db.close()
    return database


@pytest.fixture
def host(jafhost_factory: Any, shop: Path) -> Any:
    return jafhost_factory(
        "support-agents",
        grants={"sqlite": [f"read:{shop.parent}"]},
        config={"plugins": {"sqlite": {"database": str(shop)}}},
    )


def test_agents_are_offered(host: Any) -> None:
    agents = {a.full_name: a for a in host.agents()}
    assert set(agents) >= {"support-agents.support", "support-agents.billing"}


def test_support_agent_answers_from_real_tools(host: Any) -> None:
    run = host.run_scripted(
        "support",
        "Where is my order 42?",
        [
            {
                "tool_calls": [
                    {"name": "memory.recall", "arguments": {"query": "ada"}},
                    {
                        "name": "sqlite.query",
                        "arguments": {
                            "sql": "select status, carrier from orders where id = ?",
                            "params": [42],
                        },
                    },
                ]
            },
            {
                "tool_calls": [
                    {
                        "name": "memory.remember",
                        "arguments": {"text": "ada asked about order 42", "tags": ["ada"]},
                    },
                    {"name": "planner.add_task", "arguments": {"title": "check order 42 tomorrow"}},
                ]
            },
            {"content": "Order 42 has shipped with PostCo."},
        ],
    )
    assert run.ok, run.error
    assert run.output == "Order 42 has shipped with PostCo."
    results = [s.result for s in run.steps if s.kind == "tool_result"]
    assert all(r.ok for r in results), [r.to_json() for r in results]
    query = next(r for r in results if r.name == "sqlite.query")
    assert json.dumps(query.result).count("shipped") == 1
    assert host.call_ok("memory.recall", {"query": "order 42"})
    tasks = host.call_ok("planner.list_tasks")
    assert "check order 42 tomorrow" in json.dumps(tasks)


def test_agent_cannot_use_tools_outside_its_spec(host: Any) -> None:
    run = host.run_scripted(
        "billing",
        "Add a task",
        [
            {"tool_calls": [{"name": "planner.add_task", "arguments": {"title": "sneaky"}}]},
            {"content": "I cannot do that."},
        ],
    )
    (result,) = [s.result for s in run.steps if s.kind == "tool_result"]
    assert result.error.code in ("permission_denied", "not_found")
    assert "sneaky" not in json.dumps(host.call_ok("planner.list_tasks"))


def test_escalate_records_a_ticket_and_emits(host: Any) -> None:
    ticket = host.call_ok("support-agents.escalate", {"order_id": 42, "reason": "lost parcel"})
    assert ticket["ticket"] == 1 and ticket["order_id"] == 42
    again = host.call_ok("support-agents.escalate", {"order_id": 7, "reason": "late parcel"})
    assert again["ticket"] == 2
    invalid = host.call("support-agents.escalate", {"order_id": 42, "reason": ""})
    assert invalid.error.code == "invalid_arguments"
