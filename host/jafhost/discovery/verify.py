"""Checking a cached discovery against the files it was derived from, before it is used.

The discovery cache is a file in the user's home that anything able to write there can
edit, keeping its fingerprint. What it holds decides trust (a plugin's permissions, the
module imported as its entry point, its name and distribution, whether it is valid), so
none of that is taken from it on its word:

- every file a plugin was described from (``METADATA``, ``entry_points.txt``, the
  manifest) is keyed by a digest of its content, checked on every use (an edit within
  one clock tick, which time stamps miss, still counts);
- each valid plugin is derived again from those files, with the same functions a fresh
  scan uses (``metadata``), and must match the cached one field by field: name,
  distribution, version, entry point, location, requirements, extras, kinds, permissions
  and manifest path. The manifest is checked without pydantic (too slow to import on
  every ``list``): TOML parsed with ``tomllib``, keys and types checked, permissions
  made canonical by ``jafhost.security.permissions`` as the manifest model does;
- a cached ``invalid`` plugin is not derived again: trusting it only keeps that plugin
  from running (its files are still checked by digest);
- installed versions and the judgement of requirements (``resolve.judge``), which decide
  whether a plugin is ``unresolved`` and the activation order, are computed again.

Any difference means the cache is not used: discovery scans afresh and rewrites it.
"""

from __future__ import annotations

import os
from typing import Any

from jafhost.blake import blake2b
from jafhost.discovery.metadata import (
    ENTRY_POINT_VALUE,
    ENTRY_POINTS_LIMIT,
    MANIFEST_NAME,
    METADATA_LIMIT,
    PLUGIN_NAME,
    PackageFinder,
    info_base,
    metadata_file,
    parse_core_metadata,
    plugin_entry_points,
)
from jafhost.discovery.records import Discovery, PluginInfo
from jafhost.safe_read import MANIFEST_LIMIT, UnsafeFile, read_bytes

PLUGIN_KINDS = ("tool", "agent", "integration", "capability", "event")
"""= ``get_args(manifest.PluginKind)`` (a test keeps them equal)."""
FOLDER_KEYS = ("name", "version", "summary", "requires", "entry_point")
"""= ``manifest.FOLDER_KEYS``."""
PERMISSION_LISTS = ("read", "write", "net", "env", "run")
PERMISSION_FLAGS = ("ffi", "observe")


class Files:
    """Each file read once (safely, up to ``METADATA_LIMIT``) for one check: its digest
    and its text come from the same bytes, so what is compared is what was hashed."""

    def __init__(self) -> None:
        self._read: dict[str, bytes | str] = {}
        """Path: its content, or why it was not read (``-``: there is none)."""

    def content(self, path: str) -> bytes | str:
        found = self._read.get(path)
        if found is None:
            try:
                found = read_bytes(path, METADATA_LIMIT)
            except FileNotFoundError:
                found = "-"
            except UnsafeFile as exc:
                found = f"!{exc}"
            self._read[path] = found
        return found

    def digest(self, path: str) -> str:
        """A digest of the content of ``path``; ``-`` when there is none, ``!`` and the
        reason when it is not read (not a regular file, too large)."""
        data = self.content(path)
        return data if isinstance(data, str) else blake2b(data, digest_size=16).hexdigest()

    def text(self, path: str, limit: int) -> str | None:
        """The UTF-8 text of ``path`` when it is at most ``limit`` bytes, else None."""
        data = self.content(path)
        if isinstance(data, str) or len(data) > limit:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None


def digests(paths: list[str]) -> dict[str, str]:
    files = Files()
    return {path: files.digest(path) for path in paths}


def _strings(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def manifest_fields(text: str, *, folder: bool) -> dict[str, Any] | None:
    """What a valid manifest declares, derived without pydantic; None when this check
    cannot confirm it is valid (the caller then scans afresh, which decides)."""
    try:
        import tomllib  # only for a plugin with a manifest

        data = tomllib.loads(text)
    except (RecursionError, MemoryError, ValueError):
        return None
    if not set(data) <= {"plugin", "permissions"}:
        return None
    plugin = data.get("plugin", {})
    table = data.get("permissions", {})
    if not isinstance(plugin, dict) or not isinstance(table, dict):
        return None
    allowed = {"kinds", "activation", *FOLDER_KEYS} if folder else {"kinds", "activation"}
    kinds = _strings(plugin.get("kinds", []))
    if not set(plugin) <= allowed or kinds is None or not set(kinds) <= set(PLUGIN_KINDS):
        return None
    activation = plugin.get("activation", "lazy")
    if activation not in ("lazy", "eager"):
        return None
    flags = {flag: table.get(flag, False) for flag in PERMISSION_FLAGS}
    if not set(table) <= {*PERMISSION_LISTS, *PERMISSION_FLAGS}:
        return None
    if not all(isinstance(value, bool) for value in flags.values()):
        return None
    fields: dict[str, Any] = {
        "kinds": tuple(dict.fromkeys(kinds)),
        "permissions": (),
        "activation": activation,
    }
    if table:
        from jafhost.security import permissions

        granted: list[permissions.Permission] = []
        for kind in PERMISSION_LISTS:
            values = _strings(table.get(kind, []))
            if values is None:
                return None
            try:
                granted += [permissions.make(kind, value) for value in values]
            except ValueError:
                return None
        granted += [permissions.Permission(flag) for flag, on in flags.items() if on]
        fields["permissions"] = tuple(permissions.canonical(granted))
    if folder:
        for key in ("name", "version", "summary", "entry_point"):
            if not isinstance(plugin.get(key, ""), str):
                return None
        requires = _strings(plugin.get("requires", []))
        if requires is None or not plugin.get("name") or not plugin.get("version"):
            return None
        fields.update(
            name=plugin["name"],
            version=plugin["version"],
            summary=plugin.get("summary", ""),
            requires=tuple(requires),
            entry_point=plugin.get("entry_point"),
        )
    return fields


def _read_manifest(files: Files, path: str, folder: bool) -> dict[str, Any] | None:
    text = files.text(path, MANIFEST_LIMIT)
    return None if text is None else manifest_fields(text, folder=folder)


def _distribution_plugin_holds(files: Files, info: PluginInfo, finder: PackageFinder) -> bool:
    folder = info.location or ""
    if not PLUGIN_NAME.fullmatch(info.name) or not ENTRY_POINT_VALUE.match(
        info.entry_point.replace(" ", "")
    ):
        return False
    meta_text = files.text(metadata_file(folder), METADATA_LIMIT)
    eps_text = files.text(os.path.join(folder, "entry_points.txt"), ENTRY_POINTS_LIMIT)
    if meta_text is None or eps_text is None:
        return False
    if (info.name, info.entry_point) not in plugin_entry_points(eps_text):
        return False
    if info.manifest is not None:
        declared = _read_manifest(files, info.manifest, folder=False)
        if declared is None:
            return False
    else:
        declared = {"kinds": (), "permissions": (), "activation": "lazy"}
    meta = parse_core_metadata(meta_text)
    expected = info_base(
        info.name, info.entry_point, meta, folder,
        declared["kinds"], declared["permissions"], info.manifest,
    )  # fmt: skip
    if info != expected.replace(activation=declared["activation"]):
        return False
    # the manifest is the first one found where the entry point's package is
    candidates = finder.locations(info.entry_point)
    if next((c for c in candidates if os.path.exists(c)), None) != info.manifest:
        return False
    # and the distribution is the one discovery uses, not one shadowed by another copy
    first = finder.first_folder(meta.name, known=folder)
    return first is not None and os.path.samefile(first, os.path.dirname(folder))


def _folder_plugin_holds(files: Files, info: PluginInfo, folders: list[str]) -> bool:
    package = info.location or ""
    if os.path.dirname(package) not in folders or info.manifest != os.path.join(
        package, MANIFEST_NAME
    ):
        return False
    declared = _read_manifest(files, info.manifest, folder=True)
    if declared is None:
        return False
    module = os.path.basename(package)
    entry_point = declared["entry_point"] or module
    if (
        not PLUGIN_NAME.fullmatch(declared["name"])
        or not ENTRY_POINT_VALUE.fullmatch(entry_point)
        or entry_point.split(":", 1)[0].split(".", 1)[0] != module
    ):
        return False  # what a scan makes invalid (outside its package: another module)
    expected = PluginInfo(
        name=declared["name"],
        distribution=declared["name"],
        version=declared["version"],
        entry_point=entry_point,
        summary=declared["summary"],
        requires=declared["requires"],
        kinds=declared["kinds"],
        permissions=declared["permissions"],
        manifest=info.manifest,
        location=package,
        source=info.source,
        activation=declared["activation"],
    )
    return info == expected


def _real(known: dict[str, str], folder: str) -> str:
    found = known.get(folder)
    if found is None:
        found = known[folder] = os.path.realpath(folder)
    return found


class _Finder(PackageFinder):
    """A ``PackageFinder`` that answers each entry point once (a plugin's manifest
    candidates are asked for by the digest check and by its derivation)."""

    def __init__(self, path: list[str] | None) -> None:
        super().__init__(path)
        self._found: dict[str, list[str]] = {}

    def locations(self, entry_point_value: str) -> list[str]:
        found = self._found.get(entry_point_value)
        if found is None:
            found = self._found[entry_point_value] = super().locations(entry_point_value)
        return found


class CacheCheck:
    """The check of one cached discovery (see the module doc), over every plugin at once
    (``all``: what ``list`` shows) or one plugin at a time (``plugin``: a command that
    starts one plugin need not read the files of a thousand others).

    What does not depend on files (the digests cover exactly the watched files, no name
    is claimed twice by valid plugins) is checked at once (``sound``); each plugin's
    files are read when it is checked, at most once."""

    def __init__(
        self,
        cached: Discovery,
        stored_digests: dict[str, str],
        search: list[str],
        folders: list[str],
        path: list[str] | None,
    ) -> None:
        self.plugins = list(cached.plugins)  # as cached: others may join the discovery later
        self.stored = stored_digests
        self.search = search
        self.folders = folders
        self.path = path
        self.files = Files()
        self.checked: set[str] = set()
        """Names whose cached plugins were found true to their files."""
        self._finder: _Finder | None = None
        self._roots: set[str] | None = None
        self._real: dict[str, str] = {}
        self._by_folder: dict[str, list[str]] | None = None
        self._by_name: dict[str, list[PluginInfo]] | None = None
        names = [info.name for info in self.plugins if info.error is None]
        self.sound = set(stored_digests) == set(cached.watch) and len(names) == len(set(names))
        """False: the cache cannot hold (a name claimed twice makes every claimant invalid)."""

    @property
    def finder(self) -> _Finder:
        if self._finder is None:
            self._finder = _Finder(self.path)
        return self._finder

    def _derives(self, info: PluginInfo) -> bool:
        """Whether a valid cached plugin is derived again, identical, from its files."""
        from jafhost.discovery.folders import SOURCE

        if info.source == SOURCE:
            return _folder_plugin_holds(self.files, info, self.folders)
        if self._roots is None:
            self._roots = {os.path.realpath(entry or ".") for entry in self.search}
        return (
            info.source == "distribution"
            and _real(self._real, os.path.dirname(info.location or "")) in self._roots
            and _distribution_plugin_holds(self.files, info, self.finder)
        )

    def _watched(self, info: PluginInfo) -> list[str]:
        """The watched files ``info`` was described from: its distribution's metadata and
        the places its manifest was looked for."""
        if self._by_folder is None:
            self._by_folder = {}
            for watched in self.stored:
                self._by_folder.setdefault(os.path.dirname(watched), []).append(watched)
        found = list(self._by_folder.get(info.location or "", ()))
        if ENTRY_POINT_VALUE.match(info.entry_point.replace(" ", "")):
            found += [c for c in self.finder.locations(info.entry_point) if c in self.stored]
        return found

    def all(self) -> bool:
        """Whether every plugin of the cached discovery is what its files say."""
        if not self.sound:
            return False
        if any(self.files.digest(p) != known for p, known in self.stored.items()):
            return False
        if not all(self._derives(info) for info in self.plugins if info.error is None):
            return False
        self.checked.update(info.name for info in self.plugins)
        return True

    def plugin(self, name: str) -> bool:
        """Whether the cached plugins named ``name`` (none: vacuously) are what their files
        say: their watched files unchanged, the valid ones derived again."""
        if name in self.checked:
            return True
        if not self.sound:
            return False
        if self._by_name is None:
            self._by_name = {}
            for cached in self.plugins:
                self._by_name.setdefault(cached.name, []).append(cached)
        for info in self._by_name.get(name, ()):
            if any(self.files.digest(p) != self.stored[p] for p in self._watched(info)):
                return False
            if info.error is None and not self._derives(info):
                return False
        self.checked.add(name)
        return True

    def watched_of(self, name: str) -> tuple[list[PluginInfo], dict[str, str]]:
        """The cached plugins named ``name`` and the stored digests of the files ``plugin``
        reads for them: a check of those alone (a ``CacheCheck`` of them) is this one's."""
        named = [info for info in self.plugins if info.name == name]
        files = [path for info in named for path in self._watched(info)]
        return named, {path: self.stored[path] for path in files}


def holds(
    cached: Discovery,
    stored_digests: dict[str, str],
    search: list[str],
    folders: list[str],
    path: list[str] | None,
) -> bool:
    """Whether every plugin of ``cached`` is what its files say (see the module doc).
    ``path`` is the search path given to discovery (None: ``sys.path``)."""
    return CacheCheck(cached, stored_digests, search, folders, path).all()


def recompute(cached: Discovery, search: list[str], host_version: str) -> Discovery:
    """``cached`` with what depends on other distributions (installed versions, judged
    requirements) computed again rather than read from the cache."""
    from jafhost.discovery.folders import SOURCE
    from jafhost.discovery.resolve import judgement_key

    if not any(p.requires or p.source == SOURCE for p in cached.plugins):
        # nothing to look up or judge: what ``judge`` gives a plugin requiring nothing
        # (and ``packaging``, ``importlib.metadata`` stay unimported on this path)
        judged: dict[str, dict[str, Any]] = {
            judgement_key(p): {"deps": [], "problem": None} for p in cached.plugins if not p.error
        }
        return Discovery(cached.plugins, {}, cached.watch, judged)
    from jafhost.discovery.entry_points import installed_versions
    from jafhost.discovery.resolve import judge

    installed = installed_versions(cached.plugins, search)
    result = Discovery(cached.plugins, installed, cached.watch)
    result.judged = judge(result.plugins, installed, host_version)
    return result
