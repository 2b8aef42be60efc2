"""A stdlib-only look at ``config.toml`` for commands that run no plugin code.

``jafhost list`` must say when ``config.toml`` is unusable, but importing the pydantic
models of ``jafhost.home.config`` costs more than the whole listing. ``plainly_valid`` accepts
the common files (valid TOML, a ``[host]`` table with known keys and values of the right
shape) without them; anything else goes to ``HostSettings`` for the exact message, so a
key this table does not know yet is only slower, never wrongly accepted.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

DEFAULT_CALL_TIMEOUT = 30.0
"""``[host] call_timeout`` when the file does not set it (seconds)."""
DEFAULT_HOOK_TIMEOUT = 10.0
"""``[host] hook_timeout`` when the file does not set it (seconds)."""
SANDBOX_PLATFORM = sys.platform.startswith("linux")
"""Whether the worker's sandbox applies on this platform (it is built on Linux's
namespaces, Landlock and seccomp)."""
PLATFORM_ISOLATION: Literal["inprocess", "process"] = "process" if SANDBOX_PLATFORM else "inprocess"
"""The isolation of a discovered plugin unless configured: a sandboxed worker process
where the sandbox applies, else in process (``doctor`` and ``info`` say why)."""
DEFAULT_MEMORY_MB = 2048
DEFAULT_OPEN_FILES = 256
DEFAULT_MAX_RESULT_MB = 64
DEFAULT_WORKERS = 2
"""The other ``[host]`` defaults (``HostSettings`` takes them from here)."""


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


HOST_KEYS: dict[str, Callable[[Any], bool]] = {
    "isolation": lambda v: v in ("inprocess", "process"),
    "call_timeout": _positive,
    "hook_timeout": _positive,
    "memory_mb": _positive_int,
    "open_files": _positive_int,
    "workers_per_plugin": lambda v: _positive_int(v) and v <= 16,
    "max_result_mb": lambda v: _positive_int(v) and v <= 4095,
    "plugin_paths": lambda v: isinstance(v, list) and all(isinstance(p, str) for p in v),
}
"""``[host]`` keys and a check each value passes when ``HostSettings`` surely accepts it."""


def plainly_valid(text: str) -> bool:
    """True when ``text`` is TOML whose ``[host]`` table ``HostSettings`` surely accepts."""
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError):  # the full check says what is wrong
        return False
    host = data.get("host", {})
    if not isinstance(host, dict):
        return False
    return all(key in HOST_KEYS and HOST_KEYS[key](value) for key, value in host.items())


class FastSettings(NamedTuple):
    """The ``[host]`` limits of a plainly valid file, with the defaults for what it does
    not set: what ``HostSettings`` would hold for them."""

    call_timeout: float
    hook_timeout: float
    memory_mb: int
    open_files: int
    max_result_mb: int
    workers_per_plugin: int


def fast_settings(host: dict[str, Any]) -> FastSettings:
    """``[host]``'s limits from a table ``plainly_valid`` accepted."""
    return FastSettings(
        float(host.get("call_timeout", DEFAULT_CALL_TIMEOUT)),
        float(host.get("hook_timeout", DEFAULT_HOOK_TIMEOUT)),
        int(host.get("memory_mb", DEFAULT_MEMORY_MB)),
        int(host.get("open_files", DEFAULT_OPEN_FILES)),
        int(host.get("max_result_mb", DEFAULT_MAX_RESULT_MB)),
        int(host.get("workers_per_plugin", DEFAULT_WORKERS)),
    )
