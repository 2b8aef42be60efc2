"""The memory plugin (entry point ``memory = "jaf_plugin_memory.plugin:MemoryPlugin"``).

The entry point names a class: the host makes one instance per load, so every host in
a process (tests start many) has its own open database, and the ``memory.store``
integration, whose ``connect`` takes no arguments, reaches the store of the right host.

The database is opened in ``jaf_initialize`` (by the memory plugin itself, in its own data
folder) and closed in ``jaf_deactivate``. Tools are bound methods: the host builds their
schemas from the hints and docstrings (``self`` is not part of them).

No ``from __future__ import annotations`` here on purpose: the host reads the tools'
annotations at run time, so they stay real objects rather than strings.
"""

import logging
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from jafhost import Integration, PluginContext, hookimpl
from pydantic import BaseModel, ConfigDict, Field

from jaf_plugin_memory.store import (
    MAX_IMPORTANCE,
    MAX_LIMIT,
    MAX_TEXT,
    MIN_IMPORTANCE,
    Memory,
    MemoryStore,
    StoreClosed,
)

LOGGER = logging.getLogger(__name__)

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
Importance = Annotated[int, Field(ge=MIN_IMPORTANCE, le=MAX_IMPORTANCE)]


class MemoryConfig(BaseModel):
    """``[plugins.memory]`` in ``config.toml``."""

    model_config = ConfigDict(extra="forbid")

    search: Literal["auto", "fts5", "like"] = Field(
        default="auto",
        description="auto: FTS5 when this Python's SQLite has it, else LIKE; "
        "fts5: require FTS5 (the plugin fails to start without it); like: always LIKE",
    )


class MemoryClient:
    """The client other plugins get from ``ctx.integration("memory.store")``.

    The host runs its methods as the memory plugin, whoever calls them (a dependent holds
    a proxy and gets JSON values back: memories as ``Memory.to_json()`` dictionaries), so
    the caller needs no permission on memory's data folder. ``remember`` and ``forget``
    publish the same events as the tools (source ``memory``).
    """

    def __init__(self, plugin: "MemoryPlugin") -> None:
        self._plugin: MemoryPlugin | None = plugin

    def _owner(self) -> "MemoryPlugin":
        if self._plugin is None:
            raise StoreClosed("the memory.store integration is closed")
        return self._plugin

    def remember(self, text: str, tags: Sequence[str] = (), importance: int = 1) -> dict[str, Any]:
        """Store a memory (see the ``remember`` tool) and return it."""
        return self._owner().store_memory(text, tags, importance).to_json()

    def recall(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        """The best matches for ``query``, best first, each with its ``score``."""
        return [m.to_json() for m in self._owner().store.recall(query, limit)]

    def forget(self, id: int) -> bool:
        """Delete a memory; False when there was none with this id."""
        return self._owner().forget_memory(id)

    def list_memories(self, tag: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first, optionally only those with ``tag``."""
        return [m.to_json() for m in self._owner().store.list_memories(tag, limit)]

    def healthy(self) -> bool:
        return self._plugin is not None and self._plugin.store.healthy()

    def close(self) -> None:
        self._plugin = None


class MemoryPlugin:
    """Hook implementations and tools of the ``memory`` plugin (one instance per load)."""

    def __init__(self) -> None:
        self._store: MemoryStore | None = None
        self._ctx: PluginContext | None = None

    @property
    def store(self) -> MemoryStore:
        if self._store is None:
            raise StoreClosed("the memory plugin is not running (its database is closed)")
        return self._store

    # -- lifecycle ----------------------------------------------------------------------

    @hookimpl
    def jaf_config_schema(self) -> type[BaseModel]:
        return MemoryConfig

    @hookimpl
    def jaf_initialize(self, ctx: PluginContext) -> None:
        """Open (creating on first use) the database in the plugin's data folder."""
        config = ctx.config if isinstance(ctx.config, MemoryConfig) else MemoryConfig()
        self._store = MemoryStore.in_folder(ctx.data_dir, config.search)
        self._ctx = ctx
        ctx.logger.info(
            "memory database %s (%d memories, search: %s)",
            self._store.path,
            self._store.count(),
            self._store.search_mode,
        )

    @hookimpl
    def jaf_deactivate(self, ctx: PluginContext) -> None:
        """Close the database so nothing holds the file once the plugin is stopped."""
        if self._store is not None:
            self._store.close()
            self._store = None

    @hookimpl
    def jaf_integrations(self) -> list[Integration]:
        """``memory.store``: a ``MemoryClient`` for the plugins that depend on memory."""
        return [
            Integration(
                name="store",
                connect=lambda: MemoryClient(self),
                close=lambda client: client.close(),
                health=lambda client: client.healthy(),
                description="remember / recall / forget / list_memories on the agent's memory",
            )
        ]

    @hookimpl
    def jaf_tools(self) -> list[Callable[..., Any]]:
        return [self.remember, self.recall, self.forget, self.list_memories]

    # -- shared by the tools and the integration ---------------------------------------------

    def _emit(self, name: str, data: dict[str, Any]) -> None:
        if self._ctx is None:
            return
        try:
            self._ctx.emit(name, data)
        except RuntimeError as exc:  # no running host (the store used on its own)
            LOGGER.debug("memory: %s not published: %s", name, exc)

    def store_memory(self, text: str, tags: Sequence[str], importance: int) -> Memory:
        memory = self.store.remember(text, tags, importance)
        self._emit("memory.remembered", memory.to_json())
        return memory

    def forget_memory(self, id: int) -> bool:
        forgotten = self.store.forget(id)
        if forgotten:
            self._emit("memory.forgotten", {"id": id})
        return forgotten

    # -- tools ----------------------------------------------------------------------------
    # ``tags: Sequence[str] = ()`` rather than ``list[str] = []``: an immutable default, the
    # same schema ("array of strings", default []), and pydantic refuses a bare string.

    def remember(
        self, text: Text, tags: Sequence[str] = (), importance: Importance = 1
    ) -> dict[str, Any]:
        """Remember a fact, preference or decision for later; returns it with its id.

        Args:
            text: what to remember, in a sentence or two.
            tags: labels to find it by (case-insensitive), e.g. ["user", "preference"].
            importance: 1 (trivia) to 5 (critical); important memories rank higher in recall.
        """
        return self.store_memory(text, tags, importance).to_json()

    def recall(
        self, query: str, limit: Annotated[int, Field(ge=1, le=100)] = 5
    ) -> list[dict[str, Any]]:
        """Search memories by words; best match first (relevance weighted by importance).

        Args:
            query: words to look for in the memories' text and tags.
            limit: at most this many memories.
        """
        return [memory.to_json() for memory in self.store.recall(query, limit)]

    def forget(self, id: int) -> dict[str, Any]:
        """Delete a memory by id; "forgotten" is false when there was no such memory.

        Args:
            id: the memory's id, as returned by remember, recall or list_memories.
        """
        return {"id": id, "forgotten": self.forget_memory(id)}

    def list_memories(
        self, tag: str | None = None, limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 20
    ) -> list[dict[str, Any]]:
        """List memories, newest first, optionally only those with a tag.

        Args:
            tag: only memories with this tag (case-insensitive).
            limit: at most this many memories.
        """
        return [memory.to_json() for memory in self.store.list_memories(tag, limit)]
