"""Read what a plugin declares, without importing it.

Two sources describe an installed plugin: its distribution's core metadata (name,
version, summary, author, ``Requires-Dist``) and the optional ``jaf-plugin.toml`` in
the package directory of the entry point's top-level module (kinds, permissions).
Both are read as data; ``importlib.util.find_spec`` locates the package for a
top-level name without executing it.

Validation is strict: an unknown key, an unknown permission kind or a bad value makes
the plugin ``invalid`` with a reason naming the file and the field, so a typo such as
``permisions`` never silently drops a permission.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from jafhost import permissions
from jafhost.errors import ManifestError

MANIFEST_NAME = "jaf-plugin.toml"
PLUGIN_NAME = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
PluginKind = Literal["tool", "agent", "integration", "capability", "event"]


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


class PluginTable(_Strict):
    kinds: list[PluginKind] = []


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

    def canonical(self) -> tuple[str, ...]:
        perms = [
            permissions.Permission(kind, value)
            for kind in ("read", "write", "net", "env", "run")
            for value in getattr(self, kind)
        ]
        if self.ffi:
            perms.append(permissions.Permission("ffi"))
        return tuple(permissions.canonical(perms))


class ManifestModel(_Strict):
    plugin: PluginTable = PluginTable()
    permissions: PermissionsTable = PermissionsTable()


@dataclass(frozen=True)
class Manifest:
    """What a plugin declares in ``jaf-plugin.toml``: kinds and canonical permissions."""

    kinds: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    path: str | None = None


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
    return f"{where}: {message}" if where else message


def parse_manifest(text: str, path: str) -> Manifest:
    """Parse manifest text; a ``ManifestError`` names ``path`` and the field at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: invalid TOML: {exc}") from None
    try:
        model = ManifestModel.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{path}: {_first_error(exc)}") from None
    return Manifest(
        kinds=tuple(dict.fromkeys(model.plugin.kinds)),
        permissions=model.permissions.canonical(),
        path=path,
    )


def manifest_candidates(entry_point_value: str, path: list[str] | None = None) -> list[Path]:
    """Where the manifest of an entry point may live, found without importing anything.

    The manifest sits in the package directory of the entry point's top-level module.
    A plain top-level module (no package) has no manifest. With ``path`` given, only
    that search path is looked at (as when discovering on a path other than sys.path).
    """
    top = entry_point_value.split(":", 1)[0].strip().split(".", 1)[0]
    try:
        if path is None:
            spec = importlib.util.find_spec(top)
        else:
            spec = importlib.machinery.PathFinder.find_spec(top, path)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(location) / MANIFEST_NAME for location in spec.submodule_search_locations]


def read_manifest(candidates: list[Path]) -> Manifest:
    """Read the first manifest that exists among ``candidates``; none means no requests."""
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: cannot read: {exc}") from None
        return parse_manifest(text, str(path))
    return Manifest()
