"""The audit-log plugin (entry point ``audit-log = "jaf_plugin_audit_log.plugin:AuditLogPlugin"``).

Two sources feed one trail, ``audit.jsonl`` in the plugin's data folder:

- ``jaf_tool_call``, a pluggy wrapper around every tool call that reaches a tool: the
  tool, its validated arguments (secrets redacted), ok or the error code, the duration
  and the call id. It is registered ``tryfirst``, so it is the outermost middleware and
  also sees calls that other middleware refuses.
- event handlers, by default for ``tool.*`` (``tool.called``/``tool.failed``, which the
  host publishes for every call, including those refused before any tool or middleware
  ran: unknown tool, invalid arguments, confirmation refused), ``permission.denied`` (the
  guard stopped a plugin; the entry names the permission) and ``plugin.*`` (activated,
  deactivated, failed).

The entry point names a class, so each host gets its own instance and its own trail: the
wrapper receives no context, and per-instance state is how it finds the right file.
Calls of this plugin's own tool (``recent``) are left out unless ``record_own_calls``.

No ``from __future__ import annotations`` here on purpose: the host reads the tool's and
the handler's annotations at run time, so they stay real objects rather than strings.
"""

import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Annotated, Any

from jafhost import Event, PermissionDenied, PluginContext, ToolCall, ToolError, hookimpl
from pydantic import BaseModel, ConfigDict, Field

from jaf_plugin_audit_log.trail import DEFAULT_SECRET_KEYS, TRAIL_FILE, AuditTrail, Redactor

DEFAULT_EVENTS = ("tool.*", "permission.denied", "plugin.*")


class AuditConfig(BaseModel):
    """``[plugins.audit-log]`` in ``config.toml``."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(
        default=1_000_000, ge=1024, description="rotate audit.jsonl before it grows past this size"
    )
    backups: int = Field(
        default=3, ge=0, le=100, description="rotated files kept: audit.jsonl.1 (newest) .. .N"
    )
    redact_keys: list[str] = Field(
        default_factory=list,
        description="more key globs whose values are redacted, on top of the built-in "
        + ", ".join(DEFAULT_SECRET_KEYS),
    )
    max_value_chars: int = Field(
        default=1000, ge=16, description="longer strings in arguments and event data are cut"
    )
    events: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EVENTS), description="event patterns recorded"
    )
    record_own_calls: bool = Field(
        default=False, description="also record calls of audit-log's own tool (recent)"
    )


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def describe_error(exc: BaseException) -> dict[str, Any]:
    """The structured error code the caller gets for ``exc`` (as the host maps it)."""
    if isinstance(exc, PermissionDenied):
        error: dict[str, Any] = {"code": "permission_denied", "message": str(exc)}
        if exc.permission:
            error["permission"] = exc.permission
        return error
    if isinstance(exc, ToolError):
        return {"code": exc.code, "message": str(exc)}
    name = type(exc).__name__
    if isinstance(exc, TimeoutError) or name == "HookTimeout":
        return {"code": "timeout", "message": str(exc) or name}
    return {"code": "tool_error", "message": f"{name}: {exc}" if str(exc) else name}


class AuditLogPlugin:
    """Hook implementations and the tool of the ``audit-log`` plugin (one per load)."""

    def __init__(self) -> None:
        self.name = "audit-log"
        self.config = AuditConfig()
        self.redact = Redactor()
        self._trail: AuditTrail | None = None

    @property
    def trail(self) -> AuditTrail:
        if self._trail is None:
            raise RuntimeError("the audit-log plugin is not running (its trail is closed)")
        return self._trail

    # -- lifecycle ------------------------------------------------------------------------

    @hookimpl
    def jaf_config_schema(self) -> type[BaseModel]:
        return AuditConfig

    @hookimpl
    def jaf_initialize(self, ctx: PluginContext) -> None:
        """Open ``audit.jsonl`` (appending) in the plugin's data folder."""
        if isinstance(ctx.config, AuditConfig):
            self.config = ctx.config
        self.name = ctx.name
        self.redact = Redactor(
            [*DEFAULT_SECRET_KEYS, *self.config.redact_keys], self.config.max_value_chars
        )
        self._trail = AuditTrail(
            ctx.data_dir / TRAIL_FILE, self.config.max_bytes, self.config.backups
        )
        ctx.logger.info("audit trail %s", self._trail.path)

    @hookimpl
    def jaf_deactivate(self, ctx: PluginContext) -> None:
        if self._trail is not None:
            self._trail.close()
            self._trail = None

    @hookimpl
    def jaf_tools(self) -> list[Callable[..., Any]]:
        return [self.recent]

    @hookimpl
    def jaf_event_handlers(self) -> dict[str, Callable[..., Any]]:
        return dict.fromkeys(self.config.events, self.on_event)

    # -- recording ------------------------------------------------------------------------

    def _write(self, entry: dict[str, Any]) -> None:
        trail = self._trail
        if trail is not None and not trail.closed:
            trail.append(entry)

    def _own(self, tool: Any) -> bool:
        return (
            not self.config.record_own_calls
            and isinstance(tool, str)
            and tool.startswith(self.name + ".")
        )

    @hookimpl(wrapper=True, tryfirst=True)
    def jaf_tool_call(self, call: ToolCall) -> Generator[None, Any, Any]:
        """Record the call once it has finished, whatever the outcome."""
        if self._own(call.name):
            return (yield)
        started_at = time.time()
        started = time.perf_counter()
        error: dict[str, Any] | None = None
        try:
            return (yield)
        except BaseException as exc:
            error = describe_error(exc)
            raise
        finally:
            entry: dict[str, Any] = {
                "time": _timestamp(started_at),
                "kind": "call",
                "id": call.id,
                "tool": call.name,
                "plugin": call.plugin,
                "caller": getattr(call, "caller", "api"),  # who made it: cli, mcp, api, agent
                "agent": getattr(call, "agent", None),
                "arguments": self.redact(call.arguments),
                "ok": error is None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            }
            if error is not None:
                entry["error"] = self.redact(error)
            self._write(entry)

    def on_event(self, event: Event) -> None:
        """Record a host or plugin event (``kind`` is the event's name)."""
        data = event.data
        if (
            event.name.startswith("tool.")
            and isinstance(data, dict)
            and self._own(data.get("tool"))
        ):
            return
        self._write(
            {
                "time": _timestamp(event.time),
                "kind": event.name,
                "id": event.id,
                "source": event.source,
                "data": self.redact(data),
            }
        )

    # -- the tool -------------------------------------------------------------------------

    def recent(
        self,
        limit: Annotated[int, Field(ge=1, le=1000)] = 20,
        kind: str | None = None,
    ) -> list[dict[str, Any]]:
        """The latest audit entries, oldest first (tool calls, denials, plugin events).

        Args:
            limit: at most this many entries.
            kind: only entries of this kind: "call" for tool calls, or an event name such
                as "permission.denied"; globs work ("plugin.*", "tool.*").
        """
        return self.trail.recent(limit, kind)
