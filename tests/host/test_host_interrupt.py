"""An embedding program's Ctrl-C is its own: the host never swallows it.

A program waiting on a host call (``SyncHost.call``, or ``await host.call`` under
``asyncio.run``) gets the ``KeyboardInterrupt`` of a real SIGINT in its own code, while
a plugin's tool sleeps in a thread or holds its own event loop; a ``KeyboardInterrupt``
the plugin raises itself is the call's error and the program goes on.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from interrupting import SLOW_PLUGIN, interrupt_when_started

from conftest import INPROCESS_CONFIG, Site

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

PROGRAM = {
    "sync": """
        import sys
        from jafhost import Host, SyncHost

        host = Host(sys.argv[1], paths=[sys.argv[2]])
        try:
            with SyncHost(host) as sync:
                own = sync.call("slow.interrupt")
                print("plugin's own:", own.error.code, own.error.message, flush=True)
                sync.call(sys.argv[3])
        except KeyboardInterrupt:
            print("program caught Ctrl-C", flush=True)
            sys.exit(7)
        """,
    "async": """
        import asyncio, sys
        from jafhost import Host

        async def main():
            host = Host(sys.argv[1], paths=[sys.argv[2]])
            async with host:
                own = await host.call("slow.interrupt")
                print("plugin's own:", own.error.code, own.error.message, flush=True)
                await host.call(sys.argv[3])

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            print("program caught Ctrl-C", flush=True)
            sys.exit(7)
        """,
}


@pytest.mark.parametrize("tool", ["wait", "spin"])
@pytest.mark.parametrize("style", list(PROGRAM))
def test_ctrl_c_reaches_the_embedding_program(
    style: str, tool: str, site: Site, tmp_path: Path
) -> None:
    site.plugin("slow", code=SLOW_PLUGIN)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(INPROCESS_CONFIG)
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(PROGRAM[style]))
    started = home / "plugins" / "slow" / "data" / "started"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(home), str(site.root), f"slow.{tool}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = interrupt_when_started(proc, started)
    assert proc.returncode == 7, err
    assert out.splitlines() == [
        "plugin's own: tool_error plugin slow raised KeyboardInterrupt: from the plugin",
        "program caught Ctrl-C",
    ]
