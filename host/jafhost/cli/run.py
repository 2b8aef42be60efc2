"""CLI commands that run plugin code: ``tools``, ``call``, ``emit`` and ``dev``.

Each builds one ``Host``, starts every enabled plugin (``with_host``: middleware from
other plugins wraps every call, one-off CLI calls included), does its work through the
host, and stops them all before exiting.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jafhost.cli._common import (
    Failed,
    JsonOption,
    app,
    build_host,
    can_prompt,
    make_console,
    print_json,
    with_host,
)
from jafhost.errors import EventError, UsageError, quoted

if TYPE_CHECKING:
    from jafhost.host.host import Host
    from jafhost.tools import Tool
    from jafhost.types import CallResult


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_arguments(json_args: str | None, pairs: list[str]) -> dict[str, Any]:
    """``--json ARGS`` then ``-a KEY=VALUE`` pairs (VALUE as JSON when it parses)."""
    arguments: dict[str, Any] = {}
    if json_args == "-":
        json_args, where = _stdin_text(), "--json - (standard input)"
        if not json_args.strip():
            raise UsageError(f"invalid arguments: {where} is empty; give a JSON object")
    else:
        where = "--json"
    if json_args is not None:  # "" is not JSON either
        try:
            loaded = json.loads(json_args)
        except ValueError as exc:
            raise UsageError(f"invalid arguments: {where} is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"invalid arguments: {where} must be a JSON object")
        arguments.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid arguments: -a {quoted(pair)} is not KEY=VALUE")
        arguments[key] = _parse_value(value)
    return arguments


def _stdin_text() -> str:
    if sys.stdin is None:
        raise UsageError("invalid arguments: --json - reads standard input, and there is none")
    try:
        return sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        message = f"invalid arguments: cannot read --json - (standard input): {exc}"
        raise UsageError(message) from None


def check_timeout(timeout: float | None) -> None:
    """``--timeout``: a finite number of seconds greater than 0."""
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be a number of seconds greater than 0, not {timeout:g}")


def _confirmer(yes: bool) -> Callable[[Tool, dict[str, Any]], bool]:
    def confirm(tool: Tool, arguments: dict[str, Any]) -> bool:
        if yes:
            return True
        if not can_prompt():
            raise Failed(
                f"tool {tool.full_name} needs your confirmation and there is no terminal "
                "to ask; run again with --yes to allow it"
            )
        console = make_console(stderr=True)
        console.print(f"{tool.full_name} wants to run with:", markup=False)
        console.print_json(json.dumps(arguments, default=str))
        return typer.confirm(f"Run {tool.full_name}?", default=False)

    return confirm


def exit_code(result: CallResult) -> int:
    """Contract: 2 for invalid arguments or an unknown name, 1 for any other failure."""
    error = result.error
    if error is None:
        return 0
    if error.code in ("invalid_arguments", "not_found"):
        return 2
    return 1


@app.command()
def tools(
    as_json: JsonOption = False,
    format: Annotated[
        str | None, typer.Option("--format", help="Print the catalog in that form: openai or mcp.")
    ] = None,
) -> None:
    """The tool catalog of the active plugins."""
    if format not in (None, "openai", "mcp"):
        raise UsageError(f"--format must be openai or mcp, not {format!r}")

    async def work(host: Host) -> list[dict[str, Any]]:
        await host.settle()  # plugins without a record: their tools are known once started
        return host.tool_definitions(format or "json")

    catalog = with_host(build_host(), work)
    if as_json or format:
        print_json(catalog)
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"tools ({len(catalog)})")
    for column in ("tool", "description", "arguments"):
        table.add_column(column, overflow="fold")
    for item in catalog:
        props = item["input_schema"].get("properties", {})
        required = set(item["input_schema"].get("required", []))
        args = ", ".join(f"{k}{'' if k in required else '?'}" for k in props)
        first_line = (item["description"] or "").splitlines()[0] if item["description"] else ""
        table.add_row(
            escape(item["name"]) + (" (confirm)" if item.get("confirm") else ""),
            escape(first_line),
            escape(args),
        )
    make_console().print(table)


@app.command()
def call(
    tool: Annotated[str, typer.Argument(help="The tool: plugin.tool (or plugin__tool).")],
    json_args: Annotated[
        str | None,
        typer.Option("--json", help="Arguments as a JSON object ('-': read it from stdin)."),
    ] = None,
    arg: Annotated[
        list[str] | None, typer.Option("-a", "--arg", help="KEY=VALUE (VALUE parsed as JSON).")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds before the call fails.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Allow tools that ask.")] = False,
) -> None:
    """Route one action to a tool and print the result as JSON."""
    from jafhost.tools import split_name

    check_timeout(timeout)
    arguments = parse_arguments(json_args, arg or [])
    parts = split_name(tool)
    if parts is None:
        raise UsageError(f"unknown tool {quoted(tool)}: name it plugin.tool")
    host = build_host()
    host.plugin(parts[0])  # an unknown plugin is a usage error (exit 2)

    async def work(host: Host) -> CallResult:
        return await host.call(tool, arguments, timeout=timeout, confirm=_confirmer(yes))

    result = with_host(host, work)
    if result.ok:
        print_json(result.result)
        return
    assert result.error is not None
    sys.stderr.write(f"error: {' '.join(result.error.message.split())}\n")
    if result.error.traceback:
        sys.stderr.write(result.error.traceback)
    raise typer.Exit(exit_code(result))


@app.command()
def emit(
    event: Annotated[str, typer.Argument(help="The event's name, e.g. order.created.")],
    data: Annotated[str | None, typer.Option("--data", help="The event's data as JSON.")] = None,
) -> None:
    """Deliver an event to the plugins subscribed to it.

    Prints a JSON delivery report (exit 1 if a handler failed or the event was not
    delivered).
    """
    from jafhost.runtime.events import check_event_name

    try:
        check_event_name(event)
    except EventError as exc:
        raise UsageError(str(exc)) from None
    payload: Any = None
    if data is not None:
        try:
            payload = json.loads(data)
        except ValueError as exc:
            raise UsageError(f"--data is not valid JSON: {exc}") from None

    async def work(host: Host) -> Any:
        await host.settle()  # plugins without a record: their patterns are known once started
        return await host.emit(event, payload)

    report = with_host(build_host(), work)
    print_json(report.to_json())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def dev(
    paths: Annotated[
        list[str] | None, typer.Argument(help="Folders to watch (default: the plugins').")
    ] = None,
) -> None:
    """Run the enabled plugins, reloading each one that changes.

    A plugin is reloaded when one of its source files changes.
    """
    from jafhost.host.dev import watch

    folders = [Path(p) for p in paths or []]
    for text in paths or []:
        if not text or not os.path.isdir(text):  # isdir: False for a name too long too
            raise UsageError(f"dev: {quoted(text)} is not a folder")

    console = make_console()

    def report(result: Any) -> None:
        if result.ok:
            again = ", ".join(result.restarted)
            console.print(f"reloaded {result.plugin} (restarted: {again})", markup=False)
        else:
            kept = "; the previous version keeps serving" if result.kept_previous else ""
            console.print(f"reload of {result.plugin} failed: {result.error}{kept}", markup=False)

    def ready() -> None:
        console.print("watching for changes (Ctrl-C to stop)", markup=False)

    async def work(host: Host) -> None:
        await host.activate_all(everything=True)  # a session that reloads: all running
        active = ", ".join(host.active) or "none"
        console.print(f"active plugins: {active}", markup=False)
        try:
            await watch(host, folders, report, ready)
        except RuntimeError as exc:
            raise Failed(str(exc)) from None

    try:
        with_host(build_host(), work)
    except KeyboardInterrupt:
        console.print("stopped", markup=False)
