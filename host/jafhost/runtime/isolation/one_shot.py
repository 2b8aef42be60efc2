"""The one-shot worker of ``jafhost call``: one plain tool of a process-isolated plugin,
called once in a sandboxed process that then exits.

It is started like a pool worker (``spawn``: ``python -I -S``, the import gate, the same
environment) and takes the same steps before ``ready`` (``worker.prepare``: the process
tree bound, the sandbox applied, the guard armed with every thread the plugin's, the
site folders processed under them). Then, instead of serving requests, it reads one
``call`` and, under the plugin's identity, imports the plugin, registers it (its hook
names checked), runs ``jaf_tools`` and finds the tool, each within ``hook_timeout``.
Should the plugin not be what its record says (other hooks, a tool no longer plain) or
fail to start, it answers ``handover`` and exits: the host then serves the call by the
full path, with a pool worker that starts the plugin and reports what happens as it
always does. Else it answers ``calling``, calls the tool (arguments of exactly the plain
types as they are; others through the tool's real pydantic validation, imported then),
sends one ``result`` and exits, ending every process the plugin started.

Plain data goes both ways as JSON by the standard library (``JsonChannel``): no
pydantic, pydantic_core or asyncio is imported for a plain tool. The host kills the
whole process tree at the call's time limit (``one_shot_call``).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from jafhost.runtime.isolation.exits import EXIT_MEMORY
from jafhost.runtime.isolation.protocol import FrameTooLarge, JsonChannel, frame
from jafhost.runtime.isolation.worker import Prepared, prepare, too_large

PRELOAD = (
    "jafhost.discovery.records",
    "jafhost.runtime.plugin_import",
    "jafhost.runtime.plain_params",
    "jafhost.runtime.scope",
)
"""jafhost's modules a one-shot call needs, imported while the worker waits for
``init`` (``worker.prepare``): standard library and jafhost only, nothing of the plugin."""

WHILE_WAITING = (
    "jafhost.runtime.recorded_start",
    "jafhost.security.sandbox.process_tree",
    "jafhost.security.sandbox.features",
    "jafhost.security.sandbox.mounts",
    "jafhost.security.guard_calls",
    "jafhost.security.guard_environ",
    "jafhost.security.guard_exit",
    "jafhost.security.guard_readline",
    "jafhost.security.guard_sqlite",
)
"""What the steps after ``init`` import (the process tree's containment, the sandbox's
steps, the guard's wrappers, the recorded start), imported before it only while the host
has not sent it yet (``worker._preload``): time the worker would spend waiting, taken
off the steps every call waits for. The same kind of modules as ``PRELOAD``."""


class HandOver(Exception):
    """The plugin is not what its record says, or it did not start: the host's full
    path serves the call."""


def _in_time(seconds: float, label: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a daemon thread (attributed to the plugin, as every thread here)
    joined within ``seconds``; ``HandOver`` when it does not finish or fails."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=body, name="jafhost-one-shot", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise HandOver(f"{label} did not finish within {seconds:g} s")
    if "error" in outcome:
        raise HandOver(f"{label} failed: {type(outcome['error']).__name__}")
    return outcome["value"]


def _start(done: Prepared, message: dict[str, Any]) -> Any:
    """The tool's function, found as recorded (else ``HandOver``)."""
    from jafhost.discovery.records import PluginInfo
    from jafhost.runtime.plugin_import import import_object
    from jafhost.runtime.recorded_start import find_tool, tools_hook

    info = PluginInfo.from_json(done.init["info"])
    limit = float(message.get("hook_timeout") or 10.0)
    step = f"plugin {info.name}:"
    obj = _in_time(limit, f"{step} import", import_object, info.entry_point)
    done.marks["import"] = time.perf_counter()
    hook = _in_time(limit, f"{step} register", tools_hook, info.name, obj)
    done.marks["register"] = time.perf_counter()
    functions = _in_time(limit, f"{step} jaf_tools", hook)
    fn, facts = _in_time(limit, f"{step} jaf_tools", find_tool, functions, message["tool"])
    done.marks["jaf_tools"] = time.perf_counter()
    if facts is None or facts != message.get("plain"):
        raise HandOver("its tool changed")
    return fn, facts


def _call(plugin: str, fn: Any, facts: Any, arguments: Any) -> dict[str, Any]:
    """The call's reply: ``ok`` and the result as plain data, or the ``invalid`` error
    of the tool's real validation (as a pool worker answers)."""
    import inspect

    from jafhost.runtime.plain_params import fits_exactly
    from jafhost.runtime.scope import plain

    if fits_exactly(facts, arguments):
        kwargs = dict(arguments)
    else:  # the real validation, as a pool worker's call makes it
        from jafhost.runtime.dispatch import validate
        from jafhost.tools import build_tool
        from jafhost.types import CallError

        checked = validate(build_tool(plugin, fn), arguments)
        if isinstance(checked, CallError):
            return {"ok": False,
                    "error": {"kind": "invalid", "message": checked.message,
                              "fields": checked.fields}}  # fmt: skip
        kwargs = checked
    value = fn(**kwargs)
    if inspect.isawaitable(value):  # a sync function that handed back an awaitable
        import asyncio

        async def awaited() -> Any:
            return await value

        value = asyncio.new_event_loop().run_until_complete(awaited())
    return {"ok": True, "result": plain(value)}


def _reply(done: Prepared, reply: dict[str, Any]) -> None:
    """Send the one result; one over ``max_result_mb`` is refused here, as by a pool
    worker."""
    channel, plugin = done.channel, done.spec.plugin
    reply["op"] = "result"
    try:
        channel.send(reply)
    except FrameTooLarge:
        error = {"kind": "coded", "code": "tool_error", "message": too_large(plugin, channel.limit)}
        channel.send({"op": "result", "ok": False, "error": error})
    except (TypeError, ValueError) as exc:  # a result that cannot be encoded
        from jafhost.runtime.isolation.protocol import error_to_json

        channel.send({"op": "result", "ok": False, "error": error_to_json(exc, False)})


def _serve(done: Prepared) -> None:
    from jafhost.security.sandbox import arm_cpu

    message = done.channel.receive()
    if not isinstance(message, dict) or message.get("op") != "call":
        return
    arm_cpu(done.spec.cpu_seconds)
    try:
        fn, facts = _start(done, message)
    except HandOver as exc:
        done.channel.send({"op": "handover", "why": str(exc)})
        return
    done.channel.send({"op": "calling"})
    arm_cpu(done.spec.cpu_seconds)  # the call's own budget, as a pool worker's request has
    try:
        reply = _call(done.spec.plugin, fn, facts, message.get("args"))
    except MemoryError:
        limit = done.spec.memory_mb
        text = f'{{"op": "result", "ok": false, "error": {{"kind": "memory", "message": "memory limit of {limit} MB reached"}}}}'  # noqa: E501
        done.channel.send_bytes(frame(text.encode()))
        _exit(done, EXIT_MEMORY)
    except BaseException as exc:
        from jafhost.runtime.isolation.protocol import error_to_json
        from jafhost.runtime.scope import host_error

        reply = {"ok": False, "error": error_to_json(host_error(exc))}
    done.marks["called"] = time.perf_counter()
    reply["marks"] = {k: v - done.started for k, v in done.marks.items()}
    try:
        _reply(done, reply)
    except MemoryError:
        _exit(done, EXIT_MEMORY)


def _exit(done: Prepared, status: int) -> None:
    """End the worker, and every process the plugin started, now."""
    try:
        done.tree.end()
    finally:
        os._exit(status)


class _Denials:
    """Sends each denial of the guard to the host as a ``denied`` notice (the guard
    holds its listeners weakly: ``main`` keeps this one)."""

    def __init__(self, done: Prepared) -> None:
        self.channel = done.channel

    def denied(self, plugin: str, permission: str, action: str) -> None:
        self.channel.send(
            {"op": "denied", "plugin": plugin, "permission": permission, "action": action}
        )


def main() -> None:
    listeners: list[_Denials] = []

    def on_denied(done: Prepared) -> None:  # under the sandbox and the guard
        from jafhost.security import guard

        listeners.append(_Denials(done))
        guard.on_denied(listeners[0].denied)

    done = prepare(None, JsonChannel, on_denied, PRELOAD, WHILE_WAITING)
    done.channel.send(done.ready())
    try:
        _serve(done)
    finally:
        _exit(done, 0)


if __name__ == "__main__":
    main()
