"""The commands over plugins' records: ``list``, ``info``, ``enable``, ``disable``,
``grant`` and ``revoke``. None of them runs plugin code.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from jafhost.cli._common import (
    Failed,
    JsonOption,
    app,
    approver,
    build_host,
    make_console,
    print_json,
    styled,
    warn,
)
from jafhost.errors import PermissionSyntaxError, PluginError, UsageError, quoted

if TYPE_CHECKING:
    from jafhost.host.views import PluginView


@app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List every plugin found, with its status.

    No plugin code runs. On a terminal the table fits its width; in a pipe it is plain
    text, one line per plugin.
    """
    host = build_host()
    views = host.plugins()
    warn(host)
    if as_json:
        print_json([v.list_json() for v in views])
        return
    from jafhost.cli.list_table import print_table

    print_table(views)


def _activation_line(view: PluginView) -> str:
    """``lazy``/``eager`` and whether its contributions are recorded (``info``)."""
    if view.recorded is None:
        return view.info.activation
    note = "contributions recorded" if view.recorded else "no valid record: starts with the host"
    return f"{view.info.activation} ({note})"


def _integrity_line(view: PluginView) -> str:
    """``verified (12 files match RECORD)``, ``unverified (a folder plugin...)``..."""
    if view.integrity is None:
        return "-"
    return f"{view.integrity} ({view.integrity_detail})"


@app.command()
def info(
    name: Annotated[str, typer.Argument(help="The plugin.")], as_json: JsonOption = False
) -> None:
    """Show one plugin in full.

    Metadata, dependencies, permissions requested and granted, isolation, protections
    and the config schema recorded at the last load. No plugin code runs.
    """
    host = build_host()
    view = host.plugin(name)
    warn(host)
    schema = host.recorded_config_schema(name)
    if as_json:
        print_json(view.info_json(schema))
        return
    from rich.markup import escape
    from rich.table import Table

    console = make_console()
    meta = Table.grid(padding=(0, 2))
    meta.add_column(style="bold")
    meta.add_column(overflow="fold")
    rows = [
        ("name", view.name),
        ("version", view.info.version),
        ("distribution", view.info.distribution),
        ("summary", view.info.summary),
        ("author", view.info.author),
        ("entry point", view.info.entry_point),
        ("kinds", ", ".join(view.info.kinds) or "-"),
        ("manifest", view.info.manifest or "none (requests no permissions)"),
        ("location", view.info.location or "-"),
        ("isolation", view.isolation),
        ("activation", _activation_line(view)),
        ("protections", ", ".join(view.protections)),  # process isolation: docs/security.md
        ("integrity", _integrity_line(view)),
    ]
    for key, value in rows:
        meta.add_row(key, escape(value or "-"))
    meta.add_row(
        "status", styled(view.status) + (f"  {escape(view.reason)}" if view.reason else "")
    )
    console.print(meta)

    perms = Table(title="permissions")
    perms.add_column("permission")
    perms.add_column("requested")
    perms.add_column("granted")
    for p in sorted(set(view.info.permissions) | set(view.granted)):
        perms.add_row(
            escape(p),
            "yes" if p in view.info.permissions else "-",
            "[green]yes[/]" if p in view.granted else "[yellow]no[/]",
        )
    if perms.row_count:
        console.print(perms)
    else:
        console.print("permissions: none requested")
    if view.granted and view.granted_version:
        console.print(f"approved at version {escape(view.granted_version)}")
    for cap in view.capped:  # the operator's deny rules over the grants
        what = "denied whole" if cap["effect"] == "denied" else "capped"
        console.print(
            f"[yellow]policy[/]: grant {escape(cap['grant'])} {what} by policy rule "
            f"{escape(cap['rule'])} ({escape(cap['source'])})"
        )
    if view.pth_files:
        pth = Table(title=".pth files (read by Python at every start, before any sandbox)")
        pth.add_column("file", overflow="fold")
        pth.add_column("what it does", overflow="fold")
        for item in view.pth_files:
            style = "red" if item.kind in ("runs-code", "unreadable") else ""
            pth.add_row(
                escape(item.path),
                f"[{style}]{escape(item.note)}[/]" if style else escape(item.note),
            )
        console.print(pth)
    if view.dependencies:
        deps = Table(title="dependencies")
        for column in ("requirement", "kind", "installed", "ok"):
            deps.add_column(column)
        for d in view.dependencies:
            deps.add_row(
                escape(d.requirement + (" (optional)" if d.optional else "")),
                d.kind,
                escape(d.installed or "not installed"),
                "[green]yes[/]" if d.satisfied else "[red]no[/]",
            )
        console.print(deps)
    if schema is not None:
        console.print("config schema (recorded at the last load):")
        console.print_json(json.dumps(schema))


@app.command()
def enable(
    names: Annotated[list[str], typer.Argument(help="Plugins to enable.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve requested permissions.")
    ] = False,
    isolation: Annotated[
        str | None, typer.Option(help="Run the plugin 'inprocess' or in a 'process' worker.")
    ] = None,
) -> None:
    """Enable plugins, after approving what they request.

    Shows the permissions each plugin requests, asks (or takes --yes), grants them and
    enables the plugins and the plugins they require.
    """
    host = build_host()
    try:
        enabled = host.enable(names, approve=approver(yes, isolation), isolation=isolation)
    except PluginError as exc:
        raise Failed(str(exc)) from None
    warn(host)
    console = make_console()
    for name in enabled:
        view = host.plugin(name)
        extra = (
            ""
            if name in names
            else " (required by " + ", ".join(n for n in names if n != name) + ")"
        )
        line = f"enabled {name} {view.info.version}{extra}"
        if view.status != "enabled":
            line += f"; status {view.status}: {view.reason}"
        console.print(line, markup=False)


@app.command()
def disable(names: Annotated[list[str], typer.Argument(help="Plugins to disable.")]) -> None:
    """Disable plugins.

    The enabled plugins that require them become unresolved.
    """
    host = build_host()
    affected = host.disable(names)
    warn(host)
    console = make_console()
    for name, dependents in affected.items():
        console.print(f"disabled {name}", markup=False)
        for dependent in dependents:
            console.print(f"  {dependent} is now unresolved: it needs {name}", markup=False)


@app.command()
def grant(
    name: Annotated[str, typer.Argument(help="The plugin.")],
    permission: Annotated[
        str, typer.Argument(help="The permission as kind:value, e.g. read:~/notes.")
    ],
) -> None:
    """Add one permission to a plugin's grants.

    A permission the plugin already has changes nothing (exit 0).
    """
    try:
        change = build_host().change_grant(name, permission, add=True)
    except PermissionSyntaxError as exc:
        raise UsageError(f"bad permission {quoted(permission)}: {exc}") from None
    if change.changed:
        line = f"granted {change.permission} to {name}"
    else:
        line = f"{name} already has {change.permission}; nothing changed"
    make_console().print(line, markup=False)


@app.command()
def revoke(
    name: Annotated[str, typer.Argument(help="The plugin.")],
    permission: Annotated[
        str, typer.Argument(help="The permission exactly as granted (list and info show it).")
    ],
) -> None:
    """Remove one permission from a plugin's grants.

    The permission must be one of the grants, as list and info show them; any other
    changes nothing (exit 1).
    """
    try:
        text = build_host().revoke(name, permission)
    except PermissionSyntaxError as exc:
        raise UsageError(f"bad permission {quoted(permission)}: {exc}") from None
    make_console().print(f"revoked {text} from {name}", markup=False)


@app.command()
def verify(
    name: Annotated[str | None, typer.Argument(help="One plugin (default: all).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Check installed plugin files against their RECORD hashes now.

    Every file is hashed again, whatever was found before. A plugin whose file differs
    or is missing is invalid (exit 1); folder plugins and editable installs are shown
    unverified. No plugin code runs.
    """
    host = build_host()
    results = host.verify_files(None if name is None else [name])
    warn(host)
    failed = any(not integrity.ok for _, integrity in results)
    if as_json:
        print_json(
            [
                {
                    "name": info.name,
                    "distribution": info.distribution,
                    "version": info.version,
                    "integrity": integrity.status,
                    "detail": integrity.detail,
                    "file": integrity.file,
                    "files": integrity.files,
                    "hashed": integrity.hashed,
                }
                for info, integrity in results
            ]
        )
    else:
        from rich.markup import escape
        from rich.table import Table

        styles = {"verified": "green", "changed": "red", "unverified": "yellow"}
        table = Table()
        for column in ("plugin", "distribution", "result", "file at fault"):
            table.add_column(column, overflow="fold")
        for info, integrity in results:
            style = styles.get(integrity.status, "")
            table.add_row(
                escape(info.name),
                escape(f"{info.distribution} {info.version}"),
                f"[{style}]{integrity.status}[/]",
                escape(integrity.file or integrity.detail),
            )
        make_console().print(table if results else "no installed plugins to verify")
    if failed:
        raise typer.Exit(1)
