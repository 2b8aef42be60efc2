"""Ranking notes for a query, and finding related notes: pure functions over ``Note``s.

Scoring is a small TF-IDF over three fields, chosen over SQLite FTS5 so the search plugin
needs nothing from the notes database but its notes (no schema coupling, no dependence
on how Python's SQLite was compiled), and so the ranking is testable without a database:

* a query term matches a word equal to it, or starting with it when the term has at
  least 3 characters (``meet`` finds ``meeting``);
* per field, a term contributes ``weight * log(1 + matches)``: title 3, tags 2, body 1;
* each term is weighted by ``log(1 + N / df)``, so rare words count more than common ones;
* the sum is scaled by the share of query terms the note matches, so a note matching
  every term ranks above one that repeats a single term.

Everything here reads all notes on each call: fine for a personal notes collection, and
the place to swap in an index if a collection ever grows large.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from jaf_plugin_notes.store import Note

FIELD_WEIGHTS = {"title": 3.0, "tags": 2.0, "body": 1.0}
_WORD = re.compile(r"\w+")
# fmt: off
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have",
    "in", "is", "it", "its", "of", "on", "or", "so", "that", "the", "this", "to", "was",
    "were", "will", "with",
})
# fmt: on


def words(text: str) -> list[str]:
    """Lowercase word tokens (letters, digits, underscore; any script)."""
    return [w.lower() for w in _WORD.findall(text)]


def query_terms(query: str) -> list[str]:
    """The distinct words of a query, stopwords dropped unless nothing else is left."""
    terms = list(dict.fromkeys(words(query)))
    meaningful = [t for t in terms if t not in STOPWORDS]
    return meaningful or terms


def matches(term: str, word: str) -> bool:
    return word == term or (len(term) >= 3 and word.startswith(term))


def _fields(note: Note) -> dict[str, list[str]]:
    return {
        "title": words(note.title),
        "tags": words(" ".join(note.tags)),
        "body": words(note.body),
    }


def snippet(text: str, terms: Sequence[str], width: int) -> str:
    """About ``width`` characters of ``text`` around the first matching word, with ``…``
    marking the cuts; the start of the text when no word matches."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    first = next(
        (
            m.start()
            for m in _WORD.finditer(flat)
            if any(matches(t, m.group().lower()) for t in terms)
        ),
        0,
    )
    start = max(0, min(first - width // 4, len(flat) - width))
    if start > 0:  # do not begin in the middle of a word
        space = flat.find(" ", start, first + 1)
        start = space + 1 if space != -1 else start
    end = min(len(flat), start + width)
    if end < len(flat):
        space = flat.rfind(" ", start, end)
        end = space if space > start else end
    return ("…" if start > 0 else "") + flat[start:end].strip() + ("…" if end < len(flat) else "")


def search(
    notes: Sequence[Note],
    query: str,
    *,
    limit: int = 10,
    min_score: float = 0.0,
    snippet_chars: int = 80,
) -> list[dict[str, Any]]:
    """Notes matching ``query``, best first: id, title, tags, score, snippet."""
    terms = query_terms(query)
    if not terms:
        raise ValueError("the query has no words to search for")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    per_note: list[tuple[Note, dict[str, float]]] = []
    df = dict.fromkeys(terms, 0)
    for note in notes:
        fields = _fields(note)
        weights: dict[str, float] = {}
        for term in terms:
            weight = sum(
                FIELD_WEIGHTS[name] * math.log1p(sum(matches(term, w) for w in tokens))
                for name, tokens in fields.items()
            )
            if weight > 0:
                weights[term] = weight
                df[term] += 1
        if weights:
            per_note.append((note, weights))
    total = len(notes)
    hits: list[dict[str, Any]] = []
    for note, weights in per_note:
        raw = sum(math.log1p(total / df[t]) * w for t, w in weights.items())
        score = round(raw * len(weights) / len(terms), 4)
        if score < min_score:
            continue
        hits.append(
            {
                "id": note.id,
                "title": note.title,
                "tags": list(note.tags),
                "score": score,
                "snippet": snippet(note.body or note.title, terms, snippet_chars),
            }
        )
    hits.sort(key=lambda h: (-h["score"], -h["id"]))
    return hits[:limit]


def _content_words(note: Note) -> set[str]:
    return {w for w in words(f"{note.title} {note.body}") if len(w) >= 3 and w not in STOPWORDS}


def related(notes: Sequence[Note], target: Note, *, limit: int = 5) -> list[dict[str, Any]]:
    """Notes sharing tags or words with ``target``, most related first.

    Score = number of shared tags + Jaccard similarity of the content words, so one
    shared tag outweighs any amount of word overlap (tags are chosen on purpose).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    mine = _content_words(target)
    found: list[dict[str, Any]] = []
    for note in notes:
        if note.id == target.id:
            continue
        theirs = _content_words(note)
        shared_tags = sorted(set(target.tags) & set(note.tags))
        shared_words = mine & theirs
        union = mine | theirs
        score = round(len(shared_tags) + (len(shared_words) / len(union) if union else 0.0), 4)
        if score > 0:
            found.append(
                {
                    "id": note.id,
                    "title": note.title,
                    "score": score,
                    "shared_tags": shared_tags,
                    "shared_words": sorted(shared_words)[:10],
                }
            )
    found.sort(key=lambda r: (-r["score"], -r["id"]))
    return found[:limit]
