"""The host's log records as the CLI shows them: ``warning: ...`` on one line of stderr,
as its errors are (``error: ...``), instead of logging's bare last-resort message.

Records of plugin loggers (``jafhost.plugin.NAME``, what ``ctx.logger`` writes) are named
after their plugin, so a line never passes for the host's own. Control characters are
shown as escapes: a plugin cannot redraw the terminal through its log messages.
"""

from __future__ import annotations

import logging
import sys

PLUGIN_LOGGERS = "jafhost.plugin."


def one_line(text: str) -> str:
    """``text`` on one line, control characters escaped (``\\x1b`` stays visible)."""
    flat = " ".join(text.split())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in flat)


class LineFormatter(logging.Formatter):
    """``LEVEL: [plugin NAME: ]MESSAGE``; with ``--debug``, the traceback after it."""

    def __init__(self, debug: bool = False) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        message = one_line(record.getMessage())
        if record.name.startswith(PLUGIN_LOGGERS):
            plugin = record.name[len(PLUGIN_LOGGERS) :]
            if not message.startswith(f"plugin {plugin}:"):
                message = f"plugin {plugin}: {message}"
        line = f"{record.levelname.lower()}: {message}"
        if self.debug and record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def install(debug: bool = False) -> None:
    """Show the ``jafhost`` loggers' warnings (and worse) on stderr, one line each."""
    logger = logging.getLogger("jafhost")
    if any(getattr(h, "jafhost_cli", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter(debug))
    handler.setLevel(logging.WARNING)
    handler.jafhost_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False
