"""``Integration``: a named service one plugin offers to the plugins that depend on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Integration:
    """``connect`` returns the client object; ``close`` releases it; ``health`` checks it.

    Each callable may be sync or async. The full name is ``<plugin>.<name>``.
    """

    name: str
    connect: Callable[[], Any | Awaitable[Any]]
    close: Callable[[Any], Any | Awaitable[Any]] | None = None
    health: Callable[[Any], Any | Awaitable[Any]] | None = None
    description: str = ""
