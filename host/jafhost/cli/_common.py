"""What every command module shares: the typer app they register on, the one ``Host``
a command builds, consoles, JSON output, warnings, the prompt policy and the error type.

Each command module imports this module (and :mod:`jafhost.cli.streams`), never another
command module (the import-linter contract in pyproject.toml checks it); ``jafhost.cli.app``
imports them all so that each registers its commands on :data:`app`. Heavy modules
(pydantic, pluggy, rich's renderers, the host itself) load inside the functions that need
them, so ``jafhost --help`` starts fast.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from jafhost.cli import finish, streams

if TYPE_CHECKING:
    from typing import Annotated

    import typer
    from rich.console import Console

    from jafhost.discovery.records import PluginInfo
    from jafhost.host.host import Host

    app: typer.Typer
    JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

T = TypeVar("T")


def _typer_parts() -> dict[str, Any]:
    """The typer app and shared option, built when a command module first asks for them:
    the fast path of ``call`` (``jafhost.cli.entry``) uses this module without typer."""
    from typing import Annotated

    import typer

    return {
        "app": typer.Typer(
            name="jafhost",
            help="A plugin host for AI agents: list, approve and run jaf plugins.",
            no_args_is_help=True,
            add_completion=False,
            pretty_exceptions_enable=False,
            rich_markup_mode=None,
        ),
        "JsonOption": Annotated[
            bool, typer.Option("--json", help="Print JSON instead of a table.")
        ],
    }


def __getattr__(name: str) -> Any:
    """``app`` (the ``jafhost`` command; each command module registers its commands on
    it) and ``JsonOption``, made at first use."""
    if name not in ("app", "JsonOption"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals().update(_typer_parts())
    return globals()[name]


class Failed(Exception):
    """An operation failed (exit 1); the message is already user-facing."""


class _Settings:
    debug = False
    """``--debug`` (or ``JAFHOST_DEBUG=1``): tracebacks on errors, the host's debug mode."""


settings = _Settings()
"""Set once by ``jafhost.cli.app.main`` before the command runs."""


def build_host() -> Host:
    """The command's one ``Host``. From here on plugin code may run, so ``sys.stdout``
    points at stderr (``jafhost.cli.streams``)."""
    from jafhost.cli import logs
    from jafhost.host.host import Host

    logs.install(settings.debug)
    streams.plugin_code()
    host = Host()
    host.debug = settings.debug
    with contextlib.suppress(Exception):  # a configuration error is the command's to report
        finish.wait_for_threads(host.hook_timeout)
    return host


def with_host(
    host: Host, work: Callable[[Host], Awaitable[T]], needed: Iterable[str] | None = None
) -> T:
    """Run ``work`` on ``host`` with every enabled plugin offered, and end them after.

    Recorded ``lazy`` plugins start only when the command uses them (a call of one of
    their tools, an event, a dependent); ``eager`` plugins, ``observe`` middleware (which
    calls wait for, fail closed) and plugins without a record start beside the command,
    never in front of it. At the end (``Host.shutdown``) the plugins the command used are
    deactivated in full; starts still in flight and the others get a short grace, then
    are left behind: the process ends, and with it their daemon threads and workers.
    ``needed``: the only plugins the command uses (``Host.activate_all``)."""
    import asyncio

    async def main() -> T:
        try:
            await host.activate_all(wait=False, needed=needed)
            return await work(host)
        finally:
            await host.shutdown()

    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main())
    finally:
        _close(loop)


def warm_zygote(host: Host) -> None:
    """For a command sure to start workers (``doctor``) or serving for long (``mcp``),
    where plugins run in workers and workers are forked: start the zygote now, so its
    start overlaps the host's own work before the first worker is needed
    (``zygote.warm``). Commands that may start none (``tools``, ``emit``, ``run``) start
    it at their first worker."""
    if host.config.default_isolation == "process":
        from jafhost.runtime.isolation import zygote

        zygote.warm()


def _close(loop: Any) -> None:
    """Close the command's loop without waiting on what plugin code left hanging: tasks
    still pending get a short grace after being cancelled, then are dropped."""
    import asyncio

    from jafhost.host.runtime import EXIT_GRACE

    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=EXIT_GRACE))
        loop.run_until_complete(loop.shutdown_asyncgens())
        if any(not t.done() for t in pending):  # left behind on purpose: no warning
            loop.set_exception_handler(lambda _loop, _context: None)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def make_console(stderr: bool = False) -> Console:
    """A console on the CLI's own stdout (or on stderr)."""
    from rich.console import Console

    if stderr:
        return Console(stderr=True, highlight=False, soft_wrap=True)
    return Console(file=streams.out(), highlight=False, soft_wrap=True)


def warn(host: Host) -> None:
    """The host's warnings, one ``warning:`` line each on stderr."""
    for warning in host.warnings:
        sys.stderr.write(f"warning: {warning}\n")


def print_json(data: Any) -> None:
    """JSON on the real stdout (plugin code's prints go to stderr: ``jafhost.cli.streams``)."""
    streams.out().write(json.dumps(data, indent=2) + "\n")


def can_prompt() -> bool:
    """Prompts appear only on a terminal."""
    return sys.stdin is not None and sys.stdin.isatty()


_STATUS_STYLE = {
    "enabled": "green",
    "disabled": "dim",
    "needs-approval": "yellow",
    "unresolved": "red",
    "invalid": "bold red",
    "broken": "bold red",
    "blocked": "red",
}


def styled(status: str) -> str:
    """A plugin status in rich markup, coloured by what it means."""
    style = _STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def isolation_line(isolation: str | None) -> str:
    """How the plugin will run, as the approval prompt names it."""
    if isolation == "inprocess":
        return (
            "it will run in jafhost's own process (--isolation inprocess): only the audit "
            "guard enforces these permissions there; trust it accordingly"
        )
    if isolation == "process":
        return "it will run in a sandboxed worker process (--isolation process)"
    return "it will run with the default isolation ([host] isolation; jafhost info shows it)"


def approver(yes: bool, isolation: str | None = None) -> Callable[[PluginInfo, list[str]], bool]:
    """The approval ``Host.enable`` asks for: the requested permissions as a table on
    stderr with how the plugin will run (``isolation``), then yes with ``--yes``, a
    prompt on a terminal, else ``Failed``."""

    def approve(plugin: PluginInfo, new: list[str]) -> bool:
        from rich.markup import escape
        from rich.table import Table

        from jafhost.security.permissions import parse

        err = make_console(stderr=True)
        table = Table(title=f"{plugin.name} {plugin.version} requests")
        table.add_column("permission")
        table.add_column("allows the plugin to")
        for text in new:
            table.add_row(escape(text), escape(parse(text).explain()))
        err.print(table)
        err.print(escape(isolation_line(isolation)))
        if yes:
            return True
        if not can_prompt():
            raise Failed(
                f"{plugin.name} requests permissions ({', '.join(new)}) and there is no "
                "terminal to ask; run again with --yes to approve them"
            )
        import typer

        return typer.confirm(f"Grant these permissions to {plugin.name}?", default=False)

    return approve


__all__ = [
    "Failed",
    "JsonOption",
    "app",
    "approver",
    "build_host",
    "can_prompt",
    "make_console",
    "print_json",
    "settings",
    "styled",
    "warm_zygote",
    "warn",
    "with_host",
]
