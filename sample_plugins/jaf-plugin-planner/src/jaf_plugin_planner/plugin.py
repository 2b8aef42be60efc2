"""The planner plugin's hook implementations and tools (entry point ``planner``).

The plan lives in ``plan.json`` in the plugin's data folder and is read and written per
call (under a lock, atomically), so the plugin holds nothing open and needs no set-up or
shut-down: tools find the file through their injected ``PluginContext``. Every change
publishes ``plan.updated`` so other plugins (a UI, an audit trail) can follow the plan.

No ``from __future__ import annotations`` here on purpose: the host reads the tools'
annotations at run time, so they stay real objects rather than strings.
"""

import logging
from collections.abc import Callable
from typing import Annotated, Any

from jafhost import PluginContext, hookimpl
from pydantic import BaseModel, ConfigDict, Field

from jaf_plugin_planner.store import PlanStore, Status, Task

LOGGER = logging.getLogger(__name__)
EVENT = "plan.updated"


class PlannerConfig(BaseModel):
    """``[plugins.planner]`` in ``config.toml``."""

    model_config = ConfigDict(extra="forbid")

    max_tasks: int = Field(
        default=200, ge=1, le=10_000, description="add_task is refused once the plan has this many"
    )


@hookimpl
def jaf_config_schema() -> type[BaseModel]:
    return PlannerConfig


@hookimpl
def jaf_tools() -> list[Callable[..., Any]]:
    return [add_task, update_task, list_tasks, clear_done]


def _store(ctx: PluginContext) -> PlanStore:
    config = ctx.config if isinstance(ctx.config, PlannerConfig) else PlannerConfig()
    return PlanStore.in_folder(ctx.data_dir, config.max_tasks)


def _publish(ctx: PluginContext, data: dict[str, Any]) -> None:
    """``plan.updated``, sent once the plan file is written and its lock released."""
    try:
        ctx.emit(EVENT, data)
    except RuntimeError as exc:  # no running host to deliver it
        LOGGER.debug("planner: %s not published: %s", EVENT, exc)


def _changed(ctx: PluginContext, store: PlanStore, action: str, **data: Any) -> None:
    _publish(ctx, {"action": action, **data, "counts": store.load().counts()})


# -- tools -------------------------------------------------------------------------------


def add_task(
    title: Annotated[str, Field(min_length=1, max_length=200)],
    details: Annotated[str, Field(max_length=4000)] = "",
    after: Annotated[int | None, Field(ge=0)] = None,
    *,
    ctx: PluginContext,
) -> dict[str, Any]:
    """Add a step to the plan and return it (new tasks start as "todo").

    Args:
        title: what to do, in a few words.
        details: anything worth knowing to do it.
        after: put it right after this task id (0: at the top); by default at the end.
    """
    store = _store(ctx)
    task = store.add(title, details, after)
    _changed(ctx, store, "added", task=task.to_json(history=False))
    return task.to_json()


def update_task(
    id: int,
    status: Status,
    note: Annotated[str, Field(max_length=2000)] = "",
    *,
    ctx: PluginContext,
) -> dict[str, Any]:
    """Set a task's status (todo, doing, done or blocked), with an optional note.

    Args:
        id: the task's id, as returned by add_task or list_tasks.
        status: the new status.
        note: why, or what came out of it (kept in the task's history).
    """
    store = _store(ctx)
    task = store.update(id, status, note)
    _changed(ctx, store, "updated", task=task.to_json(history=False))
    return task.to_json()


def list_tasks(status: Status | None = None, *, ctx: PluginContext) -> dict[str, Any]:
    """The plan in order, with how many tasks have each status.

    Args:
        status: only tasks with this status.
    """
    plan = _store(ctx).load()
    tasks: list[Task] = [t for t in plan.tasks if status is None or t.status == status]
    return {"tasks": [t.to_json(history=False) for t in tasks], "counts": plan.counts()}


def clear_done(*, ctx: PluginContext) -> dict[str, Any]:
    """Remove the finished ("done") tasks from the plan; returns their ids."""
    store = _store(ctx)
    removed = store.clear_done()
    if removed:
        _changed(ctx, store, "cleared", removed=removed)
    return {"removed": removed, "counts": store.load().counts()}
