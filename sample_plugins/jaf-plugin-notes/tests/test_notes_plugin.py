"""The notes plugin in the real host: discovered from its installed distribution,
activated, its tools called with the context the host built, and deactivated.

Needs the distribution installed (``pip install -e sample_plugins/jaf-plugin-notes``).
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import typing
from pathlib import Path
from typing import Any

import pytest
from jafhost import Host, PluginContext
from jafhost.testing import hook_implementation

from jaf_plugin_notes import plugin, store


def call_tool(host: Host, full_name: str, **arguments: Any) -> Any:
    """Call ``<plugin>.<tool>`` the way the contract says the host will: the function the
    plugin returned from ``jaf_tools`` (through the host's plugin manager), with the
    parameter annotated ``PluginContext`` injected. The host has no call API yet."""
    name, _, tool_name = full_name.partition(".")
    loaded = host.loaded(name)
    assert loaded is not None and loaded.status == "active", loaded
    jaf_tools = hook_implementation(host, name, "jaf_tools")
    assert jaf_tools is not None
    tools = {fn.__name__: fn for fn in jaf_tools()}
    fn = tools[tool_name]
    hints = typing.get_type_hints(fn)
    for param in inspect.signature(fn).parameters:
        if hints.get(param) is PluginContext:
            arguments[param] = loaded.ctx
    return fn(**arguments)


def test_tools_take_the_context_as_a_keyword_only_parameter() -> None:
    """So the host can inject it by annotation and leave it out of the tool schema."""
    impl_tools = plugin.jaf_tools()
    assert [fn.__name__ for fn in impl_tools] == ["add", "get", "list_notes", "delete"]
    for fn in impl_tools:
        assert fn.__doc__
        ctx_params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if typing.get_type_hints(fn).get(p.name) is PluginContext
        ]
        assert [p.kind for p in ctx_params] == [inspect.Parameter.KEYWORD_ONLY]


def in_process(home: Path) -> Path:
    """A home whose plugins run in process: ``call_tool`` calls their functions here."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    return home


def test_lifecycle_and_tools_in_the_real_host(tmp_path: Path) -> None:
    host = Host(home=in_process(tmp_path / "home"), only=["notes"])
    [view] = host.plugins()
    assert (view.name, view.status) == ("notes", "enabled")
    assert view.info.distribution == "jaf-plugin-notes"
    assert view.info.kinds == ("tool", "capability", "integration")
    assert view.info.permissions == ()
    assert view.info.manifest and view.info.manifest.endswith("jaf_plugin_notes/jaf-plugin.toml")

    async def scenario() -> None:
        await host.activate_all()
        try:
            assert host.active == ["notes"]
            note = call_tool(host, "notes.add", title="Plan", body="ship it", tags=["Work"])
            assert note["tags"] == ["work"]
            assert call_tool(host, "notes.get", id=note["id"]) == note
            assert call_tool(host, "notes.list_notes", tag="work") == [note]
            deleted = call_tool(host, "notes.delete", id=note["id"])
            assert deleted == {"id": note["id"], "deleted": True}
            with pytest.raises(store.NoteNotFound):
                call_tool(host, "notes.get", id=note["id"])
            call_tool(host, "notes.add", title="kept", body="")
        finally:
            await host.deactivate_all()

    asyncio.run(scenario())
    assert host.active == []
    database = host.layout.data_dir("notes") / store.DATABASE_NAME
    assert database.is_file()  # in the plugin's own data folder, as the contract says
    with pytest.raises(store.NotesNotActive):
        store.store_at(host.layout.data_dir("notes"))  # jaf_deactivate closed it
    db = sqlite3.connect(database)
    try:
        assert db.execute("SELECT title FROM notes").fetchall() == [("kept",)]
    finally:
        db.close()


def test_notes_persist_across_host_runs(tmp_path: Path) -> None:
    home = in_process(tmp_path / "home")

    async def run(action: str) -> Any:
        async with Host(home=home, only=["notes"]) as host:
            # the second run finds notes recorded: idle until its first use, started here
            # because call_tool reaches its functions directly
            await host.activate("notes")
            if action == "add":
                return call_tool(host, "notes.add", title="again", body="", tags=["x"])
            return call_tool(host, "notes.list_notes")

    added = asyncio.run(run("add"))
    assert asyncio.run(run("list")) == [added]
