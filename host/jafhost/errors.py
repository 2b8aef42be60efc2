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
