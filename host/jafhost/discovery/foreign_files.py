"""Files another distribution put where a plugin's code is imported from, found before
the import.

The integrity check (``integrity``) compares the files a plugin's ``RECORD`` lists with
the disk; the import system does not read that list. Within one folder it takes a
package (``name/__init__.py``) before an extension module (``name.cpython-*.so``),
that before a source (``name.py``); a package folder's sibling modules are imported by
name (``from . import _speedups``); and a bytecode file in ``__pycache__`` marked
"unchecked" (PEP 552) is used without a look at its source. pip installs whatever files
a wheel lists, wherever they go, so a wheel of another project (one that asks for no
permission) can put a file among the plugin's whose code then runs as the plugin, with
its grants. ``foreign_file`` names the first such file:

- in a folder of the plugin's packages (one holding a file ``RECORD`` lists, other than
  the site folder itself): every entry the import system could take for a module (a
  folder other than ``__pycache__``, a file with an import suffix) must be the plugin's
  (a listed file, or a folder holding one);
- in the folders above them, the site folder included (which others share): the
  entries for the names the plugin's files are imported by (``name``, ``name.<suffix>``),
  and below the site folder an ``__init__`` (which makes a namespace folder a package
  whose code runs when the plugin's modules are imported);
- in the ``__pycache__`` of those folders: no bytecode file marked unchecked (a checked
  one is compared with its source by the import system itself).

Limit: a timestamp-checked bytecode file is used when its header names the source's
modification time (in seconds) and size; one that another wheel put in place of a
listed one is not told apart from the one the import system wrote.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

PYCACHE = "__pycache__"
_UNCHECKED_HASH = 0b01
"""PEP 552 flags: hash-based (bit 0) and checked against the source (bit 1)."""
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


def _suffixes() -> tuple[str, ...]:
    from importlib.machinery import all_suffixes

    return tuple(all_suffixes())


def _module_name(file_name: str, suffixes: tuple[str, ...]) -> str | None:
    """The module ``file_name`` is imported as (None: not a module file)."""
    for suffix in suffixes:
        if file_name.endswith(suffix) and len(file_name) > len(suffix):
            return file_name[: -len(suffix)]
    return None


def foreign_file(site: str, listed: Iterable[str]) -> str | None:
    """The first file or folder, where the plugin's code is imported from, that its
    ``RECORD`` (``listed``: every path it lists, absolute and normalised) does not
    account for; None when there is none. ``site``: the folder holding its
    ``.dist-info``."""
    suffixes = _suffixes()
    files = set(listed)
    names: dict[str, set[str]] = {}
    """Folder: the names the plugin's files are imported by in it."""
    mine: set[str] = set()
    """The folders on the way to a listed file."""
    packages: set[str] = set()
    """Folders below ``site`` holding a module file of the plugin."""
    for path in files:
        relative = os.path.relpath(path, site)
        parts = relative.split(os.sep)
        if parts[0] in (os.pardir, os.curdir) or parts[0].endswith((".dist-info", ".data")):
            continue  # outside the site folder (scripts), or metadata: not imported
        if PYCACHE in parts:
            continue
        folder = site
        for part in parts[:-1]:
            names.setdefault(folder, set()).add(part)
            mine.add(folder)
            folder = os.path.join(folder, part)
            # an ``__init__`` another wheel puts in a namespace folder on the way makes
            # it a package, and runs as the plugin's parent package is imported
            names.setdefault(folder, set()).add("__init__")
        mine.add(folder)
        module = _module_name(parts[-1], suffixes)
        if module is None:
            continue
        names.setdefault(folder, set()).add(module)
        if folder != site:
            packages.add(folder)
    for folder, provided in names.items():
        if folder not in packages:  # a package folder's entries are all checked below
            found = _shadowing(folder, provided, suffixes, files, mine)
            if found is not None:
                return found
    for folder in sorted(packages):
        found = _stranger(folder, suffixes, files, mine)
        if found is not None:
            return found
    for folder in sorted({site, *packages}):
        found = _unchecked_bytecode(os.path.join(folder, PYCACHE), names.get(folder, set()))
        if found is not None:
            return found
    return None


def _theirs(path: str, is_folder: bool, files: set[str], mine: set[str]) -> bool:
    return (path not in mine) if is_folder else (path not in files)


def _shadowing(
    folder: str, provided: set[str], suffixes: tuple[str, ...], files: set[str], mine: set[str]
) -> str | None:
    """An entry of ``folder`` the import system could take for one of the ``provided``
    names that is not the plugin's: a ``stat`` per candidate name, no listing (the site
    folder may hold thousands of entries)."""
    for name in sorted(provided):
        for candidate in (name, *(name + suffix for suffix in suffixes)):
            path = os.path.join(folder, candidate)
            try:
                is_folder = os.path.isdir(path) if os.path.lexists(path) else None
            except OSError:
                continue
            if is_folder is not None and _theirs(path, is_folder, files, mine):
                return path
    return None


def _stranger(
    folder: str, suffixes: tuple[str, ...], files: set[str], mine: set[str]
) -> str | None:
    """An entry of a package folder that could be imported as a module of it and is
    not the plugin's."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return None
    for entry in sorted(entries, key=lambda e: e.name):
        try:
            is_folder = entry.is_dir()
        except OSError:
            is_folder = False
        if is_folder:
            if entry.name != PYCACHE and _theirs(entry.path, True, files, mine):
                return entry.path
        elif _module_name(entry.name, suffixes) is not None and entry.path not in files:
            return entry.path
    return None


def _unchecked_bytecode(cache: str, provided: set[str]) -> str | None:
    """A bytecode file in ``cache`` (for one of ``provided`` names; all when empty) that
    the import system would use without comparing it with its source."""
    try:
        entries = sorted(os.listdir(cache))
    except OSError:
        return None
    for name in entries:
        if not name.endswith(".pyc"):
            continue
        if provided and name.split(".", 1)[0] not in provided:
            continue
        path = os.path.join(cache, name)
        try:  # never blocks on a FIFO, never reads more than the header
            fd = os.open(path, _FLAGS)
        except OSError:
            continue
        try:
            header = os.read(fd, 8) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
        except OSError:
            header = b""
        finally:
            os.close(fd)
        if len(header) == 8 and int.from_bytes(header[4:8], "little") & 0b11 == _UNCHECKED_HASH:
            return path
    return None
