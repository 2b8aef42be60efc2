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
from typing import Literal

from jafhost.discovery.metadata import ENTRY_POINT_VALUE as ENTRY_POINT_VALUE
from jafhost.discovery.metadata import MANIFEST_NAME as MANIFEST_NAME
from jafhost.discovery.metadata import PLUGIN_NAME as PLUGIN_NAME
from jafhost.discovery.metadata import check_plugin_name as check_plugin_name
from jafhost.discovery.metadata import manifest_candidates as manifest_candidates
from jafhost.errors import ManifestError
from jafhost.safe_read import MANIFEST_LIMIT, UnsafeFile, read_text

FOLDER_KEYS = ("name", "version", "summary", "requires", "entry_point")
"""``[plugin]`` keys only a folder plugin's manifest may (and, for name and version, must) set."""
PluginKind = Literal["tool", "agent", "integration", "capability", "event"]
Activation = Literal["lazy", "eager"]
"""When the host starts a plugin: at its first use (``lazy``, the default, once its
contributions are recorded) or with the host (``eager``)."""


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
    from jafhost.discovery.manifest_model import validated

    return validated(data, path)


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
    """Read the first manifest that exists among ``candidates``; none means no requests.

    A manifest ``verify.manifest_fields`` confirms valid is taken from it (the check of
    the discovery cache, which derives what the model does without pydantic); any other
    goes through the model, which names what is wrong."""
    from jafhost.discovery.verify import manifest_fields

    for path in candidates:
        try:
            text = read_file(path)
        except FileNotFoundError:
            continue
        fields = manifest_fields(text, folder=False)
        if fields is None:
            return parse_manifest(text, str(path))
        return Manifest(
            kinds=fields["kinds"],
            permissions=fields["permissions"],
            path=str(path),
            activation=fields["activation"],
        )
    return Manifest()
