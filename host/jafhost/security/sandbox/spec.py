"""What the worker is told: the ``SandboxSpec`` the host sends as its first message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jafhost.security.ceiling import Ceiling
from jafhost.security.policy import Policy


@dataclass(frozen=True)
class SandboxSpec:
    """Everything ``apply`` needs; sent by the host as the worker's first message."""

    plugin: str
    grants: tuple[str, ...]
    data_dir: str
    cache_dir: str
    memory_mb: int = 2048
    open_files: int = 256
    cpu_seconds: int = 120
    file_size_mb: int = 1024
    """The largest file the worker may write (``RLIMIT_FSIZE``): past it, writes fail
    with EFBIG, so a plugin cannot fill the disk with one file."""
    extra_read: tuple[str, ...] = ()
    extra_list: tuple[str, ...] = ()
    """Folders the worker may list but whose files it may not read (a folder plugin's
    plugin folder, which holds its siblings too)."""
    parent_pid: int = 0
    deny: tuple[tuple[str, str], ...] = ()
    """The operator's deny rules as ``(rule, file)`` pairs: the worker's guard checks
    them (``grants`` arrive already without the grants wholly inside one)."""
    host_home: str | None = None
    """jafhost's home as the host's real path (its grants in ``state.json``, config,
    caches): the worker's guard refuses writes there but in the plugin's own folders,
    and its mounts bind it read-only where a write grant covers it (None: no home)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SandboxSpec:
        values = dict(data)
        values["grants"] = tuple(values.get("grants", ()))
        values["extra_read"] = tuple(values.get("extra_read", ()))
        values["extra_list"] = tuple(values.get("extra_list", ()))
        values["deny"] = tuple((str(rule), str(source)) for rule, source in values.get("deny", ()))
        return cls(**values)

    @property
    def ceiling(self) -> Ceiling:
        return Ceiling.from_json(self.deny)

    def policy(self) -> Policy:
        return Policy.compile(
            self.plugin,
            self.grants,
            Path(self.data_dir),
            Path(self.cache_dir),
            extra_read=self.extra_read,
            extra_list=self.extra_list,
            ceiling=self.ceiling,
            home=Path(self.host_home) if self.host_home else None,
        )

    @property
    def has_net(self) -> bool:
        return any(g.startswith("net:") for g in self.grants)

    @property
    def has_run(self) -> bool:
        return any(g.startswith("run:") for g in self.grants)
