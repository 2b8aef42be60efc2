"""``jafhost call``'s lane for a process-isolated plugin: its recorded plain tool called
in a one-shot worker (``one_shot_call``), the result or error shaped as ``Host.call``
gives it.

The worker's spec is the one a host builds for the plugin (``spec.plugin_spec``, from
the same ``[host]`` limits, grants, operator ceiling, config table and recorded
schemas), so the sandbox, the environment and the limits are those a pool worker gets.
Errors take the full path's own shaping (``dispatch.error_from_exception``, imported
when one happens) and a time limit reads ``timed out after N s`` as the router says it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from jafhost.errors import HookTimeout

if TYPE_CHECKING:
    from jafhost.discovery.records import PluginInfo
    from jafhost.home.paths import HomeLayout
    from jafhost.runtime.isolation.one_shot_call import Early
    from jafhost.runtime.isolation.spec import WorkerSpec
    from jafhost.security.ceiling import Ceiling
    from jafhost.types import CallResult


class LaneTool(Protocol):
    """The planned tool: its name and its plain parameters."""

    @property
    def name(self) -> str: ...

    @property
    def plain(self) -> dict[str, Any] | None: ...


class LanePlan(Protocol):
    """What the lane decided (``cli.oneshot.Plan``) that a call here reads."""

    layout: HomeLayout
    info: PluginInfo
    hook_timeout: float
    call_timeout: float
    ceiling: Ceiling
    early: Early | None

    @property
    def tool(self) -> LaneTool: ...


class _Named:
    """What the full path's error shaping reads of a tool."""

    def __init__(self, plugin: str, name: str) -> None:
        self.plugin = plugin
        self.name = name

    @property
    def full_name(self) -> str:
        return f"{self.plugin}.{self.name}"


def lane_spec(plan: LanePlan) -> WorkerSpec:
    """The plugin's ``WorkerSpec`` as a host builds it (``Runtime.worker_spec``): the
    settings of ``config.toml`` (plainly valid, as the lane checked), the grants in the
    state, the ceiling and its config table. Without its record's tool schemas
    (``known_schemas``): they tell a pool worker which models to build later, and the
    one-shot worker builds none (it calls a plain tool; its ``init`` carries no
    schemas), so the record is not read again here."""
    import tomllib

    from jafhost.home.config_fast import fast_settings
    from jafhost.home.plugin_tables import plugin_config_table
    from jafhost.home.state import StateStore
    from jafhost.runtime.isolation.spec import plugin_spec
    from jafhost.safe_read import CONFIG_LIMIT, read_text

    layout, info = plan.layout, plan.info
    try:
        table = tomllib.loads(read_text(layout.config, CONFIG_LIMIT))
    except FileNotFoundError:
        table = {}
    settings = fast_settings(table.get("host", {}))
    store = StateStore(layout)

    def grants() -> list[str]:
        return store.load().grants_of(info)

    config = plugin_config_table(table, info.name, os.environ)
    return plugin_spec(layout, info, settings, plan.hook_timeout, plan.ceiling, grants, config)


Answered = TypeVar("Answered")


def _call_result(tool: str, value: Any) -> CallResult:
    from jafhost.types import CallResult

    return CallResult(tool, True, result=value)


@overload
def serve_isolated(
    plan: LanePlan, arguments: Any, trace: Callable[..., None]
) -> CallResult | None: ...


@overload
def serve_isolated(
    plan: LanePlan,
    arguments: Any,
    trace: Callable[..., None],
    answer: Callable[[str, Any], Answered],
) -> CallResult | Answered | None: ...


def serve_isolated(
    plan: LanePlan,
    arguments: Any,
    trace: Callable[..., None],
    answer: Callable[[str, Any], Any] = _call_result,
) -> Any:
    """Call the planned tool in a one-shot worker: ``answer(tool, result)`` when it
    succeeded (a ``CallResult`` unless the caller reads less of one: ``jafhost.types``
    is then imported only for an error), the error as ``Host.call`` gives it, or None
    (after ``trace`` says why) when the full path must serve."""
    from jafhost.runtime.isolation import one_shot_call, zygote_switch

    early, plan.early = plan.early, None  # ended by ``call``, or here
    zygote_switch.one_shot()  # its one worker is spawned: a zygote would cost more
    try:
        spec = lane_spec(plan)
    except BaseException:
        if early is not None:
            early.end()
        raise
    if spec.zygote:  # workers forked from a zygote: the pool's way, not this one
        if early is not None:
            early.end()
        trace("full", "workers are forked from a zygote (JAFHOST_WORKER_ZYGOTE=1)")
        return None
    identity = plan.info.name
    tool = plan.tool.name
    full_name = f"{identity}.{tool}"
    try:
        outcome = one_shot_call.call(
            spec, identity, tool, plan.tool.plain, arguments, plan.call_timeout, early
        )
    except HookTimeout:
        from jafhost.types import CallError, CallResult

        trace("lane")
        error = CallError(
            "timeout",
            f"timed out after {float(plan.call_timeout)} s",
            tool=full_name,
            plugin=identity,
        )
        return CallResult(full_name, False, error=error)
    except Exception as exc:
        from jafhost.runtime.dispatch import error_from_exception
        from jafhost.types import CallResult

        trace("lane")
        named: Any = _Named(identity, tool)  # all the shaping reads of a tool
        return CallResult(full_name, False, error=error_from_exception(named, exc))
    if isinstance(outcome, one_shot_call.HandOver):
        trace("full", f"handed over by the worker: {outcome.why}")
        return None
    trace("lane")
    return answer(full_name, outcome.value)
