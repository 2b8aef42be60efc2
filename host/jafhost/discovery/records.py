"""``PluginInfo``: everything known about a plugin before any of its code runs.

Built by discovery from core metadata and the manifest, cached on disk as plain JSON,
and read by resolution, the state policy and the CLI. Deliberately stdlib-only so a
cached ``jafhost list`` imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jafhost.frozen import Frozen

if TYPE_CHECKING:
    from jafhost.discovery.verify import CacheCheck

_FIELD_ORDER = (
    "name",
    "distribution",
    "version",
    "entry_point",
    "summary",
    "author",
    "requires",
    "extras",
    "kinds",
    "permissions",
    "manifest",
    "location",
    "source",
    "error",
    "activation",
)
_FIELD_NAMES = frozenset(_FIELD_ORDER)
"""Asked for each of a thousand cached plugins: computed once."""


class PluginInfo(Frozen):
    """One discovered plugin. ``error`` set means the plugin is ``invalid`` and why.

    ``activation``: ``lazy``, started at first use once its contributions are recorded;
    ``eager``, with the host (the manifest's ``[plugin] activation``).

    A ``Frozen`` value (compared, hashed and shown by its fields, as a frozen dataclass
    is), not a dataclass: every ``jafhost call`` defines it, and a dataclass of fifteen
    fields costs more to define than the call spends reading its plugin."""

    __slots__ = _FIELD_ORDER
    _fields = _FIELD_ORDER

    name: str
    distribution: str
    version: str
    entry_point: str
    summary: str
    author: str
    requires: tuple[str, ...]
    extras: tuple[str, ...]
    kinds: tuple[str, ...]
    permissions: tuple[str, ...]
    manifest: str | None
    location: str | None
    source: str
    error: str | None
    activation: str

    def __init__(
        self,
        name: str,
        distribution: str,
        version: str,
        entry_point: str,
        summary: str = "",
        author: str = "",
        requires: tuple[str, ...] = (),
        extras: tuple[str, ...] = (),
        kinds: tuple[str, ...] = (),
        permissions: tuple[str, ...] = (),
        manifest: str | None = None,
        location: str | None = None,
        source: str = "distribution",
        error: str | None = None,
        activation: str = "lazy",
    ) -> None:
        values = (name, distribution, version, entry_point, summary, author, requires,
                  extras, kinds, permissions, manifest, location, source, error,
                  activation)  # fmt: skip
        self._set(*values)

    def replace(self, **changes: Any) -> PluginInfo:
        """A copy with ``changes`` (``dataclasses.replace``'s way: unknown names refused)."""
        unknown = set(changes) - _FIELD_NAMES
        if unknown:
            raise TypeError(f"PluginInfo has no field {sorted(unknown)[0]!r}")
        return PluginInfo(**{**self.to_json(), **changes})

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELD_ORDER}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PluginInfo:
        values: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v)
            for k, v in data.items()
            if k in _FIELD_NAMES
        }
        return cls(**values)


class Discovery:
    """The result of one scan: plugins, the versions their requirements name, and the
    files whose stamps decide whether a cached copy is still true. (A plain class, for
    the same reason as ``PluginInfo``; equal by all but ``pending``.)"""

    def __init__(
        self,
        plugins: list[PluginInfo],
        installed: dict[str, str | None] | None = None,
        watch: list[str] | None = None,
        judged: dict[str, dict[str, Any]] | None = None,
        pending: CacheCheck | None = None,
    ) -> None:
        self.plugins = plugins
        self.installed: dict[str, str | None] = {} if installed is None else installed
        self.watch: list[str] = [] if watch is None else watch
        self.judged = judged
        """Requirements judged once per scan (``resolve.judge``), kept with the cache."""
        self.pending = pending
        """Read from the cache with its plugins not yet checked against their files:
        the check to ask before a plugin is used (``plugin(name)``) or all are shown
        (``all()``). None: every plugin is checked (or freshly scanned)."""

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Discovery)
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq

    def __repr__(self) -> str:
        return (
            f"Discovery(plugins={self.plugins!r}, installed={self.installed!r}, "
            f"watch={self.watch!r}, judged={self.judged!r})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "plugins": [p.to_json() for p in self.plugins],
            "installed": self.installed,
            "watch": self.watch,
            "judged": self.judged,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Discovery:
        return cls(
            plugins=[PluginInfo.from_json(p) for p in data["plugins"]],
            installed=dict(data["installed"]),
            watch=list(data["watch"]),
            judged=data.get("judged"),
        )
