"""The ``jafhost`` console script: fast paths for ``list --json`` and ``call``, then the
full CLI.

``jafhost list --json`` and ``jafhost call`` are what scripts and agents run most, often
per request; neither needs typer, click or the other commands. Answering them here,
before the command-line framework is imported, keeps ``list --json`` close to the cost
of Python scanning its entry points and takes typer's share off every ``call``.
Everything else (either of them with options the fast path does not read) goes to
``jafhost.cli.app.main``, which gives the same output and exit codes. Run as the
console script, the process ends in ``jafhost.cli.finish`` once the command returned.
"""

from __future__ import annotations

import json
import os
import sys

from jafhost.errors import PluginError, StateError, UsageError


def _error(message: str, code: int) -> int:
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    return code


def _list_json() -> int:
    from jafhost.host.host import Host  # here: ``--help`` comes through main() too

    try:
        host = Host()
        views = host.plugins()
    except UsageError as exc:
        return _error(str(exc), 2)
    except (PluginError, StateError) as exc:
        return _error(str(exc), 1)
    except Exception as exc:  # as the full CLI: one line (JAFHOST_DEBUG=1 takes the full path)
        return _error(f"unexpected {type(exc).__name__}: {exc}", 1)
    for warning in host.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    try:
        sys.stdout.write(json.dumps([v.list_json() for v in views], indent=2) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (``| head -1``): nothing more to say, and nothing may be
        # flushed to the closed pipe at exit (Python's documented way to handle SIGPIPE)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
        return 1
    return 0


def _call(args: list[str]) -> int | None:
    """``jafhost [--debug] call ...`` without typer; None when the fast path does not read
    these options (the full CLI then runs)."""
    from jafhost.cli import calling

    debug = "--debug" in args or os.environ.get("JAFHOST_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    if args[:1] != ["call"]:
        return None
    given = calling.fast_arguments(args[1:])
    if given is None:
        return None
    from jafhost.cli import early_worker

    if not debug:
        early_worker.start(given.tool)
    try:
        from jafhost.cli import exits
        from jafhost.cli._common import settings

        settings.debug = debug
        return exits.guarded(lambda: exits.mapped(lambda: calling.call(given, lane=True)))
    finally:
        early_worker.end_unused()


def _open_standard_descriptors() -> None:
    """Descriptors 0, 1 and 2 the console script was started without (``>&-``) opened
    on the null device, with the stream Python left unset for each: a pipe the command
    makes for a worker would otherwise take one of those numbers, and the worker's own
    standard streams, set up as it starts, would replace it there; and what the command
    writes there goes where the caller sent it, nowhere, instead of failing."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            null = os.open(os.devnull, os.O_RDWR)
        except OSError:
            return
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115 - for the process


def main(argv: list[str] | None = None) -> int:
    # pydantic would otherwise go through importlib.metadata over every installed
    # distribution's entry points on its first model (a FIFO or /dev/zero there hangs the
    # host) and import whatever registers a ``pydantic`` plugin: code of any installed
    # distribution run in the host, unguarded, on every command
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if argv is not None:
        return _command(list(argv))
    _open_standard_descriptors()
    # the console script: its process ends here (``finish``), however the command ended
    # (imported first: a Ctrl-C as the command ends must find nothing left to import)
    from jafhost.cli.finish import ended, finish

    code = 130
    try:
        try:
            code = _command(sys.argv[1:])
        except BaseException as error:
            code = ended(error)
    except BaseException:  # interrupted while saying how it ended
        pass
    while True:
        try:
            return finish(code)
        except KeyboardInterrupt:  # between its steps: it goes on, interrupted
            code = 130


def _command(args: list[str]) -> int:
    if args == ["list", "--json"] and os.environ.get("JAFHOST_DEBUG") != "1":
        return _list_json()
    if "call" in args and "--help" not in args:
        code = _call(args)
        if code is not None:
            return code
    from jafhost.cli.app import main as full

    return full(args)
