"""The user's decisions: which plugins are enabled, what each was granted, how it runs.

``state.json`` under the host home holds one record per plugin the user has touched.
A plugin without a record follows the default policy: enabled when it requests
nothing, ``needs-approval`` when it requests any permission. Grants are the set of
permissions the user allowed (with the version they were approved at, for display);
a version, up or down, whose requests are all approved stays enabled, one that asks
for more goes back to ``needs-approval`` until approved again.

Writes happen under a file lock and replace the file atomically (``jafhost.atomic``:
temp file, fsync, rename), so concurrent CLI processes and a writer killed mid-write
leave either the old or the new state, never a torn one. A file that cannot be parsed is moved aside
(kept for the user, never deleted) and the host starts from defaults.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

from jafhost.atomic import file_lock, write_atomic
from jafhost.discovery.records import PluginInfo
from jafhost.errors import StateError
from jafhost.home.paths import HomeLayout
from jafhost.safe_read import STATE_LIMIT, UnsafeFile, read_bytes

FORMAT = 1
ISOLATIONS = ("inprocess", "process")
T = TypeVar("T")


class PluginRecord:
    """What the user decided about one plugin. A plain class (equal and shown by its
    fields, as a dataclass): every ``jafhost call`` reads a record, and a dataclass costs
    more to define than the call spends reading it."""

    __slots__ = ("approved", "distribution", "enabled", "granted_version", "grants", "isolation")
    _FIELDS = ("enabled", "approved", "grants", "granted_version", "isolation", "distribution")

    def __init__(
        self,
        enabled: bool = True,
        approved: list[str] | None = None,
        grants: list[str] | None = None,
        granted_version: str | None = None,
        isolation: str | None = None,
        distribution: str | None = None,
    ) -> None:
        self.enabled = enabled
        self.approved: list[str] = [] if approved is None else approved
        self.grants: list[str] = [] if grants is None else grants
        self.granted_version = granted_version
        self.isolation = isolation
        self.distribution = distribution
        """The distribution the approvals and grants were given to. None: a record that
        does not say (written by hand, or before it was kept), whose approvals and
        grants apply to no plugin, since nothing tells which distribution they were
        meant for."""

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, PluginRecord)
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"PluginRecord({shown})"

    def belongs_to(self, info: PluginInfo) -> bool:
        """Whether the approvals and grants apply to ``info``: grants belong to the plugin's
        name and its distribution, so another distribution claiming the name gets none
        (nor does any, when the record names no distribution and holds some)."""
        if self.distribution is None:
            return not self.approved and not self.grants
        return self.distribution == info.distribution

    def usable_grants(self) -> list[str]:
        """The grants a plugin may get: each in its canonical form. A malformed one
        (``garbage perm !!``, ``read:`` with no path, a path never normalised) is never
        applied: it reaches the guard and the sandbox as nothing at all (``doctor``
        reports it)."""
        return [grant for grant in self.grants if malformed(grant) is None]

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "approved": sorted(set(self.approved)),
            "grants": sorted(set(self.grants)),
            "granted_version": self.granted_version,
            "isolation": self.isolation,
            "distribution": self.distribution,
        }

    @classmethod
    def from_json(cls, name: str, data: Any) -> PluginRecord:
        if not isinstance(data, dict):
            raise ValueError(f"plugins.{name}: not an object")
        record = cls(
            enabled=data.get("enabled", True),
            approved=data.get("approved", []),
            grants=data.get("grants", []),
            granted_version=data.get("granted_version"),
            isolation=data.get("isolation"),
            distribution=data.get("distribution"),
        )
        if not isinstance(record.enabled, bool):
            raise ValueError(f"plugins.{name}.enabled: not true/false")
        for key in ("approved", "grants"):
            values = getattr(record, key)
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"plugins.{name}.{key}: not a list of strings")
        if record.granted_version is not None and not isinstance(record.granted_version, str):
            raise ValueError(f"plugins.{name}.granted_version: not a string")
        if record.distribution is not None and not isinstance(record.distribution, str):
            raise ValueError(f"plugins.{name}.distribution: not a string")
        if record.isolation not in (None, *ISOLATIONS):
            raise ValueError(f"plugins.{name}.isolation: not one of {', '.join(ISOLATIONS)}")
        return record


def malformed(permission: str) -> str | None:
    """Why a stored permission cannot be used (None: it is a canonical permission)."""
    from jafhost.errors import PermissionSyntaxError
    from jafhost.security import permissions

    try:
        canonical = str(permissions.parse(permission))
    except PermissionSyntaxError as exc:
        return str(exc)
    if canonical != permission:
        return f"not in canonical form (would be {canonical})"
    return None


class State:
    """All records, by plugin name (a plain class, as ``PluginRecord``)."""

    __slots__ = ("plugins",)

    def __init__(self, plugins: dict[str, PluginRecord] | None = None) -> None:
        self.plugins: dict[str, PluginRecord] = {} if plugins is None else plugins

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, State)
        return self.plugins == other.plugins

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"State(plugins={self.plugins!r})"

    def record(self, name: str) -> PluginRecord:
        """The record for ``name``, created (with defaults) if missing."""
        return self.plugins.setdefault(name, PluginRecord())

    def grants_of(self, info: PluginInfo) -> list[str]:
        """The grants that apply to ``info`` (none when they were given to another
        distribution of the same name)."""
        record = self.plugins.get(info.name)
        return record.usable_grants() if record is not None and record.belongs_to(info) else []

    def status_of(self, info: PluginInfo) -> tuple[str, str | None]:
        """The user-decided part of a plugin's status (resolution adds the rest)."""
        record = self.plugins.get(info.name)
        if record is not None and not record.enabled:
            return "disabled", "disabled by the user"
        if record is not None and not record.belongs_to(info):
            if info.permissions:
                given = (
                    f"approved for distribution {record.distribution}, now claimed by "
                    f"{info.distribution}"
                    if record.distribution is not None
                    else "its record names no distribution the approvals were given to"
                )
                return "needs-approval", (
                    f"{given}: requests permissions: {', '.join(info.permissions)}"
                )
            return "enabled", None
        approved = set(record.approved) if record else set()
        new = [p for p in info.permissions if p not in approved]
        if new:
            if record is not None and record.granted_version:
                return "needs-approval", (
                    f"version {info.version} requests permissions not approved at "
                    f"{record.granted_version}: {', '.join(new)}"
                )
            return "needs-approval", f"requests permissions: {', '.join(new)}"
        return "enabled", None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "plugins": {name: r.to_json() for name, r in sorted(self.plugins.items())},
        }

    @classmethod
    def from_json(cls, data: Any) -> State:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a jafhost state file (format 1)")
        plugins = data.get("plugins", {})
        if not isinstance(plugins, dict):
            raise ValueError("plugins: not an object")
        return cls({name: PluginRecord.from_json(name, r) for name, r in plugins.items()})


def _reason(exc: OSError) -> str:
    """What went wrong, without repeating the path the message names anyway."""
    return exc.strerror or str(exc)


class _NoLock(StateError):
    """The lock file cannot be created; ``reason`` says why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StateStore:
    """Reads and writes ``state.json`` safely; ``warnings`` says what was repaired."""

    def __init__(self, layout: HomeLayout, lock_timeout: float = 30.0) -> None:
        self.layout = layout
        self.path = layout.state
        self.lock_timeout = lock_timeout
        self.warnings: list[str] = []
        self._snapshot: tuple[bytes | None, State] | None = None
        """The bytes last parsed by ``snapshot`` (None: no file) and their state."""

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with ExitStack() as stack:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                stack.enter_context(
                    file_lock(self.layout.state_lock, guarding=self.path, timeout=self.lock_timeout)
                )
            except OSError as exc:  # a read-only home, a file where the folder should be
                raise _NoLock(
                    f"cannot lock {self.path} to change it: {_reason(exc)}; "
                    f"make {self.path.parent} writable",
                    _reason(exc),
                ) from None
            yield

    def _parse(self) -> State:
        return self._parse_raw(self._read_raw())

    def _read_raw(self) -> bytes | None:
        """The bytes of the state file (None: no file)."""
        try:
            return read_bytes(self.path, STATE_LIMIT)
        except FileNotFoundError:
            return None
        except UnsafeFile as exc:
            if str(exc).startswith("cannot read"):
                raise StateError(f"{self.path}: {exc}") from None
            raise ValueError(str(exc)) from None  # a FIFO, a device, too large: moved aside

    @staticmethod
    def parse_one(raw: bytes | None, name: str) -> State:
        """The state the bytes of a state file hold for plugin ``name`` alone (None: no
        file), the other records left unparsed: for bytes known to parse whole, as the
        one-shot lane knows of the bytes its summary is keyed on (their records were
        all read when it was written), so a state of many plugins costs one JSON parse
        rather than a record each. ``ValueError`` or ``UnicodeDecodeError`` when the
        bytes hold no state."""
        if raw is None:
            return State()
        try:
            data = json.loads(raw)
        except RecursionError:
            raise ValueError("nested too deeply") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a jafhost state file (format 1)")
        plugins = data.get("plugins", {})
        if not isinstance(plugins, dict):
            raise ValueError("plugins: not an object")
        found = plugins.get(name)
        return State({} if found is None else {name: PluginRecord.from_json(name, found)})

    @staticmethod
    def _parse_raw(raw: bytes | None) -> State:
        if raw is None:
            return State()
        try:
            data = json.loads(raw)
        except RecursionError:
            raise ValueError("nested too deeply") from None
        return State.from_json(data)

    def _move_aside(self, problem: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        base = f"{self.path.name}.corrupt-{stamp}-{os.getpid()}"
        target, count = self.path.with_name(base), 0
        while target.exists():  # never overwrite a file kept earlier (we hold the lock)
            count += 1
            target = self.path.with_name(f"{base}-{count}")
        try:
            os.replace(self.path, target)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._stuck(problem, _reason(exc)) from None
        self.warnings.append(
            f"state file {self.path} was unreadable ({problem}); kept it as {target} "
            "and started from defaults"
        )

    def _stuck(self, problem: str, reason: str) -> StateError:
        return StateError(
            f"state file {self.path} is unreadable ({problem}) and cannot be moved aside "
            f"({reason}); fix or remove it, or make {self.path.parent} writable"
        )

    def load(self) -> State:
        """The current state; a corrupt file is moved aside and defaults are returned."""
        try:
            return self._parse()
        except (ValueError, UnicodeDecodeError) as exc:
            problem = str(exc).splitlines()[0]
        try:
            with self._lock():
                try:  # another process may have repaired it while we waited
                    return self._parse()
                except (ValueError, UnicodeDecodeError) as exc:
                    self._move_aside(str(exc).splitlines()[0])
                    return State()
        except _NoLock as exc:
            raise self._stuck(problem, exc.reason) from None

    def load_keyed(self) -> tuple[State, str | None]:
        """``load``, and a digest of the bytes the state was parsed from (``"absent"``: no
        file; None: the file was repaired or changed while read, nothing to key on): for
        a reader that keeps what it derived from this very state (the one-shot lane)."""
        try:
            raw = self._read_raw()
            state = self._parse_raw(raw)
        except (ValueError, UnicodeDecodeError):
            return self.load(), None
        if raw is None:
            return state, "absent"
        from jafhost.blake import blake2b

        return state, blake2b(raw, digest_size=20).hexdigest()

    def snapshot(self) -> State:
        """The current state, for reading only: the file is read afresh at every call
        (another process may have changed it), but parsed again only when its bytes
        changed, and the ``State`` is shared with every other reader of the same bytes,
        so it must never be changed (``load`` gives a private one; ``update`` changes the
        file). The host reads the state several times per plugin start; at many
        plugins each parse is the cost, not the read."""
        try:
            raw = self._read_raw()
            last = self._snapshot
            if last is not None and last[0] == raw:
                return last[1]
            state = self._parse_raw(raw)
        except (ValueError, UnicodeDecodeError):
            return self.load()  # repaired (moved aside) as ``load`` does
        self._snapshot = (raw, state)
        return state

    def _write(self, state: State) -> None:
        data = json.dumps(state.to_json(), indent=2, sort_keys=True).encode() + b"\n"
        write_atomic(self.path, data)

    def update(self, change: Callable[[State], T]) -> T:
        """Read, apply ``change``, write: all under the lock. Returns what ``change`` did."""
        with self._lock():
            try:
                state = self._parse()
            except (ValueError, UnicodeDecodeError) as exc:
                self._move_aside(str(exc).splitlines()[0])
                state = State()
            result = change(state)
            self._write(state)
            return result
