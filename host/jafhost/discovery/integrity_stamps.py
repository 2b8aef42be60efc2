"""The stamps of installed plugin files last found matching their ``RECORD``.

``integrity`` hashes a file again only when its stamp (size, modification and change
time, inode, and the hash ``RECORD`` expects) differs from the one kept here when it
last matched, so an unchanged plugin costs a ``stat`` per file. One small JSON file per
distribution under ``<home>/cache/integrity`` (a command that starts one plugin reads
one), written atomically; kept in memory for the life of the process too.

The file saves work and decides nothing on its own: a stamp only vouches for a file
whose change time is the one recorded, and the kernel moves the change time on every
write (no one can set it back). Whoever can write both a plugin's files and this cache
can make them agree; that is the same user who can edit the state file and its grants.
"""

from __future__ import annotations

import os

from jafhost.file_stamps import Stamp, read_stamps, stamps_file, write_stamps

__all__ = ["Stamp", "StampStore"]
LABEL = "distribution"
"""What a stamps file here names its owner (a distribution folder) by."""


class StampStore:
    """Stamps by distribution folder; ``folder`` None keeps them in memory only."""

    def __init__(self, folder: str | os.PathLike[str] | None) -> None:
        self.folder = folder
        self._loaded: dict[str, dict[str, Stamp]] = {}

    def _file(self, dist_info: str) -> str | None:
        return None if self.folder is None else stamps_file(os.fspath(self.folder), dist_info)

    def load(self, dist_info: str) -> dict[str, Stamp]:
        """The stamps of ``dist_info``'s files (a copy the caller may change)."""
        known = self._loaded.get(dist_info)
        if known is None:
            file = self._file(dist_info)
            known = {} if file is None else read_stamps(file, LABEL, dist_info)
            self._loaded[dist_info] = known
        return dict(known)

    def save(self, dist_info: str, stamps: dict[str, Stamp]) -> None:
        """Keep ``stamps`` (in memory, and on disk when there is a folder); a failure to
        write costs only hashing again next time."""
        self._loaded[dist_info] = dict(stamps)
        file = self._file(dist_info)
        if file is not None:
            write_stamps(file, LABEL, dist_info, stamps)
