"""``jafhost new``, ``jafhost install`` and ``jafhost uninstall``: making and managing plugins.

Skins over ``jafhost.ecosystem.scaffold`` (``new`` renders ``plugin_template``) and
``jafhost.ecosystem.installer`` (pip in the host's own interpreter, discovery compared
before and after): a newly installed plugin that requests permissions gets the approval
prompt; ``uninstall`` also removes the plugins' state records (``--purge``: their
folders too). Prompts, exit statuses and what a failed pip run leaves:
docs/architecture.md, "``jafhost new``, ``install``, ``uninstall``".
"""

from __future__ import annotations

import importlib
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jafhost.cli._common import (
    Failed,
    JsonOption,
    app,
    approver,
    build_host,
    can_prompt,
    make_console,
    print_json,
    warn,
)
from jafhost.errors import PluginError, ScaffoldError, UsageError

if TYPE_CHECKING:
    from jafhost.discovery.records import PluginInfo
    from jafhost.ecosystem.installer import PipResult
    from jafhost.ecosystem.scaffold import Project
    from jafhost.host.host import Host


# -- new -----------------------------------------------------------------------------


@app.command()
def new(
    name: Annotated[
        str | None, typer.Argument(help="The plugin's name, e.g. weather or notes-search.")
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Do not prompt: use the options and defaults.")
    ] = False,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where to create the project folder.")
    ] = Path("."),
    description: Annotated[str | None, typer.Option(help="One-line description.")] = None,
    author: Annotated[str | None, typer.Option(help="Author's name (default: git's).")] = None,
    email: Annotated[str | None, typer.Option(help="Author's email (default: git's).")] = None,
    kinds: Annotated[
        str | None,
        typer.Option(help="Comma-separated: tool, agent, integration, capability, event."),
    ] = None,
    permissions: Annotated[
        str | None,
        typer.Option(help="The example tool: none (greets), read (files) or net (a URL)."),
    ] = None,
) -> None:
    """Create a new plugin project from the template.

    The template is plugin_template, rendered with cookiecutter.
    """
    from jafhost.ecosystem import scaffold

    answers: dict[str, str] = scaffold.git_identity()
    if name is not None:
        answers["plugin_name"] = scaffold.check_name(name)
    if description is not None:
        answers["description"] = description
    if author is not None:
        answers["author_name"] = author
    if email is not None:
        answers["author_email"] = email
    if kinds is not None:
        answers["kinds"] = scaffold.check_kinds(kinds)
    if permissions is not None:
        answers["permissions"] = scaffold.check_permissions(permissions)
    interactive = not no_input and can_prompt()
    if not no_input and not interactive:
        sys.stderr.write("no terminal to ask: using the options and the template's defaults\n")
    try:
        project = scaffold.render(answers, output_dir, no_input=not interactive)
    except ScaffoldError as exc:
        raise Failed(str(exc)) from None
    _print_next_steps(project)


def _print_next_steps(project: Project) -> None:
    relative = os.path.relpath(project.path)
    shown = project.path if relative.startswith("..") else Path(relative)
    python = _python_command()
    name, tool = project.plugin_name, project.tool
    example = {
        "read": f"-a path=~/{name}/todo.txt",
        "net": "-a url=https://example.com/",
    }.get(project.permissions, "-a name=Ada")
    then = f"jafhost call {name}.{tool} {example}"
    if project.permissions != "none":
        then = f"jafhost enable {name}, then {then}"
    console = make_console()
    console.print(
        f"created {shown}: plugin {name}, distribution {project.distribution}, "
        f"package {project.package}, tool {name}.{tool}",
        markup=False,
    )
    console.print("next:", markup=False)
    console.print(f"  cd {shlex.quote(str(shown))}", markup=False)
    console.print(f'  {python} -m pip install -e ".[test]"', markup=False)
    console.print(f"  {python} -m pytest", markup=False)
    console.print(f"then try: {then}", markup=False)


def _python_command() -> str:
    """``python`` when that is jafhost's own interpreter on PATH, else its full path."""
    found = shutil.which("python")
    if found and Path(found).parent == Path(sys.executable).parent:
        return "python"
    return shlex.quote(sys.executable)


# -- search --------------------------------------------------------------------------


@app.command()
def search(
    query: Annotated[
        str | None, typer.Argument(help="Part of the name (jaf-plugin-QUERY); none: all.")
    ] = None,
    index: Annotated[
        str | None,
        typer.Option("--index", help="A simple API index URL (default: pip's index)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Find plugins (jaf-plugin-* projects) on a package index.

    Shows each one's newest version, summary and the permissions its wheel requests
    (null when the wheel was not read).
    """
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from jafhost.ecosystem.index import normalize_url
    from jafhost.ecosystem.search import IndexUnavailable, pip_index_url
    from jafhost.ecosystem.search import search as run_search

    try:
        url = normalize_url(index if index is not None else pip_index_url())
    except IndexUnavailable as exc:
        if index is None:
            raise Failed(f"pip's configured {exc}") from None
        raise UsageError(f"bad --index: {exc}") from None
    err = make_console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(escape(f"listing {url}"), total=None)

        def report(done: int, total: int, project: str) -> None:
            progress.update(task, completed=done, total=total, description=escape(project))

        try:
            found = run_search(url, query, progress=report)
        except IndexUnavailable as exc:
            raise Failed(str(exc)) from None
    if as_json:
        print_json([item.as_json() for item in found])
        return
    console = make_console()
    if not found:
        console.print(f"no plugin on {url} matches {query or 'jaf-plugin-*'}", markup=False)
        return
    table = Table(title=escape(f"plugins on {url}"))
    for column in ("name", "version", "summary", "permissions"):
        table.add_column(column)
    for item in found:
        permissions = (
            ", ".join(item.permissions) or "none"
            if item.permissions is not None
            else f"unknown ({item.note})"
        )
        table.add_row(
            escape(item.name),
            escape(item.version or "?"),
            escape(item.summary),
            escape(permissions),
        )
    console.print(table)


# -- install / uninstall ---------------------------------------------------------------


def _pip(args: list[str], title: str) -> PipResult:
    """Run pip with each line of its output printed dim on stderr under a status line."""
    from rich.markup import escape
    from rich.text import Text

    from jafhost.ecosystem.installer import run_pip

    console = make_console(stderr=True)
    with console.status(escape(title)):
        return run_pip(args, lambda line: console.print(Text(line, style="dim")))


def _refresh(host: Host) -> None:
    """Make ``host`` see what pip just changed."""
    importlib.invalidate_caches()
    host.discovery(refresh=True)


@app.command()
def install(
    packages: Annotated[
        list[str],
        typer.Argument(help="What pip installs: names, requirements, wheel files, folders."),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve the permissions new plugins request.")
    ] = False,
    upgrade: Annotated[
        bool, typer.Option("--upgrade", "-U", help="Upgrade to the newest versions.")
    ] = False,
) -> None:
    """Install packages with pip, after a permission review.

    Packages go to jafhost's environment; accepting the review approves what the new
    plugins request.
    """
    from jafhost.ecosystem.installer import check_install_arguments, compare

    check_install_arguments(packages)
    host = build_host()
    before = list(host.discovery(refresh=True).plugins)
    args = ["install", *(["--upgrade"] if upgrade else []), *packages]
    result = _pip(args, f"pip install {' '.join(packages)}")
    if not result.ok:
        raise Failed(f"pip install failed: {result.error_line()}")
    _refresh(host)
    change = compare(before, host.discovery().plugins)
    console = make_console()
    if not change.touched:
        console.print("installed; no plugin was added or changed", markup=False)
        return
    old = {new.name: prev for prev, new in change.changed}
    refused: list[str] = []
    for info in change.touched:
        if host.plugin(info.name).status != "needs-approval":
            continue
        try:
            host.enable([info.name], approve=approver(yes), dependencies=False)
        except Failed:
            refused.append(info.name)  # no terminal to ask and no --yes
        except PluginError as exc:  # the user said no
            console.print(str(exc), markup=False)
    warn(host)
    for info in change.touched:
        console.print(_installed_line(host, info, old.get(info.name)), markup=False)
    if refused:  # installed all the same: say what approves them (exit 0)
        names = " ".join(shlex.quote(name) for name in refused)
        console.print(
            f"next: `jafhost enable {names}` approves the permissions and enables "
            f"{'it' if len(refused) == 1 else 'them'} (there was no terminal to ask; "
            "--yes approves without one)",
            markup=False,
        )


def _installed_line(host: Host, info: PluginInfo, previous: PluginInfo | None) -> str:
    view = host.plugin(info.name)
    version = f"{previous.version} -> {info.version}" if previous else info.version
    line = f"{'upgraded' if previous else 'added'} {info.name} {version} ({info.distribution}): "
    line += view.status
    if view.status == "needs-approval":
        line += f" (jafhost enable {info.name} approves: {', '.join(info.permissions)})"
    elif view.reason:
        line += f": {view.reason}"
    return line


@app.command()
def uninstall(
    packages: Annotated[
        list[str], typer.Argument(help="Plugin distributions (or plugin names) to remove.")
    ],
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete the plugins' data folders.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Uninstall plugin distributions and forget their state.

    With --purge their data folders are deleted too.
    """
    from jafhost.ecosystem.installer import compare, forget, uninstall_targets

    host = build_host()
    before = list(host.discovery(refresh=True).plugins)
    unresolved = {v.name for v in host.plugins() if v.status == "unresolved"}
    targets = uninstall_targets(packages, before, host.state(), host.layout)
    _confirm_uninstall(targets.distributions, targets.leftovers, purge, yes, host)
    gone = set(targets.leftovers)
    if targets.distributions:
        dists = list(targets.distributions)
        result = _pip(["uninstall", "--yes", *dists], f"pip uninstall {' '.join(dists)}")
        if not result.ok:
            raise Failed(f"pip uninstall failed: {result.error_line()}")
        _refresh(host)
        removed = {p.name for p in compare(before, host.discovery().plugins).removed}
        gone |= removed & set(targets.plugins)
    forgotten = forget(host.store, host.layout, gone, purge=purge)
    warn(host)
    console = make_console()
    for dist, names in targets.distributions.items():
        console.print(f"uninstalled {dist} (plugins: {', '.join(names)})", markup=False)
    for name in sorted(set(targets.plugins) - gone):
        sys.stderr.write(f"warning: {name} is still installed (another distribution has it)\n")
    if forgotten.records:
        console.print(f"removed the state of {', '.join(forgotten.records)}", markup=False)
    for folder in forgotten.purged:
        console.print(f"deleted {folder}", markup=False)
    for folder in forgotten.kept:
        plugin = folder.parent.name
        console.print(
            f"kept the data of {plugin} in {folder} "
            f"(`jafhost uninstall --purge {plugin}` deletes it)",
            markup=False,
        )
    for view in host.plugins():
        if view.status == "unresolved" and view.name not in unresolved:
            sys.stderr.write(f"warning: {view.name} is now unresolved: {view.reason}\n")


def _confirm_uninstall(
    distributions: dict[str, list[str]], leftovers: list[str], purge: bool, yes: bool, host: Host
) -> None:
    parts = [f"{d} (plugins: {', '.join(n)})" for d, n in distributions.items()]
    parts += [f"the leftovers of {n}" for n in leftovers]
    what = "; ".join(parts)
    data = f" and delete their folders in {host.layout.plugins}" if purge else ""
    if yes:
        return
    if not can_prompt():
        raise Failed(
            f"uninstalling {what} needs a yes and there is no terminal to ask; run again with --yes"
        )
    if not typer.confirm(f"Uninstall {what}, remove their grants{data}?", default=False):
        make_console().print("nothing changed", markup=False)
        raise typer.Exit(1)
