"""The one-shot worker of ``jafhost call``, started as the command begins.

A process-isolated plugin's tool is called in a one-shot sandboxed worker
(``runtime.isolation.one_shot_call``). Its interpreter start and its own imports take
longer than everything the lane checks, so the lane starts it before checking: here,
right after the command line was read, from the hint the plugin's lane summary keeps
(``lane_summary.Summary.early``: where its last worker ran), before ``oneshot.decide``
imports and reads anything else. The hint decides nothing: the worker holds no granted
variable and runs none of the plugin's code until ``init``, which the lane sends only
once every check passed and the worker's start matched what those checks give
(``one_shot_call._adopted``); in every other case it is ended unused
(``end_unused``). jafhost's own files are checked before it starts, as for every
worker.

Nothing is started for ``--debug``, ``JAFHOST_CALL_LANE=0``, tracing or
``JAFHOST_WORKER_ZYGOTE=1`` (the full path serves those), nor when the summary is
missing, unreadable or names no worker.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jafhost.runtime.isolation.one_shot_call import Early

_STARTED: list[Early] = []


def start(tool: str) -> None:
    """Start the worker of ``tool``'s plugin (``plugin.tool``) when its summary says its
    calls go to one; any failure only means the lane starts it later, as before."""
    plugin, dot, name = tool.partition(".")
    if not (dot and plugin and name) or "__" in tool or _STARTED:
        return
    if os.environ.get("JAFHOST_CALL_LANE") == "0":
        return
    if os.environ.get("JAFHOST_WORKER_ZYGOTE", "").strip() == "1":
        return
    if tracing():  # spans are made by the full path's router
        return
    from jafhost.home.folder import home_folder

    try:
        home = home_folder()
    except Exception:  # the lane reports it
        return
    hint = _hint(home, plugin)
    if hint is None:
        return
    # the folders ``HomeLayout`` names (a worker started elsewhere is never adopted)
    folder = os.path.join(home, "plugins", plugin)
    data_dir, cache_dir = os.path.join(folder, "data"), os.path.join(folder, "cache")
    try:
        from jafhost.runtime.isolation.one_shot_call import start_early_at

        _STARTED.append(start_early_at(plugin, home, data_dir, cache_dir, list(hint["own"])))
    except Exception:  # the lane starts it itself, and says why it cannot
        return
    if os.environ.get("JAFHOST_TRACE_CALL") == "1":
        sys.stderr.write(f"jafhost call: worker of {plugin} started as the command began\n")


def tracing() -> bool:
    """Whether the ``OTEL_*`` variables ask for spans (``telemetry.env_enabled``, imported
    only when one is set): the lane then leaves the call to the full path."""
    if not any(name.startswith("OTEL_") for name in os.environ):
        return False
    from jafhost.runtime import telemetry

    return telemetry.env_enabled()


def _hint(home: str, plugin: str) -> dict[str, Any] | None:
    """The early-start hint in ``plugin``'s summary, or None."""
    from jafhost.cli.lane_file import FORMAT, LIMIT, early_hint, summary_file
    from jafhost.safe_read import read_bytes

    try:
        path = summary_file(os.path.join(home, "cache"), plugin)
        data = json.loads(read_bytes(path, LIMIT))
        if not isinstance(data, dict) or (data.get("format"), data.get("plugin")) != (
            FORMAT,
            plugin,
        ):
            return None
        return early_hint(data.get("early"))
    except Exception:
        return None


def take(plugin: str) -> Early | None:
    """The worker started for ``plugin``, handed to the lane (which ends it); None when
    none was started for it."""
    if _STARTED and _STARTED[0].worker.plugin == plugin:
        return _STARTED.pop()
    return None


def end_unused() -> None:
    """End the worker no lane took (the full path serves the call, or it failed)."""
    while _STARTED:
        _STARTED.pop().end()
