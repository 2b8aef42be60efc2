"""OpenTelemetry spans of tool calls, agent runs and plugin starts, when tracing is on.

Agent developers already watch their agents through OpenTelemetry: spans named as the
GenAI conventions name them (``execute_tool``, ``invoke_agent``) drop a plugin host into
the traces they read. Tracing is on when the embedding program set a tracer provider of
its own (a real one: not the API's proxy or no-op), or when the environment asks for an
exporter (``OTEL_TRACES_EXPORTER`` other than ``none``, or an OTLP endpoint): the host
then sets up the SDK itself, with the OTLP/HTTP exporter configured by the standard
``OTEL_*`` variables and a batch processor the SDK flushes at exit.

Off, each point below is one call that returns a shared object doing nothing:
opentelemetry is never imported (an embedder that imported it without setting a
provider costs one look-up). Spans are made by the host, on its side of a call, so a
process-isolated plugin's calls are traced without any tracing inside its sandbox.
Only names, codes and the caller are recorded: never an argument or a result value,
nor an error message (it may quote either).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Coroutine, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Self, TypeVar

if TYPE_CHECKING:
    from types import TracebackType

    from jafhost.types import CallResult

T = TypeVar("T")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""Either one set turns tracing on (to the OTLP/HTTP exporter)."""

INSTALL_HINT = "pip install 'jafhost[otel]'"

CALL_ID: ContextVar[str | None] = ContextVar("jafhost_tool_call_id", default=None)
"""The id the model gave the tool call being routed (``gen_ai.tool.call.id``)."""

_configured = False
"""Whether the environment was read (once per process)."""
_provider: Any = None
"""The tracer provider ``_tracer`` came from (checked on each use: an embedder may set one
later)."""
_tracer: Any = None
_own_provider: Any = None
"""The provider the host set up from the environment, if it did."""
_UNKNOWN = object()
_provider_named = False
"""Whether ``OTEL_PYTHON_TRACER_PROVIDER`` names the API's default provider (read once)."""
_api: Any = None
"""The opentelemetry API pieces a span uses, bound once tracing is on (``_Api``)."""


class _Api:
    """The API's modules and names, looked up once (not on each span)."""

    def __init__(self) -> None:
        from opentelemetry import context, trace

        self.context = context
        self.trace = trace
        self.internal = trace.SpanKind.INTERNAL
        self.error = trace.StatusCode.ERROR
        self.status = trace.Status


def env_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the ``OTEL_*`` variables ask for spans to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


def _unset(trace: Any, provider: Any) -> bool:
    return isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def _configure_from_env() -> None:
    """Set up the SDK as the ``OTEL_*`` variables say, unless a provider is already set."""
    global _configured, _own_provider, _provider_named
    _configured = True
    _provider_named = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
    if not env_enabled():
        return
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ModuleNotFoundError:
        _warn(f"tracing is asked for by OTEL_* variables, but it needs: {INSTALL_HINT}")
        return
    if not _unset(trace, trace.get_tracer_provider()):  # the embedding program's wins
        return
    named = "OTEL_SERVICE_NAME" in os.environ or "service.name" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = TracerProvider(
        resource=Resource.create({} if named else {"service.name": "jafhost"})
    )
    for exporter in _exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _own_provider = provider


def _warn(message: str) -> None:
    import logging  # only here: the one-shot lane imports this module, not logging

    logging.getLogger("jafhost").warning("%s", message)


def _exporters() -> list[Any]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (default ``otlp``, over HTTP)."""
    names = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    exporters: list[Any] = []
    for name in (part.strip() for part in names.split(",")):
        if name in ("otlp", "otlp_proto_http"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":  # stdout is the CLI's own output: spans go to stderr
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter(out=sys.stderr))
        elif name and name != "none":
            _warn(f"OTEL_TRACES_EXPORTER: exporter {name!r} is not supported (otlp, console)")
    return exporters


def tracer() -> Any:
    """The tracer spans are made with, or None when tracing is off."""
    global _provider, _tracer
    if not _configured:
        _configure_from_env()
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    # the API's global itself first: None (nothing set) is off without the API's look-ups
    provider = getattr(trace, "_TRACER_PROVIDER", _UNKNOWN)
    if provider is None and not _provider_named:
        return None
    if provider is _provider:
        return _tracer
    provider = trace.get_tracer_provider()
    if provider is _provider:
        return _tracer
    from jafhost._version import __version__

    _tracer = None if _unset(trace, provider) else provider.get_tracer("jafhost", __version__)
    _provider = provider
    if _tracer is not None and _api is None:
        _bind()
    return _tracer


def _bind() -> None:
    global _api
    _api = _Api()


def flush() -> None:
    """Send the spans the host's own provider still holds (the SDK also does at exit)."""
    if _own_provider is not None:
        _own_provider.force_flush()


class _Off:
    """What every point returns when tracing is off: nothing to do."""

    __slots__ = ()

    def __enter__(self) -> _Off:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def ended(self, *outcome: Any) -> None:
        return None


OFF = _Off()


class _Span:
    """One span, current while its ``with`` block runs; ended when the block ends."""

    __slots__ = ("_span", "_token")

    def __init__(self, made: Any, name: str, attributes: dict[str, Any]) -> None:
        self._span = made.start_span(name, kind=_api.internal, attributes=attributes)
        self._token: Any = None

    def __enter__(self) -> Self:
        self._token = _api.context.attach(_api.trace.set_span_in_context(self._span))
        return self

    def failed(self, code: str) -> None:
        """Mark the span failed with ``code`` (a code, never a message: it may quote values)."""
        self._span.set_attribute("error.type", code)
        self._span.set_status(_api.status(_api.error, code))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is not None:
            self.failed(kind.__name__)
        self._span.end()
        _api.context.detach(self._token)


class ToolSpan(_Span):
    __slots__ = ()

    def ended(self, result: CallResult) -> None:
        if not result.ok and result.error is not None:
            self.failed(result.error.code)


class AgentSpan(_Span):
    __slots__ = ()

    def ended(self, ok: bool, stop: str | None) -> None:
        if not ok:
            self.failed(stop or "error")


class ActivateSpan(_Span):
    __slots__ = ()

    def ended(self, status: str) -> None:
        if status != "active":
            self.failed(status)


def tool_span(name: str) -> ToolSpan | _Off:
    """``execute_tool {plugin.tool}`` around one routed call (``ended(result)`` gives it the
    outcome's error code)."""
    made = tracer()
    if made is None:
        return OFF
    from jafhost.runtime.call_origin import current_origin
    from jafhost.tools import split_name

    parts = split_name(name) if isinstance(name, str) else None
    full = f"{parts[0]}.{parts[1]}" if parts is not None else str(name)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": full,
        "jafhost.caller": current_origin().caller,
    }
    if parts is not None:
        attributes["jafhost.plugin"] = parts[0]
    call_id = CALL_ID.get()
    if call_id:
        attributes["gen_ai.tool.call.id"] = call_id
    return ToolSpan(made, f"execute_tool {full}", attributes)


def agent_span(agent: str, model: str | None) -> AgentSpan | _Off:
    """``invoke_agent {agent}`` around one agent run (its tool calls are its children)."""
    made = tracer()
    if made is None:
        return OFF
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent,
    }
    if model:
        attributes["gen_ai.request.model"] = model
    return AgentSpan(made, f"invoke_agent {agent}", attributes)


def activate_span(plugin: str, isolation: str) -> ActivateSpan | _Off:
    """``jafhost.activate {plugin}`` around one plugin start (``ended(status)``)."""
    made = tracer()
    if made is None:
        return OFF
    attributes = {"jafhost.plugin": plugin, "jafhost.isolation": isolation}
    return ActivateSpan(made, f"jafhost.activate {plugin}", attributes)


class _CallId:
    __slots__ = ("_id", "_token")

    def __init__(self, call_id: str) -> None:
        self._id = call_id
        self._token: Any = None

    def __enter__(self) -> _CallId:
        self._token = CALL_ID.set(self._id)
        return self

    def __exit__(self, *exc: object) -> None:
        CALL_ID.reset(self._token)


def call_id(given: str | None) -> _CallId | _Off:
    """The model's id of the tool call routed inside the block, for its span."""
    if not given or tracer() is None:
        return OFF
    return _CallId(given)


class _Parent:
    __slots__ = ("_context", "_token")

    def __init__(self, parent: Any) -> None:
        self._context = parent
        self._token: Any = None

    def __enter__(self) -> _Parent:
        from opentelemetry import context

        self._token = context.attach(self._context)
        return self

    def __exit__(self, *exc: object) -> None:
        from opentelemetry import context

        context.detach(self._token)


def remote_parent(meta: Mapping[str, Any] | None) -> _Parent | _Off:
    """The W3C trace context a client sent (``traceparent`` in an MCP request's ``_meta``)
    as the parent of the spans inside the block, unless a span is already current (the
    MCP SDK's own span of that request, itself a child of the same context)."""
    if not meta or "traceparent" not in meta or tracer() is None:
        return OFF
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    if trace.get_current_span().get_span_context().is_valid:
        return OFF
    carrier = {key: str(value) for key, value in meta.items() if isinstance(value, str)}
    try:
        parent = extract(carrier)
    except (TypeError, ValueError):
        return OFF
    if not trace.get_current_span(parent).get_span_context().is_valid:
        return OFF
    return _Parent(parent)


def carried(coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """``coro`` run under the caller's current span when it runs on another thread's loop
    (``SyncHost``): the caller's span stays the parent of what it does."""
    if tracer() is None:
        return coro
    from opentelemetry import context

    current = context.get_current()

    async def inside() -> T:
        token = context.attach(current)
        try:
            return await coro
        finally:
            context.detach(token)

    return inside()
