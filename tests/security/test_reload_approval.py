"""A running host never runs a version of a plugin that needs approval.

The user approved version 1 of a plugin; version 2, installed while the host runs,
requests a permission more (so it is ``needs-approval`` until ``jafhost enable`` asks
again). A reload must not import or start version 2 at all, in either isolation mode:
its code writes a marker file into its own data folder (writable under any grant) when
it is imported, and the test checks that file never appears, and that version 1 keeps
serving. The same holds for a plugin a long-running host offers from its activation
record and starts only at its first call: the version installed meanwhile is resolved
again before it starts.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest

from conftest import ISOLATION_MODES, MARKER_MANIFEST, RecordOnce, Site
from jafhost.host.host import Host

MakeHost = Callable[..., Host]

V1 = """
def which() -> str:
    return "v1"

@hookimpl
def jaf_tools():
    return [which]
"""

V2 = """
import os

# import-time code of the version nobody approved: leaves a trace where it may write
with open(os.path.join(os.environ["JAF_MARKER_DIR"], "v2-ran"), "w") as _f:
    _f.write("ran")

def which() -> str:
    return "v2"

@hookimpl
def jaf_tools():
    return [which]
"""


def upgrade(site: Site, module: str, manifest: str) -> None:
    """Install version 2 over version 1: new code, and a permission more."""
    package = site.root / module
    (package / "__init__.py").write_text("from jafhost import hookimpl\n" + V2)
    (package / "jaf-plugin.toml").write_text(manifest + 'net = ["127.0.0.1:9"]\n')
    (site.root / "jaf_plugin_upgraded-1.0.0.dist-info").rename(
        site.root / "jaf_plugin_upgraded-2.0.0.dist-info"
    )
    dist = site.root / "jaf_plugin_upgraded-2.0.0.dist-info" / "METADATA"
    dist.write_text(dist.read_text().replace("Version: 1.0.0", "Version: 2.0.0"))


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_lazy_start_does_not_run_a_version_that_needs_approval(
    site: Site, make_host: MakeHost, record_once: RecordOnce, isolation: str
) -> None:
    module = site.plugin("upgraded", code=V1, manifest=MARKER_MANIFEST)
    data, first = record_once("upgraded", isolation, "upgraded.which")
    assert first.result == "v1", first  # its activation record is written
    marker = data / "v2-ran"
    host = make_host()

    async def scenario() -> None:
        async with host:
            idle = [p for p in host.runtime.plugins.loaded.values() if p.name == "upgraded"]
            assert [p.status for p in idle] == ["idle"]  # offered from its record
            upgrade(site, module, MARKER_MANIFEST)
            called = await host.call("upgraded.which", {})
            assert not called.ok, called
            assert not marker.exists(), "the unapproved version's code ran"

    asyncio.run(scenario())
    assert not marker.exists(), "the unapproved version's code ran"


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_reload_does_not_run_a_version_that_needs_approval(
    site: Site, make_host: MakeHost, isolation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = MARKER_MANIFEST
    module = site.plugin("upgraded", code=V1, manifest=manifest)
    host = make_host(approve=True)
    host.enable(["upgraded"], isolation=isolation)
    marker = host.layout.data_dir("upgraded") / "v2-ran"
    monkeypatch.setenv("JAF_MARKER_DIR", str(marker.parent))

    async def scenario() -> None:
        async with host:
            first = await host.call("upgraded.which", {})
            assert first.ok and first.result == "v1", first

            upgrade(site, module, manifest)

            report = await host.reload("upgraded")
            assert not report.ok, report
            assert "approv" in (report.error or ""), report
            assert not marker.exists(), "the unapproved version's code ran"
            again = await host.call("upgraded.which", {})
            assert not (again.ok and again.result == "v2"), again

    asyncio.run(scenario())
    assert not marker.exists(), "the unapproved version's code ran"
    assert [v.status for v in host.plugins() if v.name == "upgraded"] == ["needs-approval"]
    assert os.path.isdir(marker.parent)
