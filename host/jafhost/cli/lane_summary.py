"""The one-shot lane's summary of one plugin: what ``oneshot.decide`` learnt from reading
discovery and resolving all N plugins, kept so that the next ``jafhost call`` of that
plugin reads and resolves nothing of the other N-1.

``decide`` writes it after its full checks passed (the plugin enabled as discovered, no
other plugin needed, none eager or granted ``observe``) with discovery read from its
cache file, keyed on everything those checks read (``Key``): the host version, the bytes
of ``config.toml`` and of ``state.json``, the ``JAFHOST_*`` variables, the plugin
folders, the stamps of the search path (``cache.path_stamps``: the interpreter,
``sys.path``, one ``stat`` of each of its folders, and the plugin folders) and the
identity of the discovery cache file (replaced, never edited, whenever discovery is
scanned again). Any of them different, and the summary is passed by: the full checks
run, and write a new one. Only when the stamps alone differ (a file created in a
folder on the path that is not a distribution: the working folder of ``python -m``)
or cannot vouch (a folder modified in the last seconds) is discovery's own fingerprint
compared (``cache.path_fingerprint``: two ``stat`` calls per installed distribution,
the cost that grew with N); equal, the summary holds and is stamped again.

What the stamps do not see, by design, is a change inside another distribution's
folders that leaves the site folder as it was: a file edited in place, a same-version
reinstall (``pip install -I`` writes the files anew inside the existing folders). The
lane then still calls the plugin it checked, never another: its own files are compared
by content (below), and its tool, once imported, against the plan
(``recorded_start.find_tool``). Any full command (``jafhost list``) rescans, and its
new cache file passes every summary by.

What the summary says of the plugin itself decides nothing on trust: its files are
checked against their digests and the plugin derived again from them (``holds``, the
check a cached plugin gets before it starts), and a file changed since is the full
checks' to see (``catalog.changed_since``).

Once ``decide`` also found the plugin's record fit for the lane, the summary holds its
``plan`` too: the default isolation, the timeouts and the recorded tools the lane can call, all
derived from what the key covers (``config.toml``, ``state.json``, the ``JAFHOST_*``
variables, the host version) and from the plugin's files, checked as above. The next
call then parses no TOML (the grants are still read from the state's bytes, never
from the summary); a grant or a revoke, an isolation change, an edit of
``config.toml`` or of a variable, an upgrade each change the key or the files, and the
full checks run again. The operator's policy files are looked for on every call
(``operator_policy.policy_sources``), as the full path does.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jafhost._version import __version__
from jafhost.atomic import write_atomic
from jafhost.blake import blake2b
from jafhost.cli.lane_file import FORMAT, LIMIT, early_hint, summary_file
from jafhost.discovery.records import Discovery, PluginInfo
from jafhost.frozen import Frozen
from jafhost.home.paths import CACHE
from jafhost.safe_read import UnsafeFile, read_bytes

if TYPE_CHECKING:
    from jafhost.home.paths import HomeLayout

PLAN_KEYS = frozenset({"isolation", "hook_timeout", "call_timeout", "tools"})


UNKEYED = frozenset({"JAFHOST_TRACE_CALL", "JAFHOST_CALL_LANE"})
"""``JAFHOST_*`` variables that change nothing the summary holds (only what is said on
stderr, or whether the lane runs at all)."""


def digest(data: bytes | None) -> str:
    """What a key holds of a file's bytes (None: no file): ``StateStore.load_keyed``'s
    digest of the same bytes."""
    return "absent" if data is None else blake2b(data, digest_size=20).hexdigest()


def environment_digest(environ: Mapping[str, str]) -> str:
    """The ``JAFHOST_*`` variables: plugin configuration overrides, plugin folders, the
    policy file named, and whatever setting of that name comes next."""
    items = sorted(
        (name, value)
        for name, value in environ.items()
        if name.startswith("JAFHOST_") and name not in UNKEYED
    )
    return blake2b(repr(items).encode("utf-8", "surrogateescape"), digest_size=20).hexdigest()


def _file_identity(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


class Key(Frozen):
    """What the full checks read, as it is now (``current``). A ``Frozen`` value, as the
    other values a call defines (a ``NamedTuple`` costs compiles as it is defined)."""

    __slots__ = (
        "_fingerprint",
        "cache_file",
        "cache_identity",
        "config",
        "environment",
        "folders",
        "paths",
        "search",
        "state",
        "version",
    )
    _fields = ("version", "config", "state", "environment", "folders", "search", "paths",
               "cache_file", "cache_identity")  # fmt: skip

    version: str
    config: str
    state: str
    environment: str
    folders: tuple[str, ...]
    search: tuple[str, ...]
    paths: str | None
    """``cache.path_stamps`` of ``search`` and ``folders``; None: they cannot vouch."""
    cache_file: str
    cache_identity: str
    _fingerprint: str | None

    def __init__(self, *values: Any) -> None:
        self._set(*values)
        object.__setattr__(self, "_fingerprint", None)

    def fingerprint(self) -> str:
        """``cache.path_fingerprint`` of ``search`` and ``folders``, computed once, when
        first asked; or, once a summary matched on the stamps, that summary's own
        (``matches``). The full checks ask before they read discovery (``oneshot``), so
        the fingerprint a summary is stored with was never taken after what it says."""
        if self._fingerprint is None:
            from jafhost.discovery.cache import path_fingerprint

            found = path_fingerprint(list(self.search), list(self.folders))
            object.__setattr__(self, "_fingerprint", found)
            return found
        return self._fingerprint

    @classmethod
    def current(
        cls, layout: HomeLayout, config: bytes | None, state: bytes | None, folders: list[str]
    ) -> Key:
        """The key of the files' bytes as read now (None: no such file)."""
        from jafhost.discovery.cache import cache_file_of, path_stamps

        search = list(sys.path)
        cache_file = cache_file_of(layout.at(CACHE), search, folders)
        return cls(
            __version__,
            digest(config),
            digest(state),
            environment_digest(os.environ),
            tuple(folders),
            tuple(search),
            path_stamps(search, folders),
            cache_file,
            _file_identity(cache_file),
        )

    def cache_unchanged(self) -> bool:
        """Whether the discovery cache file is still the one this key names."""
        return _file_identity(self.cache_file) == self.cache_identity

    def to_json(self) -> dict[str, Any]:
        """What a summary stores: the fields, and the fingerprint (computed if not yet)."""
        return {**self._compared(), "paths": self.paths, "fingerprint": self.fingerprint()}

    def _compared(self) -> dict[str, Any]:
        """The fields that must be equal for a summary to be read at all."""
        found = {name: getattr(self, name) for name in self._fields if name != "paths"}
        return {**found, "folders": list(self.folders), "search": list(self.search)}

    def matches(self, stored: Any) -> bool | None:
        """Whether ``stored`` (a summary's ``to_json``) is of this key: True on the
        stamps, None on the fingerprint alone (the summary holds, its stamps are old),
        False when not."""
        if not isinstance(stored, dict) or set(stored) != {*self._fields, "fingerprint"}:
            return False
        if {k: v for k, v in stored.items() if k not in ("paths", "fingerprint")} != (
            self._compared()
        ):
            return False
        if self.paths is not None and stored["paths"] == self.paths:
            if self._fingerprint is None and isinstance(stored["fingerprint"], str):
                # the summary's own, not one taken now: what is stored with these stamps
                # is never newer than what the summary says (``fingerprint``)
                object.__setattr__(self, "_fingerprint", stored["fingerprint"])
            return True
        return None if stored["fingerprint"] == self.fingerprint() else False


class Summary:
    """One plugin as the full checks found it: ``info`` (resolved, enabled), every
    cached plugin of its name with the stored digests of the files their check reads,
    and the plugin folders its import needs on ``sys.path``; and ``plan``: what
    ``decide`` derived from the record and the key's files (see the module doc):
    ``isolation`` (``[host]``'s, or the platform's default), ``hook_timeout``,
    ``call_timeout`` and ``tools`` (a tool's name to its ``plain`` parameters, for the
    tools the lane can call), or None. A plain class: a dataclass
    costs more to define than a warm call spends reading the summary."""

    def __init__(
        self,
        info: PluginInfo,
        named: list[PluginInfo],
        watched: dict[str, str],
        import_folders: list[str],
        plan: dict[str, Any] | None = None,
        early: dict[str, Any] | None = None,
    ) -> None:
        self.info = info
        self.named = named
        self.watched = watched
        self.import_folders = import_folders
        self.plan = plan
        self.early = early
        """Set with the plan when the plugin's calls go to a one-shot worker, so that
        ``cli.early_worker`` starts the next call's worker before anything is checked:
        ``own``, the plugin folder on its import path (``one_shot_call.start_early_at``)."""
        self.restamp = False
        """Read on discovery's fingerprint, not on the stamps (``Key.matches``): once it
        holds, it is stored again under the key's stamps, for the next call."""

    def holds(self, key: Key) -> bool:
        """Whether the plugin is what its files say now (``verify.CacheCheck.plugin`` over
        the summary's plugins and digests), and they did not change while being read."""
        from jafhost.discovery.verify import CacheCheck
        from jafhost.host.catalog import changed_since

        read_at = time.time_ns()
        cached = Discovery(list(self.named), {}, list(self.watched))
        check = CacheCheck(cached, dict(self.watched), list(sys.path), list(key.folders), None)
        if not check.sound or not check.plugin(self.info.name):
            return False
        return self.info in self.named and not changed_since(self.info, read_at)


def _path(layout: HomeLayout, plugin: str) -> str:
    return summary_file(layout.at(CACHE), plugin)


def load(layout: HomeLayout, plugin: str, key: Key) -> Summary | None:
    """The summary of ``plugin`` written under ``key``; None when missing, unreadable,
    of another plugin or written under another key."""
    try:
        data = json.loads(read_bytes(_path(layout, plugin), LIMIT))
        if (
            not isinstance(data, dict)
            or data.get("format") != FORMAT
            or data.get("plugin") != plugin
        ):
            return None
        matched = key.matches(data.get("key"))
        if matched is False:
            return None
        summary = Summary(
            PluginInfo.from_json(data["info"]),
            [PluginInfo.from_json(item) for item in data["named"]],
            dict(data["watched"]),
            list(data["import_folders"]),
            _plan(data.get("plan")),
            early_hint(data.get("early")),
        )
        summary.restamp = matched is None
        strings = [*summary.watched, *summary.watched.values(), *summary.import_folders]
        if summary.info.name != plugin or not all(isinstance(v, str) for v in strings):
            return None
    except (OSError, UnsafeFile, ValueError, RecursionError, KeyError, TypeError):
        return None
    return summary


def _plan(data: Any) -> dict[str, Any] | None:
    """A stored plan of the expected shape (else ``ValueError``), or None."""
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) != PLAN_KEYS:
        raise ValueError("not a plan")
    tools = data["tools"]
    if not (isinstance(tools, dict) and all(isinstance(f, dict) for f in tools.values())):
        raise ValueError("not a plan")
    if not all(type(data[key]) is float for key in ("hook_timeout", "call_timeout")):
        raise ValueError("not a plan")
    if data["isolation"] not in ("inprocess", "process"):
        raise ValueError("not a plan")
    return data


def store(layout: HomeLayout, plugin: str, key: Key, summary: Summary) -> None:
    """Write atomically; a failure to write only means the next call checks in full."""
    path = _path(layout, plugin)
    payload = {
        "format": FORMAT,
        "plugin": plugin,
        "key": key.to_json(),
        "info": summary.info.to_json(),
        "named": [info.to_json() for info in summary.named],
        "watched": summary.watched,
        "import_folders": summary.import_folders,
        "plan": summary.plan,
        "early": summary.early,
    }
    try:
        data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:  # only ever a regular file of ours: never written through a link
            if not stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
        except FileNotFoundError:
            pass
        write_atomic(path, data, durable=False)
    except (OSError, TypeError, ValueError):
        return
