"""A plugin offered from its activation record starts at its first use only if it is
still enabled then: ``jafhost disable`` (or a revoked approval) run while a host serves
it idle keeps its code from running, in both isolation modes.

Real processes: a first host records the plugin, a second serves it idle, the state is
changed by a third (as the CLI would, from another process), and the plugin's code
would leave a marker file in its data folder (writable under any grant) when imported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from conftest import ISOLATION_MODES, MARKER_MANIFEST, RecordOnce, Site
from jafhost.host.host import Host

MakeHost = Callable[..., Host]

CODE = """
import os

with open(os.path.join(os.environ["JAF_MARKER_DIR"], "imported"), "a") as _f:
    _f.write("x")

def hi() -> str:
    return "hi"

@hookimpl
def jaf_tools():
    return [hi]
"""


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugin_disabled_while_idle_does_not_start(
    site: Site, make_host: MakeHost, record_once: RecordOnce, isolation: str
) -> None:
    site.plugin("sleeper", code=CODE, manifest=MARKER_MANIFEST)
    data, first = record_once("sleeper", isolation, "sleeper.hi")
    assert first.result == "hi", first  # recorded: the next host offers it idle
    marker = data / "imported"
    marker.unlink()
    host = make_host()

    async def scenario() -> None:
        async with host:
            idle = [p.status for p in host.runtime.plugins.loaded.values() if p.name == "sleeper"]
            assert idle == ["idle"]
            make_host().disable(["sleeper"])  # another process changes the state
            called = await host.call("sleeper.hi", {})
            assert not called.ok, called
            assert called.error is not None and "disabled" in called.error.message, called

    asyncio.run(scenario())
    assert not marker.exists(), "a disabled plugin's code ran"
