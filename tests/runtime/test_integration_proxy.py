"""Integrations across plugins through one proxy, in both isolation modes and mixed.

A dependent calls the public methods of a provider's integration client with JSON
values and gets JSON values back; the work happens as the provider (ground truth: a
file appears in the provider's data folder, which the dependent may not write), and
access is bound to the loaded plugin, not to ``ctx.name``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from conftest import Site
from jafhost.host.host import Host
from jafhost.types import CallResult

MakeHost = Callable[..., Host]
SECRET = "PROVIDER-PRIVATE-1729"
LINUX = sys.platform.startswith("linux")
process = pytest.mark.skipif(not LINUX, reason="Linux workers")

PROVIDER = (
    '''
import json
from jafhost import Integration, PluginContext

FOLDERS = []


class Store:
    def __init__(self, folder):
        self.folder = folder

    def put(self, key: str, value) -> dict:
        (self.folder / f"{key}.json").write_text(json.dumps(value))
        return {"key": key, "stored": value}

    def private(self) -> str:
        return (self.folder / "private.txt").read_text()

    async def count(self) -> int:
        return len(list(self.folder.glob("*.json")))

    def raw(self):
        return object()


@hookimpl
def jaf_initialize(ctx: PluginContext):
    (ctx.data_dir / "private.txt").write_text("'''
    + SECRET
    + """")
    FOLDERS.append(ctx.data_dir)


@hookimpl
def jaf_integrations():
    return [Integration(name="store", connect=lambda: Store(FOLDERS[-1]))]
"""
)

DEPENDENT = '''
from jafhost import PluginContext


def save(key: str, value: str, ctx: PluginContext) -> dict:
    """Store through the provider."""
    return ctx.integration("prov.store").put(key, {"v": value})


async def count(ctx: PluginContext) -> int:
    """Awaited from async code."""
    return await ctx.integration("prov.store").count()


def probe(what: str, ctx: PluginContext) -> str:
    """Reach past the proxy's public methods."""
    db = ctx.integration("prov.store")
    try:
        if what == "private-attribute":
            return repr(db._invoke)
        if what == "data-attribute":
            return repr(db.folder())
        if what == "object-argument":
            return repr(db.put("k", object()))
        if what == "object-result":
            return repr(db.raw())
    except Exception as exc:
        return f"refused: {type(exc).__name__}: {exc}"
    return "reached"


@hookimpl
def jaf_activate(ctx: PluginContext):
    ctx.integration("prov.store").put("activated", {"v": "from jaf_activate"})


@hookimpl
def jaf_tools():
    return [save, count, probe]
'''

OUTSIDER = '''
from jafhost import PluginContext


def steal(ctx: PluginContext) -> str:
    """Pose as the provider to reach its integration (it depends on nothing)."""
    object.__setattr__(ctx, "name", "prov")  # around the read-only attribute
    return ctx.integration("prov.store").private()


@hookimpl
def jaf_tools():
    return [steal]
'''

MODES = [
    pytest.param("inprocess", "inprocess", id="in-in"),
    pytest.param("process", "process", id="proc-proc", marks=process),
    pytest.param("inprocess", "process", id="in-provider-proc-dependent", marks=process),
    pytest.param("process", "inprocess", id="proc-provider-in-dependent", marks=process),
]


def build(site: Site, make_host: MakeHost, provider: str, dependent: str) -> Host:
    site.plugin("prov", code=PROVIDER)
    site.plugin("user", code=DEPENDENT, requires=["jaf-plugin-prov"])
    site.plugin("outsider", code=OUTSIDER)
    host = make_host()
    host.enable(["prov"], isolation=provider)
    host.enable(["user", "outsider"], isolation=dependent)
    return host


def run(host: Host, *actions: tuple[str, dict[str, Any]]) -> list[CallResult]:
    import asyncio

    async def scenario() -> list[CallResult]:
        async with host:
            return [await host.call(name, args) for name, args in actions]

    return asyncio.run(scenario())


@pytest.mark.parametrize(("provider", "dependent"), MODES)
def test_a_dependent_calls_the_providers_client_and_it_works_as_the_provider(
    provider: str, dependent: str, site: Site, make_host: MakeHost
) -> None:
    host = build(site, make_host, provider, dependent)
    saved, counted = run(host, ("user.save", {"key": "k1", "value": "hello"}), ("user.count", {}))
    assert saved.ok, saved.error
    assert saved.result == {"key": "k1", "stored": {"v": "hello"}}
    written = host.layout.data_dir("prov") / "k1.json"  # the provider's folder, not the user's
    assert json.loads(written.read_text()) == {"v": "hello"}
    assert not (host.layout.data_dir("user") / "k1.json").exists()
    assert counted.ok, counted.error
    assert counted.result == 2  # k1, and what its jaf_activate stored
    activated = host.layout.data_dir("prov") / "activated.json"
    assert json.loads(activated.read_text()) == {"v": "from jaf_activate"}


@pytest.mark.parametrize(("provider", "dependent"), MODES)
@pytest.mark.parametrize(
    ("what", "refusal"),
    [
        ("private-attribute", "AttributeError"),
        ("data-attribute", "has no method 'folder'"),
        ("object-argument", "must be JSON values"),
        ("object-result", "must be JSON values"),
    ],
)
def test_only_json_and_public_methods_cross(
    what: str, refusal: str, provider: str, dependent: str, site: Site, make_host: MakeHost
) -> None:
    host = build(site, make_host, provider, dependent)
    [probed] = run(host, ("user.probe", {"what": what}))
    assert probed.ok, probed.error
    assert probed.result.startswith("refused:"), probed.result
    assert refusal in probed.result
    assert not (host.layout.data_dir("prov") / "k.json").exists()


@pytest.mark.parametrize(("provider", "dependent"), MODES)
def test_setting_ctx_name_does_not_reach_another_plugins_integration(
    provider: str, dependent: str, site: Site, make_host: MakeHost
) -> None:
    host = build(site, make_host, provider, dependent)
    [stolen] = run(host, ("outsider.steal", {}))
    assert not stolen.ok
    assert SECRET not in json.dumps(stolen.to_json())
    assert "plugin outsider may not use integration prov.store" in stolen.error.message
