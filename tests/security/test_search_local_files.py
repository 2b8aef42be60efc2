"""A remote index cannot make ``jafhost search`` read the user's local files.

An index on 127.0.0.1 (plain HTTP, as any remote index) lists, as the one file of its
project ``jaf-plugin-probe``, a ``file:`` URL: a private wheel in the user's home, whose
manifest asks for an environment variable named like a secret. Search must not read it
(nor a FIFO or ``/dev/stdin`` an index could name the same way, which would never end):
a remote index's files are fetched from the network only.

Ground truth: the private wheel's manifest never reaches the output (the project is
listed with no usable file).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from local_index import Dist, build_wheel

from jafhost.ecosystem.search import search

MARKER = "PRIVATE_WHEEL_MARKER"


class _Pages(BaseHTTPRequestHandler):
    pages: dict[str, str] = {}

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        body = self.pages.get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def index_naming(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTML index whose project page links a private wheel by a ``file:`` URL."""
    private = tmp_path / "user" / "private"
    private.mkdir(parents=True)
    dist = Dist("jaf-plugin-probe", "1.0.0", "Probe", plugin="probe",
                permissions=f'env = ["{MARKER}"]\n')  # fmt: skip
    wheel = build_wheel(dist, private)
    _Pages.pages = {
        "/simple/": '<a href="jaf-plugin-probe/">jaf-plugin-probe</a>',
        "/simple/jaf-plugin-probe/": f'<a href="{wheel.as_uri()}">{wheel.name}</a>',
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/", wheel
    server.shutdown()
    server.server_close()


def test_a_remote_index_cannot_point_search_at_a_local_file(
    index_naming: tuple[str, Path],
) -> None:
    url, wheel = index_naming
    assert wheel.is_file()
    found = search(url, "probe", timeout=10)
    assert [f.name for f in found] == ["jaf-plugin-probe"]
    assert MARKER not in repr(found), found
    assert found[0].permissions is None, found
