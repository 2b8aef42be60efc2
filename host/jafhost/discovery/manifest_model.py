"""The manifest's pydantic model: the strict check of a ``jaf-plugin.toml`` and the
error naming the field at fault.

Kept apart from ``manifest`` so that reading a plainly valid manifest (``verify``'s
``manifest_fields``) imports neither pydantic nor ``packaging``; every manifest that
reading does not confirm, and every folder plugin's, is checked here.
"""

from __future__ import annotations

from typing import Annotated, get_args

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from jafhost.discovery.manifest import (
    ENTRY_POINT_VALUE,
    Activation,
    Manifest,
    PluginKind,
    check_plugin_name,
)
from jafhost.errors import ManifestError
from jafhost.security import permissions


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


def validated(data: dict[str, object], path: str) -> Manifest:
    """The manifest ``data`` (parsed from ``path``) checked by the model; a
    ``ManifestError`` names ``path`` and the field at fault."""
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
