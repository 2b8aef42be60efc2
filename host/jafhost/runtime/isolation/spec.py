"""``WorkerSpec``: everything needed to start one plugin's worker process.

Built by the host (its layout, settings and state) and handed to the pipe client, so
nothing in ``jafhost.runtime`` reads the host itself. ``sandbox`` turns it into what the
worker applies to itself before any plugin code runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from jafhost.discovery.folders import own_folders, plugin_folder
from jafhost.runtime.isolation.zygote_switch import wanted
from jafhost.security.ceiling import NO_CEILING, Ceiling
from jafhost.security.sandbox import SandboxSpec
from jafhost.security.sandbox.env import host_paths, site_dirs

if TYPE_CHECKING:
    from jafhost.discovery.records import PluginInfo
    from jafhost.home.paths import HomeLayout


class Limits(Protocol):
    """The ``[host]`` settings a worker's spec takes (``HostSettings`` has them, and so
    has the lane's plain reading of a plainly valid file, ``config_fast.FastSettings``)."""

    @property
    def call_timeout(self) -> float: ...
    @property
    def memory_mb(self) -> int: ...
    @property
    def open_files(self) -> int: ...
    @property
    def max_result_mb(self) -> int: ...
    @property
    def workers_per_plugin(self) -> int: ...


@dataclass(frozen=True)
class WorkerSpec:
    """How to start one plugin's worker, built by the host; ``grants`` is called again at
    every start, so a restarted worker runs with the grants in force at that moment."""

    info: PluginInfo
    data_dir: Path
    cache_dir: Path
    config_table: dict[str, Any]
    grants: Callable[[], list[str]]
    hook_timeout: float = 10.0
    memory_mb: int = 2048
    open_files: int = 256
    cpu_seconds: int = 120
    max_result_mb: int = 64
    """The longest message either side sends or accepts (``[host] max_result_mb``)."""
    workers: int = 2
    """The most workers the plugin's pool runs at once (``[host] workers_per_plugin``)."""
    paths: list[str] = field(default_factory=host_paths)
    python: str = sys.executable
    site_dirs: list[str] = field(default_factory=site_dirs)
    """The folders whose ``.pth`` files the worker processes once sandboxed (the host's
    site folders)."""
    pidns: bool = True
    """Bind the plugin's processes with a PID namespace where one can be made (False:
    always the subreaper, the fallback elsewhere)."""
    zygote: bool = field(default_factory=wanted)
    """Fork the worker from a pre-started zygote instead of starting an interpreter
    (``zygote``): by default on Linux, but in one-shot commands (``zygote_switch.wanted``;
    ``JAFHOST_WORKER_ZYGOTE=0`` or ``1`` decides for every worker). Where no zygote can
    fork, the worker is spawned (``WorkerClient.fork_problem`` says why)."""
    schema_file: Path | None = None
    """Where the plugin's config JSON Schema is recorded when it starts (None: nowhere)."""
    ceiling: Ceiling = NO_CEILING
    """The operator's deny rules: grants wholly inside one never reach the worker, and
    its guard checks the rest of each rule."""
    known_schemas: dict[str, dict[str, Any]] | None = None
    """Its tools' input schemas from its valid record, by name: the worker builds those
    tools' models at their first call instead of at its start (None: it builds all)."""
    host_home: Path | None = None
    """jafhost's home (``HomeLayout.home``): sent as its real path, so the worker's guard
    and mounts keep the plugin from writing it but in its own folders (None: no home)."""

    @property
    def plugin(self) -> str:
        return self.info.name

    def effective_grants(self) -> list[str]:
        """The grants in force now, without those the operator's deny rules take away
        whole (the environment, the namespaces, Landlock and seccomp are built from
        these)."""
        return self.ceiling.cap(self.grants())

    def sandbox(self, grants: list[str]) -> SandboxSpec:
        extra = [p for p in (self.info.location,) if p] + own_folders(self.info)
        if self.info.manifest:
            extra.append(os.path.dirname(self.info.manifest))
        return SandboxSpec(
            plugin=self.plugin,
            grants=tuple(self.ceiling.cap(grants)),
            data_dir=str(self.data_dir),
            cache_dir=str(self.cache_dir),
            memory_mb=self.memory_mb,
            open_files=self.open_files,
            cpu_seconds=self.cpu_seconds,
            extra_read=tuple(extra),
            extra_list=tuple(plugin_folder(self.info)),
            parent_pid=os.getpid(),
            deny=tuple((rule.text, rule.source) for rule in self.ceiling.rules),
            host_home=os.path.realpath(self.host_home) if self.host_home else None,
        )


def plugin_spec(
    layout: HomeLayout,
    info: PluginInfo,
    settings: Limits,
    hook_timeout: float,
    ceiling: Ceiling,
    grants: Callable[[], list[str]],
    config_table: dict[str, Any],
    known: dict[str, dict[str, Any]] | None = None,
) -> WorkerSpec:
    """How to start ``info``'s worker under home ``layout`` with these settings, the
    operator's ``ceiling`` and ``grants`` (read again at every start): the one builder
    of a plugin's spec, for a host's pool workers and for ``jafhost call``'s one-shot
    worker alike."""
    from jafhost.security.sandbox import cpu_budget

    name = info.name
    return WorkerSpec(
        info=info,
        data_dir=layout.data_dir(name),
        cache_dir=layout.cache_dir(name),
        config_table=config_table,
        grants=grants,
        hook_timeout=hook_timeout,
        memory_mb=settings.memory_mb,
        open_files=settings.open_files,
        cpu_seconds=cpu_budget(settings.call_timeout, hook_timeout),
        max_result_mb=settings.max_result_mb,
        workers=settings.workers_per_plugin,
        schema_file=layout.schema_file(name),
        ceiling=ceiling,
        known_schemas=known,
        host_home=layout.home,
    )
