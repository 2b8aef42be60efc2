"""Read what a plugin declares, without importing it.

Two sources describe an installed plugin: its distribution's core metadata (name,
version, summary, author, ``Requires-Dist``) and the optional ``jaf-plugin.toml`` in
the package directory of the entry point's top-level module (kinds, permissions).
Both are read as data; ``importlib.util.find_spec`` locates the package for a
top-level name without executing it.

A folder plugin (``jafhost.discovery.folders``) has no distribution, so its manifest also
carries what core metadata would (``FOLDER_KEYS``), accepted only with ``folder=True``.

Validation is strict: an unknown key, an unknown permission kind or a bad value makes
the plugin ``invalid`` with a reason naming the file and the field, so a typo such as
``permisions`` never silently drops a permission.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, get_args

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from jafhost.discovery.metadata import ENTRY_POINT_VALUE as ENTRY_POINT_VALUE
from jafhost.discovery.metadata import MANIFEST_NAME as MANIFEST_NAME
from jafhost.discovery.metadata import PLUGIN_NAME as PLUGIN_NAME
from jafhost.discovery.metadata import manifest_candidates as manifest_candidates
from jafhost.errors import ManifestError
from jafhost.safe_read import MANIFEST_LIMIT, UnsafeFile, read_text
from jafhost.security import permissions

FOLDER_KEYS = ("name", "version", "summary", "requires", "entry_point")
"""``[plugin]`` keys only a folder plugin's manifest may (and, for name and version, must) set."""
PluginKind = Literal["tool", "agent", "integration", "capability", "event"]
Activation = Literal["lazy", "eager"]
"""When the host starts a plugin: at its first use (``lazy``, the default, once its
contributions are recorded) or with the host (``eager``)."""


def check_plugin_name(name: str) -> str:
    """Plugin names are lowercase words joined by single ``-`` or ``_`` (never ``__``)."""
    if not PLUGIN_NAME.fullmatch(name):
        raise ManifestError(
            f"plugin name {name!r} is not allowed: use lowercase letters and digits in "
            "words joined by single '-' or '_' (e.g. notes-search)",
            plugin=name,
        )
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_name(value: str) -> str:
    try:
        return check_plugin_name(value)
    except ManifestError as exc:
        raise ValueError(str(exc)) from None


def _check_version(value: str) -> str:
    try:
        Version(value)
    except InvalidVersion:
        raise ValueError(f"{value!r} is not a valid version (PEP 440, e.g. 1.0.0)") from None
    return value


def _check_requirement(value: str) -> str:
    try:
        Requirement(value)
    except InvalidRequirement as exc:
        raise ValueError(f"{value!r} is not a valid requirement (PEP 508): {exc}") from None
    return value


def _check_entry_point(value: str) -> str:
    if not ENTRY_POINT_VALUE.fullmatch(value):
        raise ValueError(f"{value!r} is not 'module' or 'module:object'")
    return value


class PluginTable(_Strict):
    kinds: list[PluginKind] = []
    activation: Activation = "lazy"
    # folder plugins only (FOLDER_KEYS)
    name: Annotated[str, AfterValidator(_check_name)] | None = None
    version: Annotated[str, AfterValidator(_check_version)] | None = None
    summary: str | None = None
    requires: list[Annotated[str, AfterValidator(_check_requirement)]] = []
    entry_point: Annotated[str, AfterValidator(_check_entry_point)] | None = None


PathPermission = Annotated[str, AfterValidator(permissions.normalize_path)]
NetPermission = Annotated[str, AfterValidator(permissions.normalize_net)]
EnvPermission = Annotated[str, AfterValidator(permissions.normalize_env)]
RunPermission = Annotated[str, AfterValidator(permissions.normalize_run)]


class PermissionsTable(_Strict):
    read: list[PathPermission] = []
    write: list[PathPermission] = []
    net: list[NetPermission] = []
    env: list[EnvPermission] = []
    run: list[RunPermission] = []
    ffi: bool = False
    observe: bool = False

    def canonical(self) -> tuple[str, ...]:
        perms = [
            permissions.Permission(kind, value)
            for kind in ("read", "write", "net", "env", "run")
            for value in getattr(self, kind)
        ]
        perms += [permissions.Permission(flag) for flag in permissions.FLAGS if getattr(self, flag)]
        return tuple(permissions.canonical(perms))


class ManifestModel(_Strict):
    plugin: PluginTable = PluginTable()
    permissions: PermissionsTable = PermissionsTable()


@dataclass(frozen=True)
class Manifest:
    """What a plugin declares in ``jaf-plugin.toml``: kinds and canonical permissions,
    and for a folder plugin its name, version, summary, requirements and entry point."""

    kinds: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    path: str | None = None
    activation: str = "lazy"
    name: str | None = None
    version: str | None = None
    summary: str = ""
    requires: tuple[str, ...] = ()
    entry_point: str | None = None


def _field_name(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = _field_name(tuple(error["loc"]))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
        if len(error["loc"]) == 2 and error["loc"][0] == "permissions":
            message = f"unknown permission kind (known: {', '.join(permissions.KINDS)})"
    elif error["type"] == "literal_error" and where.startswith("plugin.kinds"):
        message = f"unknown kind {error.get('input')!r} (known: {', '.join(get_args(PluginKind))})"
    elif error["type"] == "literal_error" and where == "plugin.activation":
        message = f"{error.get('input')!r} is not lazy or eager"
    return f"{where}: {message}" if where else message


def load_toml(text: str, path: str) -> dict[str, object]:
    """The TOML document of a manifest; bad TOML, nesting too deep for the parser or a
    value it cannot hold (a 5000-digit integer) is a ``ManifestError`` naming ``path``."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ManifestError(f"{path}: nested too deeply") from None
    except MemoryError:
        raise ManifestError(f"{path}: too large to parse") from None
    except ValueError as exc:  # TOMLDecodeError, or int() refusing a huge number
        raise ManifestError(f"{path}: invalid TOML: {exc}") from None


def manifest_from_data(data: dict[str, object], path: str, *, folder: bool = False) -> Manifest:
    """Validate a parsed manifest; ``folder`` allows (and requires) the folder-plugin keys."""
    table = data.get("plugin")
    if isinstance(table, dict):
        present = [key for key in FOLDER_KEYS if key in table]
        if present and not folder:
            raise ManifestError(
                f"{path}: plugin.{present[0]}: only a folder plugin's manifest may set this "
                "(an installed plugin's name is its entry point name; its version, summary "
                "and requirements come from its distribution's metadata)"
            )
    if folder and (table is None or isinstance(table, dict)):
        given = table or {}
        for key in ("name", "version"):
            if key not in given:
                raise ManifestError(
                    f"{path}: plugin.{key}: missing (a folder plugin's manifest must give "
                    "[plugin] name and version)"
                )
    try:
        model = ManifestModel.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{path}: {_first_error(exc)}") from None
    except RecursionError:
        raise ManifestError(f"{path}: nested too deeply") from None
    except ValueError as exc:  # from a check pydantic does not wrap
        raise ManifestError(f"{path}: {exc}") from None
    plugin = model.plugin
    return Manifest(
        kinds=tuple(dict.fromkeys(plugin.kinds)),
        permissions=model.permissions.canonical(),
        path=path,
        activation=plugin.activation,
        name=plugin.name,
        version=plugin.version,
        summary=plugin.summary or "",
        requires=tuple(plugin.requires),
        entry_point=plugin.entry_point,
    )


def parse_manifest(text: str, path: str, *, folder: bool = False) -> Manifest:
    """Parse manifest text; a ``ManifestError`` names ``path`` and the field at fault."""
    return manifest_from_data(load_toml(text, path), path, folder=folder)


def read_file(path: str | Path) -> str:
    """The text of the manifest at ``path`` (``FileNotFoundError`` when there is none),
    read only when it is a regular file of at most ``MANIFEST_LIMIT`` bytes: a FIFO, a
    device or a huge file is a ``ManifestError`` naming ``path`` and what is wrong."""
    try:
        return read_text(path, MANIFEST_LIMIT)
    except UnsafeFile as exc:
        raise ManifestError(f"{path}: {exc}") from None


def read_manifest(candidates: list[Path]) -> Manifest:
    """Read the first manifest that exists among ``candidates``; none means no requests."""
    for path in candidates:
        try:
            text = read_file(path)
        except FileNotFoundError:
            continue
        return parse_manifest(text, str(path))
    return Manifest()
