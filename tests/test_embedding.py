"""Embedding the host: plugins registered in memory, class-based plugins, the sync facade."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Site
from jafhost import AgentSpec, PluginContext, hookimpl
from jafhost.errors import ManifestError
from jafhost.host.host import Host
from jafhost.host.sync import SyncHost
from jafhost.plugin import Plugin, PluginMetadata

MakeHost = Callable[..., Host]


class Greeter(Plugin):
    """A JAF-style class plugin: metadata, initialize/activate/deactivate, tools, agents,
    event handlers."""

    metadata = PluginMetadata(name="greeter", version="1.2.0", description="Says hello")

    def __init__(self) -> None:
        self.events: list[str] = []
        self.calls: list[str] = []

    def initialize(self, context: PluginContext) -> bool:
        self.calls.append("initialize")
        return True

    def activate(self) -> bool:
        self.calls.append("activate")
        return True

    def deactivate(self) -> bool:
        self.calls.append("deactivate")
        return True

    def get_tools(self) -> list[Callable[..., str]]:
        def greet(name: str) -> str:
            """Greet someone."""
            return f"hello {name}"

        return [greet]

    def get_agents(self) -> list[AgentSpec]:
        return [AgentSpec(name="welcomer", instructions="Greet people.", tools=("greeter.*",))]

    def get_event_handlers(self) -> dict[str, Callable[..., None]]:
        return {"user.*": lambda event: self.events.append(event.name)}


def test_register_a_class_based_plugin(make_host: MakeHost) -> None:
    host = make_host()
    plugin = Greeter()
    view = host.register(plugin)
    assert (view.name, view.info.version, view.status, view.info.source) == (
        "greeter",
        "1.2.0",
        "enabled",
        "memory",
    )

    async def scenario() -> None:
        async with host:
            assert host.active == ["greeter"]
            assert (await host.call("greeter.greet", {"name": "Ada"})).result == "hello Ada"
            assert [a.full_name for a in host.agents()] == ["greeter.welcomer"]
            assert host.tool("greeter__greet").full_name == "greeter.greet"
            report = await host.emit("user.signup", {"email": "a@example.com"})
            assert report.delivered == [{"plugin": "greeter", "pattern": "user.*"}]

    asyncio.run(scenario())
    assert plugin.calls == ["initialize", "activate", "deactivate"]
    assert plugin.events == ["user.signup"]


def test_initialize_returning_false_is_a_broken_plugin(make_host: MakeHost) -> None:
    class Failing(Plugin):
        def initialize(self, context: PluginContext) -> bool:
            return False

    host = make_host()
    host.register(Failing(), name="failing")

    async def scenario() -> None:
        async with host:
            failing = host.loaded("failing")
            assert failing is not None and failing.status == "broken"
            assert failing.error == (
                "jaf_initialize failed: PluginInitError: Failing.initialize returned False"
            )

    asyncio.run(scenario())


def test_registered_permissions_need_explicit_grants(make_host: MakeHost, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")

    module = types.ModuleType("reader")

    @hookimpl
    def jaf_tools() -> list[Callable[..., str]]:
        def read(path: str) -> str:
            return Path(path).read_text()

        return [read]

    module.jaf_tools = jaf_tools  # type: ignore[attr-defined]
    host = make_host()
    view = host.register(module, name="reader", permissions=[f"read:{tmp_path}"])
    assert view.status == "needs-approval"  # never granted implicitly

    granted = make_host()
    granted.register(module, name="reader", permissions=[f"read:{tmp_path}"], grant=True)
    assert granted.plugin("reader").granted == [f"read:{tmp_path}"]

    async def scenario() -> None:
        async with granted:
            assert (await granted.call("reader.read", {"path": str(secret)})).result == "s3cret"
            denied = await granted.call("reader.read", {"path": "/etc/hostname"})
            assert denied.error is not None and denied.error.code == "permission_denied"

    asyncio.run(scenario())


def test_requirements_between_installed_and_registered_plugins(
    site: Site, make_host: MakeHost
) -> None:
    site.plugin("store", version="2.0.0")
    host = make_host()

    class Needs:
        @hookimpl
        def jaf_activate(self, ctx: PluginContext) -> None:
            ctx.logger.info("active")

    host.register(Needs(), name="needs-store", requires=["jaf-plugin-store>=2"])
    host.register(Needs(), name="needs-new-store", requires=["jaf-plugin-store>=3"])
    host.register(Needs(), name="needs-registered", requires=["needs-store"])
    assert host.plugin("needs-store").status == "enabled"
    assert host.plugin("needs-new-store").reason == (
        "needs jaf-plugin-store>=3 (plugin store); installed 2.0.0"
    )
    assert host.plugin("needs-registered").status == "enabled"
    order = host.resolution().order
    assert order.index("store") < order.index("needs-store") < order.index("needs-registered")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"name": "Bad Name"}, "not allowed"),
        ({"name": "ok", "permissions": ["read:relative/path"]}, "relative"),
        ({"name": "ok", "requires": ["notes>>1"]}, "requires"),
        ({"name": "ok", "version": "one"}, "not a valid version"),
    ],
)
def test_registration_errors_name_the_field(
    make_host: MakeHost, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ManifestError, match=message):
        make_host().register(types.SimpleNamespace(), **kwargs)  # type: ignore[arg-type]


def test_a_registered_name_cannot_shadow_an_installed_plugin(
    site: Site, make_host: MakeHost
) -> None:
    site.plugin("notes")
    with pytest.raises(ManifestError, match="already taken by jaf-plugin-notes"):
        make_host().register(Greeter(), name="notes")


def test_sync_host_facade(make_host: MakeHost) -> None:
    host = make_host()
    host.register(Greeter())
    with SyncHost(host) as sync:
        assert sync.active == ["greeter"]
        assert sync.call("greeter.greet", {"name": "Bob"}).result == "hello Bob"
        inline = sync.call_inline("greeter.greet", {"name": "Eve"})
        assert inline is not None and inline.result == "hello Eve"
        assert sync.emit("user.login").delivered
        sync.deactivate("greeter")
        assert sync.active == []
        sync.activate("greeter")
        assert sync.active == ["greeter"]
    assert host.active == []
