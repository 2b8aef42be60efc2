"""The values that cross between the host and plugins: what a plugin gets
(``PluginContext``) and what it offers (``AgentSpec``, ``Integration``).

Plain dataclasses, stdlib only, so every layer (the hook specifications included) can
import them without pulling in the runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class PluginContext:
    """Given to lifecycle hooks, and injected into tools and event handlers that ask.

    ``config`` is the validated configuration model (None without a schema),
    ``data_dir`` the plugin's own folder (created before any plugin code runs),
    ``emit`` publishes an event as this plugin, ``integration`` reaches a service of a
    plugin this one depends on.
    """

    name: str
    config: Any
    data_dir: Path
    logger: logging.Logger
    _emit: Callable[[str, str, Any], Any] | None = field(default=None, repr=False)
    _integration: Callable[[str, str], Any] | None = field(default=None, repr=False)

    def emit(self, name: str, data: Any = None) -> Any:
        """Publish event ``name`` with ``data``; its source is this plugin.

        Returns an awaitable delivery report when called inside the host's event loop.
        """
        if self._emit is None:
            raise RuntimeError(f"plugin {self.name}: events are not available in this host")
        return self._emit(self.name, name, data)

    def integration(self, name: str) -> Any:
        """The client of integration ``name`` (``plugin.service``) of a dependency."""
        if self._integration is None:
            raise RuntimeError(f"plugin {self.name}: integrations are not available in this host")
        return self._integration(self.name, name)


@dataclass(frozen=True)
class AgentSpec:
    """An agent: its instructions, and the tools it may call (full names or globs).

    ``tools`` like ``("notes.*", "calendar.add")``; an agent cannot call anything else.
    ``model`` is an optional default model (``provider:model``).
    """

    name: str
    instructions: str
    tools: tuple[str, ...] = ()
    description: str = ""
    model: str | None = None


@dataclass(frozen=True)
class Integration:
    """``connect`` returns the client object; ``close`` releases it; ``health`` checks it.

    Each callable may be sync or async. The full name is ``<plugin>.<name>``.
    """

    name: str
    connect: Callable[[], Any | Awaitable[Any]]
    close: Callable[[Any], Any | Awaitable[Any]] | None = None
    health: Callable[[Any], Any | Awaitable[Any]] | None = None
    description: str = ""
