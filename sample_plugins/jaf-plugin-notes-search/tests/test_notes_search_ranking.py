"""Ranking, snippets and related notes over a real ``NoteStore`` on a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jaf_plugin_notes.store import NoteStore
from pydantic import ValidationError

from jaf_plugin_notes_search import ranking
from jaf_plugin_notes_search.plugin import SearchConfig


@pytest.fixture
def notes(tmp_path: Path) -> Iterator[NoteStore]:
    with NoteStore.in_folder(tmp_path) as opened:
        add = opened.add
        add("Team meeting", "Agenda: budget review and hiring plan.", ["work"])
        add("Budget 2025", "Quarterly budget numbers for the finance team.", ["work", "finance"])
        add("Pasta recipe", "Boil water, add salt, cook the pasta for nine minutes.", ["cooking"])
        add("Holiday", "Book flights; the budget is tight this year.", ["travel"])
        yield opened


def ids(hits: list[dict[str, object]]) -> list[object]:
    return [h["id"] for h in hits]


def test_title_matches_rank_above_body_matches(notes: NoteStore) -> None:
    hits = ranking.search(notes.all_notes(), "budget")
    # equal scores (one body match each) fall back to newest first
    assert [h["title"] for h in hits] == ["Budget 2025", "Holiday", "Team meeting"]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    assert set(hits[0]) == {"id", "title", "tags", "score", "snippet"}


def test_matching_every_term_beats_repeating_one(notes: NoteStore) -> None:
    hits = ranking.search(notes.all_notes(), "budget hiring")
    assert hits[0]["title"] == "Team meeting"


def test_tags_prefixes_case_and_stopwords(notes: NoteStore) -> None:
    all_notes = notes.all_notes()
    assert [h["title"] for h in ranking.search(all_notes, "FINANCE")] == ["Budget 2025"]
    assert [h["title"] for h in ranking.search(all_notes, "meet")] == ["Team meeting"]
    assert [h["title"] for h in ranking.search(all_notes, "the pasta")] == ["Pasta recipe"]
    assert ranking.search(all_notes, "zebra") == []
    with pytest.raises(ValueError, match="no words"):
        ranking.search(all_notes, "  ?! ")


def test_limit_and_min_score(notes: NoteStore) -> None:
    all_notes = notes.all_notes()
    everything = ranking.search(all_notes, "budget")
    assert ids(ranking.search(all_notes, "budget", limit=1)) == ids(everything)[:1]
    cut = everything[0]["score"]
    assert ids(ranking.search(all_notes, "budget", min_score=cut)) == ids(everything)[:1]


def test_snippet_shows_the_match_within_the_width() -> None:
    text = "word " * 40 + "needle in the haystack " + "tail " * 40
    cut = ranking.snippet(text, ["needle"], 40)
    assert "needle" in cut
    assert cut.startswith("…") and cut.endswith("…")
    assert len(cut) <= 42
    assert ranking.snippet("short text", ["x"], 40) == "short text"
    assert ranking.snippet("no match " * 20, ["x"], 30).startswith("no match")


def test_related_prefers_shared_tags_then_words(notes: NoteStore) -> None:
    meeting = notes.list_notes(tag="work")[-1]
    found = ranking.related(notes.all_notes(), meeting)
    assert found[0]["title"] == "Budget 2025"
    assert found[0]["shared_tags"] == ["work"]
    assert "budget" in found[0]["shared_words"]
    assert "Holiday" in [r["title"] for r in found]  # shares the word "budget" only
    assert "Pasta recipe" not in [r["title"] for r in found]
    assert meeting.id not in ids(found)
    assert len(ranking.related(notes.all_notes(), meeting, limit=1)) == 1


def test_config_schema_constraints() -> None:
    assert SearchConfig() == SearchConfig(min_score=0.0, snippet_chars=80)
    for bad in ({"min_score": -1}, {"snippet_chars": 5}, {"snipet_chars": 100}):
        with pytest.raises(ValidationError):
            SearchConfig.model_validate(bad)
