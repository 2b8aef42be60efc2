"""The router's catalog of tools: a plugin's tools added, replaced where its previous
ones were, and removed, each touching that plugin's tools alone.

Checked against the catalog's rule, written as a scan of the whole catalog, over random
sequences of starts, restarts with other tools and stops."""

from __future__ import annotations

import random

import pluggy
import pytest

from jafhost.runtime.lifecycle import LoadedPlugin
from jafhost.runtime.routing import ToolRouter
from jafhost.tools import Tool


def _tool(plugin: str, name: str, version: int) -> Tool:
    return Tool(plugin, name, f"v{version}", {"type": "object"}, print, None, False)


def _plugin(name: str, tools: list[str], version: int) -> LoadedPlugin:
    from jafhost.discovery.records import PluginInfo

    info = PluginInfo(name=name, distribution=name, version="1.0", entry_point=f"{name}:x")
    return LoadedPlugin(info=info, tools=[_tool(name, t, version) for t in tools])


def _router() -> ToolRouter:
    return ToolRouter(
        pluggy.PluginManager("jaf"), lambda name: None, lambda name: None, lambda: 5.0
    )


class Reference:
    """The catalog's rule as a scan: a plugin's tools are added at the end, or, when
    it has tools there, put where its first tool was."""

    def __init__(self) -> None:
        self.tools: dict[str, Tool] = {}

    def add(self, plugin: LoadedPlugin) -> None:
        if any(t.plugin == plugin.info.name for t in self.tools.values()):
            self.replace(plugin)
            return
        for tool in plugin.tools:
            self.tools[tool.full_name] = tool

    def replace(self, plugin: LoadedPlugin) -> None:
        mine = [n for n, t in self.tools.items() if t.plugin == plugin.info.name]
        if not mine:
            self.add(plugin)
            return
        tools: dict[str, Tool] = {}
        for name, tool in self.tools.items():
            if name == mine[0]:
                tools.update((t.full_name, t) for t in plugin.tools)
            elif tool.plugin != plugin.info.name:
                tools[name] = tool
        self.tools = tools

    def remove(self, plugin: str) -> None:
        self.tools = {n: t for n, t in self.tools.items() if t.plugin != plugin}


def test_a_recorded_plugin_started_keeps_its_tools_places() -> None:
    router = _router()
    for i in range(5):
        router.add(_plugin(f"p{i}", ["a", "b"], 0))
    router.replace(_plugin("p2", ["a", "b"], 1))
    assert [t.full_name for t in router.tools()] == [f"p{i}.{t}" for i in range(5) for t in "ab"]
    assert router.find("p2.b").description == "v1"
    assert router.find("p2__a").description == "v1"


@pytest.mark.parametrize("seed", range(40))
def test_the_catalog_follows_its_rule(seed: int) -> None:
    rnd = random.Random(seed)
    router, expected = _router(), Reference()
    plugins = [f"p{i}" for i in range(8)]
    for version in range(200):
        name = rnd.choice(plugins)
        roll = rnd.random()
        if roll < 0.2:
            router.remove(name)
            expected.remove(name)
            continue
        tools = rnd.sample(["a", "b", "c", "d"], rnd.randint(0, 4))
        if roll < 0.4 and rnd.random() < 0.5:  # the same tools again, as a recorded start
            tools = [t.name for t in expected.tools.values() if t.plugin == name] or tools
        plugin = _plugin(name, tools, version)
        if roll < 0.3:
            router.add(plugin)
            expected.add(plugin)
        else:
            router.replace(plugin)
            expected.replace(plugin)
        assert list(router._tools) == list(expected.tools)
        for full_name, tool in expected.tools.items():
            assert router.find(full_name) is tool
            assert router.find(tool.export_name) is tool
