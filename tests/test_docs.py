"""The code in docs/embedding.md runs, block after block, as a reader would run it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "embedding.md"


def test_embedding_doc_code_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "embedding_doc"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block
            raise AssertionError(f"block {number} of {DOC.name} failed: {exc!r}") from exc
    out = capsys.readouterr().out
    assert "weather enabled ['env:WEATHER_API_KEY']" in out
    assert "weather saw city.added {'name': 'Bergen'}" in out
    assert "{'city': 'Rome', 'days': 1, 'sky': 'sunny'}" in out
