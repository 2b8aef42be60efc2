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
        self._serving = False
        """A request of the host is being handled: the only time the worker may ask."""
        self._in_lifecycle = False
        """The plugin's start or stop runs (its hooks in threads of their own, while this
        thread waits without reading the pipe): they may ask too."""
        self._asking = threading.Lock()
        self._refs = 0
        self.blocked: str | None = None
        """Set when the plugin's code holds its event loop: the worker ends after the
        reply in flight, and the host starts a new one."""

    @property
    def loop(self) -> Any:
        """The worker's event loop, for async plugin code (asyncio is imported after the
        worker reported ready: the plugin's start needs it, the sandbox does not)."""
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop

    # -- notices ---------------------------------------------------------------------

    def emit(self, plugin: str, name: str, data: Any) -> Any:
        """``ctx.emit``: a notice to the host, which delivers the event. From async code
        (a running loop) it returns an awaitable, so ``await ctx.emit(...)`` works as in
        process; from sync code, None."""
        from jafhost.runtime.events import check_event_name

        self.channel.send({"op": "emit", "name": check_event_name(name), "data": data})
        return _sent_on_loop()

    def denied(self, plugin: str, permission: str, action: str) -> None:
        self.channel.send(
            {"op": "denied", "plugin": plugin, "permission": permission, "action": action}
        )

    def ask(self, message: dict[str, Any]) -> Any:
        """Ask the host (an ``ask`` notice) and wait for its ``answer``: only from the
        thread serving a host request (the host accepts asks only then)."""

        on_main = threading.current_thread() is threading.main_thread()
        if not self._serving or not (on_main or self._in_lifecycle):
            raise RuntimeError(
                f"plugin {self.name} runs in a worker process: integrations of other plugins "
                "can be used only while one of its tools, handlers or hooks runs, from the "
                "thread that runs it"
            )
        with self._asking:
            return self._ask(message)

    def _ask(self, message: dict[str, Any]) -> Any:
        from jafhost.runtime.isolation.protocol import error_from_json

        self._refs += 1
        ref = self._refs
        self.channel.send({"op": "ask", "ref": ref, **message})
        while True:
            answer = self.channel.receive()
            if answer is None:  # the host closed the pipe: it is gone or done with us
                self.exit(0)
            if "id" not in answer or answer.get("op") in (None, "answer", "stop"):
                break
            self.respond(answer)  # a request nested in this one (middleware proceeding)
        if answer.get("op") != "answer" or answer.get("ref") != ref:
            raise RuntimeError(f"plugin {self.name}: the host sent {answer.get('op')!r}, "
                               "not the answer awaited")  # fmt: skip
        if answer.get("ok"):
            return answer.get("result")
        raise error_from_json(answer.get("error") or {}, self.name)

    def integration(self, target: str) -> Any:
        """``ctx.integration``: the plugin's own integrations are served here; those of
        another plugin by the host (which checks the plugin may use them)."""
        from jafhost.runtime.integrations import IntegrationProxy

        if not isinstance(target, str):
            raise TypeError("an integration is named plugin.integration")
        if target.partition(".")[0] == self.name:
            self.own_client(target)
            return IntegrationProxy(target, self.invoke_own)
        self.ask({"kind": "integration", "name": target, "method": None})
        return IntegrationProxy(target, self.invoke_remote)

    def own_spec(self, short: str) -> Any:
        """The plugin's own integration ``short``: its spec and its client."""
        offered = self.loaded.integrations if self.loaded is not None else {}
        found = offered.get(short)
        if found is None:
            known = ", ".join(f"{self.name}.{n}" for n in offered) or "none"
            raise LookupError(
                f"unknown integration {self.name}.{short} (plugin {self.name} offers: {known})"
            )
        return found

    def own_client(self, target: str) -> Any:
        return self.own_spec(target.partition(".")[2])[1]

    def invoke_own(self, target: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        from jafhost.runtime.integrations import call_client

        value = call_client(self.own_client(target), target, method, args, kwargs, self.name)
        if _on_loop():
            return value if _awaitable(value) else _done(value)
        if _awaitable(value):
            value = self.loop.run_until_complete(_awaited(value))
        return value

    def invoke_remote(
        self, target: str, method: str, args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        message = {"kind": "integration", "name": target, "method": method,
                   "args": args, "kwargs": kwargs}  # fmt: skip
        value = self.ask(message)
        return _done(value) if _on_loop() else value

    # -- requests ----------------------------------------------------------------------

    def make_context(self, loaded: Any, config: Any, data_dir: Any) -> Any:
        from jafhost.runtime.lifecycle import plugin_context

        return plugin_context(
            loaded.name, config, data_dir, emit=self.emit, integration=self.integration
        )

    def start(self, message: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        from jafhost.runtime import lifecycle
        from jafhost.runtime.plugin_manager import make_plugin_manager

        self.hook_timeout = float(message.get("hook_timeout", 10.0))
        self.pm = make_plugin_manager()
        self.loaded = loaded = lifecycle.LoadedPlugin(self.info)
        schema_file = Path(self.spec.cache_dir) / f".jafhost-config-schema-{os.getpid()}.json"
        self._in_lifecycle = True
        try:
            self._start(message, loaded, schema_file)
        finally:
            self._in_lifecycle = False
        return self._started(loaded, schema_file)

    def _start(self, message: dict[str, Any], loaded: Any, schema_file: Any) -> None:
        from pathlib import Path

        from jafhost.runtime import lifecycle, plugin_loops

        # its coroutines on a loop of their own, as in process: this loop keeps serving
        # the host, and the hook time limit fires whatever they do
        plugin_loops.open_loop(loaded.identity, self._loop_blocked)
        self.loop.run_until_complete(
            lifecycle.start(
                self.pm,
                loaded,
                config_table=dict(message.get("config") or {}),
                environ=dict(message.get("environ") or {}),
                data_dir=Path(self.spec.data_dir),
                schema_file=schema_file,
                timeout=self.hook_timeout,
                make_context=self.make_context,
                known_schemas=_schemas(message.get("schemas")),
            )
        )

    def _loop_blocked(self, reason: str) -> None:
        self.blocked = reason

    def _started(self, loaded: Any, schema_file: Any) -> dict[str, Any]:
        """The start reply: what the started plugin offers, as JSON."""
        from dataclasses import asdict

        from jafhost.runtime.plugin_manager import PluginHooks

        schema = None
        try:
            import json

            schema = json.loads(schema_file.read_text(encoding="utf-8"))
            schema_file.unlink()
        except (OSError, ValueError):
            pass
        self.tools = {tool.name: tool for tool in loaded.tools}
        notes = []
        providers = []
        for index, provider in enumerate(loaded.providers):
            name = getattr(provider, "name", None)
            if isinstance(name, str) and name and callable(getattr(provider, "complete", None)):
                doc = getattr(provider, "description", None) or type(provider).__doc__ or ""
                providers.append({"index": index, "name": name,
                                  "description": str(doc).strip().split("\n")[0]})  # fmt: skip
            else:
                notes.append(f"model provider {provider!r} has no name and complete(); "
                             "only such providers cross the process boundary")  # fmt: skip
        middleware = PluginHooks(self.pm, loaded.name).implementation("jaf_tool_call")
        plain = _plain_tools(loaded.tools) if loaded.status == "active" else {}
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
                    "run_context": t.run_context_param is not None,
                    "plain": plain.get(t.name),
                }
                for t in loaded.tools
            ],
            "hooks": self._hooks(),
            "agents": [asdict(a) for a in loaded.agents],
            "subscriptions": [s.pattern for s in getattr(loaded, "subscriptions", [])],
            "providers": providers,
            "middleware": None
            if middleware is None
            else {
                "wrapper": bool(middleware.wrapper),
                "tryfirst": bool(middleware.tryfirst),
                "trylast": bool(middleware.trylast),
            },
            "integrations": [
                {"name": n, "description": spec.description, "health": spec.health is not None}
                for n, (spec, _client) in loaded.integrations.items()
            ],
            "config_schema": schema,
            "has_config": loaded.ctx is not None and loaded.ctx.config is not None,
            "notes": notes,
            "warnings": list(loaded.warnings),
            "phases": dict(loaded.phases),
        }

    def _hooks(self) -> dict[str, list[str]] | None:
        """The hooks the plugin implements, with the arguments each asks for (what its
        record keeps: ``jafhost call``'s lane reads it)."""
        obj = getattr(self.loaded, "obj", None)
        if obj is None:
            return None
        hooks: dict[str, list[str]] = {}
        for caller in self.pm.get_hookcallers(obj) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is obj:
                    hooks[caller.name] = [str(a) for a in impl.argnames]
        return hooks

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
        run = _run_context(message.get("context")) if tool.run_context_param else None
        args, kwargs = arguments_for(tool, kwargs, self.loaded.ctx, run)
        return {"ok": True, "result": self.run(tool.function, args, kwargs)}

    def event(self, message: dict[str, Any]) -> dict[str, Any]:
        from jafhost.types import Event

        sub = self.loaded.subscriptions[int(message["index"])]
        data = message["event"]
        event = Event(data["name"], data.get("data"), data.get("source", "host"),
                      data.get("id", ""), data.get("time", 0.0))  # fmt: skip
        kwargs = {sub.context_param: self.loaded.ctx} if sub.context_param else {}
        if sub.run_context_param:
            kwargs[sub.run_context_param] = _run_context(message.get("context"))
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

    def integration_call(self, message: dict[str, Any]) -> dict[str, Any]:
        """A dependent's call of one of this plugin's integrations, sent by the host."""
        short = str(message.get("name"))
        if message.get("health"):
            spec, client = self.own_spec(short)
            healthy = self.run(spec.health, [client], {}) if spec.health is not None else None
            return {"ok": True, "result": healthy if healthy is False else True}
        args, kwargs = message.get("args") or [], message.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise TypeError("integration arguments: a list and an object")
        value = self.invoke_own(f"{self.name}.{short}", str(message.get("method")), args, kwargs)
        return {"ok": True, "result": value}

    def load_model(self, message: dict[str, Any]) -> dict[str, Any]:
        """Only import and register the plugin, to answer ``config_model`` questions
        (``config show``/``config set``): its config model is needed even when its
        configuration is invalid and the plugin cannot start."""
        from jafhost.runtime import lifecycle
        from jafhost.runtime.plugin_manager import PluginHooks, make_plugin_manager

        self.hook_timeout = float(message.get("hook_timeout", 10.0))
        self.pm = make_plugin_manager()
        self.loaded = loaded = lifecycle.LoadedPlugin(self.info)
        loaded.obj = self.loop.run_until_complete(
            lifecycle.import_plugin(loaded, self.hook_timeout)
        )
        lifecycle.register_plugin(self.pm, loaded)
        hooks = PluginHooks(self.pm, self.name, timeout=self.hook_timeout)
        model = self.loop.run_until_complete(hooks.config_schema())
        return {"ok": True, "status": "active", "has_config": model is not None}

    def middleware(self, message: dict[str, Any]) -> dict[str, Any]:
        """Run the plugin's ``jaf_tool_call`` wrapper around a call the host routes: when
        it proceeds, the host runs the rest of the chain (an ask, ``proceed``, with the
        arguments as the wrapper left them) and answers with the result or the error,
        which the wrapper receives as in process; its return value is the reply."""
        from types import SimpleNamespace

        from jafhost.runtime.isolation.protocol import error_from_json
        from jafhost.runtime.plugin_manager import PluginHooks
        from jafhost.types import ToolCall

        impl = PluginHooks(self.pm, self.name).implementation("jaf_tool_call")
        if impl is None:
            return {"ok": True, "result": {"proceeded": False, "value": None}}
        data = dict(message.get("call") or {})
        tool = SimpleNamespace(**dict(data.get("tool") or {}))
        agent = data.get("agent")
        call = ToolCall(
            tool,
            dict(data.get("arguments") or {}),
            str(data.get("id") or ""),
            caller=str(data.get("caller") or "api"),
            agent=agent if isinstance(agent, str) else None,
        )
        if not impl.wrapper:  # a plain implementation: a value other than None answers
            value = self.run(impl.function, [], {"call": call} if impl.argnames else {})
            return {"ok": True, "result": {"answered": value is not None, "value": value}}
        steps: Any = impl.function(**({"call": call} if impl.argnames else {}))
        try:
            next(steps)
        except StopIteration:
            raise RuntimeError("a jaf_tool_call wrapper must yield once") from None
        outcome = self.ask({"kind": "proceed", "arguments": call.arguments})
        try:
            if outcome.get("ok"):
                steps.send(outcome.get("result"))
            else:
                steps.throw(error_from_json(outcome.get("error") or {}, self.name))
        except StopIteration as done:
            return {"ok": True, "result": {"answered": True, "value": done.value}}
        raise RuntimeError("a jaf_tool_call wrapper must yield only once")

    def config_model(self, message: dict[str, Any]) -> dict[str, Any]:
        """A question of ``config show``/``config set`` about the plugin's config model,
        answered here where the model runs as the plugin."""
        from jafhost.home.config import answer_model_question
        from jafhost.runtime.plugin_manager import PluginHooks

        hooks = PluginHooks(self.pm, self.name, timeout=self.hook_timeout)
        model = self.loop.run_until_complete(hooks.config_schema())
        if model is None:
            return {"ok": True, "result": None, "model": False}
        question, args = str(message.get("question")), list(message.get("args") or [])
        return {"ok": True, "result": answer_model_question(model, self.name, question, args)}

    def provider(self, message: dict[str, Any]) -> dict[str, Any]:
        """One turn of one of the plugin's model providers, as JSON."""
        provider = self.loaded.providers[int(message["index"])]
        args = [list(message.get("messages") or []), list(message.get("tools") or []),
                message.get("model")]  # fmt: skip
        turn = self.run(provider.complete, args, {})
        to_json = getattr(turn, "to_json", None)
        return {"ok": True, "result": to_json() if callable(to_json) else turn}

    def stop(self) -> dict[str, Any]:
        from jafhost.runtime import lifecycle

        problem = None
        if self.loaded is not None:
            self._in_lifecycle = True
            try:
                problem = self.loop.run_until_complete(
                    lifecycle.stop(self.pm, self.loaded, self.hook_timeout)
                )
            finally:
                self._in_lifecycle = False
        return {"ok": True, "problem": problem}

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "call":
            return self.call(message)
        if op == "event":
            return self.event(message)
        if op == "hook":
            return self.hook(message)
        if op == "integration":
            return self.integration_call(message)
        if op == "provider":
            return self.provider(message)
        if op == "config_model":
            return self.config_model(message)
        if op == "load_model":
            return self.load_model(message)
        if op == "middleware":
            return self.middleware(message)
        if op == "start":
            return self.start(message)
        if op == "stop":
            return self.stop()
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        return {"ok": False, "error": {"kind": "coded", "code": "tool_error",
                                       "message": f"unknown request {op!r}"}}  # fmt: skip

    def serve(self) -> None:
        while True:
            message = self.channel.receive()
            if message is None:  # the host closed the pipe: it is gone or done with us
                self.exit(0)
            self.respond(message)
            if message.get("op") == "stop" or self.blocked is not None:
                self.exit(0)

    def exit(self, status: int) -> None:
        """End the worker, and every process the plugin started, now."""
        if self.before_exit is not None:
            try:
                self.before_exit()
            finally:
                os._exit(status)
        os._exit(status)

    def respond(self, message: dict[str, Any]) -> None:
        """Handle one request of the host and send its reply (with its id)."""
        from jafhost.security.sandbox import arm_cpu

        ident = message.get("id")
        arm_cpu(self.cpu_seconds)
        serving, self._serving = self._serving, True
        try:
            reply = self.handle(message)
        except MemoryError:
            self._out_of_memory(ident)
        except BaseException as exc:
            reply = {"ok": False, "error": error_to_json(_readable(exc))}
        finally:
            self._serving = serving
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

    def _too_large(self) -> str:
        return too_large(self.name, self.channel.limit)

    def _out_of_memory(self, ident: Any) -> None:
        text = (
            f'{{"id": {_json_id(ident)}, "ok": false, "error": {{"kind": "memory", '
            f'"message": "memory limit of {self.spec.memory_mb} MB reached"}}}}'
        )
        try:
            self.channel.send_bytes(frame(text.encode()))
        finally:
            self.exit(EXIT_MEMORY)


def _plain_tools(tools: list[Any]) -> dict[str, Any]:
    """Tool name -> plain parameters (``plain_params.plain_tools``); nothing when reading
    them fails (the tools are then recorded as not plain)."""
    from jafhost.runtime.plain_params import plain_tools

    try:
        return plain_tools(tools)
    except Exception:
        return {}


def too_large(plugin: str, limit: int) -> str:
    """The error of a result over ``limit`` bytes, refused by the worker."""
    return f"plugin {plugin}: its result is larger than [host] max_result_mb = {limit // MB} MB"


def _schemas(value: Any) -> dict[str, dict[str, Any]] | None:
    """The recorded input schemas the host sent with ``start`` (tool name -> schema)."""
    if not isinstance(value, dict):
        return None
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, dict)}


def _run_context(data: Any) -> Any:
    """The ``RunContext`` the host sent with a call (JSON), for a tool that asks."""
    from jafhost.types import RunContext

    data = data if isinstance(data, dict) else {}
    agent, run_id = data.get("agent"), data.get("run_id")
    messages, metadata = data.get("messages"), data.get("metadata")
    return RunContext(
        caller=str(data.get("caller") or "api"),
        agent=agent if isinstance(agent, str) else None,
        run_id=run_id if isinstance(run_id, str) else None,
        messages=tuple(m for m in messages if isinstance(m, dict))
        if isinstance(messages, list)
        else (),
        metadata=metadata if isinstance(metadata, dict) else {},
    )


def _readable(exc: BaseException) -> BaseException:
    """The plugin's exception with its text read once (``scope.host_error``): one whose
    ``__str__`` fails gives a text naming the plugin instead of ending the worker."""
    from jafhost.runtime.scope import host_error

    return host_error(exc)


def _json_id(ident: Any) -> str:
    return str(int(ident)) if isinstance(ident, int) else "null"


async def _awaited(value: Any) -> Any:
    return await value


def _on_loop() -> bool:
    """Whether plugin code is running on an event loop (async code) in this thread."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _awaitable(value: Any) -> bool:
    import inspect

    return inspect.isawaitable(value)


def _done(value: Any) -> Any:
    """An awaitable that is already done with ``value`` (for async callers)."""
    import asyncio

    future = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def _sent_on_loop() -> Any:
    """``ctx.emit``'s answer in the worker: awaitable on a loop, else None."""
    return _done(None) if _on_loop() else None


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


def _step_marks(done: float, steps: dict[str, float]) -> dict[str, float]:
    """The sandbox's steps as marks (``sandbox.STEP``: when each was done), from how
    long each took and when the last was done."""
    at = done - sum(steps.values())
    marks = {}
    for step, seconds in steps.items():
        at += seconds
        marks[f"sandbox.{step}"] = at
    return marks


def _preload(modules: tuple[str, ...] = (), waiting: tuple[str, ...] = (), pipe: int = -1) -> float:
    """Import what every worker runs before ``ready`` (the sandbox, the guard) while
    the host has not yet sent ``init``: a one-shot worker is
    started while the host still decides (``one_shot_call.start_early``), so this work
    overlaps the host's. Only jafhost's own modules and the standard library, through
    the import gate, as they were imported after ``init`` before: no plugin code, no
    grant, nothing armed (``guard.install`` comes after the sandbox); then ``modules``
    (the caller's own); then each of ``waiting`` only while ``init`` has not arrived on
    ``pipe``: those are imported where they are used anyway (the sandbox's steps, the
    guard's wrappers), so a host that is ready first never waits for them here, and one
    that is not finds them done. Returns when this was done."""
    from importlib import import_module

    from jafhost.security import guard, sandbox  # noqa: F401
    from jafhost.security.sandbox import kernel, limits, spec  # noqa: F401  (lazy in ``sandbox``)

    for module in modules:
        import_module(module)
    if waiting:
        from select import select

        for module in waiting:
            if select([pipe], [], [], 0)[0]:
                break  # ``init`` is here: the rest waits for its first use
            import_module(module)
    return time.perf_counter()


def _lift_gate() -> None:
    """``gate.lift``, without importing ``gate`` as a module: the gate ran from its file
    (``spawn.boot_program``), so an import here would only load it a second time, on the
    way to ``ready``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "jafhost_gate", False)]


def _granted_env(given: Any) -> None:
    """The granted variables of a worker started before its grants were known
    (``one_shot_call.start_early``: it was started with the environment of no grant),
    set before the sandbox is applied, as if they had been there from the start."""
    if not isinstance(given, dict):
        return
    for name, value in given.items():
        if isinstance(name, str) and isinstance(value, str) and name and "=" not in name:
            os.environ[name] = value


class Prepared:
    """A worker process up to its ``ready``: the pipe, the ``init`` message, the sandbox
    applied, the guard armed, the site folders processed (``prepare``)."""

    def __init__(self, channel: Channel, init: dict[str, Any], started: float) -> None:
        self.channel = channel
        self.init = init
        self.started = started
        self.marks: dict[str, float] = {}
        self.spec: Any = None
        self.tree: Any = None
        self.applied: Any = None

    def ready(self) -> dict[str, Any]:
        """The ``ready`` message: what is in force, what is missing, the stage times."""
        protections = [*self.applied.protections]
        if self.tree.kind != "none":
            protections.append(self.tree.kind)
        return {
            "op": "ready",
            "pid": os.getpid(),
            "protections": [*protections, "audit-guard", "site-after-sandbox"],
            "missing": [*self.tree.missing, *self.applied.missing],
            "seconds": time.perf_counter() - self.started,
            "marks": {k: v - self.started for k, v in self.marks.items()},
        }


def prepare(
    parent_pid: int | None,
    channel_type: type[Channel],
    on_guard: Any,
    preload: tuple[str, ...] = (),
    waiting: tuple[str, ...] = (),
) -> Prepared:
    """Read ``init``, bind the plugin's processes to this one, apply the sandbox, arm the
    guard (every thread the plugin's), call ``on_guard(prepared)`` (the denial listener),
    then process the site folders: the steps every worker takes before ``ready``
    (``preload``: more of jafhost's modules to import before reading ``init``;
    ``waiting``: others, imported only until ``init`` arrives, ``_preload``)."""
    started = time.perf_counter()
    fds = os.environ.pop("JAFHOST_WORKER_FDS", "")
    try:
        read_fd, write_fd = (int(x) for x in fds.split(","))
    except ValueError:
        sys.stderr.write("jafhost.runtime.isolation.worker: run by the jafhost host only\n")
        raise SystemExit(2) from None
    os.set_inheritable(read_fd, False)
    os.set_inheritable(write_fd, False)
    channel = channel_type(read_fd, write_fd)
    preloaded = _preload(preload, waiting, read_fd)
    init = channel.receive()
    if not init or init.get("op") != "init":
        os._exit(2)
    channel.limit = int(init.get("max_frame") or channel.limit)
    done = Prepared(channel, init, started)
    marks = done.marks
    marks["preload"] = preloaded
    marks["init"] = time.perf_counter()
    _granted_env(init.get("env"))

    from jafhost.security import sandbox

    spec = sandbox.SandboxSpec.from_json(init["sandbox"])
    if parent_pid is not None:
        spec = spec.replace(parent_pid=parent_pid)
    marks["imports"] = time.perf_counter()
    tree = _contain(spec, (read_fd, write_fd), bool(init.get("pidns", True)))
    marks["contained"] = time.perf_counter()
    if tree.kind == "pidns":  # the host is not our parent any more: the namespace's PID 1 is
        spec = spec.replace(parent_pid=0)
    os.chdir(spec.data_dir)
    applied = sandbox.apply(spec)
    marks["sandbox"] = time.perf_counter()
    marks.update(_step_marks(marks["sandbox"], applied.steps))
    _lift_gate()  # the sandbox is in force: imports go their ordinary way

    from jafhost.security import guard

    assert applied.policy is not None
    guard.set_policy(applied.policy)
    guard.install()
    _attribute_everything(spec.plugin)
    marks["guard"] = time.perf_counter()
    done.spec, done.tree, done.applied = spec, tree, applied
    on_guard(done)
    _process_site_dirs([str(d) for d in init.get("site_dirs", [])])
    marks["site"] = time.perf_counter()
    return done


def main(parent_pid: int | None = None) -> None:
    """``parent_pid``: the process this one must die with, when it is not the host (a
    worker forked by the zygote, ``zygote``)."""
    workers: list[WorkerProcess] = []

    def serve_as_plugin(done: Prepared) -> None:  # under the sandbox and the guard
        from jafhost.discovery.records import PluginInfo
        from jafhost.security import guard

        info = PluginInfo.from_json(done.init["info"])
        worker = WorkerProcess(done.channel, done.spec.plugin, done.spec, info)
        worker.before_exit = done.tree.end
        guard.on_denied(worker.denied)
        workers.append(worker)

    done = prepare(parent_pid, Channel, serve_as_plugin)
    import pydantic  # noqa: F401  (what every plugin's tools need; imported under the sandbox)

    done.marks["pydantic"] = time.perf_counter()
    done.channel.send(done.ready())
    workers[0].serve()


if __name__ == "__main__":
    main()
