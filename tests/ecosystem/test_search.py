"""``jafhost search`` against a real index on 127.0.0.1 (``tests/local_index.py``).

The index is served twice: as PEP 691 JSON with byte ranges, and as PEP 503 HTML that
sends files whole. Both must give the same answer; what the server sent shows whether
the manifest was read with ranges or by downloading the wheel.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from local_index import LocalIndexes

from conftest import run_cli
from jafhost.ecosystem.index import IndexUnavailable, SimpleIndex
from jafhost.ecosystem.search import pip_index_url, search

NOTES_2 = "/files/jaf_plugin_notes-2.0.0-py3-none-any.whl"


def _expected(home: Path) -> list[dict[str, object]]:
    return [
        {
            "name": "jaf-plugin-notes",
            "version": "2.0.0",
            "summary": "Notes for agents",
            "permissions": ["env:NOTES_TOKEN", "net:127.0.0.1:9", f"read:{home}/notes"],
        },
        {
            "name": "jaf-plugin-sourceonly",
            "version": "1.0.0",
            "summary": "",
            "permissions": None,
        },
        {
            "name": "jaf-plugin-storage",
            "version": "1.0.0",
            "summary": "Storage for other plugins",
            "permissions": ["env:STORAGE_URL"],
        },
    ]


@pytest.mark.parametrize("form", ["json", "html"])
def test_search_lists_plugins_with_the_permissions_their_wheels_request(
    package_index: LocalIndexes, form: str, tmp_path: Path
) -> None:
    server = package_index.json if form == "json" else package_index.html
    before = server.sent[NOTES_2]
    result = run_cli(
        "search", "--index", server.url, "--json", home=tmp_path, env={"HOME": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == _expected(tmp_path)  # no jaf-test-textlib: no plugin
    size = len(package_index.index.files[NOTES_2.rsplit("/", 1)[1]][0])
    sent = server.sent[NOTES_2] - before
    if form == "json":  # the zip's directory and the manifest, not the padding
        assert 0 < sent < size / 2
    else:
        assert sent == size


def test_search_filters_by_query_and_shows_a_table(
    package_index: LocalIndexes, tmp_path: Path
) -> None:
    found = search(package_index.json.url, "STORAGE")
    assert [f.name for f in found] == ["jaf-plugin-storage"]
    assert search(package_index.json.url, "textlib") == []  # not a plugin project
    result = run_cli("search", "notes", "--index", package_index.html.url, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "jaf-plugin-notes" in result.stdout and "net:127.0.0.1:9" in result.stdout
    assert "jaf-plugin-storage" not in result.stdout
    table = run_cli("search", "source", "--index", package_index.json.url, home=tmp_path)
    assert "unknown (source distribution only)" in table.stdout


def test_search_uses_the_index_pip_is_configured_with(
    package_index: LocalIndexes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nindex-url = {package_index.html.url}\n")
    environment = {"PIP_CONFIG_FILE": str(config), "PIP_INDEX_URL": ""}
    result = run_cli("search", "storage", "--json", home=tmp_path, env=environment)
    assert result.returncode == 0, result.stderr
    assert [item["name"] for item in json.loads(result.stdout)] == ["jaf-plugin-storage"]
    monkeypatch.setenv("PIP_INDEX_URL", package_index.json.url)
    assert pip_index_url() == package_index.json.url


def test_an_unreachable_index_is_one_line_naming_it(tmp_path: Path) -> None:
    url = "http://127.0.0.1:1/simple/"  # nothing listens on port 1
    result = run_cli("search", "--index", url, home=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: index {url} is unreachable: ")
    assert result.stdout == ""
    bad = run_cli("search", "--index", "ftp://127.0.0.1/simple/", home=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: bad --index: index 'ftp://127.0.0.1/simple/': not an http(s) or file URL"
    )


def test_a_missing_project_page_names_the_index(package_index: LocalIndexes) -> None:
    with pytest.raises(IndexUnavailable, match=r"index http://127\.0\.0\.1:\d+/simple/: .* 404"):
        SimpleIndex(package_index.json.url).files("jaf-plugin-nothere")
