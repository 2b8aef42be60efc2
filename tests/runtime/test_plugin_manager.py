"""The one plugin-manager factory and the per-plugin hook facade: a hook is called on one
plugin's implementation, with the arguments it asks for, under the plugin's identity and
the time limit, sync or async."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from jafhost import hookimpl
from jafhost.runtime.hook_names import hook_names
from jafhost.runtime.plugin_manager import PluginHooks, make_plugin_manager
from jafhost.runtime.runner import HookTimeout
from jafhost.security.guard import CURRENT_PLUGIN
from jafhost.types import PluginContext

CTX = PluginContext("a", None, Path("/data/a"), logging.getLogger("test"))


class First:
    seen: list[Any]

    def __init__(self) -> None:
        self.seen = []

    @hookimpl
    def jaf_tools(self) -> list[str]:
        return ["first"]

    @hookimpl
    async def jaf_initialize(self, ctx: PluginContext) -> None:
        await asyncio.sleep(0)
        self.seen.append((ctx, CURRENT_PLUGIN.get()))

    @hookimpl
    async def jaf_activate(self, ctx: PluginContext) -> None:
        await asyncio.sleep(5)

    @hookimpl(wrapper=True)
    def jaf_tool_call(self, call: Any) -> Any:
        return (yield)


class Second:
    @hookimpl
    def jaf_tools(self, ctx: PluginContext) -> list[str]:
        return ["second", ctx.name]


def test_the_factory_knows_every_hook_and_no_plugin() -> None:
    pm = make_plugin_manager()
    assert pm.project_name == "jaf"
    assert sorted(name for name in vars(pm.hook) if name.startswith("jaf_")) == hook_names()
    assert pm.get_plugins() == set()
    assert make_plugin_manager() is not pm


def test_hooks_call_one_plugin_with_the_arguments_it_asks_for() -> None:
    pm = make_plugin_manager()
    first, second = First(), Second()
    pm.register(first, name="a")
    pm.register(second, name="b")
    a = PluginHooks(pm, "a", identity="a#1", timeout=2)
    b = PluginHooks(pm, "b", timeout=2)

    assert asyncio.run(a.tools(CTX)) == ["first"]
    assert asyncio.run(b.tools(CTX)) == ["second", "a"]
    asyncio.run(a.initialize(CTX))
    assert first.seen == [(CTX, "a#1")]  # awaited, as the plugin's identity
    assert asyncio.run(b.initialize(CTX)) is None  # not implemented: nothing happens
    assert asyncio.run(b.config_schema()) is None
    assert a.wraps_tool_calls() and not b.wraps_tool_calls()
    assert a.implementation("jaf_no_such_hook") is None


def test_a_hook_that_overruns_its_time_limit_fails() -> None:
    pm = make_plugin_manager()
    pm.register(First(), name="a")
    with pytest.raises(HookTimeout, match="plugin a: jaf_activate"):
        asyncio.run(PluginHooks(pm, "a", timeout=0.05).activate(CTX))
