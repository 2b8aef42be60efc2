"""jafhost: a plugin host for AI agents.

Plugin authors import ``hookimpl`` and the value types from here. Every name is
loaded lazily, so ``import jafhost`` (which the CLI does first) costs next to
nothing; ``jafhost --help`` and ``jafhost list`` stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from jafhost._version import __version__

if TYPE_CHECKING:
    from jafhost.agents import AgentSpec as AgentSpec
    from jafhost.context import PluginContext as PluginContext
    from jafhost.dispatch import CallResult as CallResult
    from jafhost.dispatch import ToolCall as ToolCall
    from jafhost.errors import ManifestError as ManifestError
    from jafhost.errors import PermissionDenied as PermissionDenied
    from jafhost.errors import PluginError as PluginError
    from jafhost.errors import ResolutionError as ResolutionError
    from jafhost.errors import StateError as StateError
    from jafhost.errors import ToolError as ToolError
    from jafhost.events import Event as Event
    from jafhost.hookspecs import hookimpl as hookimpl
    from jafhost.hookspecs import hookspec as hookspec
    from jafhost.host import Host as Host
    from jafhost.integrations import Integration as Integration
    from jafhost.plugin_class import Plugin as Plugin
    from jafhost.plugin_class import PluginMetadata as PluginMetadata
    from jafhost.sync import SyncHost as SyncHost
    from jafhost.tools import tool as tool

_EXPORTS: dict[str, str] = {
    "hookimpl": "jafhost.hookspecs",
    "hookspec": "jafhost.hookspecs",
    "tool": "jafhost.tools",
    "PluginContext": "jafhost.context",
    "Event": "jafhost.events",
    "AgentSpec": "jafhost.agents",
    "Integration": "jafhost.integrations",
    "Host": "jafhost.host",
    "SyncHost": "jafhost.sync",
    "Plugin": "jafhost.plugin_class",
    "PluginMetadata": "jafhost.plugin_class",
    "ToolCall": "jafhost.dispatch",
    "CallResult": "jafhost.dispatch",
    "PluginError": "jafhost.errors",
    "ManifestError": "jafhost.errors",
    "ResolutionError": "jafhost.errors",
    "PermissionDenied": "jafhost.errors",
    "ToolError": "jafhost.errors",
    "StateError": "jafhost.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jafhost' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
