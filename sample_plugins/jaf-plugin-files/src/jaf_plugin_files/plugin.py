"""The files plugin's hook implementation and tools (entry point ``files``).

Tools are plain typed functions: jafhost builds each tool's schema from the hints (with
the ``Field`` limits) and the docstring. They need no configuration and no context:
what they may read is decided by the user's ``read:`` grants, enforced by the host.

No ``from __future__ import annotations`` here on purpose: the host reads the tools'
annotations at runtime, so they stay real objects rather than strings.
"""

from collections.abc import Callable
from typing import Annotated, Any

from jafhost import hookimpl
from pydantic import Field

from jaf_plugin_files import browse


@hookimpl
def jaf_tools() -> list[Callable[..., Any]]:
    """The three read-only file tools."""
    return [list_files, read_file, search_text]


def list_files(
    folder: Annotated[str, Field(min_length=1)],
    pattern: Annotated[str, Field(min_length=1)] = "*",
    recursive: bool = False,
    limit: Annotated[int, Field(ge=1, le=5000)] = 200,
) -> dict[str, Any]:
    """List the files and folders in a folder the user granted, in name order.

    Each entry has its path relative to the folder, its type (file, dir, symlink,
    other), its size (files) and modification time. Symbolic links are shown, never
    followed.

    Args:
        folder: an absolute path or one starting with ~, under a granted folder.
        pattern: only names matching this shell pattern, such as *.md.
        recursive: also list everything in the sub-folders.
        limit: at most this many entries; "truncated" says whether there were more.
    """
    return browse.list_files(folder, pattern, recursive, limit)


def read_file(
    path: Annotated[str, Field(min_length=1)],
    max_bytes: Annotated[int, Field(ge=1, le=browse.MAX_READ_BYTES)] = 100_000,
) -> dict[str, Any]:
    """Read a text file under a folder the user granted (UTF-8; binary files are refused).

    Returns the text with the file's size; "truncated" is true when only the first
    max_bytes bytes were read.

    Args:
        path: an absolute path or one starting with ~.
        max_bytes: read at most this many bytes.
    """
    return browse.read_file(path, max_bytes)


def search_text(
    folder: Annotated[str, Field(min_length=1)],
    query: Annotated[str, Field(min_length=1)],
    pattern: Annotated[str, Field(min_length=1)] = "*",
    limit: Annotated[int, Field(ge=1, le=1000)] = 50,
    case_sensitive: bool = False,
) -> dict[str, Any]:
    """Find the lines containing a text in the files under a folder the user granted.

    Searches sub-folders too, skipping binary files, files over 2 MB and symbolic
    links. Each match gives "where" (file:line, the file relative to the folder) and
    the line's text.

    Args:
        folder: an absolute path or one starting with ~, under a granted folder.
        query: the text to look for (plain text, not a regular expression).
        pattern: only files whose names match this shell pattern, such as *.py.
        limit: at most this many matching lines; "truncated" says whether there were more.
        case_sensitive: match upper and lower case exactly.
    """
    return browse.search_text(folder, query, pattern, limit, case_sensitive)
