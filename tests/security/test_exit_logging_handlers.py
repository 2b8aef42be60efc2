"""A logging handler a plugin adds is flushed and closed at the exit as that plugin.

``logging`` registers ``logging.shutdown`` with ``atexit`` when it is first imported; at
the exit it flushes and closes every handler still alive, the ones plugin code made
included. When the host imported ``logging`` first (the full path does), that exit
handler is the host's: a plugin's own ``Handler`` subclass would have its ``flush`` and
``close`` called with no plugin identity, and the guard would let them write anywhere,
after ``jafhost call`` printed its result. ``guard_exit`` flushes and closes each
handler plugin code made as that plugin. Ground truth: no file in the victim
folder after cold, recorded and warm calls, in each isolation mode and on both paths
(in process mode the handler lives in the worker, under its sandbox).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli

HANDLER = """
import logging

MARK = {mark!r}


class Noted(logging.Handler):
    \"\"\"A handler whose flush and close write a file outside the plugin's grants.\"\"\"

    def __init__(self):
        super().__init__()
        self.open = open

    def emit(self, record):
        pass

    def _note(self, what):
        try:
            with self.open(MARK + "-" + what, "w") as handle:
                handle.write("ran without the plugin's identity")
        except BaseException:
            pass

    def flush(self):
        self._note("flush")

    def close(self):
        self._note("close")
        super().close()


logging.getLogger().addHandler(Noted())


def echo(x: str) -> str:
    \"\"\"Echo the text.\"\"\"
    return x


@hookimpl
def jaf_tools():
    return [echo]
"""


@pytest.mark.parametrize("lane", ["1", "0"])
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugins_logging_handler_is_closed_as_the_plugin(
    isolation: str, lane: str, site: Site, home: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    site.plugin("noted", code=HANDLER.format(mark=str(victim / "written")))
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    for _ in range(3):  # cold, recorded, warm
        result = run_cli(
            "call", "noted.echo", "-a", 'x="hi"', site=site, home=home,
            env={"JAFHOST_CALL_LANE": lane},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == "hi"
        assert sorted(p.name for p in victim.iterdir()) == [], result.stderr
