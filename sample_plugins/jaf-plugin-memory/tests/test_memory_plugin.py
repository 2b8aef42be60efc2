"""The memory plugin in a real host, through the ``jafhost_factory`` fixture of
``jafhost.testing`` (the pytest plugin jafhost registers; no conftest needed).

Needs the distribution installed (``pip install -e sample_plugins/jaf-plugin-memory``).
The ``memory.store`` integration is exercised from a second plugin, ``memory-user``: a
real distribution (``*.dist-info`` with ``Requires-Dist: jaf-plugin-memory>=1.0`` and a
``jaf.plugins`` entry point, plus its package) written to a temporary folder that is put
on ``sys.path`` for this module, exactly as pip would have installed it.
"""

from __future__ import annotations

import importlib
import sqlite3
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jaf_plugin_memory.store import DATABASE_NAME

Factory = Callable[..., Any]

USER = '''
import json
from jafhost import PluginContext, hookimpl


def note_fact(text: str, ctx: PluginContext) -> dict:
    """Remember a fact through memory's store integration."""
    return ctx.integration("memory.store").remember(text, tags=["via-user"], importance=2)


def ask(query: str, ctx: PluginContext) -> list:
    """Recall through the integration."""
    return ctx.integration("memory.store").recall(query, limit=3)


def seen(ctx: PluginContext) -> list:
    """The memory.* events this plugin received."""
    path = ctx.data_dir / "seen.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def on_memory(event, ctx: PluginContext) -> None:
    with open(ctx.data_dir / "seen.jsonl", "a") as out:
        out.write(json.dumps({"name": event.name, "source": event.source,
                              "data": event.data}) + "\\n")


@hookimpl
def jaf_tools():
    return [note_fact, ask, seen]


@hookimpl
def jaf_event_handlers():
    return {"memory.*": on_memory}
'''

OUTSIDER = '''
from jafhost import PluginContext, hookimpl


def sneak(ctx: PluginContext) -> str:
    """Try to use memory's integration without depending on memory."""
    ctx.integration("memory.store")
    return "got it"


@hookimpl
def jaf_tools():
    return [sneak]
'''


def _install(site: Path, name: str, module: str, code: str, requires: tuple[str, ...] = ()) -> None:
    """Lay out distribution ``jaf-test-<name>`` 1.0.0 as pip would in site-packages."""
    package = site / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(code))
    (package / "jaf-plugin.toml").write_text('[plugin]\nkinds = ["tool"]\n\n[permissions]\n')
    dist_info = site / f"jaf_test_{module}-1.0.0.dist-info"
    dist_info.mkdir()
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: jaf-test-{name}",
        "Version: 1.0.0",
        "Summary: test-only plugin for jaf-plugin-memory's tests",
        "Requires-Dist: jafhost>=0.1,<1",
        *(f"Requires-Dist: {r}" for r in requires),
    ]
    (dist_info / "METADATA").write_text("\n".join(metadata) + "\n\n")
    (dist_info / "entry_points.txt").write_text(f"[jaf.plugins]\n{name} = {module}\n")
    (dist_info / "INSTALLER").write_text("test\n")
    (dist_info / "RECORD").write_text("")


@pytest.fixture(scope="module")
def test_plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``memory-user`` (requires jaf-plugin-memory) and ``outsider`` (does not), installed
    into a temporary site folder on ``sys.path`` for the tests of this module."""
    site = tmp_path_factory.mktemp("memory-test-site")
    _install(site, "memory-user", "jaf_test_memory_user", USER, ("jaf-plugin-memory>=1.0",))
    _install(site, "outsider", "jaf_test_memory_outsider", OUTSIDER)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    yield site
    sys.path.remove(str(site))
    importlib.invalidate_caches()


def test_discovered_enabled_and_active_without_permissions(jafhost_factory: Factory) -> None:
    host = jafhost_factory("memory")
    [view] = [v for v in host.plugins() if v.name == "memory"]
    assert (view.status, view.runtime) == ("enabled", "active")
    assert view.info.distribution == "jaf-plugin-memory"
    assert view.info.version == "1.0.0"
    assert view.info.kinds == ("tool", "capability", "integration")
    assert view.info.permissions == ()
    assert view.granted == []
    assert [t.full_name for t in host.tools()] == [
        "memory.remember",
        "memory.recall",
        "memory.forget",
        "memory.list_memories",
    ]


def test_tool_schemas_show_limits_to_the_agent(jafhost_factory: Factory) -> None:
    host = jafhost_factory("memory")
    schema = host.tool("memory.remember").input_schema
    assert schema["required"] == ["text"]
    assert schema["properties"]["tags"]["type"] == "array"
    assert schema["properties"]["tags"]["default"] == []
    importance = schema["properties"]["importance"]
    assert (importance["minimum"], importance["maximum"], importance["default"]) == (1, 5, 1)
    assert importance["description"].startswith("1 (trivia) to 5 (critical)")
    assert "ctx" not in host.tool("memory.recall").input_schema["properties"]
    bad = host.call("memory.remember", {"text": "x", "importance": 9})
    assert bad.error.code == "invalid_arguments"
    assert bad.error.fields[0]["field"] == "importance"
    assert host.call("memory.remember", {"text": ""}).error.code == "invalid_arguments"


def test_remember_recall_forget_list(jafhost_factory: Factory) -> None:
    host = jafhost_factory("memory")
    tea = host.call_ok("memory.remember", {"text": "The user drinks green tea", "tags": ["User"]})
    assert tea["tags"] == ["user"] and tea["importance"] == 1
    plain = host.call_ok("memory.remember", {"text": "Deploys happen on Fridays"})
    key = host.call_ok(
        "memory.remember",
        {"text": "Never deploy on a Friday afternoon, deploy early", "importance": 5},
    )
    ranked = host.call_ok("memory.recall", {"query": "deployment on friday"})
    assert [m["id"] for m in ranked] == [key["id"], plain["id"]]
    assert ranked[0]["score"] > ranked[1]["score"] > 0
    assert host.call_ok("memory.recall", {"query": "deploy", "limit": 1})[0]["id"] == key["id"]
    assert host.call_ok("memory.list_memories", {"tag": "USER"}) == [tea]
    listed = host.call_ok("memory.list_memories", {})
    assert [m["id"] for m in listed] == [key["id"], plain["id"], tea["id"]]
    assert host.call_ok("memory.forget", {"id": key["id"]}) == {"id": key["id"], "forgotten": True}
    assert host.call_ok("memory.forget", {"id": key["id"]})["forgotten"] is False
    assert [m["id"] for m in host.call_ok("memory.recall", {"query": "deploy"})] == [plain["id"]]
    empty = host.call("memory.recall", {"query": "?!"})
    assert empty.error.code == "tool_error"
    assert "no words to search for" in empty.error.message


def test_data_stays_in_the_plugin_data_folder(jafhost_factory: Factory, jafhost_home: Path) -> None:
    host = jafhost_factory("memory")
    memory = host.call_ok("memory.remember", {"text": "on disk"})
    database = jafhost_home / "plugins" / "memory" / "data" / DATABASE_NAME
    assert database.is_file()
    host.close()
    db = sqlite3.connect(database)
    try:
        assert db.execute("SELECT id, text FROM memories").fetchall() == [(memory["id"], "on disk")]
    finally:
        db.close()


def test_memories_persist_across_host_restarts(jafhost_factory: Factory) -> None:
    first = jafhost_factory("memory")
    kept = first.call_ok("memory.remember", {"text": "survives a restart", "tags": ["kept"]})
    first.close()
    second = jafhost_factory("memory")
    assert second.call_ok("memory.list_memories", {"tag": "kept"}) == [kept]
    assert second.call_ok("memory.recall", {"query": "restart"})[0]["id"] == kept["id"]
    assert second.call_ok("memory.remember", {"text": "next"})["id"] == kept["id"] + 1


def test_like_fallback_can_be_chosen_in_the_config(jafhost_factory: Factory) -> None:
    host = jafhost_factory("memory", config={"plugins": {"memory": {"search": "like"}}})
    a = host.call_ok("memory.remember", {"text": "plain scanning works too", "importance": 2})
    host.call_ok("memory.remember", {"text": "scan me maybe"})
    assert host.call_ok("memory.recall", {"query": "scanning"})[0]["id"] == a["id"]


def test_bad_config_keeps_the_plugin_inactive(jafhost_factory: Factory) -> None:
    host = jafhost_factory("memory", config={"plugins": {"memory": {"search": "grep"}}})
    assert host.active == []
    assert "search" in (host.loaded("memory").error or "")


def test_other_plugins_use_the_store_integration_and_see_events(
    test_plugins: Path, jafhost_factory: Factory
) -> None:
    host = jafhost_factory("memory-user")  # its requirement brings memory along
    assert host.active == ["memory", "memory-user"]  # dependencies first
    fact = host.call_ok("memory-user.note_fact", {"text": "The build uses Python 3.11"})
    assert fact["tags"] == ["via-user"] and fact["importance"] == 2
    # what the integration stored is what memory's own tools see
    assert host.call_ok("memory.recall", {"query": "python"})[0]["id"] == fact["id"]
    direct = host.call_ok("memory.remember", {"text": "Python packaging uses hatchling"})
    assert {m["id"] for m in host.call_ok("memory-user.ask", {"query": "python"})} == {
        fact["id"],
        direct["id"],
    }
    host.call_ok("memory.forget", {"id": direct["id"]})
    events = host.call_ok("memory-user.seen")
    assert [(e["name"], e["source"]) for e in events] == [
        ("memory.remembered", "memory"),
        ("memory.remembered", "memory"),
        ("memory.forgotten", "memory"),
    ]
    assert events[0]["data"] == fact
    assert events[2]["data"] == {"id": direct["id"]}
    report = host.run(host.host.doctor())["plugins"]
    [memory] = [p for p in report if p["name"] == "memory"]
    assert memory["integrations"] == [{"name": "memory.store", "checked": True, "problem": None}]


def test_only_dependents_get_the_integration(test_plugins: Path, jafhost_factory: Factory) -> None:
    host = jafhost_factory("memory", "outsider")
    refused = host.call("outsider.sneak")
    assert refused.error.code == "tool_error"
    assert "does not depend on plugin memory" in refused.error.message


def test_integration_client_is_closed_with_the_plugin(
    test_plugins: Path, jafhost_factory: Factory
) -> None:
    host = jafhost_factory("memory", "memory-user", isolation="inprocess")  # its client, here
    loaded = host.loaded("memory")
    _, client = loaded.integrations["store"]
    assert client.healthy()
    host.close()
    assert not client.healthy()
    with pytest.raises(RuntimeError, match="closed"):
        client.recall("anything")
