"""A real package index on 127.0.0.1, holding wheels and a source distribution built here.

``build_index`` writes the distributions (wheels are zip files laid out as the wheel
format says, with ``WHEEL``, ``METADATA``, ``entry_points.txt`` and a ``RECORD`` of
sha256 hashes: pip installs them as it would any wheel) and ``IndexServer`` serves them
from a thread, the way an index does:

- ``/simple/`` and ``/simple/PROJECT/`` as PEP 691 JSON (``application/vnd.pypi.simple.v1+json``)
  when the client asks for it, else as PEP 503 HTML, with ``#sha256=`` fragments and, for
  the files that have one, ``data-dist-info-metadata``/``data-core-metadata`` (PEP 658/714);
- ``/files/NAME`` with HTTP ``Range`` support (or without, for the server that sends
  files whole), and ``/files/NAME.metadata``.

A server counts what it sent per path, so a test can tell a ranged read from a download.
The servers are daemon threads stopped by the session fixture; nothing listens beyond
127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import random
import re
import subprocess
import sys
import sysconfig
import tarfile
import threading
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import canonicalize_name

JSON_TYPE = "application/vnd.pypi.simple.v1+json"

PLUGIN_CODE = """
from jafhost import hookimpl


def ping() -> str:
    \"\"\"Answer pong.\"\"\"
    return "pong"


@hookimpl
def jaf_tools():
    return [ping]
"""


@dataclass(frozen=True)
class Dist:
    """A distribution to build: a plugin when ``plugin`` is set, else a plain library."""

    name: str
    version: str
    summary: str
    requires: tuple[str, ...] = ()
    plugin: str | None = None
    permissions: str = ""
    sdist_only: bool = False
    metadata_file: bool = True
    """Offer the wheel's core metadata alone (PEP 658)."""
    padding: int = 0
    """Bytes of incompressible data in the wheel, so that reading its manifest with byte
    ranges costs measurably less than downloading it."""

    @property
    def module(self) -> str:
        return canonicalize_name(self.name).replace("-", "_")

    @property
    def wheel_name(self) -> str:
        return f"{self.module}-{self.version}-py3-none-any.whl"

    @property
    def sdist_name(self) -> str:
        return f"{self.module}-{self.version}.tar.gz"

    def metadata(self) -> bytes:
        lines = [
            "Metadata-Version: 2.1",
            f"Name: {self.name}",
            f"Version: {self.version}",
            f"Summary: {self.summary}",
        ]
        lines += [f"Requires-Dist: {r}" for r in self.requires]
        return ("\n".join(lines) + "\n\n").encode()


DISTS = (
    Dist(
        "jaf-plugin-notes",
        "1.0.0",
        "Notes for agents",
        ("jafhost>=0.1,<1", "jaf-plugin-storage>=1"),
        plugin="notes",
        permissions='read = ["~/notes"]\nenv = ["NOTES_TOKEN"]\n',
    ),
    Dist(
        "jaf-plugin-notes",
        "2.0.0",
        "Notes for agents",
        ("jafhost>=0.1,<1", "jaf-plugin-storage>=1"),
        plugin="notes",
        permissions='read = ["~/notes"]\nenv = ["NOTES_TOKEN"]\nnet = ["127.0.0.1:9"]\n',
        padding=512 * 1024,
    ),
    Dist(
        "jaf-plugin-storage",
        "1.0.0",
        "Storage for other plugins",
        ("jafhost>=0.1,<1", "jaf-test-textlib>=1"),
        plugin="storage",
        permissions='env = ["STORAGE_URL"]\n',
        metadata_file=False,
    ),
    Dist("jaf-test-textlib", "1.0.0", "A library that is no plugin"),
    Dist(
        "jaf-plugin-sourceonly",
        "1.0.0",
        "Only a source distribution",
        ("jafhost>=0.1,<1",),
        plugin="sourceonly",
        sdist_only=True,
    ),
)
"""What the index holds: ``notes`` requests permissions and requires the ``storage``
plugin, which requires a library; ``notes`` 2.0.0 requests more than 1.0.0;
``sourceonly`` has no wheel."""


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(dist: Dist, folder: Path) -> Path:
    """Write ``dist`` as a wheel into ``folder``."""
    info = f"{dist.module}-{dist.version}.dist-info"
    members: dict[str, bytes] = {}
    if dist.plugin:
        members[f"{dist.module}/__init__.py"] = PLUGIN_CODE.encode()
        manifest = f'[plugin]\nkinds = ["tool"]\n\n[permissions]\n{dist.permissions}'
        members[f"{dist.module}/jaf-plugin.toml"] = manifest.encode()
        members[f"{info}/entry_points.txt"] = (
            f"[jaf.plugins]\n{dist.plugin} = {dist.module}\n".encode()
        )
    else:
        members[f"{dist.module}/__init__.py"] = b'"""A plain library."""\n'
    if dist.padding:
        members[f"{dist.module}/padding.bin"] = random.Random(0).randbytes(dist.padding)
    members[f"{info}/METADATA"] = dist.metadata()
    members[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: jafhost-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [_record_line(path, data) for path, data in members.items()]
    members[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = folder / dist.wheel_name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def build_sdist(dist: Dist, folder: Path) -> Path:
    """Write ``dist`` as a source distribution (never built by the tests)."""
    root = f"{dist.module}-{dist.version}"
    members = {
        f"{root}/PKG-INFO": dist.metadata(),
        f"{root}/pyproject.toml": (
            f'[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
            f'[project]\nname = "{dist.name}"\nversion = "{dist.version}"\n'
        ).encode(),
    }
    path = folder / dist.sdist_name
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    return path


@dataclass
class Index:
    """The built files: ``files[filename] = (bytes, metadata bytes or None)``, by project."""

    files: dict[str, tuple[bytes, bytes | None]] = field(default_factory=dict)
    projects: dict[str, list[str]] = field(default_factory=dict)

    def sha256(self, filename: str) -> str:
        return hashlib.sha256(self.files[filename][0]).hexdigest()


def build_index(folder: Path, dists: tuple[Dist, ...] = DISTS) -> Index:
    folder.mkdir(parents=True, exist_ok=True)
    index = Index()
    for dist in dists:
        project = canonicalize_name(dist.name)
        if dist.sdist_only:
            path, metadata = build_sdist(dist, folder), None
        else:
            path = build_wheel(dist, folder)
            metadata = dist.metadata() if dist.metadata_file else None
        index.files[path.name] = (path.read_bytes(), metadata)
        index.projects.setdefault(project, []).append(path.name)
    return index


class _Handler(BaseHTTPRequestHandler):
    server: IndexServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(
        self, status: int, kind: str, body: bytes, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.server.sent[self.path.split("?")[0]] += len(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        index = self.server.index
        wants_json = self.server.json and JSON_TYPE in self.headers.get("Accept", "")
        if path in ("/simple", "/simple/"):
            names = sorted(index.projects)
            if wants_json:
                data = {"meta": {"api-version": "1.0"}, "projects": [{"name": n} for n in names]}
                self._send(200, JSON_TYPE, json.dumps(data).encode())
            else:
                links = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names)
                self._send(200, "text/html", f"<html><body>\n{links}</body></html>".encode())
            return
        found = re.fullmatch(r"/simple/([^/]+)/?", path)
        if found:
            project = canonicalize_name(found.group(1))
            if project not in index.projects:
                self._send(404, "text/plain", b"not found")
            elif wants_json:
                self._send(200, JSON_TYPE, json.dumps(self._json_page(project)).encode())
            else:
                self._send(200, "text/html", self._html_page(project).encode())
            return
        found = re.fullmatch(r"/files/([^/]+?)(\.metadata)?", path)
        if found and found.group(1) in index.files:
            data, metadata = index.files[found.group(1)]
            data = self.server.tampered.get(found.group(1), data)
            if found.group(2):
                if metadata is None:
                    self._send(404, "text/plain", b"no metadata")
                else:
                    self._send(200, "text/plain", metadata)
                return
            self._file(data)
            return
        self._send(404, "text/plain", b"not found")

    def _file(self, data: bytes) -> None:
        wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if not self.server.ranges or wanted is None:
            self._send(200, "application/octet-stream", data)
            return
        first, last = wanted.groups()
        if first == "":
            start, end = max(0, len(data) - int(last)), len(data) - 1
        else:
            start, end = int(first), min(len(data) - 1, int(last) if last else len(data) - 1)
        self.server.ranged_requests += 1
        self._send(
            206,
            "application/octet-stream",
            data[start : end + 1],
            {"Content-Range": f"bytes {start}-{end}/{len(data)}", "Accept-Ranges": "bytes"},
        )

    def _json_page(self, project: str) -> dict[str, object]:
        files = []
        for filename in self.server.index.projects[project]:
            entry: dict[str, object] = {
                "filename": filename,
                "url": f"/files/{filename}",
                "hashes": {"sha256": self.server.index.sha256(filename)},
            }
            metadata = self.server.index.files[filename][1]
            if metadata is not None:
                digest = {"sha256": hashlib.sha256(metadata).hexdigest()}
                entry["dist-info-metadata"] = digest
                entry["core-metadata"] = digest
            files.append(entry)
        return {"meta": {"api-version": "1.0"}, "name": project, "files": files}

    def _html_page(self, project: str) -> str:
        links = []
        for filename in self.server.index.projects[project]:
            href = f"/files/{filename}#sha256={self.server.index.sha256(filename)}"
            metadata = self.server.index.files[filename][1]
            extra = ""
            if metadata is not None:
                value = html.escape(f"sha256={hashlib.sha256(metadata).hexdigest()}")
                extra = f' data-dist-info-metadata="{value}" data-core-metadata="{value}"'
            links.append(f'<a href="{href}"{extra}>{filename}</a><br/>')
        return "<html><body>\n" + "\n".join(links) + "\n</body></html>"


class IndexServer(ThreadingHTTPServer):
    """Serves an ``Index`` on 127.0.0.1 (a free port) from a daemon thread."""

    daemon_threads = True

    def __init__(
        self,
        index: Index,
        *,
        json: bool = True,
        ranges: bool = True,
        tampered: dict[str, bytes] | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tampered = tampered or {}
        """Files served with other content than the hash the pages give."""
        self.index = index
        self.json = json
        self.ranges = ranges
        self.sent: Counter[str] = Counter()
        self.ranged_requests = 0
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/simple/"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=10)


@dataclass
class LocalIndexes:
    """The session's index, served twice: as JSON with ranges, and as HTML without."""

    index: Index
    json: IndexServer
    html: IndexServer

    def stop(self) -> None:
        self.json.stop()
        self.html.stop()


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


def index_only_environ(home: Path, index_url: str) -> dict[str, str]:
    """This process's environment for a command whose pip knows only ``index_url`` (no
    pip.conf, no cache, no proxy) and whose jafhost home is ``home``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "JAFHOST_")) and k not in ("PYTHONPATH", "PYTHONHOME")
    }
    for name in PROXY_VARIABLES:
        env.pop(name, None)
    env.update(
        JAFHOST_HOME=str(home),
        HOME=str(home.parent),
        COLUMNS="200",
        PIP_CONFIG_FILE=os.devnull,  # no pip.conf: no other index, no find-links
        PIP_INDEX_URL=index_url,
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        NO_PROXY="127.0.0.1",
    )
    return env


def make_venv(path: Path, host: Path) -> str:
    """A new virtual environment at ``path`` that sees the jafhost of ``host`` (this
    checkout's ``host`` folder) and its dependencies from the environment running the
    tests, through a ``.pth`` file; its interpreter."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    python = str(path / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [str(host), sysconfig.get_paths()["purelib"]]
    (Path(site) / "zz_jafhost_tests.pth").write_text("\n".join(ours) + "\n")
    return python
