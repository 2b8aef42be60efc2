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
    from jafhost.agents import AgentSpec
    from jafhost.context import PluginContext
    from jafhost.errors import (
        ManifestError,
        PermissionDenied,
        PluginError,
        ResolutionError,
        StateError,
        ToolError,
    )
    from jafhost.events import Event
    from jafhost.hookspecs import hookimpl, hookspec
    from jafhost.host import Host
    from jafhost.integrations import Integration
    from jafhost.tools import tool

_EXPORTS: dict[str, str] = {
    "hookimpl": "jafhost.hookspecs",
    "hookspec": "jafhost.hookspecs",
    "tool": "jafhost.tools",
    "PluginContext": "jafhost.context",
    "Event": "jafhost.events",
    "AgentSpec": "jafhost.agents",
    "Integration": "jafhost.integrations",
    "Host": "jafhost.host",
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
