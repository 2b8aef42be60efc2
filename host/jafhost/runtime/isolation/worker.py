"""The worker process of a process-isolated plugin: ``python -I -S -c BOOT``, ``BOOT``
setting the ``sys.path`` the host computed and calling ``main`` (``-I -S``: no ``site``
processing, so no ``.pth`` file runs before the sandbox; ``client.BOOT``).

``main`` reads the ``init`` message from the pipe pair the host passed
(``JAFHOST_WORKER_FDS``), binds every process the plugin may start to the worker
(``process_tree.contain``: a PID namespace, else a child subreaper), applies the sandbox
(``jafhost.security.sandbox.apply``), arms the audit guard with every thread attributed
to the plugin, processes the host's site folders (their ``.pth`` files run sandboxed,
as the plugin) and answers ``ready``;
``WorkerProcess`` then starts the plugin exactly as in process (``lifecycle.start``) and
serves the host's requests (``start``, ``call``, ``event``, ``hook``, ``ping``,
``stop``) one at a time, with ``emit`` and ``denied`` notices in between.
The conversation: docs/architecture.md, "The worker conversation".

Imports follow the start, not the module top: at the top only what reads ``init`` (the
standard library, ``exits``, ``protocol``); in ``main`` the sandbox, applied, then the
guard, pydantic and the plugin record under it; the runtime (asyncio, pluggy, the
lifecycle, dispatch) only with the requests that need it, after ``ready``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from jafhost.runtime.isolation.exits import EXIT_MEMORY
from jafhost.runtime.isolation.protocol import MB, Channel, FrameTooLarge, error_to_json, frame


class WorkerProcess:
    """The plugin, started in this process, and the requests the host sends it."""

    def __init__(self, channel: Channel, name: str, spec: Any, info: Any) -> None:
        self.channel = channel
        self.name = name
        self.spec = spec
        self.info = info
        self._loop: Any = None
        self.pm: Any = None
        self.loaded: Any = None
        self.tools: dict[str, Any] = {}
        self.hook_timeout = 10.0
        self.cpu_seconds = spec.cpu_seconds
        self.before_exit: Any = None
        """Called before the worker exits (kills the descendants a subreaper holds)."""

    @property
    def loop(self) -> Any:
        """The worker's event loop, for async plugin code (asyncio is imported after the
        worker reported ready: the plugin's start needs it, the sandbox does not)."""
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop

    # -- notices ---------------------------------------------------------------------

    def emit(self, plugin: str, name: str, data: Any) -> None:
        from jafhost.runtime.events import check_event_name

        self.channel.send({"op": "emit", "name": check_event_name(name), "data": data})

    def denied(self, plugin: str, permission: str, action: str) -> None:
        self.channel.send(
            {"op": "denied", "plugin": plugin, "permission": permission, "action": action}
        )

    def no_integrations(self, plugin: str, name: str) -> Any:
        raise RuntimeError(
            f"plugin {plugin} runs in a worker process: integrations of other plugins "
            f"(here {name!r}) are not available there"
        )

    # -- requests ----------------------------------------------------------------------

    def make_context(self, loaded: Any, config: Any, data_dir: Any) -> Any:
        from jafhost.runtime.lifecycle import plugin_context

        return plugin_context(
            loaded.name, config, data_dir, emit=self.emit, integration=self.no_integrations
        )

    def start(self, message: dict[str, Any]) -> dict[str, Any]:
        from dataclasses import asdict
        from pathlib import Path

        from jafhost.runtime import lifecycle
        from jafhost.runtime.plugin_manager import PluginHooks, make_plugin_manager

        self.hook_timeout = float(message.get("hook_timeout", 10.0))
        self.pm = make_plugin_manager()
        self.loaded = loaded = lifecycle.LoadedPlugin(self.info)
        schema_file = Path(self.spec.cache_dir) / f".jafhost-config-schema-{os.getpid()}.json"
        self.loop.run_until_complete(
            lifecycle.start(
                self.pm,
                loaded,
                config_table=dict(message.get("config") or {}),
                data_dir=Path(self.spec.data_dir),
                schema_file=schema_file,
                timeout=self.hook_timeout,
                make_context=self.make_context,
            )
        )
        schema = None
        try:
            import json

            schema = json.loads(schema_file.read_text(encoding="utf-8"))
            schema_file.unlink()
        except (OSError, ValueError):
            pass
        self.tools = {tool.name: tool for tool in loaded.tools}
        notes = []
        if loaded.providers:
            notes.append("model providers (jaf_model_providers) do not cross the process "
                         "boundary and are left out")  # fmt: skip
        if loaded.integrations:
            notes.append("integrations (jaf_integrations) do not cross the process boundary: "
                         "other plugins cannot use them")  # fmt: skip
        if PluginHooks(self.pm, loaded.name).wraps_tool_calls():
            notes.append("tool-call middleware (jaf_tool_call) runs only around calls inside "
                         "its own worker, not around other plugins' tools")  # fmt: skip
        return {
            "ok": True,
            "status": loaded.status,
            "error": loaded.error,
            "traceback": loaded.traceback,
            "tools": [
                {
                    "name": t.name,
                    "description": t.description,
                    "input_schema": t.input_schema,
                    "is_async": t.is_async,
                    "confirm": t.confirm,
                }
                for t in loaded.tools
            ],
            "agents": [asdict(a) for a in loaded.agents],
            "subscriptions": [s.pattern for s in getattr(loaded, "subscriptions", [])],
            "config_schema": schema,
            "notes": notes,
            "warnings": list(loaded.warnings),
        }

    def run(self, fn: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Call plugin code in this thread; coroutines run on the worker's loop."""
        import inspect

        value = fn(*args, **kwargs)
        if inspect.isawaitable(value):
            value = self.loop.run_until_complete(_awaited(value))
        return value

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        from jafhost.runtime.dispatch import arguments_for, validate
        from jafhost.types import CallError

        tool = self.tools.get(message.get("tool", ""))
        if tool is None:
            text = f"unknown tool {message.get('tool')!r}"
            return {"ok": False, "error": {"kind": "coded", "code": "not_found", "message": text}}
        kwargs = validate(tool, message.get("args"))
        if isinstance(kwargs, CallError):
            return {
                "ok": False,
                "error": {"kind": "invalid", "message": kwargs.message, "fields": kwargs.fields},
            }
        args, kwargs = arguments_for(tool, kwargs, self.loaded.ctx)
        return {"ok": True, "result": self.run(tool.function, args, kwargs)}

    def event(self, message: dict[str, Any]) -> dict[str, Any]:
        from jafhost.types import Event

        sub = self.loaded.subscriptions[int(message["index"])]
        data = message["event"]
        event = Event(data["name"], data.get("data"), data.get("source", "host"),
                      data.get("id", ""), data.get("time", 0.0))  # fmt: skip
        kwargs = {sub.context_param: self.loaded.ctx} if sub.context_param else {}
        self.run(sub.handler, [event], kwargs)
        return {"ok": True, "result": None}

    def hook(self, message: dict[str, Any]) -> dict[str, Any]:
        from jafhost.runtime.plugin_manager import PluginHooks

        impl = PluginHooks(self.pm, self.name).implementation(str(message["hook"]))
        if impl is None:
            return {"ok": True, "result": None, "implemented": False}
        given = dict(message.get("kwargs") or {})
        given["ctx"] = self.loaded.ctx
        args = {name: given.get(name) for name in impl.argnames}
        return {"ok": True, "result": self.run(impl.function, [], args)}

    def stop(self) -> dict[str, Any]:
        from jafhost.runtime import lifecycle

        problem = None
        if self.loaded is not None:
            problem = self.loop.run_until_complete(
                lifecycle.stop(self.pm, self.loaded, self.hook_timeout)
            )
        return {"ok": True, "problem": problem}

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "call":
            return self.call(message)
        if op == "event":
            return self.event(message)
        if op == "hook":
            return self.hook(message)
        if op == "start":
            return self.start(message)
        if op == "stop":
            return self.stop()
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        return {"ok": False, "error": {"kind": "coded", "code": "tool_error",
                                       "message": f"unknown request {op!r}"}}  # fmt: skip

    def serve(self) -> None:
        from jafhost.security.sandbox import arm_cpu

        while True:
            message = self.channel.receive()
            if message is None:  # the host closed the pipe: it is gone or done with us
                self.exit(0)
            ident = message.get("id")
            arm_cpu(self.cpu_seconds)
            try:
                reply = self.handle(message)
            except MemoryError:
                self._out_of_memory(ident)
            except BaseException as exc:
                reply = {"ok": False, "error": error_to_json(_readable(exc))}
            reply["id"] = ident
            try:
                self.channel.send(reply)
            except MemoryError:
                self._out_of_memory(ident)
            except FrameTooLarge:  # refused here: cheaper than being stopped by the host
                error = {"kind": "coded", "code": "tool_error", "message": self._too_large()}
                self.channel.send({"id": ident, "ok": False, "error": error})
            except (TypeError, ValueError) as exc:  # a result that cannot be encoded
                error = error_to_json(exc, with_traceback=False)
                self.channel.send({"id": ident, "ok": False, "error": error})
            if message.get("op") == "stop":
                self.exit(0)

    def exit(self, status: int) -> None:
        """End the worker, and every process the plugin started, now."""
        if self.before_exit is not None:
            try:
                self.before_exit()
            finally:
                os._exit(status)
        os._exit(status)

    def _too_large(self) -> str:
        limit = self.channel.limit // MB
        return f"plugin {self.name}: its result is larger than [host] max_result_mb = {limit} MB"

    def _out_of_memory(self, ident: Any) -> None:
        text = (
            f'{{"id": {_json_id(ident)}, "ok": false, "error": {{"kind": "memory", '
            f'"message": "memory limit of {self.spec.memory_mb} MB reached"}}}}'
        )
        try:
            self.channel.send_bytes(frame(text.encode()))
        finally:
            self.exit(EXIT_MEMORY)


def _readable(exc: BaseException) -> BaseException:
    """The plugin's exception with its text read once (``scope.host_error``): one whose
    ``__str__`` fails gives a text naming the plugin instead of ending the worker."""
    from jafhost.runtime.scope import host_error

    return host_error(exc)


def _json_id(ident: Any) -> str:
    return str(int(ident)) if isinstance(ident, int) else "null"


async def _awaited(value: Any) -> Any:
    return await value


def _attribute_everything(name: str) -> None:
    """In a worker all code is the plugin's: every thread, including those started with
    ``_thread.start_new_thread`` (seen as ``threading._DummyThread``), runs as it."""
    from jafhost.security import guard

    setattr(threading.Thread, guard.THREAD_ATTRIBUTE, name)
    guard.CURRENT_PLUGIN.set(name)


def _contain(spec: Any, protocol: tuple[int, int], allow_pidns: bool) -> Any:
    """Bind the plugin's future processes to this worker (see ``process_tree``); in a
    PID namespace this returns in a new process, the worker from then on."""
    from jafhost.security.sandbox import SandboxError, process_tree

    if not sys.platform.startswith("linux"):
        return process_tree.Containment("none", ["pidns, subreaper: not Linux"])
    try:
        return process_tree.contain(spec.parent_pid, protocol, allow_pidns=allow_pidns)
    except (SandboxError, OSError) as exc:
        return process_tree.Containment("none", [f"pidns, subreaper: {exc}"])


def _process_site_dirs(folders: list[str]) -> None:
    """What ``site`` would have done at start-up, now that the sandbox and the guard are
    in force: each site folder's ``.pth`` files run as the plugin's code (path entries,
    editable installs' import hooks)."""
    import site

    for folder in folders:
        site.addsitedir(folder)


def main() -> None:
    started = time.perf_counter()
    marks: dict[str, float] = {}
    fds = os.environ.pop("JAFHOST_WORKER_FDS", "")
    try:
        read_fd, write_fd = (int(x) for x in fds.split(","))
    except ValueError:
        sys.stderr.write("jafhost.runtime.isolation.worker: run by the jafhost host only\n")
        raise SystemExit(2) from None
    os.set_inheritable(read_fd, False)
    os.set_inheritable(write_fd, False)
    channel = Channel(read_fd, write_fd)
    init = channel.receive()
    if not init or init.get("op") != "init":
        os._exit(2)
    channel.limit = int(init.get("max_frame") or channel.limit)
    marks["init"] = time.perf_counter()

    from dataclasses import replace

    from jafhost.security import sandbox

    spec = sandbox.SandboxSpec.from_json(init["sandbox"])
    marks["imports"] = time.perf_counter()
    tree = _contain(spec, (read_fd, write_fd), bool(init.get("pidns", True)))
    marks["contained"] = time.perf_counter()
    if tree.kind == "pidns":  # the host is not our parent any more: the namespace's PID 1 is
        spec = replace(spec, parent_pid=0)
    os.chdir(spec.data_dir)
    applied = sandbox.apply(spec)
    marks["sandbox"] = time.perf_counter()

    from jafhost.security import guard

    assert applied.policy is not None
    guard.set_policy(applied.policy)
    guard.install()
    _attribute_everything(spec.plugin)
    from jafhost.discovery.records import PluginInfo

    worker = WorkerProcess(channel, spec.plugin, spec, PluginInfo.from_json(init["info"]))
    worker.before_exit = tree.end
    guard.on_denied(worker.denied)
    _process_site_dirs([str(d) for d in init.get("site_dirs", [])])
    import pydantic  # noqa: F401  (what every plugin's tools need; imported under the sandbox)

    marks["guard"] = time.perf_counter()
    protections = [*applied.protections]
    if tree.kind != "none":
        protections.append(tree.kind)
    channel.send(
        {
            "op": "ready",
            "pid": os.getpid(),
            "protections": [*protections, "audit-guard", "site-after-sandbox"],
            "missing": [*tree.missing, *applied.missing],
            "seconds": time.perf_counter() - started,
            "marks": {k: v - started for k, v in marks.items()},
        }
    )
    worker.serve()


if __name__ == "__main__":
    main()
