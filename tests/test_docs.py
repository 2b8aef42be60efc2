"""The code in docs/embedding.md runs, block after block, as a reader would run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_doc_blocks

DOC = Path(__file__).resolve().parents[1] / "docs" / "embedding.md"


def test_embedding_doc_code_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    run_doc_blocks(DOC, 5)
    out = capsys.readouterr().out
    assert "weather enabled ['env:WEATHER_API_KEY']" in out
    assert "weather saw city.added {'name': 'Bergen'}" in out
    assert "{'city': 'Rome', 'days': 1, 'sky': 'sunny'}" in out
