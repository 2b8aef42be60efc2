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

if TYPE_CHECKING:
    from rich.console import Console

    from jafhost.host import Host
    from jafhost.info import PluginInfo

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

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _host() -> Host:
    from jafhost.host import Host

    host = Host()
    host.debug = _DEBUG
    return host


def _warn(host: Host) -> None:
    for warning in host.warnings:
        sys.stderr.write(f"warning: {warning}\n")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


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


@app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List every installed plugin with its status, without running any plugin code."""
    host = _host()
    views = host.plugins()
    _warn(host)
    if as_json:
        _print_json([v.list_json() for v in views])
        return
    from rich.markup import escape
    from rich.table import Table

    if not views:
        _console().print(
            "No plugins installed (entry point group jaf.plugins) or in plugin folders "
            "(JAFHOST_PLUGIN_PATH, config.toml [host] plugin_paths)."
        )
        return
    table = Table(title=f"jafhost plugins ({len(views)})")
    for column in ("name", "version", "source", "status", "kinds", "permissions", "reason"):
        table.add_column(column, overflow="fold")
    for v in views:
        table.add_row(
            escape(v.name),
            escape(v.info.version),
            escape(_source(v.info)),
            _styled(v.status),
            ", ".join(v.info.kinds),
            escape("\n".join(v.info.permissions)),
            escape(v.reason or ""),
        )
    _console().print(table)


@app.command()
def info(name: str, as_json: JsonOption = False) -> None:
    """Show one plugin in full: metadata, dependencies, permissions, isolation, config."""
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

        from jafhost.permissions import parse

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
    """Show the permissions plugins request, ask, grant them and enable the plugins."""
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
    """Disable plugins; the plugins that require them become unresolved."""
    host = _host()
    affected = host.disable(names)
    _warn(host)
    console = _console()
    for name, dependents in affected.items():
        console.print(f"disabled {name}", markup=False)
        for dependent in dependents:
            console.print(f"  {dependent} is now unresolved: it needs {name}", markup=False)


@app.command()
def grant(name: str, permission: str) -> None:
    """Add one permission (kind:value) to a plugin's grants."""
    from jafhost.errors import UsageError
    from jafhost.permissions import PermissionSyntaxError

    try:
        text = _host().grant(name, permission)
    except PermissionSyntaxError as exc:
        raise UsageError(f"bad permission {permission!r}: {exc}") from None
    _console().print(f"granted {text} to {name}", markup=False)


@app.command()
def revoke(name: str, permission: str) -> None:
    """Remove one permission (kind:value) from a plugin's grants."""
    from jafhost.errors import UsageError
    from jafhost.permissions import PermissionSyntaxError

    try:
        text = _host().revoke(name, permission)
    except PermissionSyntaxError as exc:
        raise UsageError(f"bad permission {permission!r}: {exc}") from None
    _console().print(f"revoked {text} from {name}", markup=False)


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Load every enabled plugin and report what is broken and why (exit 1 if anything is),
    with a warning for each plugin waiting for approval, grant naming a missing path,
    unknown key in a plugin's config table and problem with config.toml.

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


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """A plugin host for AI agents."""


def _error(message: str, code: int) -> int:
    text = " ".join(str(message).split())
    sys.stderr.write(f"error: {text}\n")
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every failure to one ``error:`` line and the contract's exit codes."""
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
    except UsageError as exc:
        _trace()
        return _error(str(exc), 2)
    except (Failed, PluginError, StateError) as exc:
        _trace()
        return _error(str(exc), 1)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except Exception as exc:
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
from jafhost import cli_agents, cli_config, cli_ecosystem, cli_mcp, cli_run  # noqa: E402

__all__ = ["app", "cli_agents", "cli_config", "cli_ecosystem", "cli_mcp", "cli_run", "main"]

if __name__ == "__main__":
    sys.exit(main())
