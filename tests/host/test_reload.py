"""Hot reload of real plugin code: new code serves, broken code never replaces working code."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site
from jafhost.host.host import Host

MakeHost = Callable[..., Host]

# hot reload swaps the imported code in the host's own process
pytestmark = pytest.mark.usefixtures("inprocess")


def version_code(version: str, extra: str = "") -> str:
    return f"""
def which() -> str:
    return {version!r}

{extra}

@hookimpl
def jaf_tools():
    return [which]
"""


USER = """
from jafhost import PluginContext

def ask() -> str:
    return "user sees base"

@hookimpl
def jaf_tools():
    return [ask]
"""


def test_reload_swaps_code_and_keeps_the_old_on_failure(site: Site, make_host: MakeHost) -> None:
    module = site.plugin("base", code=version_code("v1"))
    site.plugin("user", code=USER, requires=["jaf-plugin-base"])
    source = site.root / module / "__init__.py"
    host = make_host()

    def write(text: str) -> None:
        source.write_text("from jafhost import hookimpl\n" + text)

    async def scenario() -> None:
        async with host:
            assert (await host.call("base.which")).result == "v1"

            write(version_code("v2"))  # same size, same second: stale bytecode must not win
            report = await host.reload("base")
            assert report.ok, report
            assert report.restarted == ["base", "user"]
            assert (await host.call("base.which")).result == "v2"
            assert (await host.call("user.ask")).result == "user sees base"

            write("def which(:\n")  # a syntax error: nothing is touched
            broken = await host.reload("base")
            assert not broken.ok and broken.kept_previous
            assert broken.error is not None and broken.error.startswith("import failed: Syntax")
            assert (await host.call("base.which")).result == "v2"
            assert host.active == ["base", "user"]

            write(
                version_code(
                    "v3",
                    "@hookimpl\ndef jaf_initialize(ctx):\n    raise RuntimeError('bad init')\n",
                )
            )
            failing = await host.reload("base")
            assert not failing.ok and failing.kept_previous
            assert failing.error == "jaf_initialize failed: RuntimeError: bad init"
            assert (await host.call("base.which")).result == "v2"
            assert (await host.call("user.ask")).result == "user sees base"

            write(version_code("v4"))
            assert (await host.reload("base")).ok
            assert (await host.call("base.which")).result == "v4"

    asyncio.run(scenario())


def test_reload_of_an_inactive_plugin_activates_it(site: Site, make_host: MakeHost) -> None:
    site.plugin("base", code=version_code("v1"))
    host = make_host()

    async def scenario() -> None:
        report = await host.reload("base")
        assert report.ok and report.restarted == ["base"]
        assert (await host.call("base.which")).result == "v1"
        await host.deactivate_all()

    asyncio.run(scenario())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_dev_command_reloads_on_save(isolation: str, site: Site, home: Path) -> None:
    """A process-isolated plugin's code is never imported in the host: its package
    folder is watched all the same (found as discovery finds it)."""
    module = site.plugin("base", code=version_code("v1"))
    source = site.root / module / "__init__.py"
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    env = dict(
        os.environ,
        PYTHONPATH=str(site.root),
        JAFHOST_HOME=str(home),
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "jafhost", "dev"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in child.stdout], daemon=True).start()  # type: ignore[union-attr]

    def expect(text: str, seconds: float = 20) -> str:
        deadline = time.monotonic() + seconds
        seen = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not seen in {seen}")

    try:
        assert "base" in expect("active plugins:").split(":", 1)[1].replace(",", " ").split()
        expect("watching for changes")
        # the watcher may need a moment after saying so: save until it notices
        for attempt in range(10):
            source.write_text("from jafhost import hookimpl\n" + version_code(f"v2.{attempt}"))
            try:
                expect("reloaded base", 2)
                break
            except AssertionError:
                continue
        else:
            raise AssertionError("the dev command never reloaded")
        source.write_text("from jafhost import hookimpl\ndef oops(:\n")
        line = expect("reload of base failed")
        assert "the previous version keeps serving" in line  # a worker's too
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def test_reload_of_a_process_isolated_plugin_restarts_its_worker(
    site: Site, make_host: MakeHost, tmp_path: Path
) -> None:
    marker = tmp_path / "imported-in-host"
    module = site.plugin("base", code=version_code("v1"))
    source = site.root / module / "__init__.py"
    host = make_host()
    host.enable(["base"], isolation="process")

    async def scenario() -> None:
        async with host:
            assert (await host.call("base.which")).result == "v1"
            source.write_text(
                "from jafhost import hookimpl\nimport os, sys\n"
                f"if os.getpid() == {os.getpid()}: open({str(marker)!r}, 'w')\n"
                + version_code("v2")
            )
            report = await host.reload("base")
            assert report.ok and report.restarted == ["base"]
            assert (await host.call("base.which")).result == "v2"

    asyncio.run(scenario())
    assert not marker.exists()  # the new code ran only in the worker


HANGS = """
import threading

threading.Event().wait()  # the import never returns
"""


def test_reload_works_again_after_an_import_that_hung(site: Site, make_host: MakeHost) -> None:
    """The thread of a hung import still holds the module's import lock: a later import
    of the plugin must not wait on it."""
    module = site.plugin("base", code=version_code("v1"))
    source = site.root / module / "__init__.py"
    host = make_host(hook_timeout=1.0)

    async def scenario() -> None:
        async with host:
            source.write_text("from jafhost import hookimpl\n" + HANGS + version_code("v2"))
            hung = await host.reload("base")
            assert not hung.ok and hung.kept_previous, hung
            assert hung.error is not None and "did not finish within 1 s" in hung.error
            assert (await host.call("base.which")).result == "v1"

            source.write_text("from jafhost import hookimpl\n" + version_code("v3"))
            report = await host.reload("base")
            assert report.ok, report
            assert (await host.call("base.which")).result == "v3"

            source.write_text("from jafhost import hookimpl\n" + version_code("v4"))
            assert (await host.reload("base")).ok
            assert (await host.call("base.which")).result == "v4"

    asyncio.run(scenario())


def test_reload_of_a_process_isolated_plugin_to_a_broken_version_keeps_the_old_serving(
    site: Site, make_host: MakeHost
) -> None:
    module = site.plugin("base", code=version_code("v1"))
    source = site.root / module / "__init__.py"
    host = make_host()
    host.enable(["base"], isolation="process")

    def write(text: str) -> None:
        source.write_text("from jafhost import hookimpl\n" + text)

    async def scenario() -> None:
        async with host:
            assert (await host.call("base.which")).result == "v1"

            write("def which(:\n")  # does not import
            broken = await host.reload("base")
            assert not broken.ok and broken.kept_previous, broken
            assert broken.error is not None and "SyntaxError" in broken.error
            assert (await host.call("base.which")).result == "v1"

            failing = "@hookimpl\ndef jaf_activate(ctx):\n    raise RuntimeError('bad start')\n"
            write(version_code("v2", failing))  # imports, then fails to start
            refused = await host.reload("base")
            assert not refused.ok and refused.kept_previous, refused
            assert refused.error is not None and "bad start" in refused.error
            assert (await host.call("base.which")).result == "v1"
            assert host.active == ["base"]

            write(version_code("v3"))
            report = await host.reload("base")
            assert report.ok and report.restarted == ["base"], report
            assert (await host.call("base.which")).result == "v3"

    asyncio.run(scenario())
