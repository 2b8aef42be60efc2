"""The names in a folder, listed once while the folder stays as it was.

The site folder holds two entries per installed distribution; at a thousand plugins
listing it costs half a millisecond, and both the shadowing check of a plugin's
distribution (``metadata.PackageFinder``) and the search for another distribution's
files where its code is imported from (``foreign_files``) need its names. A listing is
kept with the folder's stamp (device, inode, modification and change times): creating,
removing or renaming an entry changes them, so a kept listing is used only while the
stamp is the same. A folder modified in the last ``RACY_NS`` is listed every time: a
second change within the same tick of the clock would leave its times as they are.
"""

from __future__ import annotations

import os
import time

from jafhost.file_stamps import RACY_NS

_KEPT: dict[str, tuple[tuple[int, int, int, int], frozenset[str]]] = {}


def names_in(folder: str) -> frozenset[str] | None:
    """The names in ``folder`` (``""``: the working folder); None when it cannot be
    listed (not a folder, gone, not readable)."""
    where = folder or "."
    try:
        st = os.stat(where)
    except OSError:
        return None
    stamp = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    kept = _KEPT.get(folder)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    try:
        names = frozenset(os.listdir(where))
    except OSError:
        return None
    if time.time_ns() - st.st_mtime_ns >= RACY_NS:
        _KEPT[folder] = (stamp, names)
    return names
