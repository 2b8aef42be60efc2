"""What the jaf-py adapter hands a tool of jaf's run context: its JSON-serializable
fields, as ``RunContext.metadata`` (``run_metadata``; no jaf-py needed to read them)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from jafhost.adapters.jaf import run_metadata


@dataclass
class Conversation:
    user_id: str
    tags: list[str] = field(default_factory=list)
    lock: Any = field(default_factory=threading.Lock)
    _secret: str = "hidden"


class Settings(BaseModel):
    locale: str = "en"
    limits: dict[str, int] = {"turns": 3}


class Plain:
    def __init__(self) -> None:
        self.team = "blue"
        self.handler = print


def test_only_json_fields_are_kept() -> None:
    assert run_metadata(None) == {}
    assert run_metadata(Conversation("u1", ["vip"])) == {"user_id": "u1", "tags": ["vip"]}
    assert run_metadata(Settings()) == {"locale": "en", "limits": {"turns": 3}}
    assert run_metadata({"a": 1, "b": {1, 2}, 3: "x", "c": float("nan")}) == {"a": 1}
    assert run_metadata(Plain()) == {"team": "blue"}
    assert run_metadata(42) == {}
