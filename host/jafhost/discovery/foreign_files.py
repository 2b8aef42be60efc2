"""Files another distribution put where a plugin's code is imported from, found before
the import.

The integrity check (``integrity``) compares the files a plugin's ``RECORD`` lists with
the disk; the import system does not read that list. Within one folder it takes a
package (``name/__init__.py``) before an extension module (``name.cpython-*.so``),
that before a source (``name.py``); a folder searched earlier on ``sys.path`` before
the plugin's own; and a package's sibling modules are imported by name (``from . import
_speedups``). pip installs whatever files a wheel lists, wherever they go, so a wheel
of another project (one that asks for no permission) can put a file where the import
takes it for the plugin's code, which then runs as the plugin, with its grants.
``foreign_file`` names the first such file:

- in the regular package folders (a listed ``__init__``) of the plugin's entry point
  package (``packages``): every entry the import system could take for a module (a
  folder other than ``__pycache__``, a file with an import suffix) must be the plugin's
  (a listed file, or a folder holding one);
- in the folders above them, the site folder and namespace folders included (which
  other distributions share): the entries for the names the plugin's files are
  imported by (``name``, ``name.<suffix>``);
- in each folder of ``search`` (``sys.path``) before the site folder: the entries for
  the top-level names of the entry points.

Bytecode caches are left to ``runtime.source_only``: the entry point's package is
compiled from its checked sources, so a cache beside them is never read.

Limits: code of other distributions that importing the plugin runs (its dependencies,
a parent package's ``__init__`` another distribution owns) is theirs to answer for, not
checked here; nor are the modules of the plugin's other top-level packages beyond their
names, nor their bytecode caches.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from jafhost.discovery.listings import names_in

PYCACHE = "__pycache__"


def _suffixes() -> tuple[str, ...]:
    from importlib.machinery import all_suffixes

    return tuple(all_suffixes())


def _module_name(file_name: str, suffixes: tuple[str, ...]) -> str | None:
    """The module ``file_name`` is imported as (None: not a module file)."""
    for suffix in suffixes:
        if file_name.endswith(suffix) and len(file_name) > len(suffix):
            return file_name[: -len(suffix)]
    return None


def foreign_file(
    site: str, listed: Iterable[str], packages: Iterable[str], search: Iterable[str] = ()
) -> str | None:
    """The first file or folder, where the plugin's code is imported from, that its
    ``RECORD`` (``listed``: every path it lists, absolute and normalised) does not
    account for; None when there is none. ``site``: the folder holding its
    ``.dist-info``; ``packages``: the top-level names of its entry points; ``search``:
    the import path (folders before ``site`` are looked at for its top-level names)."""
    suffixes = _suffixes()
    files = set(listed)
    names: dict[str, set[str]] = {}
    """Folder: the names the plugin's files are imported by in it."""
    mine: set[str] = set()
    """The folders on the way to a listed file."""
    tops = set(packages)
    regular: set[str] = set()
    """The regular package folders of the entry points' packages."""
    inside = site.rstrip(os.sep) + os.sep
    for path in files:
        if not path.startswith(inside):
            continue  # outside the site folder (scripts): not imported from there
        parts = path[len(inside) :].split(os.sep)
        if parts[0].endswith((".dist-info", ".data")):
            continue  # metadata: not imported
        if PYCACHE in parts:
            continue
        folder = site
        for part in parts[:-1]:
            names.setdefault(folder, set()).add(part)
            mine.add(folder)
            folder = os.path.join(folder, part)
        mine.add(folder)
        module = _module_name(parts[-1], suffixes)
        if module is None:
            continue
        names.setdefault(folder, set()).add(module)
        if module == "__init__" and parts[0] in tops:
            regular.add(folder)
    for folder, provided in names.items():
        if folder not in regular:  # a regular package's entries are all checked below
            found = _shadowing(folder, provided, suffixes, files, mine)
            if found is not None:
                return found
    for folder in sorted(regular):
        found = _stranger(folder, suffixes, files, mine)
        if found is not None:
            return found
    top_names = names.get(site, set()) & tops  # what the entry points import first
    try:
        here = os.stat(site)
    except OSError:
        return None
    for entry in search:
        try:
            there = os.stat(entry or ".")
        except OSError:
            continue
        if (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino):
            break
        found = _shadowing(entry or ".", top_names, suffixes, set(), set())
        if found is not None:
            return found
    return None


def _theirs(path: str, is_folder: bool, files: set[str], mine: set[str]) -> bool:
    return (path not in mine) if is_folder else (path not in files)


def _shadowing(
    folder: str, provided: set[str], suffixes: tuple[str, ...], files: set[str], mine: set[str]
) -> str | None:
    """An entry of ``folder`` the import system could take for one of the ``provided``
    names that is not the plugin's (none in a folder that cannot be listed: the import
    system then finds nothing there either)."""
    present = names_in(folder) or frozenset()
    for name in sorted(provided):
        for candidate in (name, *(name + suffix for suffix in suffixes)):
            if candidate not in present:
                continue
            path = os.path.join(folder, candidate)
            if _theirs(path, os.path.isdir(path), files, mine):
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
