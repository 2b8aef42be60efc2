"""The ``jafhost`` command: a thin typer skin over ``Host``.

Contract (../shared/DESIGN.md): every listing takes ``--json``; errors are one line
``error: ...`` on stderr (``--debug`` anywhere shows the traceback); exit 0 success,
1 the operation failed, 2 bad usage or an unknown name. Prompts appear only on a
terminal. Heavy modules (pydantic, pluggy, rich's renderers) load inside the commands
that need them so ``jafhost --help`` and ``jafhost list`` start fast.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jafhost.cli import streams

if TYPE_CHECKING:
    from rich.console import Console

    from jafhost.discovery.records import PluginInfo
    from jafhost.host.host import Host
    from jafhost.host.views import PluginView

app = typer.Typer(
    name="jafhost",
    help="A plugin host for AI agents: list, approve and run jaf plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_DEBUG = False


class Failed(Exception):
    """An operation failed (exit 1); the message is already user-facing."""


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    if stderr:
        return Console(stderr=True, highlight=False, soft_wrap=True)
    return Console(file=streams.out(), highlight=False, soft_wrap=True)


def _host() -> Host:
    """The host; from here on plugin code may run, so ``sys.stdout`` points at stderr."""
    from jafhost.host.host import Host

    streams.plugin_code()
    host = Host()
    host.debug = _DEBUG
    return host


def _warn(host: Host) -> None:
    for warning in host.warnings:
        sys.stderr.write(f"warning: {warning}\n")


def _print_json(data: Any) -> None:
    """JSON on the real stdout (plugin code's prints go to stderr: ``jafhost.cli.streams``)."""
    streams.out().write(json.dumps(data, indent=2) + "\n")


_STATUS_STYLE = {
    "enabled": "green",
    "disabled": "dim",
    "needs-approval": "yellow",
    "unresolved": "red",
    "invalid": "bold red",
    "broken": "bold red",
    "blocked": "red",
}


def _styled(status: str) -> str:
    style = _STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def _source(info: PluginInfo) -> str:
    """Where a plugin comes from: its distribution, or ``folder PATH`` for a folder plugin."""
    if info.source == "folder":
        return f"folder {info.location}"
    return info.distribution


def _permission_lines(view: PluginView) -> list[tuple[str, str]]:
    """``(text, style)`` per permission: each requested one, marked when it is not
    granted, then each grant that was not requested."""
    requested, granted = view.info.permissions, set(view.granted)
    lines = [(p, "") if p in granted else (f"{p} (not granted)", "yellow") for p in requested]
    extra = [g for g in view.granted if g not in requested]
    return lines + [(f"{g} (granted, not requested)", "cyan") for g in extra]


def _list_reason(view: PluginView) -> str:
    """What the reason column says: for a plugin waiting for approval, what to run (the
    permissions column already shows what is not granted)."""
    if view.status == "needs-approval":
        todo = f"run: jafhost enable {view.name}"
        if view.granted_version and view.granted_version != view.info.version:
            return f"asks for more than {view.granted_version} had; {todo}"
        return todo
    return view.reason or ""


_LIST_COLUMNS = ("NAME", "VERSION", "SOURCE", "STATUS", "KINDS", "PERMISSIONS", "REASON")
_LIST_OPTIONAL = ("SOURCE", "KINDS", "VERSION")
"""Left out, in this order, when the table cannot fit the terminal without splitting
a word."""


def _list_rows(views: list[PluginView]) -> list[dict[str, Any]]:
    return [
        {
            "NAME": v.name,
            "VERSION": v.info.version,
            "SOURCE": _source(v.info),
            "STATUS": v.status,
            "KINDS": ", ".join(v.info.kinds),
            "PERMISSIONS": _permission_lines(v),
            "REASON": _list_reason(v),
        }
        for v in views
    ]


def _cell_text(row: dict[str, Any], column: str, separator: str = "\n") -> str:
    if column == "PERMISSIONS":
        return separator.join(text for text, _ in row[column])
    return str(row[column])


def _plain_table(rows: list[dict[str, Any]]) -> str:
    """One line per plugin, columns aligned with spaces, never wrapped: for pipes."""
    from rich.cells import cell_len

    lines = [list(_LIST_COLUMNS)]
    lines += [[_cell_text(row, c, ", ") for c in _LIST_COLUMNS] for row in rows]
    widths = [max(cell_len(line[i]) for line in lines) for i in range(len(_LIST_COLUMNS))]
    return "".join(
        "  ".join(
            cell + " " * (w - cell_len(cell)) for cell, w in zip(line, widths, strict=True)
        ).rstrip()
        + "\n"
        for line in lines
    )


_WRAPS = ("PERMISSIONS", "REASON", "KINDS", "SOURCE")
"""The columns that may wrap, at spaces only."""
_REASON_WORD = 16
"""A word of a reason longer than this (a path) may be folded."""


def _widths(rows: list[dict[str, Any]], columns: list[str], width: int) -> list[int] | None:
    """Column widths that fit ``width`` without splitting a word, or None if none do.

    Rich's own layout narrows columns below their longest word (it would print
    ``needs-ap`` / ``proval``), so the widths are decided here: every column at least
    as wide as its longest word, the wrapping ones given the rest, up to their longest
    line."""
    from rich.cells import cell_len

    texts = {c: [c] + [_cell_text(row, c) for row in rows] for c in columns}
    longest_word = {
        c: max(cell_len(w) for t in texts[c] for w in t.split() or [""]) for c in columns
    }
    longest_line = {
        c: max(cell_len(line) for t in texts[c] for line in t.splitlines() or [""]) for c in columns
    }
    if "REASON" in columns:  # free text: a long path in it may fold rather than hide columns
        longest_word["REASON"] = min(longest_word["REASON"], _REASON_WORD)
    chosen = {c: longest_word[c] if c in _WRAPS else longest_line[c] for c in columns}
    spare = width - 2 * (len(columns) - 1) - sum(chosen.values())
    if spare < 0:
        return None
    # one line per permission when it fits, then the other wrapping columns level up
    if "PERMISSIONS" in columns:
        extra = min(spare, longest_line["PERMISSIONS"] - chosen["PERMISSIONS"])
        chosen["PERMISSIONS"] += extra
        spare -= extra
    growing = [c for c in _WRAPS if c in columns and c != "PERMISSIONS"]
    while spare > 0:
        short = [c for c in growing if chosen[c] < longest_line[c]]
        if not short:
            break
        narrowest = min(short, key=lambda c: chosen[c])
        chosen[narrowest] += 1
        spare -= 1
    return [chosen[c] for c in columns]


def _rich_table(rows: list[dict[str, Any]], columns: list[str], widths: list[int]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column, width in zip(columns, widths, strict=True):
        table.add_column(column, width=width, no_wrap=column not in _WRAPS, overflow="fold")
    for row in rows:
        values: dict[str, Any] = {
            "STATUS": _styled(row["STATUS"]),
            "PERMISSIONS": Text("\n").join(Text(t, style=s) for t, s in row["PERMISSIONS"]),
        }
        table.add_row(*(values.get(c) or Text(_cell_text(row, c)) for c in columns))
    return table


@app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List every plugin found, with its status.

    No plugin code runs. On a terminal the table fits its width; in a pipe it is plain
    text, one line per plugin.
    """
    host = _host()
    views = host.plugins()
    _warn(host)
    if as_json:
        _print_json([v.list_json() for v in views])
        return
    from rich.console import Console

    console = Console(file=streams.out(), highlight=False)
    if not views:
        console.print(
            "No plugins installed (entry point group jaf.plugins) or in plugin folders "
            "(JAFHOST_PLUGIN_PATH, config.toml [host] plugin_paths).",
            markup=False,
            soft_wrap=not console.is_terminal,
        )
        return
    rows = _list_rows(views)
    if not console.is_terminal:
        streams.out().write(_plain_table(rows))
        return
    columns = list(_LIST_COLUMNS)
    hidden: list[str] = []
    widths = _widths(rows, columns, console.width)
    for optional in _LIST_OPTIONAL:
        if widths is not None:
            break
        columns.remove(optional)
        hidden.append(optional.lower())
        widths = _widths(rows, columns, console.width)
    if widths is None:  # too narrow for any table: one line per plugin, as in a pipe
        streams.out().write(_plain_table(rows))
        return
    console.print(_rich_table(rows, columns, widths))
    if hidden:
        console.print(
            f"(not shown at this width: {', '.join(hidden)}; see jafhost info NAME)",
            style="dim",
            markup=False,
        )


@app.command()
def info(
    name: Annotated[str, typer.Argument(help="The plugin.")], as_json: JsonOption = False
) -> None:
    """Show one plugin in full.

    Metadata, dependencies, permissions requested and granted, isolation, protections
    and the config schema recorded at the last load. No plugin code runs.
    """
    host = _host()
    view = host.plugin(name)
    _warn(host)
    schema = host.recorded_config_schema(name)
    if as_json:
        _print_json(view.info_json(schema))
        return
    from rich.markup import escape
    from rich.table import Table

    console = _console()
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
        ("protections", ", ".join(view.protections)),  # process isolation: docs/security.md
    ]
    for key, value in rows:
        meta.add_row(key, escape(value or "-"))
    meta.add_row(
        "status", _styled(view.status) + (f"  {escape(view.reason)}" if view.reason else "")
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


def _can_prompt() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _approver(yes: bool) -> Any:
    def approve(plugin: PluginInfo, new: list[str]) -> bool:
        from rich.markup import escape
        from rich.table import Table

        from jafhost.security.permissions import parse

        console = _console(stderr=True)
        table = Table(title=f"{plugin.name} {plugin.version} requests")
        table.add_column("permission")
        table.add_column("allows the plugin to")
        for text in new:
            table.add_row(escape(text), escape(parse(text).explain()))
        console.print(table)
        if yes:
            return True
        if not _can_prompt():
            raise Failed(
                f"{plugin.name} requests permissions ({', '.join(new)}) and there is no "
                "terminal to ask; run again with --yes to approve them"
            )
        return typer.confirm(f"Grant these permissions to {plugin.name}?", default=False)

    return approve


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
    from jafhost.errors import PluginError

    host = _host()
    try:
        enabled = host.enable(names, approve=_approver(yes), isolation=isolation)
    except PluginError as exc:
        raise Failed(str(exc)) from None
    _warn(host)
    console = _console()
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
    host = _host()
    affected = host.disable(names)
    _warn(host)
    console = _console()
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
    from jafhost.errors import PermissionSyntaxError, UsageError, quoted

    try:
        change = _host().change_grant(name, permission, add=True)
    except PermissionSyntaxError as exc:
        raise UsageError(f"bad permission {quoted(permission)}: {exc}") from None
    if change.changed:
        line = f"granted {change.permission} to {name}"
    else:
        line = f"{name} already has {change.permission}; nothing changed"
    _console().print(line, markup=False)


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
    from jafhost.errors import PermissionSyntaxError, UsageError, quoted

    try:
        text = _host().revoke(name, permission)
    except PermissionSyntaxError as exc:
        raise UsageError(f"bad permission {quoted(permission)}: {exc}") from None
    _console().print(f"revoked {text} from {name}", markup=False)


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Load every enabled plugin and report what is broken.

    Exits 1 if an enabled plugin is invalid, unresolved or broken. Also warns about
    plugins waiting for approval, grants naming missing paths, unknown keys in a
    plugin's config table and problems with config.toml.

    --json: {"ok", "plugins": [...], "findings": [{"kind", "message", "plugin", "fix"}],
    "warnings": [the warning lines]}; kinds: invalid-config, needs-approval, missing-path,
    unknown-config-key, host.
    """
    import asyncio

    host = _host()
    report = asyncio.run(host.doctor())
    problems = [r for r in report["plugins"] if r["problem"]]
    if as_json:
        _print_json(report)
    else:
        for warning in report["warnings"]:
            sys.stderr.write(f"warning: {warning}\n")
        from rich.markup import escape
        from rich.table import Table

        table = Table(title="jafhost doctor")
        for column in ("plugin", "status", "runtime", "protections", "problem"):
            table.add_column(column, overflow="fold")
        for r in report["plugins"]:
            table.add_row(
                escape(r["name"]),
                _styled(r["status"]),
                _styled(r["runtime"] or "-"),
                escape(", ".join(r.get("protections") or []) or "-"),  # process isolation
                escape(r["problem"] or ""),
            )
        console = _console()
        console.print(table)
        count = len(problems) + (0 if report["ok"] or problems else 1)
        console.print(f"{count} problem(s)" if count else "no problems found", markup=False)
    if not report["ok"]:
        raise typer.Exit(1)


def _print_version(value: bool) -> None:
    if value:
        from jafhost._version import __version__

        streams.out().write(f"jafhost {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print jafhost's version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    """A plugin host for AI agents."""


def _error(message: str, code: int) -> int:
    text = " ".join(str(message).split())
    sys.stderr.write(f"error: {text}\n")
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every failure to one ``error:`` line and the contract's exit codes.

    Stdout is the CLI's own (``jafhost.cli.streams``): plugin code's output goes to stderr,
    and a reader that goes away (``jafhost list --json | head -1``) ends the command
    quietly with exit status 1, as Python's documentation on SIGPIPE suggests.
    """
    streams.claim()
    code = 1
    try:
        code = _main(argv)
    except BrokenPipeError:
        streams.closed_pipe()
    except SystemExit as exc:  # click ends a command whose stdout went away with exit(1)
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        if streams.release():
            code = code or 1
    return code


def _main(argv: list[str] | None) -> int:
    global _DEBUG
    from jafhost.errors import PluginError, StateError, UsageError

    args = list(sys.argv[1:] if argv is None else argv)
    _DEBUG = "--debug" in args or os.environ.get("JAFHOST_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    try:
        result = app(args=args, prog_name="jafhost", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return _error("aborted", 1)
    except BrokenPipeError:
        raise
    except UsageError as exc:
        _trace()
        return _error(str(exc), 2)
    except (Failed, PluginError, StateError) as exc:
        _trace()
        return _error(str(exc), 1)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            # a bare group (``jafhost``, ``jafhost config``): its help, as ``--help`` gives it
            sys.stdout.write(exc.format_message().rstrip("\n") + "\n")  # type: ignore[attr-defined]
            return 0
        code = getattr(exc, "exit_code", None)
        if hasattr(exc, "format_message") and isinstance(code, int):
            # click's usage errors (typer's bundled click or click itself): exit 2 for usage
            return _error(exc.format_message(), code)
        _trace()
        return _error(f"unexpected {type(exc).__name__}: {exc}", 1)


def _trace() -> None:
    if _DEBUG:
        import traceback

        traceback.print_exc()


# the commands that run plugin code live in their own module; importing it registers them
from jafhost.cli import agents as cli_agents  # noqa: E402
from jafhost.cli import config as cli_config  # noqa: E402
from jafhost.cli import ecosystem as cli_ecosystem  # noqa: E402
from jafhost.cli import mcp as cli_mcp  # noqa: E402
from jafhost.cli import run as cli_run  # noqa: E402

__all__ = ["app", "cli_agents", "cli_config", "cli_ecosystem", "cli_mcp", "cli_run", "main"]

if __name__ == "__main__":
    sys.exit(main())
