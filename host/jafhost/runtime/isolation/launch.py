"""Run a plugin in a worker process: what the host calls for ``isolation = "process"``.

``start`` boots the worker from a ``WorkerSpec`` and fills the plugin's ``LoadedPlugin``
with proxies (``proxies``); ``stop`` ends it. The host passes what the worker's notices
need as callables (``emit``: deliver an event from the plugin), never itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from jafhost.runtime import lifecycle
from jafhost.runtime.isolation.client import WorkerClient, WorkerError
from jafhost.runtime.isolation.pool import WorkerPool
from jafhost.runtime.isolation.proxies import (
    proxy_integrations,
    proxy_providers,
    proxy_subscriptions,
    proxy_tools,
)
from jafhost.runtime.stats import phases_from
from jafhost.security import guard
from jafhost.security.sandbox import plan

if TYPE_CHECKING:
    from jafhost.runtime.isolation.spec import WorkerSpec
    from jafhost.runtime.lifecycle import LoadedPlugin

LOGGER = logging.getLogger("jafhost")

Emit = Callable[[str, Any], Coroutine[Any, Any, Any]]
"""Deliver event ``name`` with ``data`` on the host, as coming from the plugin."""
Ask = Callable[[dict[str, Any]], Coroutine[Any, Any, Any]]
"""Serve what the worker asks of the host during a request (``WorkerClient.on_ask``)."""


def pool_of(loaded: LoadedPlugin) -> WorkerPool | None:
    """The workers of a process-isolated plugin, or None."""
    found = loaded.extras.get("pool")
    return found if isinstance(found, WorkerPool) else None


def worker_of(loaded: LoadedPlugin) -> WorkerClient | None:
    """The first worker of a process-isolated plugin (the one requests made one after
    another reach), or None."""
    pool = pool_of(loaded)
    return pool.primary if pool is not None else None


def worker_hooks(loaded: LoadedPlugin) -> dict[str, list[str]] | None:
    """The hooks a process-isolated plugin implements, as its worker's start reply said
    (None when it did not say it plainly)."""
    hooks = loaded.extras.get("worker_hooks")
    if not isinstance(hooks, dict):
        return None
    if not all(
        isinstance(name, str) and isinstance(args, list) and all(isinstance(a, str) for a in args)
        for name, args in hooks.items()
    ):
        return None
    return {name: list(args) for name, args in hooks.items()}


def worker_plain_tools(loaded: LoadedPlugin) -> dict[str, Any]:
    """Tool name -> plain parameters, as a process-isolated plugin's worker read them."""
    found = loaded.extras.get("worker_plain")
    return dict(found) if isinstance(found, dict) else {}


def predicted(spec: WorkerSpec) -> list[str]:
    """The protections a worker for this spec would get here (no plugin code runs)."""
    return plan(spec.sandbox(spec.effective_grants()))


def protections(loaded: LoadedPlugin | None) -> list[str] | None:
    """What is in force for a running plugin (None if it has no worker)."""
    if loaded is None:
        return None
    worker = worker_of(loaded)
    if worker is None:
        return None
    return list(worker.protections or loaded.extras.get("protections", []))


def _on_notice(loaded: LoadedPlugin, emit: Emit | None) -> Callable[[dict[str, Any]], None]:
    tasks: set[asyncio.Task[Any]] = set()

    def notice(message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "denied":  # the guard in the worker refused something: tell our listeners
            guard.report_denial(
                loaded.identity, str(message.get("permission")), str(message.get("action"))
            )
        elif op == "emit" and emit is not None:
            task = asyncio.get_running_loop().create_task(
                emit(str(message.get("name")), message.get("data"))
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    return notice


def _record_schema(spec: WorkerSpec, schema: Any) -> None:
    if schema is not None and spec.schema_file is not None:
        model = SimpleNamespace(model_json_schema=lambda: schema)
        lifecycle._record_schema(spec.schema_file, model)


async def start(
    spec: WorkerSpec,
    loaded: LoadedPlugin,
    emit: Emit | None = None,
    ask: Ask | None = None,
    ready: WorkerClient | None = None,
) -> None:
    """Start ``loaded`` in a new worker (or adopt ``ready``, a worker already started
    from ``spec``: a reload's new version); on failure it is left ``broken`` with the
    reason. More workers start as calls need them (``pool``)."""
    pool = WorkerPool(spec, _on_notice(loaded, emit), ask)
    worker = ready or pool.new_worker()
    pool.adopt(worker)
    loaded.extras["pool"] = pool
    loaded.extras["worker"] = worker

    def broken(reason: str) -> None:
        loaded.status, loaded.error = "broken", reason

    pool.record.on_broken = broken
    try:
        reply = worker.started if ready is not None else await worker.boot()
    except WorkerError as exc:
        loaded.status, loaded.error = "broken", str(exc)
        return
    except Exception as exc:  # could not even spawn it (no such interpreter, no fds...)
        loaded.status, loaded.error = "broken", f"cannot start a worker process: {exc}"
        return
    try:
        _adopt(spec, pool, loaded, reply)
    except Exception as exc:  # the reply is the worker's, so the plugin's, to shape
        from jafhost.errors import describe

        worker.kill()
        loaded.tools, loaded.agents, loaded.subscriptions = [], [], []
        loaded.status = "broken"
        loaded.error = f"its worker's start reply is malformed ({describe(exc, first_line=True)})"


async def prestart(spec: WorkerSpec) -> tuple[WorkerClient | None, str | None]:
    """A worker running the plugin's current code, started beside any that serves it
    now: the worker, or None and why it did not start (a reload keeps the old one then)."""
    worker = WorkerClient(spec)
    try:
        reply = await worker.boot()
    except WorkerError as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"cannot start a worker process: {exc}"
    if not isinstance(reply, dict) or reply.get("status") != "active":
        worker.kill()
        error = reply.get("error") if isinstance(reply, dict) else None
        return None, str(error or "the plugin did not start in its worker")
    return worker, None


def _adopt(spec: WorkerSpec, pool: WorkerPool, loaded: LoadedPlugin, reply: Any) -> None:
    """Take what the worker's start reply says the plugin offers; raises on any reply a
    well-behaved worker never sends (plugin code in the worker can shape it)."""
    worker = pool.slots[0]
    if not isinstance(reply, dict):
        raise TypeError(f"expected an object, not {type(reply).__name__}")
    loaded.extras["protections"] = list(worker.protections)
    warnings = reply.get("warnings", [])
    if not isinstance(warnings, list):
        raise TypeError("warnings must be a list")
    loaded.warnings = [str(w) for w in warnings]
    loaded.phases = {**phases_from(reply.get("phases")), "worker": worker.ready_seconds or 0.0}
    _record_schema(spec, reply.get("config_schema"))
    if reply.get("status") != "active":
        worker.kill()
        loaded.status = "broken"
        loaded.error = str(reply.get("error") or "the plugin did not start in its worker")
        loaded.traceback = reply.get("traceback")
        return
    for note in reply.get("notes", []):
        LOGGER.warning("plugin %s (process isolation): %s", loaded.name, note)
    loaded.extras["worker_hooks"] = reply.get("hooks")
    loaded.extras["worker_plain"] = {
        str(t.get("name")): t.get("plain")
        for t in reply.get("tools", [])
        if isinstance(t, dict) and isinstance(t.get("plain"), dict)
    }
    tools = proxy_tools(pool, list(reply.get("tools", [])))
    agents, problems = lifecycle.agents_from_data(reply.get("agents", []))
    if problems:  # checked in the worker already: only a forged reply has any
        raise ValueError(f"agents: {problems[0]}")
    patterns = list(reply.get("subscriptions", []))
    subscriptions = proxy_subscriptions(pool, patterns) if patterns else []
    loaded.tools, loaded.agents, loaded.subscriptions = tools, agents, subscriptions
    loaded.integrations = proxy_integrations(pool, list(reply.get("integrations", [])))
    loaded.providers = proxy_providers(pool, list(reply.get("providers", [])))
    loaded.status, loaded.error = "active", None


async def stop(loaded: LoadedPlugin, timeout: float) -> None:
    """Deactivate the plugin in its worker and end the worker (the host then clears
    ``loaded`` with ``lifecycle.stop`` as for any plugin)."""
    pool = pool_of(loaded)
    if pool is None:
        return
    problem = await pool.stop(timeout)
    if problem:
        LOGGER.warning("plugin %s: %s", loaded.name, problem)
