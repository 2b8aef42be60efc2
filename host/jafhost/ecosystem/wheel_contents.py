"""What a wheel declares, read from the zip without installing or importing it.

A wheel holds its core metadata (``*.dist-info/METADATA``), its entry points
(``*.dist-info/entry_points.txt``) and, in the package directory of each ``jaf.plugins``
entry point's top-level module, the plugin's ``jaf-plugin.toml``: the same places
discovery reads once the wheel is installed (``jafhost.discovery.metadata``). Reading
them here lets the review before an install, and ``search``, show what each plugin
requests before any of its files land. A manifest that does not validate is reported as
the error discovery would give after installing.

It also names the files Python itself runs at every start once installed
(``startup_files``): a ``.pth`` file or a ``sitecustomize``/``usercustomize`` module
landing at the top of site-packages runs with the user's rights before any guard exists,
whatever the plugins request, so the review must show them.
"""

from __future__ import annotations

import configparser
import email.parser
import posixpath
import zipfile
from dataclasses import dataclass
from typing import IO

from jafhost.discovery.manifest import MANIFEST_NAME, Manifest, parse_manifest
from jafhost.errors import ManifestError
from jafhost.safe_read import MANIFEST_LIMIT

GROUP = "jaf.plugins"
METADATA_LIMIT = 4 * 1024 * 1024


class WheelError(Exception):
    """The file is not a readable wheel (not a zip, no ``.dist-info``)."""


@dataclass(frozen=True)
class WheelPlugin:
    """One plugin a wheel provides: its name, and its manifest or why it is invalid."""

    name: str
    manifest: Manifest | None
    error: str | None = None

    @property
    def permissions(self) -> tuple[str, ...]:
        return self.manifest.permissions if self.manifest is not None else ()


@dataclass(frozen=True)
class WheelContents:
    """A wheel's distribution name, version, summary, the plugins it provides and the
    files Python would run at every start (``startup_files``)."""

    name: str
    version: str
    summary: str
    plugins: tuple[WheelPlugin, ...]
    startup: tuple[str, ...] = ()


_STARTUP_MODULES = ("sitecustomize", "usercustomize")
_SITE_SCHEMES = ("purelib", "platlib")


def startup_files(names: list[str]) -> tuple[str, ...]:
    """The members that land at the top of site-packages and run at every Python start:
    ``*.pth`` files and the ``sitecustomize``/``usercustomize`` modules (or packages), at
    the wheel's root or in its ``*.data/purelib`` and ``*.data/platlib`` folders
    (installed to the same place); under ``*.data/data`` (installed below the
    environment's prefix, its site-packages included) any file named so."""
    found = []
    for name in names:
        parts = posixpath.normpath(name.lstrip("/")).split("/")
        if len(parts) > 2 and parts[0].endswith(".data") and parts[1] == "data":
            parts = parts[-1:]
        elif len(parts) > 2 and parts[0].endswith(".data") and parts[1] in _SITE_SCHEMES:
            parts = parts[2:]
        top = parts[0]
        if (len(parts) == 1 and top.endswith(".pth")) or top.split(".")[0] in _STARTUP_MODULES:
            found.append(name)
    return tuple(sorted(set(found)))


def parse_core_metadata(data: bytes) -> tuple[str, str, str]:
    """(Name, Version, Summary) of a core metadata file."""
    message = email.parser.BytesHeaderParser().parsebytes(data[:METADATA_LIMIT])
    return (
        str(message.get("Name", "")),
        str(message.get("Version", "")),
        " ".join(str(message.get("Summary", "")).split()),
    )


def _member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        raise WheelError(f"{name} is larger than {limit} bytes")
    with archive.open(info) as handle:
        return handle.read(limit + 1)[:limit]


def read_wheel(file: IO[bytes], filename: str) -> WheelContents:
    """Read the plugins of the wheel in ``file`` (seekable); ``filename`` names it in
    errors. ``WheelError`` when it is no wheel."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise WheelError(f"{filename}: not a wheel: {exc}") from None
    with archive:
        names = archive.namelist()
        info_dirs = sorted({n.split("/", 1)[0] for n in names if ".dist-info/" in n})
        if len(info_dirs) != 1:
            raise WheelError(f"{filename}: not a wheel: {len(info_dirs)} .dist-info folders")
        info_dir = info_dirs[0]
        try:
            metadata = _member(archive, f"{info_dir}/METADATA", METADATA_LIMIT)
            entry_points = _member(archive, f"{info_dir}/entry_points.txt", METADATA_LIMIT)
            if metadata is None:
                raise WheelError(f"{filename}: not a wheel: no {info_dir}/METADATA")
            name, version, summary = parse_core_metadata(metadata)
            plugins = tuple(
                _plugin(archive, filename, plugin, value)
                for plugin, value in _plugin_entry_points(entry_points, filename)
            )
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise WheelError(f"{filename}: unreadable: {exc}") from None
    return WheelContents(name, version, summary, plugins, startup_files(names))


def _plugin_entry_points(text: bytes | None, filename: str) -> list[tuple[str, str]]:
    if text is None:
        return []
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text.decode("utf-8", "replace"))
    except configparser.Error as exc:
        raise WheelError(f"{filename}: entry_points.txt: {exc}".splitlines()[0]) from None
    if not parser.has_section(GROUP):
        return []
    return sorted(parser.items(GROUP))


def _plugin(archive: zipfile.ZipFile, filename: str, name: str, value: str) -> WheelPlugin:
    top = value.split(":", 1)[0].strip().split(".", 1)[0]
    path = f"{top}/{MANIFEST_NAME}"
    where = f"{filename}:{path}"
    try:
        data = _member(archive, path, MANIFEST_LIMIT)
    except WheelError as exc:
        return WheelPlugin(name, None, str(exc))
    if data is None:
        return WheelPlugin(name, Manifest())
    try:
        return WheelPlugin(name, parse_manifest(data.decode("utf-8", "replace"), where))
    except ManifestError as exc:
        return WheelPlugin(name, None, str(exc))
