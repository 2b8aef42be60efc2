"""``PluginInfo``: everything known about a plugin before any of its code runs.

Built by discovery from core metadata and the manifest, cached on disk as plain JSON,
and read by resolution, the state policy and the CLI. Deliberately stdlib-only so a
cached ``jafhost list`` imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jafhost.discovery.verify import CacheCheck


@dataclass(frozen=True)
class PluginInfo:
    """One discovered plugin. ``error`` set means the plugin is ``invalid`` and why."""

    name: str
    distribution: str
    version: str
    entry_point: str
    summary: str = ""
    author: str = ""
    requires: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    manifest: str | None = None
    location: str | None = None
    source: str = "distribution"
    error: str | None = None
    activation: str = "lazy"
    """``lazy``: started at first use once its contributions are recorded; ``eager``:
    with the host (the manifest's ``[plugin] activation``)."""

    def to_json(self) -> dict[str, Any]:
        if type(self) is PluginInfo:  # strings and tuples of strings: nothing to copy
            return {name: getattr(self, name) for name in _FIELD_ORDER}
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PluginInfo:
        names = _FIELD_NAMES if cls is PluginInfo else {f.name for f in fields(cls)}
        values: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names
        }
        return cls(**values)


_FIELD_ORDER = tuple(f.name for f in fields(PluginInfo))
_FIELD_NAMES = frozenset(_FIELD_ORDER)
"""Asked for each of a thousand cached plugins: computed once."""


@dataclass
class Discovery:
    """The result of one scan: plugins, the versions their requirements name, and the
    files whose stamps decide whether a cached copy is still true."""

    plugins: list[PluginInfo]
    installed: dict[str, str | None] = field(default_factory=dict)
    watch: list[str] = field(default_factory=list)
    judged: dict[str, dict[str, Any]] | None = None
    """Requirements judged once per scan (``resolve.judge``), kept with the cache."""
    pending: CacheCheck | None = field(default=None, compare=False, repr=False)
    """Read from the cache with its plugins not yet checked against their files: the
    check to ask before a plugin is used (``plugin(name)``) or all are shown (``all()``).
    None: every plugin is checked (or freshly scanned)."""

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
