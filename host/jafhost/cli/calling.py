"""``jafhost call``: one tool call from the command line, without the command-line framework.

The typer command (``jafhost.cli.run.call``) and the fast path of the console script
(``jafhost.cli.entry``) both end here. ``call`` is what scripts and agents run per
action, so its fixed cost counts: answering it before typer, click and the other
commands are imported saves a third of an in-process call's start-up. The fast path
takes only what it reads exactly as click would (``fast_arguments``); anything else
(``--help``, a misspelled option) goes to the full CLI, which gives the same output and
exit codes for everything both understand.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from jafhost.cli._common import Failed, build_host, can_prompt, make_console, print_json, with_host
from jafhost.errors import UsageError, quoted
from jafhost.frozen import Frozen

if TYPE_CHECKING:
    from jafhost.cli.oneshot import Answer
    from jafhost.host.host import Host
    from jafhost.tools import Tool
    from jafhost.types import CallResult


class CallArguments(Frozen):
    """``jafhost call``'s command line, as its options define it (a ``Frozen`` value:
    cheaper to define than a dataclass or a ``NamedTuple``, on the path of every call)."""

    __slots__ = ("json_args", "pairs", "timeout", "tool", "yes")
    _fields = ("tool", "json_args", "pairs", "timeout", "yes")

    tool: str
    json_args: str | None
    pairs: Sequence[str]
    timeout: float | None
    yes: bool

    def __init__(
        self,
        tool: str,
        json_args: str | None = None,
        pairs: Sequence[str] = (),
        timeout: float | None = None,
        yes: bool = False,
    ) -> None:
        self._set(tool, json_args, pairs, timeout, yes)


_VALUED = {"--json": "json_args", "-a": "pairs", "--arg": "pairs", "--timeout": "timeout"}


def fast_arguments(args: list[str]) -> CallArguments | None:
    """``args`` (after ``call``) read as the typer command reads them, or None for
    anything this reading does not cover (the full CLI then decides): the options in
    their plain forms (``--json X``, ``--json=X``, ``-a K=V``, ``--arg K=V``,
    ``--timeout S``, ``--yes``, ``-y``), one tool name, ``--`` before arguments only."""
    found: dict[str, Any] = {"pairs": []}
    tools: list[str] = []
    items = iter(args)
    for item in items:
        if item == "--":
            tools += list(items)
            break
        if item in ("--yes", "-y"):
            found["yes"] = True
            continue
        if not item.startswith("-") or item == "-":
            tools.append(item)
            continue
        option, equals, value = item.partition("=")
        if option not in _VALUED or (equals and option == "-a"):
            return None
        if not equals:
            following = next(items, None)
            if following is None:
                return None
            value = following
        key = _VALUED[option]
        if key == "pairs":
            found["pairs"].append(value)
        elif key == "timeout":
            try:
                found["timeout"] = float(value)
            except ValueError:
                return None
        else:
            found[key] = value
    if len(tools) != 1:
        return None
    return CallArguments(tools[0], **found)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_arguments(json_args: str | None, pairs: Sequence[str]) -> dict[str, Any]:
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
    if timeout is not None and not 0 < timeout < float("inf"):  # NaN compares false
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
        import typer

        console = make_console(stderr=True)
        console.print(f"{tool.full_name} wants to run with:", markup=False)
        console.print_json(json.dumps(arguments, default=str))
        return typer.confirm(f"Run {tool.full_name}?", default=False)

    return confirm


def exit_code(result: CallResult | Answer) -> int:
    """Contract: 2 for invalid arguments or an unknown name, 1 for any other failure."""
    error = result.error
    if error is None:
        return 0
    if error.code in ("invalid_arguments", "not_found"):
        return 2
    return 1


def call(given: CallArguments, lane: bool = False) -> int:
    """Route one action to a tool and print the result as JSON; the exit code. With
    ``lane`` (the console script's fast path), a call the one-shot lane can serve
    exactly as the full path would is served there (``jafhost.cli.oneshot``)."""
    check_timeout(given.timeout)
    arguments = parse_arguments(given.json_args, given.pairs)
    result = None
    if lane:
        from jafhost.cli import oneshot

        result = oneshot.serve(given.tool, arguments, given.timeout)
        if result is None:  # the full path starts its own worker, if any
            from jafhost.cli import early_worker

            early_worker.end_unused()
    if result is None:
        result = _full_call(given, arguments)
    if result.ok:
        print_json(result.result)
        return 0
    error = result.error
    assert error is not None
    sys.stderr.write(f"error: {' '.join(error.message.split())}\n")
    if error.traceback:
        sys.stderr.write(error.traceback)
    return exit_code(result)


def _full_call(given: CallArguments, arguments: dict[str, Any]) -> CallResult:
    """The call through a ``Host`` offering the tool's plugin (``with_host``)."""
    from jafhost.tools import split_name

    tool, timeout = given.tool, given.timeout
    parts = split_name(tool)
    if parts is None:
        raise UsageError(f"unknown tool {quoted(tool)}: name it plugin.tool")
    from jafhost.runtime.isolation import zygote_switch

    zygote_switch.one_shot()  # one worker, then the process ends: spawned, not forked
    host = build_host()
    # the plugins are checked against their files as each starts, not all up front; an
    # unknown plugin is a usage error (exit 2) naming the known ones
    host.catalog.defer_checks()
    host.catalog.known([parts[0]])

    async def work(host: Host) -> CallResult:
        from jafhost.runtime.call_origin import CALL_ORIGIN, CallOrigin

        CALL_ORIGIN.set(CallOrigin(caller="cli"))  # this task's context only
        return await host.call(tool, arguments, timeout=timeout, confirm=_confirmer(given.yes))

    return with_host(host, work, needed=[parts[0]])
