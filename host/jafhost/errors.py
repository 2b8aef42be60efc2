"""Every exception a caller of the host may catch, and ``describe`` for the ones it reports.

Every message names the plugin and, where there is one, the field, permission or
dependency at fault, so the CLI can print it as one line and a user knows what to fix.
Exceptions that only one module raises and catches stay in that module.

``PluginError`` (a plugin is at fault; the host and the other plugins go on)
    ``ManifestError``, ``ResolutionError``, ``PermissionDenied`` (also a
    ``PermissionError``), ``ToolError``, ``ConfigError``, ``HookTimeout`` (also a
    ``TimeoutError``), ``PluginExit``
``StateError`` (the host's own files), ``UsageError`` (the caller asked for nonsense),
``ProviderError`` (a model provider), ``ScaffoldError`` (a new plugin project)
``ValueError``: ``PermissionSyntaxError``, ``ToolDefinitionError``, ``EventError``
``ImportError``: ``MCPUnavailable``, ``JafUnavailable`` (an optional extra is missing)
"""

from __future__ import annotations

from collections.abc import Mapping


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


class ConfigError(PluginError):
    """A plugin's configuration does not validate; ``problems`` are (key, message) pairs.

    The message names the plugin, each field at fault and the problem, and where an
    environment variable set the value, that variable. It never contains a value.
    ``needs`` maps the keys of missing required fields (as in ``problems``) to how to set
    each one; when nothing else is wrong the message is only that, in one line:
    ``plugin sqlite needs configuration: jafhost config set sqlite database PATH (or
    JAFHOST_SQLITE__DATABASE=PATH)``.
    """

    def __init__(
        self,
        plugin: str,
        problems: list[tuple[str, str]],
        needs: Mapping[str, str] | None = None,
    ) -> None:
        self.problems = problems
        self.needs = dict(needs or {})
        if self.needs and all(where in self.needs for where, _ in problems):
            text = "; ".join(self.needs[where] for where, _ in problems)
            super().__init__(f"plugin {plugin} needs configuration: {text}", plugin=plugin)
            return
        text = "; ".join(
            f"{where}: {what}" + (f" ({self.needs[where]})" if where in self.needs else "")
            for where, what in problems
        )
        super().__init__(f"config [plugins.{plugin}] {text}", plugin=plugin)


class HookTimeout(PluginError, TimeoutError):
    """Plugin code did not finish within its time limit."""


class PluginExit(PluginError):
    """Plugin code raised ``SystemExit`` (or another non-``Exception``): reported, never
    allowed to end the host. The message is ``"SystemExit: 3"``-style."""


class StateError(Exception):
    """The host's own state (``state.json``, ``config.toml``) cannot be read or written."""


class UsageError(Exception):
    """The caller asked for something that does not exist or makes no sense (exit status 2)."""


class ProviderError(Exception):
    """A model provider cannot be set up or failed to answer; the message is for the user."""


class ScaffoldError(Exception):
    """The project could not be rendered (the folder exists, the template refused...)."""


class PermissionSyntaxError(ValueError):
    """A permission value that cannot be parsed; the message says why."""


class ToolDefinitionError(ValueError):
    """A function cannot be offered as a tool; the message says which and why."""


class EventError(ValueError):
    """A bad event name, pattern or handler; the message names it."""


class MCPUnavailable(ImportError):
    """The ``mcp`` package (the optional extra ``jafhost[mcp]``) is not installed."""


class JafUnavailable(ImportError):
    """jaf-py (the optional extra ``jafhost[jaf]``) is not installed."""


def describe(exc: BaseException, *, first_line: bool = False) -> str:
    """What went wrong, for a report or an error line: ``Type: message`` for what code
    raised (plugin code, a library), the message alone for the errors whose message the
    host wrote for the user (a time limit, an exit, a model provider's failure). With
    ``first_line``, only the message's first line (for one-line statuses)."""
    if isinstance(exc, HookTimeout | PluginExit | ProviderError):
        return str(exc)
    text = str(exc).strip()
    if first_line and text:
        text = text.splitlines()[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
