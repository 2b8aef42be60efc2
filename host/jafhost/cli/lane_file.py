"""Where the one-shot lane keeps a plugin's summary (``lane_summary``): one file per
plugin under ``cache/lane``, named by a digest of the plugin's name, so any text given
on the command line names a file there and nowhere else. Apart from ``lane_summary``
so that ``cli.early_worker`` finds the file before importing what reads it in full."""

from __future__ import annotations

import os
from typing import Any

from jafhost.blake import blake2b

FORMAT = 5
"""The summary file's format (``lane_summary``): a file of another is passed by."""
LIMIT = 1024 * 1024
"""The largest summary read (one plugin's records and digests: a few kB)."""


def summary_file(cache: str, plugin: str) -> str:
    """The summary file of ``plugin`` in the home's cache folder ``cache``."""
    name = blake2b(plugin.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
    return os.path.join(cache, "lane", f"{name}.json")


def early_hint(data: Any) -> dict[str, Any] | None:
    """A summary's early-start hint (``lane_summary.Summary.early``) when of the
    expected shape (else ``ValueError``), or None."""
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) != {"own"}:
        raise ValueError("not an early-start hint")
    own = data["own"]
    if not (isinstance(own, list) and all(isinstance(v, str) for v in own)):
        raise ValueError("not an early-start hint")
    return data
