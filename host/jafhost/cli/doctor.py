"""``jafhost doctor``: load every enabled plugin and report what is broken."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from jafhost.cli._common import (
    JsonOption,
    app,
    build_host,
    make_console,
    print_json,
    styled,
    warm_zygote,
)

if TYPE_CHECKING:
    from rich.table import Table


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Load every enabled plugin and report what is broken.

    Exits 1 if an enabled plugin is invalid, unresolved or broken. Also warns about
    plugins waiting for approval, grants naming missing paths, malformed grants and
    records of plugins not installed in the state file, unknown keys in a plugin's
    config table and problems with config.toml.

    --json: {"ok", "installation": {"status", "detail", "changed", ...}, "proofs":
    {"status", "detail", "checks": [{"protection", "attempt", "proven", "expected",
    "evidence"}]} (a probe worker's attempts, checked by the host), "plugins": [...],
    "findings": [{"kind", "message", "plugin", "fix"}], "warnings": [the warning lines]};
    kinds: invalid-config, needs-approval, missing-path, unknown-config-key,
    malformed-grant, dropped-grant (a grant leading out of a writable folder through a
    link: not applied), record-not-installed, host, installation (jafhost's own files differ
    from its RECORD: no worker starts), protection (a probe worker got past a restriction
    this kernel should enforce); "stats": [{"name", "status", "isolation", "start":
    {"import_ms", "initialize_ms", "activate_ms", "worker_ms", "total_ms"}, "workers":
    [{"pid", "rss_bytes", "started": "forked" or "spawned"}]}] for each plugin it
    started, the slowest start first (also printed as a table).
    """
    import asyncio

    host = build_host()
    warm_zygote(host)
    report = asyncio.run(host.doctor())
    problems = [r for r in report["plugins"] if r["problem"]]
    if as_json:
        print_json(report)
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
                styled(r["status"]),
                styled(r["runtime"] or "-"),
                escape(_protections_cell(r.get("protections") or [])),
                escape(r["problem"] or ""),
            )
        console = make_console()
        console.print(table)
        installed = report.get("installation") or {}
        if installed:
            line = f"jafhost's files: {installed['status']}: {installed['detail']}"
            console.print(line, markup=False)
        proofs = report.get("proofs") or {}
        if proofs:
            console.print(
                f"worker protections: {proofs['status']}: {proofs['detail']}", markup=False
            )
            for check in proofs.get("checks", []):
                verdict = "proven" if check["proven"] else "NOT proven"
                text = (
                    f"  {verdict}: {check['protection']}: {check['attempt']} ({check['evidence']})"
                )
                console.print(text, markup=False)
        if report.get("stats"):
            console.print(start_table(report["stats"]))
        count = len(problems) + (0 if report["ok"] or problems else 1)
        console.print(f"{count} problem(s)" if count else "no problems found", markup=False)
    if not report["ok"]:
        raise typer.Exit(1)


def _protections_cell(protections: list[str]) -> str:
    """What guards a plugin, short enough for the table: the guard alone in process, a
    count for a worker (``doctor --json`` and ``info`` list them)."""
    if len(protections) <= 2:
        return ", ".join(protections) or "-"
    return f"worker: {len(protections)} in force"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def start_table(stats: list[dict[str, Any]]) -> Table:
    """What each plugin's start cost, the slowest on top (``doctor --json``'s ``stats``
    keeps that order). ``worker ready``: spawning and sandboxing a worker until it could
    import the plugin; it counts in the total, as does waiting for the machine while
    other plugins start at the same time."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="plugin starts (ms), slowest first")
    table.add_column("plugin", overflow="fold")
    table.add_column("isolation")
    columns = ("import", "initialize", "activate", "worker ready", "total", "worker pid", "RSS MB")
    for column in columns:
        table.add_column(column, justify="right")
    for entry in stats:
        start = entry.get("start") or {}
        workers = entry.get("workers") or []
        pids = ", ".join(str(w["pid"]) for w in workers) or "-"
        rss = [w["rss_bytes"] for w in workers if w.get("rss_bytes") is not None]
        table.add_row(
            escape(entry["name"]),
            entry["isolation"],
            _ms(start.get("import_ms")),
            _ms(start.get("initialize_ms")),
            _ms(start.get("activate_ms")),
            _ms(start.get("worker_ms")),
            _ms(start.get("total_ms")),
            pids,
            f"{sum(rss) / 2**20:.1f}" if rss else "-",
        )
    return table
