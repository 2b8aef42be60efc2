"""An installed distribution's core metadata and ``jaf.plugins`` entry points, read safely.

Both files are written by whoever built the distribution, so they are read like a
manifest (``jafhost.safe_read``: regular files only, under a size cap): a FIFO, a link to
``/dev/zero`` or a 2 GB file there makes that one plugin ``invalid`` with a reason naming
the file, instead of hanging ``jafhost list`` or filling memory, as reading them through
``importlib.metadata`` would. Discovery and the check of its cache (``verify``) both go
through these functions, so a cached plugin is compared with exactly what a fresh scan
would have derived. Stdlib only and cheap: it runs for every plugin on every ``list``.
"""

from __future__ import annotations

import importlib.machinery
import os
import re
from typing import TYPE_CHECKING

from jafhost.discovery.records import PluginInfo
from jafhost.frozen import Frozen
from jafhost.safe_read import UnsafeFile, read_text

if TYPE_CHECKING:
    from pathlib import Path

GROUP = "jaf.plugins"
METADATA_LIMIT = 4 * 1024 * 1024
"""The largest ``METADATA``/``PKG-INFO`` read (a long description is rarely 200 KiB)."""
ENTRY_POINTS_LIMIT = 1024 * 1024
"""The largest ``entry_points.txt`` read."""
METADATA_NAMES = ("METADATA", "PKG-INFO")
MANIFEST_NAME = "jaf-plugin.toml"
PLUGIN_NAME = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
"""What a plugin name may be: lowercase words joined by single ``-`` or ``_``."""
ENTRY_POINT_VALUE = re.compile(r"^[A-Za-z_][\w.]*(?::[A-Za-z_][\w.]*)?$")
"""What an entry point value may be: ``module`` or ``module:object``."""


def check_plugin_name(name: str) -> str:
    """Plugin names are lowercase words joined by single ``-`` or ``_`` (never ``__``)."""
    if not PLUGIN_NAME.fullmatch(name):
        from jafhost.errors import ManifestError

        raise ManifestError(
            f"plugin name {name!r} is not allowed: use lowercase letters and digits in "
            "words joined by single '-' or '_' (e.g. notes-search)",
            plugin=name,
        )
    return name


class BadMetadata(Exception):
    """A metadata file cannot be used: the message names the file and why."""


class CoreMetadata(Frozen):
    """The fields of core metadata discovery keeps."""

    __slots__ = ("author", "extras", "name", "requires", "summary", "version")
    _fields = ("name", "version", "summary", "author", "requires", "extras")
    name: str
    version: str
    summary: str
    author: str
    requires: tuple[str, ...]
    extras: tuple[str, ...]

    def __init__(
        self,
        name: str,
        version: str,
        summary: str,
        author: str,
        requires: tuple[str, ...],
        extras: tuple[str, ...],
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "summary", summary)
        object.__setattr__(self, "author", author)
        object.__setattr__(self, "requires", requires)
        object.__setattr__(self, "extras", extras)


def info_base(
    name: str,
    value: str,
    meta: CoreMetadata,
    folder: str,
    kinds: tuple[str, ...] = (),
    permissions: tuple[str, ...] = (),
    manifest: str | None = None,
) -> PluginInfo:
    """What the entry point and core metadata (and, once read, the manifest) say of one
    installed plugin: shared with the check of the discovery cache, so both derive the
    same."""
    return PluginInfo(
        name=name,
        distribution=meta.name,
        version=meta.version,
        entry_point=value,
        summary=meta.summary,
        author=meta.author,
        requires=meta.requires,
        extras=meta.extras,
        kinds=kinds,
        permissions=permissions,
        manifest=manifest,
        location=folder,
    )


def read_file(path: str, limit: int) -> str | None:
    """The text of ``path``, None when there is none; ``BadMetadata`` naming it otherwise."""
    try:
        return read_text(path, limit)
    except FileNotFoundError:
        return None
    except UnsafeFile as exc:
        raise BadMetadata(f"{path}: {exc}") from None


def metadata_file(folder: str) -> str:
    """The metadata file of the ``*.dist-info``/``*.egg-info`` ``folder`` (``METADATA``
    unless only ``PKG-INFO`` exists)."""
    for name in METADATA_NAMES:
        candidate = os.path.join(folder, name)
        if os.path.lexists(candidate):
            return candidate
    return os.path.join(folder, METADATA_NAMES[0])


def headers(text: str) -> dict[str, list[str]]:
    """The header fields of a metadata document (RFC 822 style, up to the first empty
    line), by lower-cased name, each value in order; folded lines are joined."""
    fields: dict[str, list[str]] = {}
    last: list[str] | None = None
    head = text.split("\n\n", 1)[0]  # the body (the long description) is never needed
    for line in head.splitlines():
        if not line.strip():
            break
        if line[0] in " \t":
            if last:
                last[-1] += "\n" + line
            continue
        name, sep, value = line.partition(":")
        if not sep:
            last = None
            continue
        last = fields.setdefault(name.strip().lower(), [])
        last.append(value.strip())
    return fields


def _first(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name.lower())
    return values[0] if values else ""


def core_metadata(folder: str) -> CoreMetadata:
    """The core metadata of the distribution described in ``folder``."""
    return parse_core_metadata(read_file(metadata_file(folder), METADATA_LIMIT) or "")


def parse_core_metadata(text: str) -> CoreMetadata:
    """The fields discovery keeps, from the text of a metadata file."""
    fields = headers(text)
    author = _first(fields, "Author")
    if not author:
        email = _first(fields, "Author-email")
        author = email.split("<", 1)[0].strip().strip('"') if "<" in email else email
    return CoreMetadata(
        name=_first(fields, "Name") or "?",
        version=_first(fields, "Version") or "0",
        summary=_first(fields, "Summary"),
        author=author,
        requires=tuple(fields.get("requires-dist", ())),
        extras=tuple(fields.get("provides-extra", ())),
    )


def plugin_entry_points(text: str) -> list[tuple[str, str]]:
    """``(name, value)`` of each ``jaf.plugins`` entry point in ``entry_points.txt`` text,
    read leniently: a malformed value is kept, for discovery to make that one plugin
    ``invalid`` with the reason (a stricter reader would drop it silently or fail them all)."""
    found: list[tuple[str, str]] = []
    group: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif group == GROUP and "=" in line:
            name, _, value = line.partition("=")
            found.append((name.strip(), value.strip()))
    return found


def entry_points_of(folder: str) -> list[tuple[str, str]]:
    """The ``jaf.plugins`` entry points of the distribution described in ``folder``."""
    text = read_file(os.path.join(folder, "entry_points.txt"), ENTRY_POINTS_LIMIT)
    return plugin_entry_points(text or "")


def maybe_plugin(folder: str) -> bool:
    """Whether ``entry_points.txt`` of ``folder`` may name a ``jaf.plugins`` entry point:
    it mentions the group, or it cannot be read as a regular file (then discovery
    reports it rather than guessing)."""
    path = os.path.join(folder, "entry_points.txt")
    try:
        return GROUP in read_text(path, ENTRY_POINTS_LIMIT)
    except FileNotFoundError:
        return False
    except UnsafeFile:
        return True


def manifest_candidates(entry_point_value: str, path: list[str] | None = None) -> list[Path]:
    """Where the manifest of an entry point may live, found without importing anything.

    The manifest sits in the package directory of the entry point's top-level module.
    A plain top-level module (no package) has no manifest. With ``path`` given, only
    that search path is looked at (as when discovering on a path other than sys.path).
    """
    from pathlib import Path

    return [Path(location) for location in manifest_locations(entry_point_value, path)]


def manifest_locations(entry_point_value: str, path: list[str] | None = None) -> list[str]:
    """``manifest_candidates`` as strings (what the check of the cache compares)."""
    top = entry_point_value.split(":", 1)[0].strip().split(".", 1)[0]
    try:
        if path is None:
            from importlib.util import find_spec  # here: a warm ``jafhost call`` never asks

            spec = find_spec(top)
        else:
            spec = importlib.machinery.PathFinder.find_spec(top, path)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [os.path.join(location, MANIFEST_NAME) for location in spec.submodule_search_locations]


def canonical_name(name: str) -> str:
    """PEP 503 normalisation of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _project_name(folder_name: str) -> str:
    """``canonical_name`` of the project a ``*.dist-info``/``*.egg-info`` folder is named
    for, with string methods where they give the same answer: a folder in a thousand
    does not pay for a regular expression."""
    found = folder_name.rsplit(".", 1)[0].split("-", 1)[0].lower()
    found = found.replace("_", "-").replace(".", "-")
    return canonical_name(found) if "--" in found else found


class PackageFinder:
    """``manifest_locations`` for many entry points at once, each path folder listed once.

    ``importlib`` checks up to five file names per folder and per module; the check of
    the discovery cache asks for every plugin on every ``list``, so this reads each
    folder's listing once and applies the same rules as the standard path finder
    (within a folder: a package, that is a folder with ``__init__`` and an import
    suffix, then a module file, then a namespace portion). Anything it does not know
    (a path entry that is not a folder, a custom path hook, a module already imported,
    a finder other than the standard ones ahead of the path finder) is left to
    ``importlib`` (``manifest_locations``), so it never answers differently."""

    def __init__(self, path: list[str] | None) -> None:
        import sys

        self.path = path
        self.entries = list(sys.path if path is None else path)
        self.suffixes = tuple(importlib.machinery.all_suffixes())
        self.listings: dict[str, frozenset[str] | None] = {}
        self.distributions: dict[str, frozenset[str]] = {}
        """Path folder: the names of the distributions described in it."""
        standard = (
            importlib.machinery.BuiltinImporter,
            importlib.machinery.FrozenImporter,
            importlib.machinery.PathFinder,
        )
        self.others = [] if path is not None else [f for f in sys.meta_path if f not in standard]
        hooks = getattr(sys, "path_hooks", [])
        self.standard_hooks = len(hooks) <= 2 and all(
            getattr(h, "__module__", "").startswith(("zipimport", "importlib", "_frozen"))
            or "FileFinder" in getattr(h, "__qualname__", "")
            for h in hooks
        )

    def _listing(self, folder: str) -> frozenset[str] | None:
        if folder not in self.listings:
            from jafhost.discovery.listings import names_in

            self.listings[folder] = names_in(folder)
        return self.listings[folder]

    def first_folder(self, distribution: str, known: str | None = None) -> str | None:
        """The path folder holding the first ``*.dist-info``/``*.egg-info`` of
        ``distribution`` (the one discovery uses: later ones are shadowed). ``known``:
        such a folder of it, as discovery found it (path entry joined with its name):
        its path entry, once reached, is not listed (at N plugins, the site folder's
        listing and its N names are what the answer would cost)."""
        key = canonical_name(distribution)
        there = None
        if known is not None and _project_name(os.path.basename(known)) == key:
            there = os.path.dirname(known)
        for entry in self.entries:
            folder = entry or "."
            if entry == there:
                return folder
            names = self.distributions.get(folder)
            if names is None:
                names = self.distributions[folder] = frozenset(
                    _project_name(name)
                    for name in self._listing(folder) or ()
                    if name.endswith((".dist-info", ".egg-info"))
                )
            if key in names:
                return folder
        return None

    def locations(self, entry_point_value: str) -> list[str]:
        import sys

        top = entry_point_value.split(":", 1)[0].strip().split(".", 1)[0]
        if (
            not self.standard_hooks
            or (self.path is None and top in sys.modules)
            or top in sys.builtin_module_names
            or importlib.machinery.FrozenImporter.find_spec(top) is not None
            or any(finder.find_spec(top, None) is not None for finder in self.others)
        ):
            return manifest_locations(entry_point_value, self.path)
        portions: list[str] = []
        for entry in self.entries:
            folder = entry or "."
            listing = self._listing(folder)
            if listing is None:
                if os.path.exists(folder):
                    return manifest_locations(entry_point_value, self.path)  # a zip file
                continue
            if top in listing:
                package = os.path.join(entry or os.getcwd(), top)
                if os.path.isdir(package):
                    init = os.path.join(package, "__init__")
                    if any(os.path.isfile(init + suffix) for suffix in self.suffixes):
                        return [os.path.join(package, MANIFEST_NAME)]
                    if not any(top + suffix in listing for suffix in self.suffixes):
                        portions.append(package)
                        continue
            if any(top + suffix in listing for suffix in self.suffixes):
                return []  # a plain module: no package folder, no manifest
        return [os.path.join(p, MANIFEST_NAME) for p in portions]
