"""What each plugin of a running host costs: how long its start took (import, initialize,
activate), its calls, errors by code, p50/p95 call time, and for a process-isolated one
its workers' pids, resident memory and restarts (``Host.stats``, ``doctor``, the MCP
resource ``jafhost://stats``).

Recording sits on the call path, so it does as little as it can: it reuses the duration
the router already measured, bumps a counter and appends to a window of the last
``WINDOW`` call times (bounded: a long-running host keeps no sample forever). Sorting for
the percentiles, reading ``/proc`` and shaping the result happen only when someone asks
(``StatsRecorder.snapshot``). Importing it costs nothing beyond the standard library:
every ``Host`` makes a recorder, also one that runs no plugin (``jafhost list``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jafhost.runtime.lifecycle import LoadedPlugin
    from jafhost.types import CallResult

WINDOW = 512
"""Call times kept per plugin for the percentiles: the most recent ones."""
PHASES = ("import", "initialize", "activate", "worker")
"""The parts of a start that are timed; ``worker``: spawning and sandboxing the worker
until it was ready (process isolation only), before the plugin's own import."""


def phases_from(value: Any) -> dict[str, float]:
    """The timed phases a worker's start reply reports, keeping only known names with a
    finite, non-negative number of seconds (the reply is the worker's, so the plugin's,
    to shape)."""
    if not isinstance(value, dict):
        return {}
    found = {}
    for phase in PHASES[:3]:
        seconds = value.get(phase)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            found[phase] = float(seconds)
    return found


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


@dataclass(frozen=True)
class StartTimes:
    """One start of a plugin, in milliseconds (None: the phase was not reached, or does
    not apply: ``worker_ms`` in process)."""

    import_ms: float | None
    initialize_ms: float | None
    activate_ms: float | None
    worker_ms: float | None
    total_ms: float
    """From the host's decision to start it until it was active (or failed)."""

    @classmethod
    def of(cls, phases: Mapping[str, float], total: float) -> StartTimes:
        return cls(
            _ms(phases.get("import")),
            _ms(phases.get("initialize")),
            _ms(phases.get("activate")),
            _ms(phases.get("worker")),
            _ms(total) or 0.0,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "import_ms": self.import_ms,
            "initialize_ms": self.initialize_ms,
            "activate_ms": self.activate_ms,
            "worker_ms": self.worker_ms,
            "total_ms": self.total_ms,
        }


@dataclass(frozen=True)
class WorkerStats:
    """One live worker process of a plugin."""

    pid: int
    """The process running the plugin's code, as the host sees it."""
    rss_bytes: int | None
    """Its resident memory (``VmRSS``), or None when ``/proc`` did not tell."""
    narrowed: tuple[str, ...] | None = None
    """The grants it runs with when it serves an agent whose policy narrows the plugin
    (canonical strings); None for a worker with the plugin's own grants."""

    def to_json(self) -> dict[str, Any]:
        narrowed = list(self.narrowed) if self.narrowed is not None else None
        return {"pid": self.pid, "rss_bytes": self.rss_bytes, "narrowed": narrowed}


@dataclass(frozen=True)
class PluginStats:
    """One plugin in ``Host.stats()``."""

    name: str
    status: str
    """Its runtime status: ``active``, ``idle`` (offered, not started yet), ``broken``..."""
    isolation: str
    start: StartTimes | None
    """Its last start; None while it never started (an idle plugin)."""
    calls: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    """Failed calls by error code (``tool_error``, ``timeout``, ``invalid_arguments``...)."""
    p50_ms: float | None = None
    p95_ms: float | None = None
    """Call time percentiles over its last ``WINDOW`` calls; None before any call."""
    workers: list[WorkerStats] = field(default_factory=list)
    restarts: int | None = None
    """Times its workers were started again after one ended; None in process."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "isolation": self.isolation,
            "start": self.start.to_json() if self.start is not None else None,
            "calls": self.calls,
            "errors": dict(self.errors),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "workers": [w.to_json() for w in self.workers],
            "restarts": self.restarts,
        }


@dataclass(frozen=True)
class HostStats:
    """``Host.stats()``: every plugin the host knows at runtime, by name."""

    plugins: list[PluginStats]

    def plugin(self, name: str) -> PluginStats:
        """The stats of plugin ``name`` (``KeyError`` when the host has none)."""
        for entry in self.plugins:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def slowest_first(self) -> list[PluginStats]:
        """The plugins that started, the longest start first (``doctor``'s table)."""
        started = [p for p in self.plugins if p.start is not None]
        return sorted(started, key=lambda p: -(p.start.total_ms if p.start else 0.0))

    def to_json(self) -> dict[str, Any]:
        return {"plugins": [p.to_json() for p in self.plugins]}


class _Calls:
    """The calls of one plugin: a count, errors by code, the latest call times."""

    __slots__ = ("count", "errors", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.errors: dict[str, int] = {}
        self.seconds: deque[float] = deque(maxlen=WINDOW)


def percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of an ascending, non-empty list."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def rss_bytes(pid: int) -> int | None:
    """A process's resident memory from ``/proc/PID/status`` (None if unreadable)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _workers(loaded: LoadedPlugin) -> tuple[list[WorkerStats], int | None]:
    """The live workers of a process-isolated plugin (those its agents' policies narrow
    included: they are its processes too) and its restarts (none in process)."""
    pool = loaded.extras.get("pool")
    if pool is None:
        return [], None
    pools: Iterable[Any] = pool.by_grants() if hasattr(pool, "by_grants") else [(None, pool)]
    workers, restarts = [], 0
    for narrowed, each in pools:
        for worker in getattr(each, "slots", []):
            restarts += max(0, int(worker.starts) - 1)
            pid = worker.plugin_pid if worker.alive else None
            if pid is not None:
                workers.append(WorkerStats(pid, rss_bytes(pid), narrowed))
    return workers, restarts


def _isolation(loaded: LoadedPlugin, isolation_of: Callable[[str], str]) -> str:
    """Where it runs: a worker when it has one, in process when it is active without
    one (an object handed over runs there), else where its next start would put it."""
    if loaded.extras.get("pool") is not None:
        return "process"
    return "inprocess" if loaded.status == "active" else isolation_of(loaded.name)


class StatsRecorder:
    """The numbers of one host's plugins, owned by its ``Runtime`` (starts) and router
    (calls)."""

    def __init__(self) -> None:
        self._starts: dict[str, StartTimes] = {}
        self._calls: dict[str, _Calls] = {}
        self._by_tool: dict[str, _Calls] = {}
        """The entry of each tool name that answered once: no parsing on the next call."""

    def started(self, loaded: LoadedPlugin, seconds: float) -> None:
        """A start of ``loaded`` ended (active or not) after ``seconds``."""
        self._starts[loaded.name] = StartTimes.of(loaded.phases, seconds)
        self._calls.setdefault(loaded.name, _Calls())

    def record(self, result: CallResult) -> None:
        """One routed call's outcome; calls naming no plugin that started are not kept
        (so names made up by a caller cannot grow this)."""
        calls = self._by_tool.get(result.name)
        if calls is None:
            from jafhost.tools import split_name

            parts = split_name(result.name)
            calls = self._calls.get(parts[0]) if parts is not None else None
            if calls is None:
                return
            if result.ok:  # a real tool (a made-up name never succeeds): worth keeping
                self._by_tool[result.name] = calls
        calls.count += 1
        calls.seconds.append(result.seconds)
        if result.error is not None:
            code = result.error.code
            calls.errors[code] = calls.errors.get(code, 0) + 1

    def snapshot(
        self, loaded: Mapping[str, LoadedPlugin], isolation_of: Callable[[str], str]
    ) -> HostStats:
        """The stats of every plugin in ``loaded`` (running, idle or failed), by name."""
        found = []
        for name in sorted(loaded):
            plugin = loaded[name]
            calls = self._calls.get(name) or _Calls()
            ordered = sorted(calls.seconds)
            workers, restarts = _workers(plugin)
            found.append(
                PluginStats(
                    name=name,
                    status=plugin.status,
                    isolation=_isolation(plugin, isolation_of),
                    start=self._starts.get(name) if plugin.status != "idle" else None,
                    calls=calls.count,
                    errors=dict(sorted(calls.errors.items())),
                    p50_ms=_ms(percentile(ordered, 0.50)) if ordered else None,
                    p95_ms=_ms(percentile(ordered, 0.95)) if ordered else None,
                    workers=workers,
                    restarts=restarts,
                )
            )
        return HostStats(found)
