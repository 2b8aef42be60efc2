"""Lazy activation: stand-ins for what a recorded plugin offers, and starts that happen
once however many first uses arrive together.

A plugin whose contributions are recorded (``activation_records``) is not started with
the host: its tools enter the catalog as ``recorded_tools`` (their schema known, their
code not loaded), its event patterns as ``recorded_subscriptions`` (a handler that
starts the plugin, then delivers), its agents as ``recorded_agents``. The first use
starts it through ``Flights``: one task per plugin, joined by every caller that needs
it meanwhile, so two concurrent first uses start it once.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from jafhost.runtime.events import subscriptions
from jafhost.tools import Tool
from jafhost.types import AgentSpec

if TYPE_CHECKING:
    from jafhost.runtime.activation_records import ActivationRecord
    from jafhost.runtime.events import Subscription
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.types import Event

RECORDED = "recorded"
"""``Tool.extras`` key marking a catalog entry whose plugin has not started yet."""
STEPS = (
    "import",
    "register",
    "config",
    "jaf_initialize",
    "jaf_integrations",
    "jaf_activate",
    "jaf_tools",
    "jaf_agents",
    "jaf_model_providers",
    "jaf_event_handlers",
)
"""The steps of a start, as ``lifecycle.start`` names them in its errors."""

Deliver = Callable[[str, str, "Event"], Awaitable[None]]
"""``deliver(plugin, pattern, event)``: start ``plugin``, then run its handlers for
``pattern``."""


class NotStarted:
    """The validator of a recorded tool: never used (the router starts the plugin and
    takes its real tool before validating)."""

    def validate_python(self, data: Any) -> Any:
        raise RuntimeError("the plugin of this tool has not started")


def _not_started(**_arguments: Any) -> Any:
    raise RuntimeError("the plugin of this tool has not started")


def recorded_tools(plugin: str, record: ActivationRecord) -> list[Tool]:
    """Catalog entries for a recorded plugin's tools: name, description, schema and
    ``confirm`` as recorded; calling one starts the plugin first (``ToolRouter``)."""
    return [
        Tool(
            plugin=plugin,
            name=item.name,
            description=item.description,
            input_schema=item.input_schema,
            function=_not_started,
            validator=NotStarted(),
            is_async=item.is_async,
            confirm=item.confirm,
            extras={RECORDED: True},
        )
        for item in record.tools
    ]


def is_recorded(tool: Tool) -> bool:
    return bool(tool.extras.get(RECORDED))


def recorded_subscriptions(
    plugin: str, record: ActivationRecord, deliver: Deliver
) -> list[Subscription]:
    """One stand-in handler per recorded pattern: it starts the plugin and hands the
    event to the plugin's own handlers for that pattern."""
    subs: list[Subscription] = []
    for pattern in record.patterns:

        async def handler(event: Any, _pattern: str = pattern) -> None:
            await deliver(plugin, _pattern, event)

        handler.__jaf_recorded__ = True  # type: ignore[attr-defined]
        subs.extend(subscriptions(plugin, {pattern: handler}))
    return subs


def is_recorded_handler(handler: Any) -> bool:
    return getattr(handler, "__jaf_recorded__", False) is True


def recorded_agents(record: ActivationRecord) -> list[AgentSpec]:
    """The agents a record holds, each checked again as ``AgentSpec`` (a bad one is
    left out: the record is a file anything that writes the home can edit)."""
    from jafhost.runtime.lifecycle import agents_from_data

    return agents_from_data([dict(a) for a in record.agents])[0]


def failed_step(error: str | None) -> str:
    """The step a failed start names first in its error (``start`` when none does)."""
    text = error or ""
    for step in STEPS:
        if text.startswith((f"{step} ", f"{step}:")):
            return step
    if "worker" in text:
        return "worker"
    return "start"


class Flights:
    """Starts in flight, one task per plugin: a second caller joins the first's task."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[LoadedPlugin]] = {}

    def get(self, name: str) -> asyncio.Task[LoadedPlugin] | None:
        task = self._tasks.get(name)
        return task if task is not None and not task.done() else None

    def begin(
        self, name: str, start: Callable[[], Coroutine[Any, Any, LoadedPlugin]]
    ) -> asyncio.Task[LoadedPlugin]:
        """The task starting ``name``: the one in flight, else a new one (in a fresh
        context: a start is host work, whoever's code asked for it)."""
        task = self.get(name)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                start(), name=f"jafhost start {name}", context=contextvars.Context()
            )
            self._tasks[name] = task
            task.add_done_callback(lambda done: self._forget(name, done))
        return task

    def _forget(self, name: str, task: asyncio.Task[LoadedPlugin]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if not task.cancelled():
            task.exception()  # retrieved: a start's failure is in its LoadedPlugin

    def pending(self) -> dict[str, asyncio.Task[LoadedPlugin]]:
        return {name: task for name, task in self._tasks.items() if not task.done()}
