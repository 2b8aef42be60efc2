"""The ``scripted`` provider: replays model turns from a JSONL file, for offline demos
and tests (``--model scripted:demo.jsonl``).

One JSON object per line, one line per turn, in order; blank lines are skipped::

    {"content": "Saving it.", "tool_calls": [{"name": "notes.add", "arguments": {"title": "x"}}]}
    {"content": "Saved it as note 1."}

``name`` is ``plugin.tool`` (or ``plugin__tool``); ``arguments`` an object (or a JSON
string, as OpenAI sends them); ``id`` is generated when absent. A turn without tool
calls is the final answer. The script does not look at the conversation: it says the
same thing whatever the tools answer, and asking for a turn past its end is an error.
A relative path is resolved against the current directory when the provider is made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jafhost.agents.providers.base import ModelTurn
from jafhost.errors import ProviderError, UsageError


class ScriptedProvider:
    """Replays the turns of a JSONL file, one per ``complete``; records what it was sent."""

    name = "scripted"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_absolute():
            self.path = Path.cwd() / self.path
        self.turns = self._read()
        self.position = 0
        self.requests: list[dict[str, Any]] = []
        """What each ``complete`` received: ``messages``, ``tools``, ``model``."""

    def _read(self) -> list[ModelTurn]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"model script {self.path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProviderError(f"cannot read model script {self.path}: {exc}") from None
        turns = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{self.path}:{number}"
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise ProviderError(f"{where}: not valid JSON: {exc}") from None
            turns.append(ModelTurn.from_json(data, where))
        if not turns:
            raise ProviderError(f"model script {self.path} holds no turns")
        return turns

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], model: str | None
    ) -> ModelTurn:
        self.requests.append({"messages": list(messages), "tools": list(tools), "model": model})
        if self.position >= len(self.turns):
            raise ProviderError(
                f"model script {self.path} ran out after {len(self.turns)} turn(s); "
                "the run asked for another"
            )
        turn = self.turns[self.position]
        self.position += 1
        return turn
