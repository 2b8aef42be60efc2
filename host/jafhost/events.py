"""``Event``: what an event handler receives."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """A named occurrence with data; ``source`` is the emitting plugin (or ``host``)."""

    name: str
    data: Any = None
    source: str = "host"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: float = field(default_factory=time.time)
