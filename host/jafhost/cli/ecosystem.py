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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

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
from jafhost.errors import PluginError, ScaffoldError, UsageError, quoted

if TYPE_CHECKING:
    from jafhost.discovery.records import PluginInfo
    from jafhost.ecosystem.installer import PipResult
    from jafhost.ecosystem.lock_sync import Plan
    from jafhost.ecosystem.review import Reviewed
    from jafhost.ecosystem.scaffold import Project
    from jafhost.host.host import Host

T = TypeVar("T")

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
        typer.Argument(help="What to install: names, requirements, wheel files."),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve the permissions new plugins request.")
    ] = False,
    upgrade: Annotated[
        bool, typer.Option("--upgrade", "-U", help="Upgrade to the newest versions.")
    ] = False,
    allow_sdist: Annotated[
        bool,
        typer.Option(
            "--allow-sdist",
            help="Also install source distributions and folders (building them runs their code).",
        ),
    ] = False,
    index: Annotated[
        str | None,
        typer.Option("--index", help="A simple API index URL (default: pip's index)."),
    ] = None,
) -> None:
    """Review what plugins request, then install them with pip.

    pip resolves (wheels only), the wheels are downloaded and their manifests read, and
    one table shows what every new or upgraded plugin requests; accepting it installs
    exactly those files, approves and enables the plugins.
    """
    import tempfile

    from jafhost.ecosystem import review as reviewing
    from jafhost.ecosystem import wheel_hashes
    from jafhost.ecosystem.index import IndexUnavailable, normalize_url
    from jafhost.ecosystem.installer import check_install_arguments, compare

    check_install_arguments(packages)
    index_url = None
    if index is not None:
        try:
            index_url = normalize_url(index)
        except IndexUnavailable as exc:
            raise UsageError(f"bad --index: {exc}") from None
    sources = reviewing.source_arguments(packages)
    if sources and not allow_sdist:
        raise Failed(
            f"{quoted(sources[0])} is a folder or source archive that pip would build "
            "(building runs its code); --allow-sdist installs it"
        )
    host = build_host()
    before = list(host.discovery(refresh=True).plugins)
    err = make_console(stderr=True)
    folder = Path(tempfile.mkdtemp(prefix="jafhost-review-"))
    try:
        try:
            planned = _pip_step(
                f"resolving {' '.join(packages)}",
                lambda on_line: reviewing.resolve(
                    packages,
                    index_url=index_url,
                    upgrade=upgrade,
                    allow_sdist=allow_sdist,
                    on_line=on_line,
                ),
            )
            if not planned:
                make_console().print(
                    "nothing to install: every requirement is already satisfied "
                    "(--upgrade looks for newer versions)",
                    markup=False,
                )
                return
            with err.status("downloading and reading the wheels"):
                reviewed = reviewing.review(planned, folder, allow_sdist=allow_sdist)
        except reviewing.ReviewError as exc:
            raise Failed(str(exc)) from None
        rows = _review_rows(host, before, reviewed)
        _show_review(rows, reviewed)
        startup = _startup_files(reviewed)
        if any(row.new for row in rows) or startup:
            _confirm_install(rows, yes, startup)
        failed = _pip_step(
            "installing the reviewed files",
            lambda on_line: reviewing.install(reviewed, index_url=index_url, on_line=on_line),
        )
        if failed is not None:
            raise Failed(f"pip install failed: {failed.error_line()}")
        wheel_hashes.record(
            host.layout,
            [
                (r.contents.name, r.contents.version, r.planned.filename, r.sha256)
                for r in reviewed
                if r.contents is not None and r.sha256 is not None
            ],
        )
    finally:
        reviewing.clean(folder)
    _refresh(host)
    change = compare(before, host.discovery().plugins)
    built = {r.planned.name for r in reviewed if r.contents is None}
    _approve_reviewed(host, change.touched, rows, built, yes)
    warn(host)
    console = make_console()
    old = {new.name: prev for prev, new in change.changed}
    for info in change.touched:
        console.print(_installed_line(host, info, old.get(info.name)), markup=False)
    if not change.touched:
        console.print("installed; no plugin was added or changed", markup=False)


@dataclass(frozen=True)
class _Row:
    """One plugin of the review: what it requests, and what of it was never approved."""

    plugin: str
    distribution: str
    version: str
    previous: str | None
    requested: tuple[str, ...]
    new: tuple[str, ...]
    error: str | None = None


def _review_rows(host: Host, before: list[PluginInfo], reviewed: list[Reviewed]) -> list[_Row]:
    from jafhost.security.permissions import missing

    installed = {p.name: p for p in before}
    state = host.state()
    rows = []
    for item in reviewed:
        if item.contents is None:
            continue
        for plugin in item.contents.plugins:
            record = state.plugins.get(plugin.name)
            approved: list[str] = []
            if record is not None and record.distribution == item.contents.name:
                approved = record.approved
            previous = installed.get(plugin.name)
            rows.append(
                _Row(
                    plugin.name,
                    item.contents.name,
                    item.contents.version,
                    previous.version if previous is not None else None,
                    plugin.permissions,
                    tuple(missing(plugin.permissions, approved)),
                    plugin.error,
                )
            )
    return rows


def _show_review(rows: list[_Row], reviewed: list[Reviewed]) -> None:
    """One table on stderr: each plugin, its version, the permissions to approve."""
    from rich.markup import escape
    from rich.table import Table

    from jafhost.security.permissions import parse

    err = make_console(stderr=True)
    if rows:
        table = Table(title="plugins to install")
        for column in ("plugin", "version", "distribution", "requests (not yet approved)"):
            table.add_column(column)
        for row in rows:
            version = f"{row.previous} -> {row.version}" if row.previous else row.version
            if row.error:
                asks = f"invalid: {row.error}"
            elif row.new:
                asks = "\n".join(f"{p}: {parse(p).explain()}" for p in row.new)
            else:
                asks = "nothing new" if row.requested else "nothing"
            table.add_row(
                escape(row.plugin), escape(version), escape(row.distribution), escape(asks)
            )
        err.print(table)
    plugins = {row.distribution for row in rows}
    others = [
        f"{r.planned.name} {r.planned.version}"
        for r in reviewed
        if r.contents is not None and r.contents.name not in plugins
    ]
    if others:
        err.print(escape(f"also installs (no plugin): {', '.join(others)}"))
    for line in _startup_files(reviewed):
        err.print(
            escape(f"runs at every Python start, with your rights and outside any guard: {line}")
        )
    for item in reviewed:
        if item.contents is None:
            err.print(
                escape(
                    f"{item.planned.name} {item.planned.version} is built from source: "
                    "its build code runs as pip installs it (--allow-sdist), and what its "
                    "plugins request is shown once it is installed"
                )
            )


def _startup_files(reviewed: list[Reviewed]) -> list[str]:
    """``distribution: file`` for each file a reviewed wheel would have Python run at
    every start (``.pth``, ``sitecustomize``): code outside any guard, asked about too."""
    return [
        f"{r.contents.name}: {name}"
        for r in reviewed
        if r.contents is not None
        for name in r.contents.startup
    ]


def _confirm_install(rows: list[_Row], yes: bool, startup: list[str] | None = None) -> None:
    """Yes with ``--yes``; a prompt on a terminal; else refuse: nothing is installed."""
    if yes:
        return
    names = [row.plugin for row in rows if row.new]
    asking = ", ".join(names)
    code = "; ".join(startup or [])
    if not can_prompt():
        if not names:
            raise Failed(
                f"nothing installed: it ships code that Python runs at every start ({code}) "
                "and there is no terminal to ask; run again with --yes to accept it"
            )
        verb = "requests" if len(names) == 1 else "request"
        raise Failed(
            f"nothing installed: {asking} {verb} permissions and there is no terminal to "
            "ask; run again with --yes to approve them"
            + (f" (it also ships code that Python runs at every start: {code})" if code else "")
        )
    question = f"Install and grant these permissions to {asking}?" if names else ""
    if code:
        question = (question + " " if question else "") + (
            f"Install code that Python runs at every start ({code})?"
        )
    try:
        accepted = typer.confirm(question, default=False)
    except (typer.Abort, KeyboardInterrupt):
        raise Failed("interrupted: nothing installed") from None
    if not accepted:
        raise Failed("not approved: nothing installed")


def _approve_reviewed(
    host: Host, touched: list[PluginInfo], rows: list[_Row], built: set[str], yes: bool
) -> None:
    """Approve and enable what the review showed: a plugin whose installed manifest
    requests exactly what was reviewed (same distribution). A plugin of a distribution
    built from source (``built``: the review could not read it) gets the usual approval
    prompt. Any other plugin was never shown (a wheel can carry a second distribution's
    metadata, an ``.egg-info`` at its root, that the review does not read as its own): it
    is left unapproved, whatever ``--yes`` says, and named."""
    from packaging.utils import canonicalize_name

    reviewed = {row.plugin: row for row in rows}
    sources = {canonicalize_name(name) for name in built}
    for info in touched:
        if host.plugin(info.name).status != "needs-approval":
            continue
        row = reviewed.get(info.name)
        if row is None and canonicalize_name(info.distribution or "") not in sources:
            sys.stderr.write(
                f"warning: plugin {info.name} ({info.distribution}) was not in the review: "
                f"not approved (jafhost enable {info.name} shows what it requests)\n"
            )
            continue
        approve = approver(yes) if row is None else _as_reviewed(row)
        try:
            host.enable([info.name], approve=approve, dependencies=False)
        except Failed as exc:
            sys.stderr.write(f"warning: {exc}\n")
        except PluginError as exc:
            sys.stderr.write(f"warning: {exc}\n")


def _as_reviewed(row: _Row) -> Callable[[PluginInfo, list[str]], bool]:
    """Approval for what the review showed: the same distribution, nothing beyond it."""

    def approve(plugin: PluginInfo, new: list[str]) -> bool:
        return plugin.distribution == row.distribution and set(new) <= set(row.requested)

    return approve


def _pip_step(title: str, step: Callable[[Callable[[str], None]], T]) -> T:
    """Run ``step`` with pip's lines printed dim on stderr under a status line."""
    from rich.markup import escape
    from rich.text import Text

    console = make_console(stderr=True)
    with console.status(escape(title)):
        return step(lambda line: console.print(Text(line, style="dim")))


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
        from jafhost.ecosystem import wheel_hashes

        wheel_hashes.forget(host.layout, dists)
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


# -- lock / sync -------------------------------------------------------------------------


def _index_or_pip(index: str | None) -> str | None:
    """``--index`` checked (exit 2 when it is no URL), else None: pip's own index."""
    from jafhost.ecosystem.index import IndexUnavailable, normalize_url

    if index is None:
        return None
    try:
        return normalize_url(index)
    except IndexUnavailable as exc:
        raise UsageError(f"bad --index: {exc}") from None


@app.command()
def lock(
    output: Annotated[Path, typer.Option("--output", "-o", help="The lock file to write.")] = Path(
        "jafhost.lock"
    ),
    index: Annotated[
        str | None,
        typer.Option("--index", help="Where to look up hashes not recorded at install."),
    ] = None,
) -> None:
    """Pin the installed plugins and their grants in a lock file.

    Hashes come from what jafhost install recorded, else from the index.
    """
    from jafhost.ecosystem import lock_file
    from jafhost.ecosystem.index import IndexUnavailable
    from jafhost.ecosystem.lock_make import LockError, make_lock
    from jafhost.ecosystem.search import pip_index_url

    given = _index_or_pip(index)
    host = build_host()
    try:
        made = make_lock(host, lambda: given or pip_index_url())
    except (LockError, IndexUnavailable) as exc:
        raise Failed(f"nothing written: {exc}") from None
    waiting = [v.name for v in host.plugins() if v.status == "needs-approval"]
    for name in waiting:
        sys.stderr.write(f"warning: {name} needs approval: locked as disabled\n")
    try:
        lock_file.write(made, output)
    except OSError as exc:
        raise Failed(f"cannot write {output}: {exc.strerror}") from None
    warn(host)
    count = sum(len(d.plugins) for d in made.distributions)
    make_console().print(
        f"locked {len(made.distributions)} distributions ({count} plugins) in {output}",
        markup=False,
    )


@app.command()
def sync(
    file: Annotated[Path, typer.Argument(help="The lock file to apply.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    index: Annotated[
        str | None,
        typer.Option("--index", help="A simple API index URL (default: pip's index)."),
    ] = None,
) -> None:
    """Make this environment match a lock file.

    Installs exactly the locked files (hash-checked), records the locked state and
    grants, and disables plugins not in the lock.
    """
    import tempfile

    from jafhost.ecosystem import lock_file, lock_sync
    from jafhost.ecosystem import review as reviewing

    index_url = _index_or_pip(index)
    try:
        wanted = lock_file.read(file)
    except lock_file.LockFileError as exc:
        raise UsageError(str(exc)) from None
    host = build_host()
    host.discovery(refresh=True)
    try:
        planned = lock_sync.plan(host, wanted)
    except lock_sync.SyncError as exc:
        raise Failed(f"nothing changed: {exc}") from None
    if not planned.changes:
        make_console().print(f"already in sync with {file}; nothing changed", markup=False)
        return
    folder = Path(tempfile.mkdtemp(prefix="jafhost-sync-"))
    try:
        _sync_files(host, planned, file, folder, index_url, yes)
    finally:
        reviewing.clean(folder)
    importlib.invalidate_caches()
    try:
        lock_sync.apply(host, planned)
    except lock_sync.SyncError as exc:
        raise Failed(f"installed, but the state was not applied: {exc}") from None
    warn(host)
    make_console().print(
        f"synced with {file}: {len(planned.installs)} installed, "
        f"{sum(p.changes for p in planned.plugins)} plugins recorded, "
        f"{len(planned.disable)} disabled",
        markup=False,
    )


def _sync_files(
    host: Host, planned: Plan, file: Path, folder: Path, index_url: str | None, yes: bool
) -> None:
    """Download and read the locked wheels, show the plan, ask, install them."""
    from jafhost.ecosystem import lock_sync

    try:
        got = _pip_step(
            "downloading the locked files",
            lambda on_line: lock_sync.download(
                planned, folder, index_url, lambda args: _run_pip(args, on_line)
            ),
        )
        if not isinstance(got, dict):
            raise Failed(f"nothing changed: pip download failed: {got.error_line()}")
        lock_sync.requested(host, planned, got)
    except lock_sync.SyncError as exc:
        raise Failed(f"nothing changed: {exc}") from None
    _show_sync(planned, file)
    if not yes:
        if not can_prompt():
            raise Failed(
                f"syncing {file} needs a yes and there is no terminal to ask; "
                "nothing changed; run again with --yes"
            )
        if not typer.confirm(f"Apply {file}?", default=False):
            make_console().print("nothing changed", markup=False)
            raise typer.Exit(1)
    failed = _pip_step(
        "installing the locked files",
        lambda on_line: lock_sync.install(
            planned, got, folder, lambda args: _run_pip(args, on_line)
        ),
    )
    if failed is not None:
        raise Failed(f"nothing changed: pip install failed: {failed.error_line()}")


def _run_pip(args: list[str], on_line: Callable[[str], None]) -> PipResult:
    from jafhost.ecosystem.installer import run_pip

    return run_pip(args, on_line)


def _show_sync(planned: Plan, file: Path) -> None:
    """The plan on stderr: distributions to install, plugins' state and grants, and the
    plugins to disable."""
    from rich.markup import escape
    from rich.table import Table

    err = make_console(stderr=True)
    if planned.installs:
        table = Table(title=escape(f"to install from {file}"))
        for column in ("distribution", "version"):
            table.add_column(column)
        for dist, now in planned.installs:
            version = f"{now} -> {dist.version}" if now else dist.version
            table.add_row(escape(dist.name), escape(version))
        err.print(table)
    table = Table(title=escape(f"plugins as {file} records them"))
    for column in ("plugin", "distribution", "state", "isolation", "requests", "grants"):
        table.add_column(column)
    for step in planned.plugins:
        if not step.changes:
            continue
        table.add_row(
            escape(step.locked.name),
            escape(f"{step.distribution.name} {step.distribution.version}"),
            "enabled" if step.locked.enabled else "disabled",
            escape(step.locked.isolation or "default"),
            escape("\n".join(step.requests) or "nothing"),
            escape("\n".join(step.grants) or "none"),
        )
    if table.row_count:
        err.print(table)
    if planned.disable:
        err.print(f"to disable (not in the lock): {', '.join(planned.disable)}", markup=False)
