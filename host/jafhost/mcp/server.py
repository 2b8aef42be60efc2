"""Serve the tools of the active plugins as an MCP server over stdio (``jafhost mcp``).

:func:`build_server` maps the host's catalog onto the ``mcp`` SDK's low-level ``Server``
(tools named ``plugin__tool``, every call through ``Host.call``, errors as tool results,
confirmation by elicitation); :func:`serve_stdio` runs it, activating the plugins once
the transport is up and keeping stdout for the protocol alone. ``mcp`` costs ~400 ms to
import, so it is imported only inside those two functions.

Names, results, stdout and lifetime in detail: docs/architecture.md, "The MCP server".
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from jafhost._version import __version__
from jafhost.errors import MCPUnavailable, describe
from jafhost.runtime import telemetry
from jafhost.runtime.call_origin import CALL_ORIGIN, CallOrigin
from jafhost.types import CallError, CallResult

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server

    from jafhost.host.host import Host
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.tools import Tool

SERVER_NAME = "jafhost"
MCP_ORIGIN = CallOrigin(caller="mcp")
"""Who calls the tools this server routes: a tool's ``RunContext.caller`` is ``mcp``."""
INSTALL_HINT = "pip install 'jafhost[mcp]'"
STATS_URI = "jafhost://stats"
"""The resource holding ``Host.stats()`` as JSON, read afresh at each ``resources/read``."""
RESOURCE_NOT_FOUND = -32002
"""The JSON-RPC error code MCP gives an unknown resource."""


def _require_mcp() -> None:
    try:
        import mcp.server.lowlevel  # noqa: F401
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root in ("mcp", "mcp_types"):
            raise MCPUnavailable(
                f"jafhost mcp needs the mcp package, which is not installed: {INSTALL_HINT}"
            ) from None
        raise


# -- shaping results (plain dicts in the MCP wire vocabulary; no SDK needed) -----------


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=repr)


def result_content(result: CallResult) -> tuple[list[dict[str, Any]], Any, bool]:
    """``(content blocks, structured content or None, is_error)`` for one ``CallResult``."""
    if result.ok:
        value = result.result
        structured = value if isinstance(value, dict) else None
        return [{"type": "text", "text": _text(value)}], structured, False
    assert result.error is not None
    error = {"error": result.error.to_json()}
    blocks = [
        {"type": "text", "text": result.error.message},
        {"type": "text", "text": _text(error)},
    ]
    return blocks, error, True


def _internal_error(name: str, exc: Exception) -> CallResult:
    return CallResult(
        name,
        False,
        error=CallError(
            "tool_error",
            f"jafhost internal error: {describe(exc)}",
            tool=name,
            exception=type(exc).__name__,
        ),
    )


# -- the server --------------------------------------------------------------------------


def build_server(host: Host) -> Server[Any]:
    """A low-level MCP ``Server`` whose tools are the host's active tools, and whose one
    resource (``jafhost://stats``) is ``Host.stats()`` as JSON.

    The catalog is read from the host once, at the first ``tools/list``: plugins are not
    activated or deactivated while serving.
    """
    from mcp import types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server

    listing: list[types.ListToolsResult] = []

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        if not listing:
            listing.append(
                types.ListToolsResult(
                    tools=[
                        types.Tool(
                            name=tool.export_name,
                            title=tool.full_name,
                            description=tool.description or None,
                            input_schema=tool.input_schema,
                        )
                        for tool in host.tools()
                    ]
                )
            )
        return listing[0]

    asking: list[dict[str, Tool]] = []

    def confirm_tools() -> dict[str, Tool]:
        if not asking:
            asking.append(
                {
                    name: tool
                    for tool in host.tools()
                    if tool.confirm
                    for name in (tool.full_name, tool.export_name)
                }
            )
        return asking[0]

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = confirm_tools().get(params.name)
        token = CALL_ORIGIN.set(MCP_ORIGIN)  # the tool's caller is "mcp"
        try:
            # the client's trace context (``traceparent`` in ``_meta``) parents the call
            with telemetry.remote_parent(_meta_of(params)):
                if tool is None:
                    result = await host.call(params.name, params.arguments)
                else:
                    answer = await _ask_user(ctx, tool, params.arguments)
                    result = await host.call(
                        params.name,
                        params.arguments,
                        confirm=None if answer is None else lambda *_: answer,
                    )
        except Exception as exc:  # a bug in the host, not the tool: still a tool result
            result = _internal_error(params.name, exc)
        finally:
            CALL_ORIGIN.reset(token)
        content, structured, is_error = result_content(result)
        return types.CallToolResult(
            content=[types.TextContent(text=block["text"]) for block in content],
            structured_content=structured,
            is_error=is_error,
        )

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        stats = types.Resource(
            name="stats",
            title="jafhost plugin stats",
            uri=STATS_URI,
            description="Per plugin: start times (import, initialize, activate), calls, "
            "errors by code, p50/p95 call ms, worker pids, resident memory and restarts",
            mime_type="application/json",
        )
        return types.ListResourcesResult(resources=[stats])

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        from mcp.shared.exceptions import MCPError

        if str(params.uri) != STATS_URI:
            raise MCPError(RESOURCE_NOT_FOUND, f"unknown resource: {str(params.uri)[:200]}")
        text = json.dumps(host.stats().to_json())
        contents = types.TextResourceContents(
            uri=STATS_URI, mime_type="application/json", text=text
        )
        return types.ReadResourceResult(contents=[contents])

    return Server(
        SERVER_NAME,
        version=__version__,
        title="jafhost plugin tools",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


def _meta_of(params: Any) -> dict[str, Any] | None:
    """The request's ``_meta`` as a plain mapping (None when it has none)."""
    meta = getattr(params, "meta", None)
    if meta is None:
        return None
    if isinstance(meta, dict):
        return meta
    dumped = getattr(meta, "model_dump", None)
    return dumped(by_alias=True) if dumped is not None else None


async def _ask_user(ctx: Any, tool: Tool, arguments: Any) -> bool | None:
    """Ask the user, through the client (MCP elicitation), whether a ``confirm=True`` tool
    may run: True or False, or None when the client cannot ask (the host then refuses)."""
    from mcp import types

    session = ctx.session
    wanted = types.ClientCapabilities(elicitation=types.ElicitationCapability())
    try:
        if not session.check_client_capability(wanted):
            return None
        answer = await session.elicit_form(
            f"Allow the tool {tool.full_name} to run with these arguments?\n"
            + json.dumps(arguments or {}, ensure_ascii=False, indent=2, default=repr),
            {"type": "object", "properties": {}},
            related_request_id=ctx.request_id,
        )
    except Exception as exc:  # no back-channel (2026 protocol era), the client failed, ...
        sys.stderr.write(f"jafhost mcp: could not ask to confirm {tool.full_name}: {exc}\n")
        return None
    return bool(answer.action == "accept")


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point ``sys.stdout`` at ``sys.stderr`` (plugin prints must not reach the wire)."""
    saved = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = saved


class _Drain:
    """The ids of the client's requests that have no response yet.

    The SDK ends the session as soon as stdin reaches end-of-file, dropping the answers
    to requests still running; a client that writes its requests and then closes stdin
    (a pipe, a script) would get nothing. ``reader`` holds the end-of-file back until
    every request read so far has been answered (or cancelled by the client), for at most
    ``limit`` seconds.
    """

    def __init__(self, limit: Callable[[], float]) -> None:
        import anyio
        from mcp import types

        self._anyio = anyio
        self._request = types.JSONRPCRequest
        self._notification = types.JSONRPCNotification
        self._answers = (types.JSONRPCResponse, types.JSONRPCError)
        self._limit = limit
        self._open: set[Any] = set()
        self._idle = anyio.Event()
        self._idle.set()

    def seen(self, item: Any) -> None:
        """An incoming message: a request opens an id, a cancellation closes one."""
        message = getattr(item, "message", None)
        if isinstance(message, self._request):
            if not self._open:
                self._idle = self._anyio.Event()
            self._open.add(message.id)
        elif (
            isinstance(message, self._notification) and message.method == "notifications/cancelled"
        ):
            self._close((message.params or {}).get("requestId"))

    def sent(self, item: Any) -> None:
        """An outgoing message: a response or error closes its request's id."""
        message = getattr(item, "message", None)
        if isinstance(message, self._answers):
            self._close(message.id)

    def _close(self, request_id: Any) -> None:
        self._open.discard(request_id)
        if not self._open:
            self._idle.set()

    async def wait(self) -> None:
        if self._open:
            with self._anyio.move_on_after(self._limit()):
                await self._idle.wait()


class _DrainingReader:
    """A read stream that notes requests and, at end-of-file, waits for their answers."""

    def __init__(self, inner: Any, drain: _Drain) -> None:
        import anyio

        self._inner = inner
        self._drain = drain
        self._end = anyio.EndOfStream

    @property
    def last_context(self) -> Any:  # the SDK propagates the sender's context variables
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            item = await self._inner.receive()
        except self._end:
            await self._drain.wait()
            raise
        self._drain.seen(item)
        return item

    def __aiter__(self) -> _DrainingReader:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except self._end:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _DrainingReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _NotingWriter:
    """A write stream that tells the drain which requests have been answered."""

    def __init__(self, inner: Any, drain: _Drain) -> None:
        self._inner = inner
        self._drain = drain

    async def send(self, item: Any, /) -> None:
        await self._inner.send(item)
        self._drain.sent(item)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _NotingWriter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _log_activation(host: Host, loaded: list[LoadedPlugin]) -> None:
    """One line on stderr (the client's log of this server) per plugin that failed to
    start, and what is being served."""
    for plugin in loaded:
        if plugin.status not in ("active", "idle"):  # idle: recorded, starts at first call
            error = " ".join((plugin.error or "").split())
            sys.stderr.write(f"jafhost mcp: plugin {plugin.name} is {plugin.status}: {error}\n")
    active = host.serving
    sys.stderr.write(
        f"jafhost mcp: serving {len(host.tools())} tool(s) of {len(active)} plugin(s)"
        + (f" ({', '.join(active)})" if active else "")
        + "\n"
    )
    sys.stderr.flush()


def _transport_stdout(stdout: TextIO | None) -> Any:
    """``stdout`` as the SDK's transport wants it (UTF-8 over its buffer, never closed);
    None when the caller gave none: the SDK then claims fd 1 itself."""
    import anyio

    if stdout is None:
        return None
    stdout.flush()
    return anyio.wrap_file(_Unowned(stdout.buffer, encoding="utf-8"))


class _Unowned(io.TextIOWrapper):
    """A text layer over the caller's stdout buffer that never closes it."""

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.detach()


def _drain_limit(host: Host) -> float:
    """How long end-of-file waits for running calls: as long as one call may take."""
    try:
        return float(host.settings.call_timeout) + 1.0
    except Exception:
        return 31.0


async def serve_stdio(
    host: Host,
    *,
    stopped: Callable[[], None] | None = None,
    stdout: TextIO | None = None,
) -> None:
    """Activate the host's enabled plugins and serve their tools over stdin and
    ``stdout`` (default: the process's fd 1, which the SDK claims while it serves) until
    the client disconnects; then deactivate them (and call ``stopped``, if given).
    Raises ``MCPUnavailable`` without the ``mcp`` package."""
    _require_mcp()
    import anyio
    from mcp.server.stdio import stdio_server

    server = build_server(host)
    telemetry.tracer()  # set up from OTEL_* before the SDK's own spans of each request
    drain = _Drain(lambda: _drain_limit(host))
    # stdio_server claims the real stdout first; only then is sys.stdout redirected. A
    # caller that passed ``stdout`` (the CLI) has already pointed fd 1 and sys.stdout at
    # stderr, and the protocol goes to the stream it kept.
    async with stdio_server(stdout=_transport_stdout(stdout)) as (read_stream, write_stream):
        with _stdout_to_stderr():
            try:
                _log_activation(host, await host.activate_all())
                await server.run(
                    _DrainingReader(read_stream, drain),
                    _NotingWriter(write_stream, drain),
                    server.create_initialization_options(),
                )
            finally:
                # shielded: the transport's task group may be cancelling this task
                with anyio.CancelScope(shield=True):
                    await host.deactivate_all()
                if stopped is not None:
                    stopped()


def serve(host: Host, *, stdout: TextIO | None = None) -> None:
    """Blocking entry point: :func:`serve_stdio` on a fresh asyncio event loop, the
    protocol written to ``stdout`` (default: fd 1).

    SIGTERM (how clients stop a server that does not exit on its own) and SIGINT end the
    session cleanly: plugins are deactivated, then the signal is delivered again with its
    default action, so the process ends the way its parent expects. (Waiting for the
    transport instead would hang: its stdin reader sits in a blocking read until the
    client closes the pipe.)
    """
    _require_mcp()
    received: list[int] = []

    def stopped() -> None:
        if received:
            sys.stderr.flush()
            signal.signal(received[0], signal.SIG_DFL)
            os.kill(os.getpid(), received[0])

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None

        def on_signal(number: int) -> None:
            if not received:
                received.append(number)
                task.cancel()

        for number in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(number, on_signal, number)
        try:
            await serve_stdio(host, stopped=stopped, stdout=stdout)
        except asyncio.CancelledError:
            stopped()  # a signal before serving began
            raise

    asyncio.run(main())


__all__ = [
    "INSTALL_HINT",
    "build_server",
    "result_content",
    "serve",
    "serve_stdio",
]
