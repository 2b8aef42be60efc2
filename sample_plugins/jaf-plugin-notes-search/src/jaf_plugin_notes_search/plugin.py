"""The notes-search plugin's hooks and tools (entry point ``notes-search``).

It depends on the notes plugin (``Requires-Dist: jaf-plugin-notes``), so the host starts
notes first and stops it last. It reads notes through ``active_store()``: a stop-gap
until the host wires ``ctx.integration``, after which notes would offer its store as an
integration and this plugin would ask ``ctx.integration("notes.store")`` for it.

No ``from __future__ import annotations`` here on purpose: the host reads the tools'
annotations at runtime, so they stay real objects rather than strings.
"""

from collections.abc import Callable
from typing import Annotated, Any

from jaf_plugin_notes.store import active_store
from jafhost import PluginContext, hookimpl
from pydantic import BaseModel, ConfigDict, Field

from jaf_plugin_notes_search import ranking


class SearchConfig(BaseModel):
    """``[plugins.notes-search]`` in jafhost's ``config.toml``.

    ``extra="forbid"`` so a misspelt key is reported instead of silently ignored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_score: float = Field(
        default=0.0, ge=0.0, description="Leave out results scoring below this."
    )
    snippet_chars: int = Field(
        default=80,
        ge=20,
        le=2000,
        description="About how many characters of context each result shows.",
    )


def settings(ctx: PluginContext) -> SearchConfig:
    """The validated config; defaults when the plugin runs without one (direct calls)."""
    config = ctx.config
    return config if isinstance(config, SearchConfig) else SearchConfig()


@hookimpl
def jaf_config_schema() -> type[BaseModel]:
    return SearchConfig


@hookimpl
def jaf_initialize(ctx: PluginContext) -> None:
    """Check the notes store is reachable now, so a problem shows as this plugin being
    broken at start-up with a clear reason, rather than as failing tool calls later."""
    config = settings(ctx)
    store = active_store()
    ctx.logger.info(
        "searching %s (min_score=%s, snippet_chars=%s)",
        store.path,
        config.min_score,
        config.snippet_chars,
    )


@hookimpl
def jaf_tools() -> list[Callable[..., Any]]:
    """``search`` (which reads the config from its injected context) and ``related``."""
    return [search, related]


# -- tools -------------------------------------------------------------------------------


def search(
    query: Annotated[str, Field(min_length=1)],
    limit: Annotated[int, Field(ge=1, le=100)] = 10,
    *,
    ctx: PluginContext,
) -> list[dict[str, Any]]:
    """Full-text search over the notes' titles, bodies and tags, best match first.

    Each result has the note's id, title, tags, a relevance score and a snippet of the
    body around the first match. Words of 3+ letters also match as prefixes.

    Args:
        query: the words to look for.
        limit: at most this many results.
    """
    config = settings(ctx)
    return ranking.search(
        active_store().all_notes(),
        query,
        limit=limit,
        min_score=config.min_score,
        snippet_chars=config.snippet_chars,
    )


def related(id: int, limit: Annotated[int, Field(ge=1, le=100)] = 5) -> list[dict[str, Any]]:
    """Notes related to the note with this id: sharing tags first, then shared words.

    Args:
        id: the note to find relatives of.
        limit: at most this many notes.
    """
    store = active_store()
    return ranking.related(store.all_notes(), store.get(id), limit=limit)
