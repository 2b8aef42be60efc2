"""Tools: the ``@tool`` decorator, and turning a plain function into a validated ``Tool``.

A tool is an ordinary (sync or async) function a plugin returns from ``jaf_tools``.
Its input schema and validator come from the type hints (with ``Annotated[..., Field(...)]``
honoured) and the docstring (summary and per-parameter descriptions, Google, NumPy or reST
style). The pydantic model behind both (``ToolArguments``) is built once, at its first
need: when the plugin starts without a recorded schema for the tool, or else at the tool's
first call, so a plugin with many tools pays only for those that are called.
A parameter annotated ``PluginContext`` or ``RunContext`` is injected by the host and is
not part of the schema. pydantic itself is imported at that first need too, so a plugin
that imports ``jafhost.tool`` does not make a command that never builds a model pay for it.
"""

from __future__ import annotations

import inspect
import re
import threading
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar, overload

from jafhost.errors import ToolDefinitionError
from jafhost.types import PluginContext, RunContext

if TYPE_CHECKING:
    from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])
TOOL_ATTRIBUTE = "__jaf_tool__"
TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class ToolOptions:
    """What ``@tool`` recorded on a function; absent means all defaults."""

    name: str | None = None
    description: str | None = None
    confirm: bool = False


@overload
def tool(fn: F, /) -> F: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, confirm: bool = False
) -> Callable[[F], F]: ...


def tool(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    confirm: bool = False,
) -> F | Callable[[F], F]:
    """Mark a function as a tool, optionally renaming it or asking for confirmation.

    ``confirm=True`` tools run only after the user says yes (refused when nobody can).
    """

    def mark(function: F) -> F:
        setattr(function, TOOL_ATTRIBUTE, ToolOptions(name, description, confirm))
        return function

    return mark(fn) if fn is not None else mark


def tool_options(fn: Callable[..., Any]) -> ToolOptions:
    return getattr(fn, TOOL_ATTRIBUTE, None) or ToolOptions()


@dataclass
class Tool:
    """One tool of an active plugin, ready to validate and call."""

    plugin: str
    name: str
    description: str
    input_schema: dict[str, Any]
    function: Callable[..., Any]
    validator: Any
    is_async: bool
    confirm: bool = False
    context_param: str | None = None
    run_context_param: str | None = None
    """The parameter that receives the caller's ``RunContext`` (None: the tool does not
    ask, and gets no messages of an agent run)."""
    positional: tuple[str, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def arguments_model(self) -> type[BaseModel] | None:
        """The pydantic model of the arguments once built (None before the tool's first
        need, and for tools validated elsewhere): looking never builds it, since
        building runs plugin code (its types' hooks), which only the plugin's scope may."""
        validator = self.validator
        return validator.built if isinstance(validator, ToolArguments) else None

    @property
    def full_name(self) -> str:
        return f"{self.plugin}.{self.name}"

    @property
    def export_name(self) -> str:
        """The name in OpenAI and MCP exports: ``plugin__tool`` (reversible: plugin
        names never contain ``__``)."""
        return f"{self.plugin}__{self.name}"

    def to_json(self) -> dict[str, Any]:
        """The ``jafhost tools --json`` object."""
        return {
            "name": self.full_name,
            "plugin": self.plugin,
            "description": self.description,
            "input_schema": self.input_schema,
            "confirm": self.confirm,
        }


class ToolArguments:
    """A tool's arguments model and validator, built at the first ``model()`` (its first
    validation, or its schema when none was recorded) and kept.

    Building runs plugin code (a type's ``__get_pydantic_core_schema__``, its
    validators), so it happens where the host validates: in the plugin's scope, under
    the call's time limit, or in its worker. A model that cannot be built is the
    ``ToolDefinitionError`` naming the tool, raised to whoever needed it (the start, or
    that tool's call); the plugin's other tools are not concerned.
    """

    __slots__ = ("_fields", "_lock", "_model", "label", "model_name")

    def __init__(self, label: str, model_name: str, fields: dict[str, Any]) -> None:
        self.label = label
        self.model_name = model_name
        self._fields: dict[str, Any] | None = fields
        self._model: type[BaseModel] | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> type[BaseModel] | None:
        return self._model

    def model(self) -> type[BaseModel]:
        if self._model is None:
            from pydantic import ConfigDict, create_model

            with self._lock:  # concurrent first calls build it once
                if self._model is None:
                    try:
                        self._model = create_model(
                            self.model_name,
                            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
                            **(self._fields or {}),
                        )
                    except PermissionError:  # a denial stays one (its call says so)
                        raise
                    except Exception as exc:
                        raise ToolDefinitionError(
                            f"{self.label}: cannot build its input schema: {exc}"
                        ) from None
                    self._fields = None
        return self._model

    def json_schema(self) -> dict[str, Any]:
        """The input schema (``title`` dropped, ``properties`` always present)."""
        try:
            schema = self.model().model_json_schema()
        except (ToolDefinitionError, PermissionError):
            raise
        except Exception as exc:
            raise ToolDefinitionError(
                f"{self.label}: cannot build its input schema: {exc}"
            ) from None
        schema.pop("title", None)
        schema.setdefault("properties", {})
        return schema

    def validate_python(self, data: Any) -> Any:
        return self.model().__pydantic_validator__.validate_python(data)


def _is_context(annotation: Any, kind: type = PluginContext) -> bool:
    if annotation is kind:
        return True
    args = typing.get_args(annotation)
    return bool(args) and any(a is kind for a in args)


def _has_description(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        from pydantic.fields import FieldInfo

        return any(isinstance(m, FieldInfo) and m.description for m in annotation.__metadata__)
    return False


def _description_and_params(
    fn: Callable[..., Any], options: ToolOptions
) -> tuple[str, dict[str, str]]:
    import docstring_parser  # only once a plugin starts: listing from records needs none

    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    text = "\n\n".join(p for p in (doc.short_description, doc.long_description) if p)
    params = {p.arg_name: p.description or "" for p in doc.params if p.description}
    return str(options.description or text), params


def _parameter_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Resolved parameter annotations; the return annotation is not needed and may name
    something the plugin's module cannot see at run time, so it is left out."""
    annotations = dict(getattr(fn, "__annotations__", {}) or {})
    annotations.pop("return", None)
    holder = SimpleNamespace(__annotations__=annotations)
    namespace = getattr(inspect.unwrap(fn), "__globals__", {})
    return typing.get_type_hints(holder, globalns=namespace, include_extras=True)


def build_tool(
    plugin: str, fn: Callable[..., Any], known: Mapping[str, dict[str, Any]] | None = None
) -> Tool:
    """Build a ``Tool`` from a function; ``ToolDefinitionError`` says what is wrong.

    ``known``: input schemas by tool name, as recorded (its plugin's record holds): a
    tool found there leaves its model to its first call; any other builds it here for
    its schema.
    """
    if not callable(fn):
        raise ToolDefinitionError(f"jaf_tools returned {fn!r}, which is not callable")
    options = tool_options(fn)
    name = str(options.name or getattr(fn, "__name__", ""))
    if not TOOL_NAME.match(name) or "__" in name:
        raise ToolDefinitionError(
            f"tool name {name!r} is not allowed (letters, digits, '_' and '-', no '__')"
        )
    label = f"tool {plugin}.{name}"
    if len(plugin) + 2 + len(name) > 64:
        raise ToolDefinitionError(f"{label}: '{plugin}__{name}' is longer than 64 characters")
    try:
        signature = inspect.signature(fn)
        hints = _parameter_hints(fn)
    except (TypeError, ValueError, NameError) as exc:
        raise ToolDefinitionError(f"{label}: cannot read its signature: {exc}") from None
    description, param_docs = _description_and_params(fn, options)
    fields: dict[str, Any] = {}
    context_param: str | None = None
    run_context_param: str | None = None
    positional: list[str] = []
    for param in signature.parameters.values():
        annotation = hints.get(param.name, Any)
        if _is_context(annotation):
            context_param = param.name
            continue
        if _is_context(annotation, RunContext):
            run_context_param = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"{label}: *args and **kwargs cannot be described")
        if param.kind is param.POSITIONAL_ONLY:
            positional.append(param.name)
        default = ... if param.default is param.empty else param.default
        doc = param_docs.get(param.name)
        if doc and not _has_description(annotation):
            from pydantic import Field

            fields[param.name] = (annotation, Field(default, description=doc))
        else:
            fields[param.name] = (annotation, default)
    arguments = ToolArguments(
        label, f"{plugin}.{name}".replace("-", "_").replace(".", "__"), fields
    )
    schema = known.get(name) if known else None
    if schema is None:
        schema = arguments.json_schema()
    return Tool(
        plugin=plugin,
        name=name,
        description=description or name,
        input_schema=schema,
        function=fn,
        validator=arguments,
        is_async=inspect.iscoroutinefunction(fn),
        confirm=options.confirm,
        context_param=context_param,
        run_context_param=run_context_param,
        positional=tuple(positional),
    )


def split_name(name: str) -> tuple[str, str] | None:
    """``plugin.tool`` or ``plugin__tool`` -> (plugin, tool); None if neither form."""
    if "__" in name:
        plugin, _, tool_name = name.partition("__")
        return (plugin, tool_name) if plugin and tool_name else None
    plugin, dot, tool_name = name.partition(".")
    return (plugin, tool_name) if dot and plugin and tool_name else None


# -- the catalog in other vocabularies (OpenAI, MCP): both name a tool plugin__tool --


def to_openai(tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.export_name,
            "description": tool.description,
            "parameters": tool.input_schema,
        },
    }


def to_mcp(tool: Tool) -> dict[str, Any]:
    return {
        "name": tool.export_name,
        "title": tool.full_name,
        "description": tool.description,
        "inputSchema": tool.input_schema,
    }
