"""Activation records: what a plugin contributed when it last started, kept on disk so
later hosts can list its tools, agents, event patterns, integrations and providers
without running its code, and start it only at its first use.

A record is keyed on everything that can change what the plugin offers: the host's
version, the isolation it runs in, its ``PluginInfo`` (version, entry point, manifest,
activation...), its installed files (the digest of its distribution's ``RECORD``, and the
size and modification time of every file in its package folder, which also covers
editable installs and folder plugins), its configuration (its ``[plugins.NAME]`` table
with environment overrides) and its grants. Only a digest of the key is stored, so no
configuration value (secrets included) is written.

Records live in the cache side of the host home (``cache/activation/NAME.json``), are
written atomically, and are trusted only as far as a cache is: an unreadable, corrupt or
stale record is a missing one (the plugin then starts with the host and is recorded
again), never an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jafhost._version import __version__
from jafhost.atomic import write_atomic
from jafhost.runtime.scope import exact_str, plain

if TYPE_CHECKING:
    from hashlib import sha256
elif sys.version_info >= (3, 12):  # CPython's own SHA-256 (the very digest): ``hashlib``
    # would load OpenSSL first. Only the name of this version is asked for: a module
    # the interpreter lacks is searched for on ``sys.path``, where any wheel's
    # top-level ``_sha256.py`` would be found and run
    try:
        from _sha2 import sha256
    except ImportError:  # pragma: no cover - a build without it
        from hashlib import sha256
else:
    try:
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - a build without it
        from hashlib import sha256

if TYPE_CHECKING:
    from jafhost.discovery.records import PluginInfo
    from jafhost.runtime.lifecycle import LoadedPlugin

FORMAT = 1
"""The record layout's version: a record of another layout is a missing record."""
RECORD_LIMIT = 4 * 1024 * 1024
"""The largest record read back (a plugin with huge schemas is simply not recorded)."""
MAX_FILES = 5000
"""Files of a package folder stamped into the key; a larger folder is never recorded."""


@dataclass(frozen=True)
class RecordedTool:
    """One tool as its plugin described it: what the catalog and the exports need."""

    name: str
    description: str
    input_schema: dict[str, Any]
    confirm: bool = False
    is_async: bool = False
    plain: dict[str, Any] | None = None
    """Its parameters when all are plain (``runtime.plain_params``), else None."""


@dataclass(frozen=True)
class ActivationRecord:
    """What one plugin contributes, recorded at its last start under ``key``."""

    plugin: str
    key: str
    tools: list[RecordedTool] = field(default_factory=list)
    agents: list[dict[str, Any]] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    integrations: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    middleware: bool = False
    config_schema: Any = None
    hooks: dict[str, list[str]] | None = None
    """The hooks it implements, each with the arguments it asks for (None: unknown)."""

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return list(value)


def _agent(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ValueError("an agent is an object with a name")
    if not isinstance(value.get("instructions", ""), str):
        raise ValueError("agent instructions are a string")
    return {
        "name": value["name"],
        "instructions": value.get("instructions", ""),
        "tools": _strings(value.get("tools", [])),
        "description": str(value.get("description") or ""),
        "model": value.get("model") if isinstance(value.get("model"), str) else None,
    }


def _tool(value: Any) -> RecordedTool:
    if not isinstance(value, dict):
        raise ValueError("a tool is an object")
    name, description = value.get("name"), value.get("description")
    schema = value.get("input_schema")
    if not isinstance(name, str) or not isinstance(description, str):
        raise ValueError("a tool has a name and a description")
    if not isinstance(schema, dict):
        raise ValueError("a tool's input schema is an object")
    facts = value.get("plain")
    return RecordedTool(
        name,
        description,
        schema,
        value.get("confirm") is True,
        value.get("is_async") is True,
        facts if isinstance(facts, dict) else None,
    )


def _hooks(value: Any) -> dict[str, list[str]] | None:
    if not isinstance(value, dict):
        return None
    return {str(name): _strings(args) for name, args in value.items()}


def record_from_json(data: Any) -> ActivationRecord:
    """A record read back; ``ValueError`` for anything a record of this layout is not."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a record of this layout")
    plugin, key = data.get("plugin"), data.get("key")
    if not isinstance(plugin, str) or not isinstance(key, str):
        raise ValueError("a record names its plugin and key")
    tools = data.get("tools", [])
    agents = data.get("agents", [])
    if not isinstance(tools, list) or not isinstance(agents, list):
        raise ValueError("tools and agents are lists")
    return ActivationRecord(
        plugin=plugin,
        key=key,
        tools=[_tool(t) for t in tools],
        agents=[_agent(a) for a in agents],
        patterns=_strings(data.get("patterns", [])),
        integrations=_strings(data.get("integrations", [])),
        providers=_strings(data.get("providers", [])),
        middleware=data.get("middleware") is True,
        config_schema=data.get("config_schema"),
        hooks=_hooks(data.get("hooks")),
    )


# -- the key -------------------------------------------------------------------------


def _digest_file(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return sha256(handle.read()).hexdigest()
    except OSError:
        return "-"


def _folder_stamps(root: str) -> list[tuple[str, int, int]] | None:
    """(relative path, size, mtime in ns) of every file below ``root`` (bytecode caches
    left out); None when there are too many to stamp."""
    rows: list[tuple[str, int, int]] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name == "__pycache__":
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                pending.append(entry.path)
                continue
            rows.append((os.path.relpath(entry.path, root), info.st_size, info.st_mtime_ns))
            if len(rows) > MAX_FILES:
                return None
    return sorted(rows)


def package_folder(info: PluginInfo) -> str | None:
    """The folder holding the plugin's code, found without importing anything: a folder
    plugin's package, else the folder of its manifest (the entry point's package), else
    the entry point's top-level package beside the distribution's metadata."""
    if info.source == "folder":
        return info.location
    if info.manifest:
        return os.path.dirname(info.manifest)
    if info.location:
        top = info.entry_point.replace(" ", "").partition(":")[0].split(".", 1)[0]
        beside = os.path.join(os.path.dirname(info.location), top)
        if os.path.isdir(beside):
            return beside
    return None


def record_key(info: PluginInfo, isolation: str, config: Any, grants: Iterable[str]) -> str | None:
    """The digest of everything a record depends on; None when the plugin cannot be
    keyed (so it is never recorded, and always starts with the host)."""
    files: dict[str, Any] = {}
    if info.source != "folder" and info.location:
        files["RECORD"] = _digest_file(os.path.join(info.location, "RECORD"))
    folder = package_folder(info)
    if folder is not None:
        stamps = _folder_stamps(folder)
        if stamps is None:
            return None
        files["package"] = [folder, stamps]
    elif info.location:  # a single-module plugin: its module file
        top = info.entry_point.replace(" ", "").partition(":")[0].split(".", 1)[0]
        module = os.path.join(os.path.dirname(info.location), f"{top}.py")
        with contextlib.suppress(OSError):
            found = os.stat(module)
            files["module"] = [module, found.st_size, found.st_mtime_ns]
    if not files:
        return None
    try:
        text = json.dumps(
            {
                "format": FORMAT,
                "host": __version__,
                "isolation": isolation,
                "info": info.to_json(),
                "files": files,
                "config": config,
                "grants": sorted(grants),
            },
            sort_keys=True,
            default=repr,
        )
    except (TypeError, ValueError):
        return None
    return sha256(text.encode("utf-8")).hexdigest()


# -- what a started plugin offers ----------------------------------------------------


def provider_names(providers: list[Any]) -> list[str]:
    """In the plugin's scope (a provider's ``name`` may be a property: its code): the
    names of its providers as exact strings, leaving out any that cannot be read."""
    names: list[str] = []
    for provider in providers:
        try:
            name = getattr(provider, "name", None)
            if isinstance(name, str) and name:
                names.append(exact_str(name))
        except Exception:  # the agent run reports an unreadable provider
            continue
    return names


def record_of(
    loaded: LoadedPlugin,
    key: str,
    middleware: bool,
    config_schema: Any,
    providers: list[str],
    hooks: dict[str, list[str]] | None = None,
    plain_tools: dict[str, Any] | None = None,
) -> ActivationRecord:
    """The record of an active plugin: its tools, agents, patterns and integrations as
    the host holds them (plain data already, checked when it started), its provider
    names (``provider_names``) and its tools' plain parameters (``plain_tools``, tool
    name -> ``plain_params`` facts), both read in the plugin's scope by the caller, and
    the hooks it implements."""
    plain_tools = plain_tools or {}
    tools = [
        RecordedTool(
            exact_str(t.name),
            exact_str(t.description),
            plain(t.input_schema),
            bool(t.confirm),
            bool(t.extras.get("worker_is_async", t.is_async)),
            plain_tools.get(t.name),
        )
        for t in loaded.tools
    ]
    agents = [
        {
            "name": exact_str(a.name),
            "instructions": exact_str(a.instructions),
            "tools": [exact_str(t) for t in a.tools],
            "description": exact_str(a.description or ""),
            "model": None if a.model is None else exact_str(a.model),
        }
        for a in loaded.agents
    ]
    return ActivationRecord(
        plugin=loaded.name,
        key=key,
        tools=tools,
        agents=agents,
        patterns=list(dict.fromkeys(exact_str(s.pattern) for s in loaded.subscriptions)),
        integrations=[exact_str(n) for n in loaded.integrations],
        providers=providers,
        middleware=middleware,
        config_schema=config_schema,
        hooks=hooks,
    )


# -- on disk -------------------------------------------------------------------------


class RecordStore:
    """The records of one host home: ``folder/NAME.json``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def load(self, name: str, key: str | None) -> ActivationRecord | None:
        """The record of ``name`` made under ``key``; None when missing, unreadable,
        corrupt, of another plugin or stale."""
        if key is None:
            return None
        path = self.path(name)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return None
            with open(path, "rb") as handle:
                raw = handle.read(RECORD_LIMIT + 1)
            if len(raw) > RECORD_LIMIT:
                return None
            record = record_from_json(json.loads(raw))
        except (OSError, ValueError, RecursionError):
            return None
        if record.plugin != name or record.key != key:
            return None
        return record

    def store(self, record: ActivationRecord) -> None:
        """Write atomically; failing to write only means the plugin is recorded later."""
        path = self.path(record.plugin)
        try:
            data = json.dumps(record.to_json(), separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError):
            return
        if len(data) > RECORD_LIMIT:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            try:  # only ever a regular file of ours: never written through a link
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    os.unlink(path)
            except FileNotFoundError:
                pass
            write_atomic(path, data, durable=False)
        except OSError:
            return

    def forget(self, name: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path(name))
