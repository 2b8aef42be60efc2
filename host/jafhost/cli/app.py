"""The ``jafhost`` command: a thin typer skin over ``Host``.

Contract (../shared/DESIGN.md): every listing takes ``--json``; errors are one line
``error: ...`` on stderr (``--debug`` anywhere shows the traceback); exit 0 success,
1 the operation failed, 2 bad usage or an unknown name. Prompts appear only on a
terminal. Heavy modules (pydantic, pluggy, rich's renderers) load inside the commands
that need them so ``jafhost --help`` and ``jafhost list`` start fast.

This module builds the app: the root options (``--debug``, ``--version``), :func:`main`,
and the command modules, each of which registers its commands on the app it takes from
:mod:`jafhost.cli._common` when imported here (their order is the order of ``--help``).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from jafhost._version import __version__
from jafhost.cli import exits, streams
from jafhost.cli._common import Failed, app, settings
from jafhost.errors import PluginError, StateError, UsageError

# Each import registers that module's commands on ``app``; ``--help`` lists them in this
# order, so it is kept by hand.
# isort: off
from jafhost.cli import plugins  # list info enable disable grant revoke
from jafhost.cli import doctor
from jafhost.cli import run  # tools call emit dev
from jafhost.cli import agents  # agents run
from jafhost.cli import ecosystem  # new search install uninstall
from jafhost.cli import mcp
from jafhost.cli import config  # the config group: show set

# isort: on

COMMAND_MODULES = (plugins, doctor, run, agents, ecosystem, mcp, config)


def _print_version(value: bool) -> None:
    if value:
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every failure to one ``error:`` line and the contract's exit codes
    (``jafhost.cli.exits``), with the CLI's own stdout kept for its output."""
    return exits.guarded(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    settings.debug = "--debug" in args or os.environ.get("JAFHOST_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    return exits.mapped(lambda: _run(args))


def _run(args: list[str]) -> int:
    """The typer app on ``args``; its own outcomes (exit, abort, click's usage errors, a
    bare group's help) mapped here, the host's exceptions left to ``exits.mapped``."""
    try:
        result = app(args=args, prog_name="jafhost", standalone_mode=False)
        if result == 130:  # typer's silent answer to a KeyboardInterrupt (Ctrl-C)
            return exits.error("interrupted", 130)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return exits.error("aborted", 1)
    except (BrokenPipeError, UsageError, Failed, PluginError, StateError):
        raise
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            # a bare group (``jafhost``, ``jafhost config``): its help, as ``--help`` gives it
            sys.stdout.write(exc.format_message().rstrip("\n") + "\n")  # type: ignore[attr-defined]
            return 0
        code = getattr(exc, "exit_code", None)
        if hasattr(exc, "format_message") and isinstance(code, int):
            # click's usage errors (typer's bundled click or click itself): exit 2 for usage
            return exits.error(exc.format_message(), code)
        raise


__all__ = ["COMMAND_MODULES", "app", "main"]

if __name__ == "__main__":
    sys.exit(main())
