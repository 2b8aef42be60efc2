"""CLI commands for agents: ``agents`` lists them, ``run`` runs one with a model.

``jafhost run AGENT MESSAGE --model provider:model`` streams each step as it happens
(the model's text, each tool call and its result) and exits 0 with a final answer,
1 when the run failed (the provider failed or could not be set up, the turn limit
was hit, the agent's plugin is not active) and 2 for an unknown agent or provider.
``--json`` prints the whole run as one JSON object instead of streaming it.
"""

from __future__ import annotations

import json
import sys
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
from jafhost.errors import ProviderError

if TYPE_CHECKING:
    from rich.console import Console

    from jafhost.agents.run import AgentRun, Step
    from jafhost.host.host import Host
    from jafhost.tools import Tool

RESULT_PREVIEW = 300
"""Characters of a tool's result shown while streaming (``--json`` has it all)."""


def _warn_inactive(host: Host) -> None:
    """Plugins that failed to start cannot offer agents: say so on stderr, one line each.
    A blocked plugin names the plugins it needs that failed, whose own line says why (the
    reason is not repeated)."""
    views = host.plugins()
    failed = {v.name: v.runtime for v in views if v.runtime in ("broken", "blocked")}
    resolution = host.resolution() if failed else None
    for view in views:
        if view.name not in failed:
            continue
        why = view.error
        entry = resolution.get(view.name) if resolution is not None else None
        if view.runtime == "blocked" and entry is not None:
            needs = [d for d in entry.requires_plugins() if d in failed]
            why = ", ".join(f"needs plugin {d}, which is {failed[d]}" for d in needs) or why
        sys.stderr.write(
            f"warning: plugin {view.name} is {view.runtime} ({why}); "
            "its agents and tools are unavailable\n"
        )


def _warn_broken_profiles(host: Host) -> None:
    """The profiles of ``config.toml`` that cannot be used: one line each, naming the key."""
    for problem in host.agent_problems().values():
        sys.stderr.write(f"warning: {problem}; that agent is not offered\n")


@app.command()
def agents(as_json: JsonOption = False) -> None:
    """List the agents: profiles in config.toml, then plugins' agents.

    Each agent is shown with where it comes from and the tools it may use.
    """

    async def work(host: Host) -> list[dict[str, Any]]:
        await host.settle()  # plugins without a record: their agents are known once started
        _warn_inactive(host)
        _warn_broken_profiles(host)
        return [agent.to_json() for agent in host.agents()]

    found = with_host(build_host(), work)
    if as_json:
        print_json(found)
        return
    from rich.markup import escape
    from rich.table import Table

    if not found:
        make_console().print(
            "No agents: no profile in config.toml ([agents.NAME]) and no active plugin "
            "provides any (hook jaf_agents)."
        )
        return
    table = Table(title=f"agents ({len(found)})")
    for column in ("agent", "source", "description", "tools", "model"):
        table.add_column(column, overflow="fold")
    for item in found:
        table.add_row(
            escape(item["full_name"]),
            escape(item["source"]),
            escape(item["description"] or ""),
            escape("\n".join(item["tools"]) or "(none)"),
            escape(item["model"] or "-"),
        )
    make_console().print(table)


def _preview(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= RESULT_PREVIEW else text[: RESULT_PREVIEW - 3] + "..."


def _printer(console: Console) -> Any:
    """An ``on_step`` that prints each step as it happens."""
    from rich.markup import escape

    def show(step: Step) -> None:
        if step.kind == "text":
            console.print(f"[bold]assistant[/]: {escape(step.text or '')}")
        elif step.kind == "tool_call":
            console.print(
                f"[cyan]-> {escape(step.tool or '')}[/] {escape(_preview(step.arguments))}"
            )
        elif step.result is not None and step.result.ok:
            console.print(
                f"[green]<- {escape(step.tool or '')}[/] {escape(_preview(step.result.result))}"
            )
        elif step.result is not None and step.result.error is not None:
            error = step.result.error
            console.print(
                f"[red]<- {escape(step.tool or '')} failed ({error.code})[/]: "
                f"{escape(' '.join(error.message.split()))}"
            )

    return show


def _run_confirmer(yes: bool) -> Any:
    """Tools marked ``confirm=True``: yes with ``--yes``, ask on a terminal, else refuse
    (the agent gets a ``permission_denied`` error and the run goes on)."""

    def confirm(tool: Tool, arguments: dict[str, Any]) -> bool:
        if yes:
            return True
        if not can_prompt():
            sys.stderr.write(
                f"warning: refused {tool.full_name}: it needs your confirmation and there is "
                "no terminal to ask (run with --yes to allow it)\n"
            )
            return False
        console = make_console(stderr=True)
        console.print(f"the agent wants to run {tool.full_name} with:", markup=False)
        console.print_json(json.dumps(arguments, default=str))
        return typer.confirm(f"Run {tool.full_name}?", default=False)

    return confirm


@app.command()
def run(
    agent: Annotated[
        str,
        typer.Argument(help="The agent: its key in config.toml, plugin.agent or its name."),
    ],
    message: Annotated[str, typer.Argument(help="What to ask the agent.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="The model as provider:model, e.g. scripted:demo.jsonl or "
            "openai:gpt-4o-mini "
            "(default: the agent's own model).",
        ),
    ] = None,
    max_turns: Annotated[
        int | None,
        typer.Option(
            "--max-turns",
            min=1,
            help="Give up after this many model turns (default: the agent's, else 10).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole run as JSON instead of streaming.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Allow tools that ask for confirmation.")
    ] = False,
) -> None:
    """Run an agent on a message, streaming each step.

    The model comes from a provider: --model, else the agent's own.
    """
    console = make_console()

    async def work(host: Host) -> AgentRun:
        await host.settle()  # plugins without a record: their agents are known once started
        _warn_inactive(host)
        found = host.agent(agent)
        printer = _printer(console)
        started: list[bool] = []

        def on_step(step: Step) -> None:
            # the header waits for the first step: a bad --model prints only its error
            if not started:
                from rich.markup import escape

                started.append(True)
                label = model or found.spec.model or "-"
                console.print(f"[bold]{escape(found.full_name)}[/] [dim]model {escape(label)}[/]")
            printer(step)

        try:
            return await host.run_agent(
                found.full_name,
                message,
                model=model,
                max_turns=max_turns,
                on_step=None if as_json else on_step,
                confirm=_run_confirmer(yes),
            )
        except ProviderError as exc:
            raise Failed(str(exc)) from None

    outcome = with_host(build_host(), work)
    if as_json:
        print_json(outcome.to_json())
    elif outcome.ok:
        console.print(f"[dim]done after {outcome.turns} turn(s)[/]")
    if not outcome.ok:
        raise Failed(outcome.error or "the run failed")
