"""The planner plugin in a real host, through the ``jafhost_factory`` fixture of
``jafhost.testing`` (the pytest plugin jafhost registers; no conftest needed).

Needs the distribution installed (``pip install -e sample_plugins/jaf-plugin-planner``).
``plan.updated`` events are observed by a second plugin, ``plan-watcher``: a real
distribution (``*.dist-info`` with a ``jaf.plugins`` entry point, plus its package)
written to a temporary folder put on ``sys.path`` for this module, as pip would lay it out.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Factory = Callable[..., Any]

WATCHER = '''
import json
from jafhost import PluginContext, hookimpl


def updates(ctx: PluginContext) -> list:
    """The plan.updated events received so far."""
    path = ctx.data_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def on_plan(event, ctx: PluginContext) -> None:
    with open(ctx.data_dir / "events.jsonl", "a") as out:
        out.write(json.dumps({"name": event.name, "source": event.source,
                              "data": event.data}) + "\\n")


@hookimpl
def jaf_tools():
    return [updates]


@hookimpl
def jaf_event_handlers():
    return {"plan.*": on_plan}
'''


@pytest.fixture(scope="module")
def watcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Install distribution ``jaf-test-plan-watcher`` into a temporary site folder."""
    site = tmp_path_factory.mktemp("planner-test-site")
    module = "jaf_test_plan_watcher"
    (site / module).mkdir()
    (site / module / "__init__.py").write_text(textwrap.dedent(WATCHER))
    (site / module / "jaf-plugin.toml").write_text('[plugin]\nkinds = ["event"]\n')
    dist_info = site / "jaf_test_plan_watcher-1.0.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jaf-test-plan-watcher\nVersion: 1.0.0\n"
        "Requires-Dist: jafhost>=0.1,<1\n\n"
    )
    (dist_info / "entry_points.txt").write_text(f"[jaf.plugins]\nplan-watcher = {module}\n")
    (dist_info / "RECORD").write_text("")
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    yield site
    sys.path.remove(str(site))
    importlib.invalidate_caches()


def test_enabled_without_permissions(jafhost_factory: Factory) -> None:
    host = jafhost_factory("planner")
    view = host.plugin("planner")
    assert (view.status, view.runtime, view.info.permissions) == ("enabled", "active", ())
    assert view.info.distribution == "jaf-plugin-planner"
    assert [t.full_name for t in host.tools()] == [
        "planner.add_task",
        "planner.update_task",
        "planner.list_tasks",
        "planner.clear_done",
    ]
    status = host.tool("planner.update_task").input_schema["properties"]["status"]
    assert status["enum"] == ["todo", "doing", "done", "blocked"]


def test_an_agent_keeps_its_plan(jafhost_factory: Factory) -> None:
    host = jafhost_factory("planner")
    research = host.call_ok("planner.add_task", {"title": "Research", "details": "read docs"})
    ship = host.call_ok("planner.add_task", {"title": "Ship"})
    build = host.call_ok("planner.add_task", {"title": "Build", "after": research["id"]})
    kickoff = host.call_ok("planner.add_task", {"title": "Kick-off", "after": 0})
    listed = host.call_ok("planner.list_tasks")
    assert [t["title"] for t in listed["tasks"]] == ["Kick-off", "Research", "Build", "Ship"]
    assert listed["counts"] == {"todo": 4, "doing": 0, "done": 0, "blocked": 0}

    host.call_ok("planner.update_task", {"id": kickoff["id"], "status": "done"})
    doing = host.call_ok(
        "planner.update_task", {"id": research["id"], "status": "doing", "note": "halfway"}
    )
    assert doing["status"] == "doing"
    assert doing["history"][-1]["note"] == "halfway"
    host.call_ok("planner.update_task", {"id": ship["id"], "status": "blocked", "note": "CI red"})
    blocked = host.call_ok("planner.list_tasks", {"status": "blocked"})
    assert [(t["id"], t["note"]) for t in blocked["tasks"]] == [(ship["id"], "CI red")]
    assert blocked["counts"] == {"todo": 1, "doing": 1, "done": 1, "blocked": 1}

    cleared = host.call_ok("planner.clear_done")
    assert cleared == {
        "removed": [kickoff["id"]],
        "counts": {"todo": 1, "doing": 1, "done": 0, "blocked": 1},
    }
    remaining = [t["id"] for t in host.call_ok("planner.list_tasks")["tasks"]]
    assert remaining == [research["id"], build["id"], ship["id"]]


def test_agent_mistakes_come_back_as_structured_errors(jafhost_factory: Factory) -> None:
    host = jafhost_factory("planner")
    host.call_ok("planner.add_task", {"title": "only"})
    wrong_status = host.call("planner.update_task", {"id": 1, "status": "finished"})
    assert wrong_status.error.code == "invalid_arguments"
    assert wrong_status.error.fields[0]["field"] == "status"
    assert host.call("planner.add_task", {"title": ""}).error.code == "invalid_arguments"
    assert host.call("planner.add_task", {"title": "x", "after": -1}).error.code == (
        "invalid_arguments"
    )
    missing = host.call("planner.update_task", {"id": 99, "status": "done"})
    assert missing.error.code == "tool_error"
    assert "no task with id 99 (tasks: 1)" in missing.error.message
    assert host.call("planner.list_tasks", {"status": "nope"}).error.code == "invalid_arguments"


def test_max_tasks_from_the_config(jafhost_factory: Factory) -> None:
    host = jafhost_factory("planner", config={"plugins": {"planner": {"max_tasks": 1}}})
    host.call_ok("planner.add_task", {"title": "one"})
    full = host.call("planner.add_task", {"title": "two"})
    assert full.error.code == "tool_error" and "max_tasks = 1" in full.error.message


def test_the_plan_is_json_in_the_data_folder_and_survives_restarts(
    jafhost_factory: Factory, jafhost_home: Path
) -> None:
    first = jafhost_factory("planner")
    task = first.call_ok("planner.add_task", {"title": "persist me"})
    first.call_ok("planner.update_task", {"id": task["id"], "status": "doing"})
    first.close()
    plan_file = jafhost_home / "plugins" / "planner" / "data" / "plan.json"
    data = json.loads(plan_file.read_text(encoding="utf-8"))
    assert [(t["title"], t["status"]) for t in data["tasks"]] == [("persist me", "doing")]
    second = jafhost_factory("planner")
    assert [t["title"] for t in second.call_ok("planner.list_tasks")["tasks"]] == ["persist me"]
    assert second.call_ok("planner.add_task", {"title": "next"})["id"] == task["id"] + 1


def test_every_change_publishes_plan_updated(watcher: Path, jafhost_factory: Factory) -> None:
    host = jafhost_factory("planner", "plan-watcher")
    task = host.call_ok("planner.add_task", {"title": "watched"})
    host.call_ok("planner.update_task", {"id": task["id"], "status": "done", "note": "ok"})
    host.call_ok("planner.list_tasks")  # reading changes nothing: no event
    host.call_ok("planner.clear_done")
    host.call_ok("planner.clear_done")  # nothing to clear: no event
    events = host.call_ok("plan-watcher.updates")
    assert [(e["name"], e["source"], e["data"]["action"]) for e in events] == [
        ("plan.updated", "planner", "added"),
        ("plan.updated", "planner", "updated"),
        ("plan.updated", "planner", "cleared"),
    ]
    assert events[0]["data"]["task"]["title"] == "watched"
    assert events[1]["data"]["task"]["note"] == "ok"
    assert events[1]["data"]["counts"]["done"] == 1
    assert events[2]["data"] == {
        "action": "cleared",
        "removed": [task["id"]],
        "counts": {"todo": 0, "doing": 0, "done": 0, "blocked": 0},
    }
