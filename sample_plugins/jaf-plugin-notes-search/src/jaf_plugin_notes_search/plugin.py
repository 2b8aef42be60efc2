"""The notes-search plugin's hooks and tools (entry point ``notes-search``).

It depends on the notes plugin (``Requires-Dist: jaf-plugin-notes``), so the host starts
notes first and stops it last. It reads the notes through the ``notes.store``
integration (``ctx.integration("notes.store")``): the notes come as JSON and the host
reads them as the notes plugin, in either isolation mode.

No ``from __future__ import annotations`` here on purpose: the host reads the tools'
annotations at runtime, so they stay real objects rather than strings.
"""

from collections.abc import Callable
from typing import Annotated, Any

from jaf_plugin_notes.store import Note
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
    count = len(ctx.integration("notes.store").all_notes())
    ctx.logger.info(
        "searching %d notes (min_score=%s, snippet_chars=%s)",
        count,
        config.min_score,
        config.snippet_chars,
    )


def _note(data: dict[str, Any]) -> Note:
    return Note(data["id"], data["title"], data["body"], tuple(data["tags"]), data["created"])


def _all_notes(ctx: PluginContext) -> list[Note]:
    return [_note(n) for n in ctx.integration("notes.store").all_notes()]


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
        _all_notes(ctx),
        query,
        limit=limit,
        min_score=config.min_score,
        snippet_chars=config.snippet_chars,
    )


def related(
    id: int, limit: Annotated[int, Field(ge=1, le=100)] = 5, *, ctx: PluginContext
) -> list[dict[str, Any]]:
    """Notes related to the note with this id: sharing tags first, then shared words.

    Args:
        id: the note to find relatives of.
        limit: at most this many notes.
    """
    target = _note(ctx.integration("notes.store").get(id))
    return ranking.related(_all_notes(ctx), target, limit=limit)
