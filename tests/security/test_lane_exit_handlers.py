"""Plugin code a plugin leaves to run when ``jafhost call`` exits runs as that plugin.

``atexit`` handlers, ``threading``'s exit callbacks and ``weakref.finalize`` callbacks
run at interpreter exit on the main thread, where no plugin identity is set: a plugin
registering one at import (or in its tool) would otherwise write outside its grants once
the lane, or the full path, has printed its result. Ground truth: no marker file outside
its grants, in each isolation mode (in process mode the handler runs in the worker,
under its sandbox).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli

LATER = '''
import atexit
import threading
import weakref

FOLDER = {folder!r}


def touch(what):
    try:
        with open(FOLDER + "/" + what, "w") as handle:
            handle.write("ran without the plugin's identity")
    except Exception:
        pass


class Kept:
    pass


KEPT = Kept()
atexit.register(touch, "atexit-import")
threading._register_atexit(touch, "threading-import")
weakref.finalize(KEPT, touch, "finalize-import")


def later() -> str:
    """Leave work for the exit."""
    atexit.register(touch, "atexit-tool")
    weakref.finalize(KEPT, touch, "finalize-tool")
    return "done"


@hookimpl
def jaf_tools():
    return [later]
'''


@pytest.mark.parametrize("lane", ["1", "0"])
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_exit_handlers_a_plugin_leaves_run_as_the_plugin(
    isolation: str, lane: str, site: Site, home: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    site.plugin("later", code=LATER.format(folder=str(victim)))
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    for _ in range(3):  # cold, recorded, warm
        result = run_cli(
            "call", "later.later", site=site, home=home, env={"JAFHOST_CALL_LANE": lane}
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == "done"
        assert sorted(p.name for p in victim.iterdir()) == []
