"""The notes plugin's hook implementations and tools (entry point ``notes``).

The database is opened in ``jaf_initialize`` and closed in ``jaf_deactivate``: the host
calls both exactly once per load, so no connection outlives the plugin. Tools are plain
typed functions: jafhost builds each tool's schema from the hints and the docstring and
injects the ``PluginContext`` parameter, which tools use to find this plugin's database.

No ``from __future__ import annotations`` here on purpose: the host reads the tools'
annotations at runtime, so they stay real objects rather than strings.
"""

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from jafhost import Integration, PluginContext, hookimpl
from pydantic import Field

from jaf_plugin_notes import store


@hookimpl
def jaf_initialize(ctx: PluginContext) -> None:
    """Open (creating on first use) the notes database in the plugin's data folder."""
    opened = store.open_store(ctx.data_dir)
    ctx.logger.info("notes database %s (%d notes)", opened.path, opened.count())


@hookimpl
def jaf_deactivate(ctx: PluginContext) -> None:
    """Close the database so nothing holds the file once the plugin is stopped."""
    store.close_store(ctx.data_dir)


class NotesClient:
    """What plugins that depend on notes reach as ``notes.store``: the notes as JSON
    (``Note.to_json()``). The host runs its methods as the notes plugin, whoever calls."""

    def __init__(self, data_dir: Any) -> None:
        self._data_dir = data_dir

    def all_notes(self) -> list[dict[str, Any]]:
        """Every note, newest first."""
        return [note.to_json() for note in store.store_at(self._data_dir).all_notes()]

    def get(self, id: int) -> dict[str, Any]:
        """One note by id; ``NoteNotFound`` if there is none."""
        return store.store_at(self._data_dir).get(id).to_json()


@hookimpl
def jaf_integrations(ctx: PluginContext) -> list[Integration]:
    """``notes.store``: read access to the notes for the plugins that depend on notes."""
    folder = ctx.data_dir
    return [
        Integration(
            name="store",
            connect=lambda: NotesClient(folder),
            description="all_notes() and get(id): the notes as JSON",
        )
    ]


@hookimpl
def jaf_tools() -> list[Callable[..., Any]]:
    """The four note tools; each finds the database through its injected context."""
    return [add, get, list_notes, delete]


# -- tools -------------------------------------------------------------------------------
# ``tags: Sequence[str] = ()`` rather than ``list[str] = []``: the default is immutable, the
# schema is still "array of strings", and pydantic refuses a bare string for it.
# ``Field`` constraints go into the tool schema, so an agent sees the limits up front; the
# store checks them again because it is also used without a host.


def add(
    title: Annotated[str, Field(min_length=1)],
    body: str,
    tags: Sequence[str] = (),
    *,
    ctx: PluginContext,
) -> dict[str, Any]:
    """Save a new note and return it with its id and creation time.

    Args:
        title: a short, non-empty title.
        body: the note's text.
        tags: labels to find the note by later (case-insensitive).
    """
    return store.store_at(ctx.data_dir).add(title, body, tags).to_json()


def get(id: int, *, ctx: PluginContext) -> dict[str, Any]:
    """Return one note (title, body, tags, created) by its id.

    Args:
        id: the note's id, as returned by add or list_notes.
    """
    return store.store_at(ctx.data_dir).get(id).to_json()


def list_notes(
    tag: str | None = None,
    limit: Annotated[int, Field(ge=1, le=store.MAX_LIMIT)] = 20,
    *,
    ctx: PluginContext,
) -> list[dict[str, Any]]:
    """List notes, newest first, optionally only those carrying a tag.

    Args:
        tag: only notes with this tag (case-insensitive).
        limit: at most this many notes.
    """
    notes = store.store_at(ctx.data_dir).list_notes(tag=tag, limit=limit)
    return [note.to_json() for note in notes]


def delete(id: int, *, ctx: PluginContext) -> dict[str, Any]:
    """Delete a note by id; "deleted" is false when no such note existed.

    Args:
        id: the note's id.
    """
    return {"id": id, "deleted": store.store_at(ctx.data_dir).delete(id)}
