"""``jafhost search``: the ``jaf-plugin-*`` projects of an index, each with its newest
version, summary and the permissions its wheel's manifest requests.

The summary comes from the core metadata the index offers on its own (PEP 658/714, a
small file) when it does, else from the wheel. Permissions are only ever known from the
wheel (the manifest is a file in it, not metadata): read with byte ranges when the
server honours them (the zip's directory and one member), else downloaded. A project
without a wheel of its newest version (source only), or whose wheel could not be read,
has ``permissions`` null: unknown, never "none".
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from jafhost.ecosystem.index import IndexFile, IndexUnavailable, SimpleIndex, latest
from jafhost.ecosystem.remote_file import RemoteFileError, open_remote
from jafhost.ecosystem.wheel_contents import WheelError, parse_core_metadata, read_wheel

PREFIX = "jaf-plugin-"
PYPI = "https://pypi.org/simple/"


@dataclass(frozen=True)
class Found:
    """One plugin project on the index (the JSON of ``search``)."""

    name: str
    version: str | None
    summary: str
    permissions: list[str] | None
    note: str | None = None
    """Why ``permissions`` is null, or a plugin's manifest error."""

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "summary": self.summary,
            "permissions": self.permissions,
        }


def pip_index_url(python: str | None = None) -> str:
    """The index pip installs from: ``PIP_INDEX_URL``, else ``index-url`` from pip's
    configuration (asked of pip once: it knows every file it reads), else PyPI."""
    from_env = os.environ.get("PIP_INDEX_URL", "").split()
    if from_env:
        return from_env[0]
    try:
        listed = subprocess.run(
            [python or sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return PYPI
    found: dict[str, str] = {}
    for line in listed.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.endswith(".index-url"):
            found[key.split(".", 1)[0]] = value.strip().strip("'\"")
    for section in ("install", "global"):
        if found.get(section):
            return found[section].split()[0]
    return PYPI


def matches(project: str, query: str | None) -> bool:
    """A plugin project (``jaf-plugin-*``) whose name holds the query."""
    name = canonicalize_name(project)
    if not name.startswith(PREFIX):
        return False
    return not query or canonicalize_name(query) in name


def _summary_from_metadata(wheel: IndexFile, timeout: float) -> str | None:
    try:
        with urllib.request.urlopen(wheel.url + ".metadata", timeout=timeout) as response:
            return parse_core_metadata(response.read(4 * 1024 * 1024))[2]
    except (urllib.error.URLError, OSError, ValueError):
        return None


def describe(index: SimpleIndex, project: str) -> Found:
    """Newest version, summary and permissions of one project."""
    newest = latest(index.files(project))
    if not newest:
        return Found(project, None, "", None, "no usable file on the index")
    version = str(newest[0].version)
    wheels = [f for f in newest if f.wheel]
    if not wheels:
        return Found(project, version, "", None, "source distribution only")
    wheel = sorted(wheels, key=lambda f: (not f.filename.endswith("-none-any.whl"), f.filename))[0]
    summary = _summary_from_metadata(wheel, index.timeout) if wheel.has_metadata else None
    try:
        file, _ = open_remote(wheel.url, timeout=index.timeout)
        with file:
            contents = read_wheel(file, wheel.filename)
    except (RemoteFileError, WheelError) as exc:
        return Found(project, version, summary or "", None, str(exc))
    errors = [p.error for p in contents.plugins if p.error]
    if errors:
        return Found(project, version, summary or contents.summary, None, errors[0])
    permissions = sorted({perm for p in contents.plugins for perm in p.permissions})
    return Found(project, version, summary or contents.summary, permissions)


def search(
    index_url: str,
    query: str | None,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    timeout: float = 30.0,
) -> list[Found]:
    """The plugin projects on ``index_url`` matching ``query``, sorted by name.
    ``progress(done, total, project)`` is told before each project is read.
    ``IndexUnavailable`` when the index cannot be listed; a project whose page cannot be
    read is listed with what is known (null version and permissions)."""
    index = SimpleIndex(index_url, timeout=timeout)
    projects = sorted({canonicalize_name(p) for p in index.projects() if matches(p, query)})
    found: list[Found] = []
    for done, project in enumerate(projects):
        if progress is not None:
            progress(done, len(projects), project)
        try:
            found.append(describe(index, project))
        except IndexUnavailable as exc:
            found.append(Found(project, None, "", None, str(exc)))
    if progress is not None:
        progress(len(projects), len(projects), "")
    return found


__all__ = ["Found", "IndexUnavailable", "pip_index_url", "search"]
