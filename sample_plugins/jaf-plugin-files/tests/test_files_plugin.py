"""The files plugin in a real host (``jafhost_factory``, from jafhost's pytest plugin).

Each test grants one temporary folder (``read:<tmp>/granted``) instead of what the
plugin requests (``~/Documents``), puts a secret file next to it, and checks both what
the tools may do inside the grant and that the host's guard stops them outside it.

Needs the distribution installed (``pip install -e sample_plugins/jaf-plugin-files``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SECRET = "the-secret-value-7f3a"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``granted/`` with a few files and a sub-folder; ``secret.txt`` beside it."""
    root = tmp_path / "granted"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "readme.md").write_text("# Title\nhello world\nHello again\n")
    (root / "notes.txt").write_text("alpha\nbeta\ngamma\n")
    (root / "sub" / "todo.md").write_text("- write tests\n- say hello to Bob\n")
    (root / "sub" / "deeper" / "deep.md").write_text("nothing here\nhello from below\n")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    (tmp_path / "secret.txt").write_text(f"password={SECRET}\nhello secret\n")
    return root


@pytest.fixture
def host(jafhost_factory: Callable[..., Any], tree: Path) -> Any:
    return jafhost_factory("files", grants={"files": [f"read:{tree}"]})


def test_manifest_requests_only_reading_documents(jafhost_factory: Callable[..., Any]) -> None:
    host = jafhost_factory("files", grants=None, activate=False)
    view = host.plugin("files")
    assert view.status == "needs-approval"
    assert view.info.distribution == "jaf-plugin-files"
    assert view.info.version == "1.0.0"
    assert view.info.kinds == ("tool",)
    assert view.info.permissions == (f"read:{os.path.expanduser('~/Documents')}",)


def test_tools_and_schemas(host: Any) -> None:
    tools = {t.full_name: t for t in host.tools()}
    assert sorted(tools) == ["files.list_files", "files.read_file", "files.search_text"]
    read_schema = tools["files.read_file"].input_schema
    assert read_schema["required"] == ["path"]
    assert read_schema["properties"]["max_bytes"]["maximum"] == 1_000_000
    assert "granted" in tools["files.list_files"].description
    assert not any(t.confirm for t in tools.values())


# -- list_files --------------------------------------------------------------------------


def test_list_files_in_a_granted_folder(host: Any, tree: Path) -> None:
    listing = host.call_ok("files.list_files", {"folder": str(tree)})
    assert listing["folder"] == str(tree)
    paths = [(e["path"], e["type"]) for e in listing["entries"]]
    assert paths == [
        ("image.png", "file"),
        ("notes.txt", "file"),
        ("readme.md", "file"),
        ("sub", "dir"),
    ]
    notes = listing["entries"][1]
    assert notes["size"] == len("alpha\nbeta\ngamma\n")
    assert notes["modified"].endswith("+00:00")
    assert listing["truncated"] is False


def test_list_files_recursive_pattern_and_limit(host: Any, tree: Path) -> None:
    found = host.call_ok(
        "files.list_files", {"folder": str(tree), "pattern": "*.md", "recursive": True}
    )
    assert [e["path"] for e in found["entries"]] == [
        "readme.md",
        "sub/deeper/deep.md",
        "sub/todo.md",
    ]
    limited = host.call_ok("files.list_files", {"folder": str(tree), "limit": 2})
    assert len(limited["entries"]) == 2 and limited["truncated"] is True


def test_list_files_errors_are_clear(host: Any, tree: Path) -> None:
    missing = host.call("files.list_files", {"folder": str(tree / "nope")})
    assert missing.error.code == "tool_error"
    assert missing.error.message == f"no such folder: {tree / 'nope'}"
    relative = host.call("files.list_files", {"folder": "granted"})
    assert "is not absolute" in relative.error.message
    bad_limit = host.call("files.list_files", {"folder": str(tree), "limit": 0})
    assert bad_limit.error.code == "invalid_arguments"


def test_listing_outside_the_grant_is_denied(host: Any, tree: Path) -> None:
    error = host.assert_denied("files.list_files", {"folder": str(tree.parent)}, permission="read:")
    assert error.permission == f"read:{os.path.realpath(tree.parent)}"
    assert "secret.txt" not in error.message


# -- read_file ---------------------------------------------------------------------------


def test_read_file_in_a_granted_folder(host: Any, tree: Path) -> None:
    result = host.call_ok("files.read_file", {"path": str(tree / "sub" / "todo.md")})
    assert result["text"] == "- write tests\n- say hello to Bob\n"
    assert result["truncated"] is False
    assert result["size"] == result["bytes_read"] == len(result["text"])


def test_read_file_size_limit(host: Any, tree: Path) -> None:
    big = tree / "big.txt"
    big.write_text("é" * 1000)  # 2 bytes each: a cut may fall inside a character
    result = host.call_ok("files.read_file", {"path": str(big), "max_bytes": 101})
    assert result["truncated"] is True
    assert result["bytes_read"] == 101
    assert result["size"] == 2000
    assert result["text"] == "é" * 50  # the half character at the cut is dropped
    too_big = host.call("files.read_file", {"path": str(big), "max_bytes": 10_000_000})
    assert too_big.error.code == "invalid_arguments"


def test_read_file_refuses_binary_and_folders(host: Any, tree: Path) -> None:
    binary = host.call("files.read_file", {"path": str(tree / "image.png")})
    assert binary.error.code == "tool_error"
    assert "looks like a binary file" in binary.error.message
    folder = host.call("files.read_file", {"path": str(tree / "sub")})
    assert "is a folder" in folder.error.message
    missing = host.call("files.read_file", {"path": str(tree / "missing.txt")})
    assert missing.error.message == f"no such file: {tree / 'missing.txt'}"


def test_read_file_refuses_a_fifo_without_hanging(host: Any, tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    result = host.call("files.read_file", {"path": str(tree / "pipe")}, timeout=5)
    assert result.error.code == "tool_error"
    assert "not a regular file" in result.error.message


def test_reading_outside_the_grant_is_denied(host: Any, tree: Path) -> None:
    secret = tree.parent / "secret.txt"
    error = host.assert_denied("files.read_file", {"path": str(secret)}, permission="read:")
    assert error.permission == f"read:{os.path.realpath(secret)}"
    assert SECRET not in error.message
    dotdot = host.assert_denied("files.read_file", {"path": f"{tree}/../secret.txt"})
    assert dotdot.permission == error.permission


def test_a_symlink_cannot_lead_out_of_the_grant(host: Any, tree: Path) -> None:
    secret = tree.parent / "secret.txt"
    (tree / "innocent.txt").symlink_to(secret)
    (tree / "escape").symlink_to(tree.parent, target_is_directory=True)

    listing = host.call_ok("files.list_files", {"folder": str(tree), "recursive": True})
    types = {e["path"]: e["type"] for e in listing["entries"]}
    assert types["innocent.txt"] == "symlink" and types["escape"] == "symlink"
    assert not any(p.startswith("escape/") for p in types)  # links are not followed

    link = host.assert_denied("files.read_file", {"path": str(tree / "innocent.txt")})
    assert link.permission == f"read:{os.path.realpath(secret)}"
    via_dir = host.assert_denied("files.read_file", {"path": str(tree / "escape" / "secret.txt")})
    assert via_dir.permission == f"read:{os.path.realpath(secret)}"
    host.assert_denied("files.list_files", {"folder": str(tree / "escape")}, permission="read:")

    search = host.call_ok("files.search_text", {"folder": str(tree), "query": "secret"})
    assert search["matches"] == []  # the linked file is skipped, never opened
    for result in (listing, search, link.to_json(), via_dir.to_json()):
        assert SECRET not in repr(result)


def test_grants_follow_the_user_not_the_plugin(
    jafhost_factory: Callable[..., Any], tree: Path
) -> None:
    """With nothing granted (the request revoked), even the tree is out of reach."""
    host = jafhost_factory("files", grants={"files": []})
    host.assert_denied("files.read_file", {"path": str(tree / "notes.txt")}, permission="read:")


# -- search_text -------------------------------------------------------------------------


def test_search_text_finds_lines_with_file_and_line(host: Any, tree: Path) -> None:
    result = host.call_ok("files.search_text", {"folder": str(tree), "query": "hello"})
    assert [m["where"] for m in result["matches"]] == [
        "readme.md:2",
        "readme.md:3",
        "sub/deeper/deep.md:2",
        "sub/todo.md:2",
    ]
    assert result["matches"][0] == {
        "where": "readme.md:2",
        "file": "readme.md",
        "line": 2,
        "text": "hello world",
    }
    assert result["files_skipped"] == 1  # image.png: binary
    assert result["truncated"] is False


def test_search_text_options(host: Any, tree: Path) -> None:
    exact = host.call_ok(
        "files.search_text",
        {"folder": str(tree), "query": "Hello", "case_sensitive": True, "pattern": "*.md"},
    )
    assert [m["where"] for m in exact["matches"]] == ["readme.md:3"]
    first = host.call_ok("files.search_text", {"folder": str(tree), "query": "hello", "limit": 1})
    assert len(first["matches"]) == 1 and first["truncated"] is True


def test_searching_outside_the_grant_is_denied(host: Any, tree: Path) -> None:
    error = host.assert_denied(
        "files.search_text", {"folder": str(tree.parent), "query": "password"}, permission="read:"
    )
    assert SECRET not in error.message
