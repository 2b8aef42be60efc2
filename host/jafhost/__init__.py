"""jafhost: a plugin host for AI agents.

This module is the whole public surface: what plugin authors import (``hookimpl``,
``tool``, the value types, ``Plugin``), what embedding programs drive (``Host``,
``SyncHost``, ``CallResult``) and the exceptions either may catch. Test helpers live in
``jafhost.testing``; every other module is internal and may change.

Every name is loaded lazily, so ``import jafhost`` (which the CLI does first) costs next
to nothing; ``jafhost --help`` and ``jafhost list`` stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from jafhost._version import __version__

if TYPE_CHECKING:
    from jafhost.agents.profiles import AgentProfile as AgentProfile
    from jafhost.errors import ManifestError as ManifestError
    from jafhost.errors import PermissionDenied as PermissionDenied
    from jafhost.errors import PluginError as PluginError
    from jafhost.errors import ResolutionError as ResolutionError
    from jafhost.errors import StateError as StateError
    from jafhost.errors import ToolError as ToolError
    from jafhost.errors import UsageError as UsageError
    from jafhost.hookspecs import hookimpl as hookimpl
    from jafhost.hookspecs import hookspec as hookspec
    from jafhost.host.host import Host as Host
    from jafhost.host.sync import SyncHost as SyncHost
    from jafhost.plugin import Plugin as Plugin
    from jafhost.plugin import PluginMetadata as PluginMetadata
    from jafhost.tools import tool as tool
    from jafhost.types import AgentSpec as AgentSpec
    from jafhost.types import CallError as CallError
    from jafhost.types import CallResult as CallResult
    from jafhost.types import Event as Event
    from jafhost.types import Integration as Integration
    from jafhost.types import PluginContext as PluginContext
    from jafhost.types import RunContext as RunContext
    from jafhost.types import ToolCall as ToolCall

_EXPORTS: dict[str, str] = {
    # writing a plugin
    "hookimpl": "jafhost.hookspecs",
    "hookspec": "jafhost.hookspecs",
    "tool": "jafhost.tools",
    "Plugin": "jafhost.plugin",
    "PluginMetadata": "jafhost.plugin",
    "PluginContext": "jafhost.types",
    "Event": "jafhost.types",
    "AgentSpec": "jafhost.types",
    "RunContext": "jafhost.types",
    "Integration": "jafhost.types",
    "ToolCall": "jafhost.types",
    # embedding the host
    "Host": "jafhost.host.host",
    "SyncHost": "jafhost.host.sync",
    "AgentProfile": "jafhost.agents.profiles",
    "CallResult": "jafhost.types",
    "CallError": "jafhost.types",
    # exceptions
    "PluginError": "jafhost.errors",
    "ManifestError": "jafhost.errors",
    "ResolutionError": "jafhost.errors",
    "PermissionDenied": "jafhost.errors",
    "ToolError": "jafhost.errors",
    "StateError": "jafhost.errors",
    "UsageError": "jafhost.errors",
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
