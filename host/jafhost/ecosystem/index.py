"""A PyPI-compatible "simple" index, read as data: project names and each project's files.

``jafhost search`` asks an index which ``jaf-plugin-*`` projects it holds and what their
newest files are. The JSON form of the simple API (PEP 691) is asked for first; an index
that answers with HTML (PEP 503) is parsed as such, so a static folder served by any web
server works too. Only the index URL given (and the file URLs it lists) is contacted.

Nothing here runs pip or any code from the index; errors are ``IndexUnavailable`` with a
one-line message naming the index.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from jafhost.errors import quoted

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
ACCEPT = f"{JSON_TYPE}, {HTML_TYPE};q=0.2, text/html;q=0.1"
PAGE_LIMIT = 128 * 1024 * 1024
"""The largest index page read (the project list of PyPI itself is tens of megabytes)."""
TIMEOUT = 30.0
URL_LIMIT = 2048


Link = tuple[dict[str, str | None], str]
"""An HTML link: its attributes and its text."""


class IndexUnavailable(Exception):
    """The index could not be read: unreachable, not an index, or a bad URL."""


@dataclass(frozen=True)
class IndexFile:
    """One file a project's page lists."""

    filename: str
    url: str
    version: Version | None
    wheel: bool
    sha256: str | None = None
    has_metadata: bool = False
    """The index offers the file's core metadata alone (PEP 658/714: ``URL.metadata``)."""
    yanked: bool = False


class _Links(HTMLParser):
    """The ``<a>`` elements of a PEP 503 page: href, attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[Link] = []
        self._open: dict[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), ""

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.links.append((self._open, self._text.strip()))
            self._open = None


def normalize_url(url: str) -> str:
    """The index URL with one trailing slash; ``IndexUnavailable`` when it is no http(s)
    or file URL."""
    if len(url) > URL_LIMIT or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise IndexUnavailable(f"index {quoted(url)}: not a URL (too long, or blanks in it)")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise IndexUnavailable(f"index {quoted(url)}: not a URL: {exc}") from None
    if parts.scheme not in ("http", "https", "file") or (
        parts.scheme != "file" and not parts.netloc
    ):
        raise IndexUnavailable(f"index {quoted(url)}: not an http(s) or file URL")
    return url.rstrip("/") + "/"


class SimpleIndex:
    """The simple API at ``url`` (e.g. ``https://pypi.org/simple/``)."""

    def __init__(self, url: str, *, timeout: float = TIMEOUT) -> None:
        self.url = normalize_url(url)
        self.timeout = timeout

    def _get(self, url: str) -> tuple[str, bytes, str]:
        """(content type, body, final URL) of a page of the index."""
        request = urllib.request.Request(url, headers={"Accept": ACCEPT})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read(PAGE_LIMIT + 1)
                kind = response.headers.get_content_type() if response.headers else ""
                final = response.geturl()
        except urllib.error.HTTPError as exc:
            raise IndexUnavailable(f"index {self.url}: {url} answered {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise IndexUnavailable(f"index {self.url} is unreachable: {reason}") from None
        if len(body) > PAGE_LIMIT:
            raise IndexUnavailable(f"index {self.url}: {url} is larger than {PAGE_LIMIT} bytes")
        if final.startswith("file:") and final.endswith("/"):
            kind = "text/html"  # a local tree: index.html is served as the folder
        return kind, body, final

    def _page(self, url: str) -> tuple[dict[str, Any] | None, list[Link], str]:
        """A page as PEP 691 JSON, or as the links of a PEP 503 HTML page."""
        if url.startswith("file:") and url.endswith("/"):
            url += "index.html"
        kind, body, final = self._get(url)
        if kind == JSON_TYPE:
            try:
                data = json.loads(body)
            except ValueError:
                raise IndexUnavailable(f"index {self.url}: {url} is not valid JSON") from None
            if not isinstance(data, dict):
                raise IndexUnavailable(f"index {self.url}: {url} is not a simple API page")
            return data, [], final
        parser = _Links()
        parser.feed(body.decode("utf-8", "replace"))
        return None, parser.links, final

    def projects(self) -> list[str]:
        """Every project name the index lists."""
        data, links, _ = self._page(self.url)
        if data is not None:
            return [str(p.get("name", "")) for p in data.get("projects", []) if isinstance(p, dict)]
        return [text for _, text in links if text]

    def files(self, project: str) -> list[IndexFile]:
        """The files of one project (wheels and source distributions)."""
        page = urllib.parse.urljoin(self.url, canonicalize_name(project) + "/")
        data, links, final = self._page(page)
        found: list[IndexFile] = []
        if data is not None:
            for item in data.get("files", []):
                if isinstance(item, dict) and isinstance(item.get("url"), str):
                    hashes = item.get("hashes") if isinstance(item.get("hashes"), dict) else {}
                    metadata = item.get("core-metadata", item.get("dist-info-metadata", False))
                    found.append(
                        _file(
                            str(item.get("filename", "")),
                            urllib.parse.urljoin(final, item["url"]),
                            hashes.get("sha256") if hashes else None,
                            bool(metadata),
                            bool(item.get("yanked", False)),
                        )
                    )
            return [f for f in found if f.version is not None and self._fetchable(f.url)]
        for attrs, text in links:
            href = attrs.get("href")
            if not href:
                continue
            url, _, fragment = urllib.parse.urljoin(final, href).partition("#")
            sha256 = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
            metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
            name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
            name = name or text  # pip names a file after its URL, as here
            found.append(_file(name, url, sha256, metadata is not None, "data-yanked" in attrs))
        return [f for f in found if f.version is not None and self._fetchable(f.url)]

    def _fetchable(self, url: str) -> bool:
        """Whether a file the index lists may be read: a remote index's files are read
        from the network only (a ``file:`` URL on its page, ``file:///dev/stdin`` or a
        private wheel in the user's home, would have search read a local file)."""
        scheme = urllib.parse.urlsplit(url).scheme
        local = urllib.parse.urlsplit(self.url).scheme == "file"
        return scheme in (("http", "https", "file") if local else ("http", "https"))


def _file(filename: str, url: str, sha256: str | None, metadata: bool, yanked: bool) -> IndexFile:
    version: Version | None = None
    wheel = filename.endswith(".whl")
    parse = parse_wheel_filename if wheel else parse_sdist_filename
    with contextlib.suppress(InvalidWheelFilename, InvalidSdistFilename):
        version = parse(filename)[1]
    return IndexFile(filename, url, version, wheel, sha256, metadata, yanked)


def latest(files: list[IndexFile]) -> list[IndexFile]:
    """The files of the newest version: the newest final release that is not yanked,
    else the newest pre-release, else nothing."""
    usable = [f for f in files if not f.yanked and f.version is not None]
    finals = [f for f in usable if not f.version.is_prerelease]  # type: ignore[union-attr]
    pool = finals or usable
    if not pool:
        return []
    top = max(f.version for f in pool if f.version is not None)
    return [f for f in pool if f.version == top]
