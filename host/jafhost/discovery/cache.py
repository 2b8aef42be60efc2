"""An on-disk cache of discovery, so ``jafhost list`` with many plugins stays fast.

A cached scan is reused only while its fingerprint (``path_fingerprint``: the
interpreter, ``sys.path``, the stamps of every distribution's metadata, ``*.pth`` file
and plugin folder manifest) and the content digests of the files each plugin was
described from are unchanged, and then only once ``verify.holds`` has derived every
valid plugin again from those files: the cache file can be edited, so it saves work,
never decides trust.
Stdlib only on purpose: checking the cache must cost less than the scan it saves. What
the key covers and why: docs/architecture.md, "The discovery cache".
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time

from jafhost._version import __version__
from jafhost.atomic import write_atomic
from jafhost.blake import blake2b
from jafhost.discovery.folders import fingerprint_rows
from jafhost.discovery.records import Discovery
from jafhost.discovery.verify import digests
from jafhost.file_stamps import RACY_NS
from jafhost.safe_read import UnsafeFile, read_bytes

FORMAT = 3
CACHE_LIMIT = 64 * 1024 * 1024
"""The largest cache file read (1000 plugins make about 1 MB)."""
_DIST_SUFFIXES = (".dist-info", ".egg-info")
_PATH_FILE_SUFFIXES = (".pth", ".egg-link")


def _stamp(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"


def _file_stamp(path: str) -> str:
    try:
        return _stamp(os.stat(path))
    except OSError:
        return "-"


def _digest_of(folders: list[str] | None) -> blake2b:
    """A digest begun with what both keys share: the interpreter, the host version, the
    user's home, and the plugin ``folders``' rows (``folders.fingerprint_rows``)."""
    digest = blake2b(digest_size=20)
    head = (FORMAT, __version__, sys.version, sys.executable, os.path.expanduser("~"))
    digest.update(repr(head).encode())
    for folder in folders or ():
        digest.update(b"\0F" + folder.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(fingerprint_rows(folder).encode("utf-8", "surrogateescape"))
    return digest


def path_fingerprint(paths: list[str], folders: list[str] | None = None) -> str:
    """A digest of everything on ``paths`` that can add, remove or change a distribution,
    and of everything in the plugin ``folders`` that can add, remove or change a plugin."""
    digest = _digest_of(folders)
    for entry in paths:
        folder = entry or "."
        digest.update(b"\0P" + entry.encode("utf-8", "surrogateescape"))
        try:
            st = os.stat(folder)
        except OSError:
            digest.update(b"-")
            continue
        if not stat.S_ISDIR(st.st_mode):
            digest.update(_stamp(st).encode())  # a zip file on the path: its own stamp
            continue
        # a folder's own stamp is left out: it changes with every file created in it
        # (the working folder of ``python -m`` does all the time); the entries that can
        # change what is installed are listed and stamped one by one below
        rows: list[str] = []
        try:
            with os.scandir(folder) as listing:
                for item in listing:
                    name = item.name
                    if name.endswith(_DIST_SUFFIXES):
                        try:
                            row = _stamp(item.stat())
                        except OSError:
                            row = "-"
                        row += "|" + _file_stamp(os.path.join(item.path, "entry_points.txt"))
                    elif name.endswith(_PATH_FILE_SUFFIXES):
                        try:
                            row = _stamp(item.stat())
                        except OSError:
                            row = "-"
                    else:
                        continue
                    rows.append(f"{name}={row}")
        except OSError:
            continue
        rows.sort()
        digest.update("\n".join(rows).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def path_stamps(paths: list[str], folders: list[str] | None = None) -> str | None:
    """A cheap stand-in for ``path_fingerprint``: one ``stat`` per entry of ``paths``
    instead of two per installed distribution, so it costs the same at 10 plugins as at
    a thousand (and the plugin ``folders``' rows, as there).

    A folder's modification time changes whenever an entry is created, removed or
    renamed in it: an install, an upgrade or an uninstall (installers write new
    ``*.dist-info`` folders and remove old ones), a ``*.pth`` file added or replaced.
    It does not change with what happens inside a ``*.dist-info`` or package folder
    (a file edited in place, a same-version reinstall with ``pip install -I``), which
    ``path_fingerprint`` notices; a user of these stamps checks the files of what it
    uses by content itself (``lane_summary.Summary.holds``). None when a folder was
    modified too recently to vouch for it (``RACY_NS``)."""
    now = time.time_ns()
    digest = _digest_of(folders)
    for entry in paths:
        digest.update(b"\0P" + entry.encode("utf-8", "surrogateescape") + b"\0")
        try:
            st = os.stat(entry or ".")
        except OSError:
            digest.update(b"-")
            continue
        if now - st.st_mtime_ns < RACY_NS:
            return None
        row = f"{st.st_dev}:{st.st_ino}:{st.st_mode}:{st.st_mtime_ns}:{st.st_ctime_ns}"
        if not stat.S_ISDIR(st.st_mode):
            row += f":{st.st_size}"  # a zip file on the path
        digest.update(row.encode())
    return digest.hexdigest()


def cache_file_of(folder: str, paths: list[str], folders: list[str]) -> str:
    """The cache file in ``folder`` of this interpreter, search path ``paths`` and plugin
    ``folders``: ``DiscoveryCache(folder, paths, folders).file``, as a string."""
    what: tuple[object, ...] = (sys.executable, sys.prefix, paths)
    if folders:
        what += (folders,)
    key = blake2b(repr(what).encode(), digest_size=8).hexdigest()
    return os.path.join(folder, f"discovery-{key}.json")


class DiscoveryCache:
    """One cache file per interpreter, ``sys.path`` and plugin folders under ``<home>/cache``."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        paths: list[str] | None = None,
        folders: list[str] | None = None,
    ) -> None:
        from pathlib import Path

        self.paths = list(sys.path if paths is None else paths)
        self.folders = list(folders or ())
        self.file = Path(cache_file_of(os.fspath(folder), self.paths, self.folders))

    def load(
        self, fingerprint: str, path: list[str] | None, host_version: str, *, lazy: bool = False
    ) -> Discovery | None:
        """The cached discovery if it is still valid for ``fingerprint`` and every plugin
        in it is what its files say (``verify.CacheCheck``), else None. ``path`` is the
        search path discovery was given (None: ``sys.path``). ``lazy``: the plugins are
        checked one at a time, when used (``Discovery.pending``), not all now."""
        from jafhost.discovery.verify import CacheCheck, recompute

        try:
            data = json.loads(read_bytes(self.file, CACHE_LIMIT))
        except (OSError, UnsafeFile, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or data.get("fingerprint") != fingerprint:
            return None
        try:
            cached = Discovery.from_json(data["discovery"])
            stored = dict(data["digests"])
            if not all(isinstance(v, str) for v in [*cached.watch, *stored, *stored.values()]):
                return None
            check = CacheCheck(cached, stored, self.paths, self.folders, path)
            if not (check.sound if lazy else check.all()):
                return None
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        found = recompute(cached, self.paths, host_version)
        if lazy:
            found.pending = check
        return found

    def store(self, fingerprint: str, discovery: Discovery) -> None:
        """Write atomically; a failure to write is harmless (next run scans again)."""
        payload = {
            "fingerprint": fingerprint,
            "digests": digests(discovery.watch),
            "discovery": discovery.to_json(),
        }
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            # only ever a regular file of ours: a link there must not make the write
            # replace the file it points to, a FIFO must not be opened
            if not stat.S_ISREG(os.lstat(self.file).st_mode):
                os.unlink(self.file)
        except FileNotFoundError:
            pass
        except OSError:
            return
        try:
            data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            write_atomic(self.file, data, durable=False)
        except OSError:
            pass
