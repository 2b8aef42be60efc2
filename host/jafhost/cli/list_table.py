"""The table ``jafhost list`` prints: one row per plugin, fitted to the terminal.

On a terminal the table fits its width without splitting a word: when it cannot, the
source, kinds and version columns are left out, in that order. In a pipe, or when even
the narrowest table does not fit, it is plain text, one line per plugin. ``--json`` does
not come here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from jafhost.cli import streams
from jafhost.cli._common import styled

if TYPE_CHECKING:
    from jafhost.discovery.records import PluginInfo
    from jafhost.host.views import PluginView


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
    lines += [(f"{g} (granted, not requested)", "cyan") for g in extra]
    pth = _PTH_MARKS.get(view.pth or "")
    return lines + ([pth] if pth else [])


_PTH_MARKS = {
    "runs-code": (".pth: runs code at every Python start", "bold red"),
    "unreadable": (".pth: cannot be read", "red"),
    "path-entries": (".pth: import path entries", "yellow"),
    "editable": (".pth: editable path entry", "dim"),
}
"""The line under a plugin's permissions when its distribution ships ``.pth`` files
(``PluginView.pth``: the most serious kind); ``info`` lists each file."""


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
    from rich.table import Table  # only a terminal gets a table: a pipe, plain lines

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column, width in zip(columns, widths, strict=True):
        table.add_column(column, width=width, no_wrap=column not in _WRAPS, overflow="fold")
    for row in rows:
        values: dict[str, Any] = {
            "STATUS": styled(row["STATUS"]),
            "PERMISSIONS": Text("\n").join(Text(t, style=s) for t, s in row["PERMISSIONS"]),
        }
        table.add_row(*(values.get(c) or Text(_cell_text(row, c)) for c in columns))
    return table


def print_table(views: list[PluginView]) -> None:
    """Print ``views`` on the CLI's stdout: a table fitted to the terminal, else plain
    lines."""
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


__all__ = ["print_table"]
