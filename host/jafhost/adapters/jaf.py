"""jaf-py adapter: the host's tools and agents as real jaf-py objects.

::

    import jaf
    from jafhost import Host
    from jafhost.adapters.jaf import jaf_agent, jaf_tools

    async with Host() as host:
        agent = jaf.Agent(name="helper", instructions=lambda state: "Be brief.",
                          tools=jaf_tools(host, ["notes.*"]))
        # or an agent a plugin provides (an AgentSpec, or its name), with its tools:
        support = jaf_agent(host, "support", model="gpt-4o-mini")

Every ``execute`` goes through ``host.call`` (validation, permissions, confirmation,
middleware, time limit) and never raises for anything the tool does. ``jaf`` is imported
only when used (``pip install 'jafhost[jaf]'``). Names, results, confirmation and time
limits: docs/embedding.md, "Handing the tools to jaf-py".
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import json
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from jafhost.errors import JafUnavailable

if TYPE_CHECKING:
    from jafhost.host.host import Host
    from jafhost.runtime.routing import Confirm
    from jafhost.tools import Tool
    from jafhost.types import AgentSpec, CallResult

INSTALL_HINT = "pip install 'jafhost[jaf]'"

TIMEOUT_GRACE = 1.0
"""Seconds the JAF schema's timeout exceeds the host's, so the host's answers first."""

STATUSES: dict[str, tuple[str, str]] = {
    "busy": ("error", "TIMEOUT"),
    "invalid_arguments": ("validation_error", "INVALID_INPUT"),
    "permission_denied": ("permission_denied", "PERMISSION_DENIED"),
    "not_found": ("not_found", "NOT_FOUND"),
    "timeout": ("error", "TIMEOUT"),
    "tool_error": ("error", "EXECUTION_FAILED"),
    "unavailable": ("not_found", "NOT_FOUND"),
}
"""The host's error code -> jaf's ``ToolResult`` status and ``ToolErrorCodes`` code
(the host's own code stays in the error's ``details``)."""


def _jaf(module: str) -> Any:
    """One of jaf-py's modules (typed ``Any``: jaf ships no type information)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] == "jaf":
            raise JafUnavailable(
                f"jafhost.adapters.jaf needs jaf-py, which is not installed: {INSTALL_HINT}"
            ) from None
        raise


def _arguments(args: Any) -> Any:
    """What ``host.call`` gets: the fields a model instance was given, a mapping as a
    dict; anything else as it is (the host says it must be an object)."""
    if args is None:
        return {}
    if isinstance(args, BaseModel):
        return args.model_dump(exclude_unset=True)
    if isinstance(args, Mapping):
        return dict(args)
    return args


def _schema_model(tool: Tool) -> Any:
    """A parameters class for a tool without an arguments model: its JSON schema is the
    tool's input schema, and it lets everything through (the host validates)."""
    schema = copy.deepcopy(tool.input_schema)

    class Arguments(BaseModel):
        model_config = ConfigDict(extra="allow")

        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return copy.deepcopy(schema)

    Arguments.__name__ = Arguments.__qualname__ = tool.export_name
    return Arguments


def to_tool_result(result: CallResult) -> Any:
    """A host ``CallResult`` as a jaf-py ``ToolResult``."""
    results = _jaf("jaf.core.tool_results")
    if result.ok or result.error is None:
        return results.ToolResult(status="success", data=result.result)
    error = result.error
    status, code = STATUSES.get(error.code, ("error", "UNKNOWN_ERROR"))
    details = {k: v for k, v in error.to_json().items() if k != "message"}
    info = results.ToolErrorInfo(code=code, message=error.message, details=details)
    return results.ToolResult(status=status, error=info)


def run_metadata(context: Any) -> dict[str, Any]:
    """The fields of jaf's run context (a mapping, a dataclass, a pydantic model, or an
    object's attributes) that are JSON-serializable as they are, each as a plain copy;
    the others, and names starting with ``_``, are left out."""
    items: Iterable[tuple[Any, Any]]
    if context is None:
        return {}
    if isinstance(context, Mapping):
        items = context.items()
    elif dataclasses.is_dataclass(context) and not isinstance(context, type):
        items = [(f.name, getattr(context, f.name)) for f in dataclasses.fields(context)]
    elif isinstance(context, BaseModel):
        items = [(name, getattr(context, name)) for name in type(context).model_fields]
    else:
        items = list(getattr(context, "__dict__", {}).items())
    found: dict[str, Any] = {}
    for key, value in items:
        if not isinstance(key, str) or key.startswith("_"):
            continue
        try:
            found[key] = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError, RecursionError):
            continue
    return found


def _approved(tool: Tool, arguments: dict[str, Any]) -> bool:
    return True


class JafTool:
    """One host tool as a jaf-py ``Tool``; every call goes through ``host.call``."""

    def __init__(
        self,
        host: Host,
        tool: Tool,
        *,
        confirm: Confirm | None = None,
        timeout: float | None = None,
    ) -> None:
        types = _jaf("jaf.core.types")
        self.host = host
        self.tool = tool
        self.confirm = confirm
        self.timeout = timeout
        parameters = tool.arguments_model or _schema_model(tool)
        self.schema: Any = types.ToolSchema(
            name=tool.export_name,
            description=tool.description,
            parameters=parameters,
            timeout=timeout + TIMEOUT_GRACE if timeout is not None else None,
        )
        self.metadata: dict[str, Any] = {"jafhost_tool": tool.full_name, "plugin": tool.plugin}
        self.source: Any = types.ToolSource.PLUGIN
        self.needs_approval: bool | Callable[[Any, Any], Awaitable[bool]] = (
            self._ask_approval if tool.confirm else False
        )
        self._asked: dict[int, weakref.ref[Any]] = {}

    def __repr__(self) -> str:
        return f"<JafTool {self.schema.name} -> {self.tool.full_name}>"

    async def _ask_approval(self, context: Any, args: Any) -> bool:
        """jaf's engine asks this before each call of a ``confirm=True`` tool, then runs
        ``execute`` with the same ``args`` object only if the user approved the call;
        remembering that object is how ``execute`` knows jaf asked."""
        key = id(args)

        def forget(ref: weakref.ref[Any]) -> None:
            if self._asked.get(key) is ref:
                del self._asked[key]

        # not weak-referenceable (a dict): execute falls back to the host's policy
        with contextlib.suppress(TypeError):
            self._asked[key] = weakref.ref(args, forget)
        return True

    def _approved_by_jaf(self, args: Any) -> bool:
        ref = self._asked.pop(id(args), None)
        return ref is not None and ref() is args

    async def execute(self, args: Any, context: Any = None) -> Any:
        """Run the tool through ``host.call``; a ``ToolResult``, never an exception for
        what the tool does. The JSON-serializable fields of ``context`` (jaf's run
        context) become the tool's ``RunContext.metadata`` (``run_metadata``)."""
        confirm = self.confirm
        if self.tool.confirm and self._approved_by_jaf(args):
            confirm = _approved
        result = await self.host.call(
            self.tool.full_name,
            _arguments(args),
            timeout=self.timeout,
            confirm=confirm,
            context=run_metadata(context),
        )
        return to_tool_result(result)


def jaf_tools(
    host: Host,
    patterns: Iterable[str] | None = None,
    *,
    confirm: Confirm | None = None,
    timeout: float | None = None,
) -> list[JafTool]:
    """The active tools of ``host`` (those matching the globs in ``patterns``, if
    given) as jaf-py ``Tool`` objects, in activation order.

    A snapshot: tools of plugins activated later are not in it; a tool whose plugin
    was stopped answers with a ``not_found`` result (the host's code, ``unavailable``,
    is in its details). ``confirm`` and ``timeout`` are passed to every ``host.call``.
    ``JafUnavailable`` if jaf-py is not installed.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    _jaf("jaf.core.types")
    return [JafTool(host, tool, confirm=confirm, timeout=timeout) for tool in host.tools(patterns)]


def jaf_agent(
    host: Host,
    spec: AgentSpec | str,
    *,
    model: str | None = None,
    confirm: Confirm | None = None,
    timeout: float | None = None,
    **options: Any,
) -> Any:
    """A jaf-py ``Agent`` for an ``AgentSpec`` (or the name of an agent a plugin
    provides): its name and instructions, and only the host tools its globs allow.

    ``model`` becomes jaf's ``ModelConfig(name=model)`` (jaf names models the litellm
    way; the spec's own ``provider:model`` default is jafhost's vocabulary and is not
    translated). Other keyword arguments go to ``jaf.Agent`` (``handoffs``,
    ``output_codec``, ``model_config``, ...).
    """
    if isinstance(spec, str):
        spec = host.agent(spec).spec
    types = _jaf("jaf.core.types")
    if model is not None:
        options["model_config"] = types.ModelConfig(name=model)
    instructions = spec.instructions
    return types.Agent(
        name=spec.name,
        instructions=lambda state: instructions,
        tools=jaf_tools(host, spec.tools, confirm=confirm, timeout=timeout),
        **options,
    )


__all__ = [
    "INSTALL_HINT",
    "STATUSES",
    "JafTool",
    "JafUnavailable",
    "jaf_agent",
    "jaf_tools",
    "run_metadata",
    "to_tool_result",
]
