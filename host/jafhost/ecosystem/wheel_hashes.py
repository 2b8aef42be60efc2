"""The hashes of the wheels ``jafhost install`` installed, kept for ``jafhost lock``.

A lock file pins each distribution by the hash of its wheel. The wheel is gone once pip
installed it (the installed files' ``RECORD`` hashes are of the files, not of the
archive), so the hash is written down when the review fetched it:
``$JAFHOST_HOME/wheel-hashes.json``::

    {"version": 1,
     "distributions": {"jaf-plugin-notes": {"name": "jaf-plugin-notes", "version": "1.0.0",
                                            "filename": "jaf_plugin_notes-1.0.0-py3-none-any.whl",
                                            "hashes": ["sha256:1a28..."]}}}

keyed by the canonical distribution name, one entry per distribution (the version
installed last). ``uninstall`` drops the entries of what it removed. The file is read as
``jafhost.safe_read`` reads the home's files (a regular file, bounded); a missing or
unreadable one is an empty record: ``lock`` then asks the index.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from jafhost.atomic import file_lock, write_atomic
from jafhost.home.paths import HomeLayout
from jafhost.safe_read import UnsafeFile, read_text

FILE_NAME = "wheel-hashes.json"
VERSION = 1
LIMIT = 16 * 1024 * 1024
"""The largest record read: a FIFO or a huge file there is an empty record."""


def path_of(layout: HomeLayout) -> Path:
    return layout.home / FILE_NAME


def load(layout: HomeLayout) -> dict[str, dict[str, Any]]:
    """Recorded wheels by canonical distribution name (empty when none or unreadable)."""
    try:
        data = json.loads(read_text(path_of(layout), LIMIT))
    except (OSError, ValueError, UnsafeFile):
        return {}
    found = data.get("distributions") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(v, dict)}


def _update(layout: HomeLayout, change: dict[str, dict[str, Any] | None]) -> None:
    path = path_of(layout)
    layout.home.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name(FILE_NAME + ".lock"), guarding=path, timeout=30):
        current = load(layout)
        for key, value in change.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        text = json.dumps({"version": VERSION, "distributions": dict(sorted(current.items()))})
        write_atomic(path, (text + "\n").encode(), new_mode=0o644)


def record(layout: HomeLayout, wheels: Iterable[tuple[str, str, str, str]]) -> None:
    """Write down ``(name, version, wheel filename, sha256)`` of installed wheels."""
    change: dict[str, dict[str, Any] | None] = {
        canonicalize_name(name): {
            "name": name,
            "version": version,
            "filename": filename,
            "hashes": [f"sha256:{sha256}"],
        }
        for name, version, filename, sha256 in wheels
    }
    if change:
        _update(layout, change)


def forget(layout: HomeLayout, distributions: Iterable[str]) -> None:
    """Drop the records of uninstalled distributions."""
    change: dict[str, dict[str, Any] | None] = {
        canonicalize_name(name): None for name in distributions
    }
    if change and path_of(layout).exists():
        _update(layout, change)
