"""The host's log records as the CLI shows them: ``warning: ...`` on one line of stderr,
as its errors are (``error: ...``), instead of logging's bare last-resort message.

Records of plugin loggers (``jafhost.plugin.NAME``, what ``ctx.logger`` writes) are named
after their plugin, so a line never passes for the host's own. Control characters are
shown as escapes: a plugin cannot redraw the terminal through its log messages.

This module does not import ``logging``: ``jafhost call``'s lane imports it before any
plugin code runs and hands ``install`` the ``logging`` module when something first
imports it (perhaps plugin code, under the plugin's grants), so the handler is put in
place then without reading a file.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging as logging_module

PLUGIN_LOGGERS = "jafhost.plugin."


def one_line(text: str) -> str:
    """``text`` on one line, control characters escaped (``\\x1b`` stays visible)."""
    flat = " ".join(text.split())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in flat)


class LineFormatter:
    """``LEVEL: [plugin NAME: ]MESSAGE``; with ``--debug``, the traceback after it. What
    a handler asks of a formatter (``format``), as ``logging.Formatter`` would do it for
    these two fields."""

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug

    def format(self, record: logging_module.LogRecord) -> str:
        message = one_line(record.getMessage())
        if record.name.startswith(PLUGIN_LOGGERS):
            plugin = record.name[len(PLUGIN_LOGGERS) :]
            if not message.startswith(f"plugin {plugin}:"):
                message = f"plugin {plugin}: {message}"
        line = f"{record.levelname.lower()}: {message}"
        if self.debug and record.exc_info:
            import traceback

            shown = "".join(traceback.format_exception(*record.exc_info))
            line += "\n" + (shown[:-1] if shown.endswith("\n") else shown)
        return line


def install(debug: bool = False, logging: ModuleType | None = None) -> None:
    """Show the ``jafhost`` loggers' warnings (and worse) on stderr, one line each
    (``logging``: the module, when it is being imported; else imported here)."""
    if logging is None:
        import logging as imported

        logging = imported
    module: ModuleType = logging
    logger = module.getLogger("jafhost")
    if any(getattr(h, "jafhost_cli", False) for h in logger.handlers):
        return
    handler = module.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter(debug))
    handler.setLevel(module.WARNING)
    handler.jafhost_cli = True
    logger.addHandler(handler)
    logger.propagate = False
