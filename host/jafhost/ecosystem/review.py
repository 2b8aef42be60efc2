"""Review before install: what pip would install, the wheels themselves, what each plugin
in them requests, and then installing exactly those files.

``jafhost install`` used to run pip first and ask afterwards, and pip may build a source
distribution (running its code) on the way. Here the order is:

1. ``resolve``: pip's own resolver, dry run, binary wheels only (``--only-binary=:all:``,
   unless the user allowed source distributions), its JSON report naming every
   distribution it would install or upgrade in the host's environment;
2. ``fetch``: each wheel downloaded into a private folder and checked against the hash
   the index gave;
3. ``read_wheel`` (``jafhost.ecosystem.wheel_contents``) on each: the plugins and their
   manifests, as discovery will find them once installed;
4. after the user accepted, ``install``: ``pip install --no-deps --no-index
   --require-hashes`` of those files, so what lands is byte for byte what was reviewed.

Nothing here prompts or prints; ``jafhost.cli.ecosystem`` is the skin.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from jafhost.ecosystem.installer import PipResult, run_pip
from jafhost.ecosystem.wheel_contents import WheelContents, WheelError, read_wheel
from jafhost.errors import quoted

DOWNLOAD_LIMIT = 1024 * 1024 * 1024
"""The largest wheel downloaded for review."""
_CHUNK = 1024 * 1024
_SOURCE_ARCHIVES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".tar")


class ReviewError(Exception):
    """Resolving, downloading or reading what would be installed failed; nothing was
    installed. The message is one line naming what failed."""


@dataclass(frozen=True)
class Planned:
    """One distribution pip would install (or upgrade to)."""

    name: str
    version: str
    url: str
    sha256: str | None
    """From the index (or pip, for a local file); None when the index gave no hash."""
    requested: bool
    summary: str = ""

    @property
    def filename(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1])

    @property
    def wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True)
class Reviewed:
    """A planned distribution as fetched: its wheel on disk and what it holds, or, for a
    source distribution (only with ``allow_sdist``), nothing known before it is built."""

    planned: Planned
    path: Path | None = None
    sha256: str | None = None
    contents: WheelContents | None = None


def source_arguments(packages: Iterable[str]) -> list[str]:
    """The arguments that name something pip would have to build: a folder, a source
    archive, or a URL that is no wheel (``name @ URL`` included)."""
    found = []
    for text in packages:
        try:
            requirement: Requirement | None = Requirement(text)
        except InvalidRequirement:
            requirement = None
        pathlike = "://" in text or os.sep in text or text.startswith(".")
        pathlike = pathlike or text.lower().endswith((*_SOURCE_ARCHIVES, ".whl"))
        if requirement is not None and requirement.url is not None:
            target = requirement.url
        elif requirement is not None and not pathlike:
            continue  # a name: the resolver, binary only, takes it from the index
        else:
            target = text
        path = target.split("[", 1)[0] if target.endswith("]") else target
        if "://" in target:
            if not urllib.parse.urlsplit(target).path.lower().endswith(".whl"):
                found.append(text)
        elif os.path.isdir(path) or path.lower().endswith(_SOURCE_ARCHIVES):
            found.append(text)
    return found


_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")


def resolve(
    packages: list[str],
    *,
    index_url: str | None,
    upgrade: bool,
    allow_sdist: bool,
    on_line: Callable[[str], None] | None = None,
    python: str | None = None,
) -> list[Planned]:
    """What ``pip install PACKAGES`` would install, from pip's dry run and report."""
    with tempfile.TemporaryDirectory(prefix="jafhost-resolve-") as folder:
        report = Path(folder) / "report.json"
        args = ["install", "--dry-run", "--quiet", "--report", str(report)]
        args += [] if allow_sdist else ["--only-binary=:all:"]
        args += ["--upgrade"] if upgrade else []
        args += ["--index-url", index_url] if index_url else []
        result = run_pip([*args, "--", *packages], on_line, python=python)  # never options
        if not result.ok:
            raise ReviewError(_resolve_failure(result, allow_sdist))
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReviewError(f"pip's install report could not be read: {exc}") from None
    planned = []
    for item in data.get("install", []):
        metadata = item.get("metadata", {})
        info = item.get("download_info", {})
        archive = info.get("archive_info", {})
        hashes = archive.get("hashes") or {}
        sha256 = hashes.get("sha256")
        if sha256 is None and str(archive.get("hash", "")).startswith("sha256="):
            sha256 = archive["hash"].removeprefix("sha256=")
        planned.append(
            Planned(
                name=str(metadata.get("name", "")),
                version=str(metadata.get("version", "")),
                url=str(info.get("url", "")),
                sha256=sha256,
                requested=bool(item.get("requested")),
                summary=str(metadata.get("summary") or ""),
            )
        )
    return planned


def _resolve_failure(result: PipResult, allow_sdist: bool) -> str:
    line = result.error_line()
    found = _NO_MATCH.search(line)
    if found and not allow_sdist:
        return (
            f"pip install failed: no wheel of {found.group(1)} matches (only wheels are "
            "installed without --allow-sdist: building a source distribution runs its code): "
            f"{line}"
        )
    return f"pip install failed: {line}"


def fetch(planned: Planned, folder: Path, *, timeout: float = 60.0) -> Reviewed:
    """Download ``planned`` (a wheel) into ``folder``, check its hash and read it."""
    target = folder / planned.filename
    digest = hashlib.sha256()
    parts = urllib.parse.urlsplit(planned.url)
    try:
        if parts.scheme == "file":
            source = Path(urllib.request.url2pathname(parts.path))
            with source.open("rb") as reader, target.open("wb") as writer:
                _copy(reader, writer, digest, planned)
        elif parts.scheme in ("http", "https"):
            request = urllib.request.Request(planned.url)
            with (
                urllib.request.urlopen(request, timeout=timeout) as reader,
                target.open("wb") as writer,
            ):
                _copy(reader, writer, digest, planned)
        else:
            raise ReviewError(f"{planned.name}: cannot download {quoted(planned.url)}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ReviewError(f"{planned.name}: cannot download {planned.url}: {reason}") from None
    sha256 = digest.hexdigest()
    if planned.sha256 is not None and planned.sha256.lower() != sha256:
        raise ReviewError(
            f"{planned.name}: {planned.filename} does not match the hash the index gave "
            f"(sha256 {planned.sha256}, downloaded {sha256})"
        )
    try:
        with target.open("rb") as file:
            contents = read_wheel(file, planned.filename)
    except (WheelError, OSError) as exc:
        raise ReviewError(f"{planned.name}: {exc}") from None
    if canonicalize_name(contents.name) != canonicalize_name(planned.name):
        raise ReviewError(
            f"{planned.name}: {planned.filename} holds {contents.name!r}, not {planned.name!r}"
        )
    return Reviewed(planned, target, sha256, contents)


def _copy(reader: object, writer: object, digest: hashlib._Hash, planned: Planned) -> None:
    total = 0
    while chunk := reader.read(_CHUNK):  # type: ignore[attr-defined]
        total += len(chunk)
        if total > DOWNLOAD_LIMIT:
            raise ReviewError(f"{planned.name}: {planned.filename} is larger than the limit")
        digest.update(chunk)
        writer.write(chunk)  # type: ignore[attr-defined]


def install(
    reviewed: list[Reviewed],
    *,
    index_url: str | None,
    on_line: Callable[[str], None] | None = None,
    python: str | None = None,
) -> PipResult | None:
    """Install exactly the reviewed wheels (hash-checked, no index, no dependencies:
    the review already holds them all), then the source distributions, if allowed, by
    pinned version. Returns the first failed pip run, else None."""
    wheels = [r for r in reviewed if r.path is not None]
    if wheels:
        with tempfile.TemporaryDirectory(prefix="jafhost-install-") as folder:
            requirements = Path(folder) / "requirements.txt"
            requirements.write_text(
                "".join(f"{r.path} --hash=sha256:{r.sha256}\n" for r in wheels),
                encoding="utf-8",
            )
            result = run_pip(
                ["install", "--no-deps", "--no-index", "--require-hashes", "-r", str(requirements)],
                on_line,
                python=python,
            )
        if not result.ok:
            return result
    sources = [_source_requirement(r.planned) for r in reviewed if r.path is None]
    if sources:
        args = ["install", "--no-deps", *(["--index-url", index_url] if index_url else [])]
        result = run_pip([*args, "--", *sources], on_line, python=python)
        if not result.ok:
            return result
    return None


def _source_requirement(planned: Planned) -> str:
    parts = urllib.parse.urlsplit(planned.url)
    if parts.scheme == "file":
        return urllib.request.url2pathname(parts.path)
    return f"{planned.name}=={planned.version}"


def review(
    planned: list[Planned], folder: Path, *, allow_sdist: bool, timeout: float = 60.0
) -> list[Reviewed]:
    """Fetch and read every planned wheel; a source distribution is refused unless
    ``allow_sdist`` (then it is listed with nothing known about it)."""
    found = []
    for item in planned:
        if item.wheel:
            found.append(fetch(item, folder, timeout=timeout))
        elif allow_sdist:
            found.append(Reviewed(item))
        else:
            raise ReviewError(
                f"{item.name} {item.version} is a source distribution ({item.filename}): "
                "building it runs its code; --allow-sdist installs it"
            )
    return found


def clean(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
