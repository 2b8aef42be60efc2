"""The host's error hierarchy.

Every message names the plugin and, where there is one, the field, permission or
dependency at fault, so the CLI can print it as one line and a user knows what to fix.
"""

from __future__ import annotations


class PluginError(Exception):
    """Something is wrong with one plugin; the host and the other plugins go on."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


class ManifestError(PluginError):
    """A plugin's name, metadata or ``jaf-plugin.toml`` cannot be accepted."""


class ResolutionError(PluginError):
    """A plugin's dependencies or host requirement cannot be satisfied."""


class PermissionDenied(PluginError, PermissionError):
    """A plugin tried something its grants do not allow.

    ``permission`` is the canonical string of the permission that would have allowed it.
    It is also a ``PermissionError`` (an ``OSError``), so library code that already
    copes with an unreadable file or a refused connection copes with a denial too.
    """

    def __init__(self, message: str, *, plugin: str | None = None, permission: str = "") -> None:
        super().__init__(message, plugin=plugin)
        self.permission = permission


class ToolError(PluginError):
    """A tool call failed; ``code`` is one of the structured error codes."""

    def __init__(
        self, message: str, *, plugin: str | None = None, code: str = "tool_error"
    ) -> None:
        super().__init__(message, plugin=plugin)
        self.code = code


class StateError(Exception):
    """The host's own state (``state.json``, ``config.toml``) cannot be read or written."""


class UsageError(Exception):
    """The caller asked for something that does not exist or makes no sense (exit status 2)."""


QUOTE_LIMIT = 80
"""Characters of an input that messages quote; longer ones are cut (a 120 KB name
stays a short error line)."""


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``value`` as messages quote what a user typed: its ``repr`` (control characters
    escaped), cut to ``limit`` characters with ``...`` and the full length when longer."""
    if not isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"
