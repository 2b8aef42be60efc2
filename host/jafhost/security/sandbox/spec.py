"""What the worker is told: the ``SandboxSpec`` the host sends as its first message.

A ``Frozen`` value rather than a frozen dataclass, and no ``pathlib``: the worker imports
this before its sandbox, on the path every process-isolated call waits for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jafhost.frozen import Frozen
from jafhost.security.ceiling import Ceiling
from jafhost.security.policy import Policy


class SandboxSpec(Frozen):
    """Everything ``apply`` needs; sent by the host as the worker's first message.

    ``file_size_mb``: the largest file the worker may write (``RLIMIT_FSIZE``): past it,
    writes fail with EFBIG, so a plugin cannot fill the disk with one file.
    ``extra_list``: folders the worker may list but whose files it may not read (a folder
    plugin's plugin folder, which holds its siblings too).
    ``deny``: the operator's deny rules as ``(rule, file)`` pairs: the worker's guard
    checks them (``grants`` arrive already without the grants wholly inside one).
    ``host_home``: jafhost's home as the host's real path (its grants in ``state.json``,
    config, caches): the worker's guard refuses writes there but in the plugin's own
    folders, and its mounts bind it read-only where a write grant covers it (None: no
    home).
    """

    _fields = (
        "plugin",
        "grants",
        "data_dir",
        "cache_dir",
        "memory_mb",
        "open_files",
        "cpu_seconds",
        "file_size_mb",
        "extra_read",
        "extra_list",
        "parent_pid",
        "deny",
        "host_home",
    )
    __slots__ = _fields
    plugin: str
    grants: tuple[str, ...]
    data_dir: str
    cache_dir: str
    memory_mb: int
    open_files: int
    cpu_seconds: int
    file_size_mb: int
    extra_read: tuple[str, ...]
    extra_list: tuple[str, ...]
    parent_pid: int
    deny: tuple[tuple[str, str], ...]
    host_home: str | None

    def __init__(
        self,
        plugin: str,
        grants: tuple[str, ...],
        data_dir: str,
        cache_dir: str,
        memory_mb: int = 2048,
        open_files: int = 256,
        cpu_seconds: int = 120,
        file_size_mb: int = 1024,
        extra_read: tuple[str, ...] = (),
        extra_list: tuple[str, ...] = (),
        parent_pid: int = 0,
        deny: tuple[tuple[str, str], ...] = (),
        host_home: str | None = None,
    ) -> None:
        values = (plugin, grants, data_dir, cache_dir, memory_mb, open_files, cpu_seconds,
                  file_size_mb, extra_read, extra_list, parent_pid, deny, host_home)  # fmt: skip
        self._set(*values)

    def replace(self, **changes: Any) -> SandboxSpec:
        """A copy with ``changes`` (as ``dataclasses.replace``)."""
        values = {name: getattr(self, name) for name in self._fields}
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"SandboxSpec has no field {sorted(unknown)[0]!r}")
        return SandboxSpec(**{**values, **changes})

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._fields}

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
            self.data_dir,
            self.cache_dir,
            extra_read=self.extra_read,
            extra_list=self.extra_list,
            ceiling=self.ceiling,
            home=self.host_home or None,
        )

    @property
    def has_net(self) -> bool:
        return any(g.startswith("net:") for g in self.grants)

    @property
    def has_run(self) -> bool:
        return any(g.startswith("run:") for g in self.grants)
