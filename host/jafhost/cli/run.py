"""CLI commands that run plugin code: ``tools``, ``call``, ``emit`` and ``dev``.

Each builds one ``Host``, starts every enabled plugin (``with_host``: middleware from
other plugins wraps every call, one-off CLI calls included), does its work through the
host, and stops them all before exiting. ``call`` reads its options here and does its
work in ``jafhost.cli.calling`` (shared with the console script's fast path).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jafhost.cli import calling
from jafhost.cli._common import (
    Failed,
    JsonOption,
    app,
    build_host,
    make_console,
    print_json,
    with_host,
)
from jafhost.errors import EventError, UsageError, quoted

if TYPE_CHECKING:
    from jafhost.host.host import Host


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
    given = calling.CallArguments(tool, json_args, arg or [], timeout, yes)
    code = calling.call(given)
    if code:
        raise typer.Exit(code)


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
        from jafhost.runtime.call_origin import CALL_ORIGIN, CallOrigin

        CALL_ORIGIN.set(CallOrigin(caller="cli"))  # handlers asking for a RunContext: cli
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
