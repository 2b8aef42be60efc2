"""The ``.pth`` files a plugin's distribution installs, and what each one does.

Python's ``site`` module reads every ``*.pth`` file at the top of site-packages at every
interpreter start: a line starting with ``import`` is executed right there, before
jafhost (let alone a plugin's guard or sandbox) exists, in every Python program of the
environment. ``list`` and ``info`` flag a plugin whose distribution ships one, so the
user sees it before trusting the plugin. Found from the distribution's ``RECORD``
(files ending in ``.pth`` with no folder part), each read as data (``safe_read``),
nothing imported. Editable installs put a ``__editable__*.pth`` of path entries there:
shown as such, not as code.
"""

from __future__ import annotations

import csv
import functools
import os
from dataclasses import dataclass
from typing import Any, Literal

from jafhost.discovery.records import PluginInfo
from jafhost.safe_read import UnsafeFile, read_text

RECORD_LIMIT = 16 * 1024 * 1024
"""The largest ``RECORD`` read."""
PTH_LIMIT = 1024 * 1024
"""The largest ``.pth`` file read to say what it does."""

PthKind = Literal["runs-code", "unreadable", "path-entries", "editable"]
SEVERITY: tuple[PthKind, ...] = ("runs-code", "unreadable", "path-entries", "editable")
"""Most serious first: ``list`` shows the first kind a plugin has."""


@dataclass(frozen=True)
class PthFile:
    """One ``.pth`` file of a distribution: its path, its kind, and a line saying why."""

    path: str
    kind: PthKind
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "note": self.note}


def _is_import(line: str) -> bool:
    return line.startswith(("import ", "import\t"))  # what site.addpackage executes


def describe(path: str) -> PthFile:
    """What the ``.pth`` file at ``path`` does at every Python start."""
    try:
        text = read_text(path, PTH_LIMIT)
    except FileNotFoundError:
        return PthFile(path, "unreadable", "listed in RECORD but missing")
    except UnsafeFile as exc:
        return PthFile(path, "unreadable", f"cannot be read ({exc}): it may run code")
    for number, line in enumerate(text.splitlines(), 1):
        if _is_import(line):
            shown = line if len(line) <= 80 else line[:77] + "..."
            return PthFile(
                path,
                "runs-code",
                f"runs code at every Python start, before any guard or sandbox "
                f"(line {number}: {shown})",
            )
    if os.path.basename(path).startswith("__editable__"):
        return PthFile(path, "editable", "editable path entry")
    return PthFile(path, "path-entries", "adds folders to every Python's import path")


def record_pth_names(record_text: str) -> list[str]:
    """The ``.pth`` files at the top of site-packages that a ``RECORD`` lists."""
    names = []
    for row in csv.reader(record_text.splitlines()):
        if not row:
            continue
        name = row[0]
        if name.endswith(".pth") and "/" not in name and "\\" not in name:
            names.append(name)
    return sorted(set(names))


def _pth_files_in(site: str) -> frozenset[str]:
    """The names ending in ``.pth`` in ``site`` (listed again only once it changed)."""
    try:
        stamp = os.stat(site).st_mtime_ns
    except OSError:
        return frozenset({"?"})  # cannot tell: read RECORD
    return _listed(site, stamp)


@functools.lru_cache(maxsize=64)
def _listed(site: str, stamp: int) -> frozenset[str]:
    try:
        return frozenset(name for name in os.listdir(site) if name.endswith(".pth"))
    except OSError:
        return frozenset({"?"})  # cannot tell: read RECORD


def pth_files(info: PluginInfo) -> list[PthFile]:
    """The ``.pth`` files of ``info``'s distribution (none for folder plugins, plugins
    registered in memory, and distributions without a ``RECORD``); a ``RECORD`` that
    cannot be read is one ``unreadable`` entry naming it."""
    folder = info.location
    if info.source != "distribution" or not folder or not folder.endswith(".dist-info"):
        return []
    site = os.path.dirname(folder)
    if not _pth_files_in(site):
        return []  # none there for a RECORD to name (the common case: no RECORD read)
    record = os.path.join(folder, "RECORD")
    try:
        text = read_text(record, RECORD_LIMIT)
    except FileNotFoundError:
        return []
    except UnsafeFile as exc:
        return [PthFile(record, "unreadable", f"cannot be read ({exc}): .pth files unknown")]
    return [describe(os.path.join(site, name)) for name in record_pth_names(text)]


def worst(files: list[PthFile]) -> PthKind | None:
    """The most serious kind among ``files`` (None: no ``.pth`` file)."""
    kinds = {f.kind for f in files}
    return next((kind for kind in SEVERITY if kind in kinds), None)
