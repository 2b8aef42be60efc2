"""``AgentHost``: what an agent run needs from the host it runs in, and nothing more.

``jafhost.agents.run`` depends on this protocol instead of ``jafhost.host.Host``, so the
agents layer never imports the host; ``Host`` satisfies it as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pluggy

    from jafhost.home.paths import HomeLayout
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.runtime.routing import Confirm
    from jafhost.tools import Tool
    from jafhost.types import CallResult


class PluginStatus(Protocol):
    """A plugin as the host describes it: why it is or is not running."""

    @property
    def status(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def runtime(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...


class AgentHost(Protocol):
    """The host's side of an agent run: its plugins, tools and ``config.toml``."""

    @property
    def layout(self) -> HomeLayout: ...
    @property
    def active(self) -> list[str]: ...
    @property
    def serving(self) -> list[str]: ...
    @property
    def pm(self) -> pluggy.PluginManager: ...
    def loaded(self, name: str) -> LoadedPlugin | None: ...
    def plugin(self, name: str) -> PluginStatus: ...
    def identity(self, name: str) -> str: ...
    def tools(self, patterns: Iterable[str] | None = None) -> list[Tool]: ...
    def tool_definitions(
        self, format: str = "openai", patterns: Iterable[str] | None = None
    ) -> list[dict[str, Any]]: ...
    async def call(
        self,
        name: str,
        arguments: Any = None,
        *,
        timeout: float | None = None,
        confirm: Confirm | None = None,
    ) -> CallResult: ...
