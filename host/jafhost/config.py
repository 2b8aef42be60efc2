"""``config.toml``: host settings under ``[host]``, each plugin's under ``[plugins.NAME]``.

Only reading lives here; the host validates a plugin's table against the model the
plugin returns from ``jaf_config_schema`` when it loads the plugin.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jafhost.errors import StateError


class HostSettings(BaseModel):
    """``[host]`` in ``config.toml``; the defaults are the contract's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    isolation: Literal["inprocess", "process"] = "inprocess"
    call_timeout: float = Field(30.0, gt=0)
    hook_timeout: float = Field(10.0, gt=0)
    memory_mb: int = Field(2048, gt=0)
    open_files: int = Field(256, gt=0)
    plugin_paths: list[str] = []


def read_config(path: Path) -> dict[str, Any]:
    """The parsed file, or ``{}`` when there is none; bad TOML names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StateError(f"{path}: invalid TOML: {exc}") from None


def host_settings(config: dict[str, Any], path: Path) -> HostSettings:
    table = config.get("host", {})
    try:
        return HostSettings.model_validate(table)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise StateError(f"{path}: [host] {where}: {error['msg']}") from None


def plugin_table(config: dict[str, Any], name: str) -> dict[str, Any]:
    plugins = config.get("plugins", {})
    table = plugins.get(name, {}) if isinstance(plugins, dict) else {}
    return dict(table) if isinstance(table, dict) else {}
