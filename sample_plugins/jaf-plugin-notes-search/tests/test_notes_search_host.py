"""notes and notes-search together in the real host, found from their installed
distributions: dependency order, a note added through notes found by search, the
config from ``config.toml``, shut-down, and what disabling notes does to search.

Needs both distributions installed (``pip install -e sample_plugins/jaf-plugin-notes
-e sample_plugins/jaf-plugin-notes-search``).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from jaf_plugin_notes import store
from jafhost import Host, PluginContext
from jafhost.testing import hook_implementation

NAMES = ["notes", "notes-search"]


def call_tool(host: Host, full_name: str, **arguments: Any) -> Any:
    """Call ``<plugin>.<tool>`` the way the contract says the host will: the function the
    plugin returned from ``jaf_tools`` (through the host's plugin manager), with the
    parameter annotated ``PluginContext`` injected. The host has no call API yet."""
    name, _, tool_name = full_name.partition(".")
    loaded = host.loaded(name)
    assert loaded is not None and loaded.status == "active", loaded
    jaf_tools = hook_implementation(host, name, "jaf_tools")
    assert jaf_tools is not None
    fn = {f.__name__: f for f in jaf_tools()}[tool_name]
    hints = typing.get_type_hints(fn)
    for param in inspect.signature(fn).parameters:
        if hints.get(param) is PluginContext:
            arguments[param] = loaded.ctx
    return fn(**arguments)


def test_both_plugins_are_discovered_with_the_dependency(tmp_path: Path) -> None:
    host = Host(home=tmp_path / "home", only=NAMES)
    views = {v.name: v for v in host.plugins()}
    assert views["notes"].status == views["notes-search"].status == "enabled"
    search = views["notes-search"]
    assert search.info.distribution == "jaf-plugin-notes-search"
    assert search.info.version == "1.0.0"
    assert search.info.kinds == ("tool",)
    assert search.info.permissions == ()
    [dep] = [d for d in search.dependencies if d.kind == "plugin"]
    assert (dep.distribution, dep.plugins, dep.satisfied) == ("jaf-plugin-notes", ("notes",), True)
    assert any(d.kind == "host" and d.satisfied for d in search.dependencies)


@pytest.mark.parametrize(
    "isolation",
    [
        "inprocess",
        pytest.param(
            "process",
            marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers"),
        ),
    ],
)
def test_search_finds_a_note_added_through_notes(tmp_path: Path, isolation: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[host]\nisolation = "{isolation}"\n[plugins.notes-search]\nsnippet_chars = 30\n'
    )
    host = Host(home=home, only=NAMES)

    async def scenario() -> None:
        loaded = await host.activate_all()
        assert [(p.name, p.status, p.error) for p in loaded] == [
            ("notes", "active", None),
            ("notes-search", "active", None),
        ]
        try:
            assert host.active == ["notes", "notes-search"]  # dependency first

            async def call(name: str, **arguments: Any) -> Any:
                result = await host.call(name, arguments)
                assert result.ok, result.error
                return result.result

            body = "Remember to water the ficus on Fridays. " * 3 + "It likes indirect light."
            note = await call("notes.add", title="Plant care", body=body, tags=["home"])
            await call("notes.add", title="Groceries", body="milk, eggs", tags=["home"])
            [hit] = await call("notes-search.search", query="ficus")
            assert (hit["id"], hit["title"]) == (note["id"], "Plant care")
            assert hit["score"] > 0 and "ficus" in hit["snippet"]
            assert len(hit["snippet"]) <= 32  # the configured width (+ the two … marks)
            [rel] = await call("notes-search.related", id=note["id"])
            assert rel["title"] == "Groceries" and rel["shared_tags"] == ["home"]
            missing = await host.call("notes-search.related", {"id": 999})
            assert missing.error is not None and "NoteNotFound" in missing.error.message
        finally:
            await host.deactivate_all()

    asyncio.run(scenario())
    assert host.active == []
    with pytest.raises(store.NotesNotActive):
        store.active_store()  # notes' jaf_deactivate closed the database
    schema = host.recorded_config_schema("notes-search")  # for `jafhost info`, no code run
    assert schema["properties"]["snippet_chars"]["minimum"] == 20


def test_bad_config_keeps_search_inactive_and_names_the_field(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[plugins.notes-search]\nmin_score = -1\n")
    host = Host(home=home, only=NAMES)

    async def scenario() -> dict[str, tuple[str, str | None]]:
        try:
            return {p.name: (p.status, p.error) for p in await host.activate_all()}
        finally:
            await host.deactivate_all()

    result = asyncio.run(scenario())
    assert result["notes"] == ("active", None)
    status, error = result["notes-search"]
    assert status == "broken" and error and "min_score" in error


def test_disabling_notes_leaves_search_unresolved(tmp_path: Path) -> None:
    host = Host(home=tmp_path / "home", only=NAMES)
    affected = host.disable(["notes"])
    assert affected == {"notes": ["notes-search"]}
    views = {v.name: v for v in host.plugins()}
    assert views["notes"].status == "disabled"
    assert views["notes-search"].status == "unresolved"
    assert "notes" in (views["notes-search"].reason or "")

    async def scenario() -> list[str]:
        await host.activate_all()
        try:
            return host.active
        finally:
            await host.deactivate_all()

    assert asyncio.run(scenario()) == []  # neither runs: search never starts without notes
    host.enable(["notes-search"])  # enabling search enables what it requires
    assert {v.name: v.status for v in host.plugins()} == {
        "notes": "enabled",
        "notes-search": "enabled",
    }
