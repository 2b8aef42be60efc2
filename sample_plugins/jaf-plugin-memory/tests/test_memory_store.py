"""``MemoryStore`` on a temporary folder, without a host, in both search modes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jaf_plugin_memory.store import (
    MemoryNotFound,
    MemoryStore,
    StoreClosed,
    fts5_available,
    fts_query,
    query_words,
    stem,
)

MODES = [
    "like",
    pytest.param(
        "fts5",
        marks=pytest.mark.skipif(not fts5_available(), reason="this Python's SQLite has no FTS5"),
    ),
]


@pytest.fixture(params=MODES)
def memories(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryStore]:
    with MemoryStore.in_folder(tmp_path / "data", request.param) as opened:
        assert opened.search_mode == request.param
        yield opened


def test_fts5_is_used_when_sqlite_has_it(tmp_path: Path) -> None:
    options = {row[0] for row in sqlite3.connect(":memory:").execute("PRAGMA compile_options")}
    with MemoryStore.in_folder(tmp_path) as auto:
        assert auto.uses_fts == fts5_available()
        if "ENABLE_FTS5" in options:
            assert auto.search_mode == "fts5"


def test_remember_returns_the_stored_memory(memories: MemoryStore) -> None:
    memory = memories.remember("  The user likes tea ", ["Drinks", "user ", "drinks", ""], 2)
    assert memory.id >= 1
    assert memory.text == "The user likes tea"
    assert memory.tags == ("drinks", "user")
    assert memory.importance == 2
    assert memory.created.endswith("+00:00")
    assert memories.get(memory.id) == memory
    assert memory.to_json() == {
        "id": memory.id,
        "text": "The user likes tea",
        "tags": ["drinks", "user"],
        "importance": 2,
        "created": memory.created,
    }
    assert memories.remember("x", ["long term"]).tags == ("long-term",)
    assert memories.remember("y", "single").tags == ("single",)  # not one tag per letter


@pytest.mark.parametrize(
    "text,tags,importance,message",
    [
        ("  ", (), 1, "needs some text"),
        ("t", (), 0, "importance"),
        ("t", (), 6, "importance"),
        ("t", ["x" * 65], 1, "longer than 64"),
        ("x" * 20_001, (), 1, "at most 20000"),
    ],
)
def test_bad_memories_are_refused(
    memories: MemoryStore, text: str, tags: tuple[str, ...], importance: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        memories.remember(text, tags, importance)
    assert memories.count() == 0


def test_recall_ranks_by_relevance_then_importance(memories: MemoryStore) -> None:
    tea = memories.remember("The user drinks green tea every morning", ["preference"])
    coffee = memories.remember("Coffee is for the build server team", [])
    deploy = memories.remember("We deploy the billing service on Fridays", ["ops"])
    risky = memories.remember("Deploying on Friday is risky: deploy early", ["ops"], 5)
    for i in range(6):
        memories.remember(f"filler memory number {i} about lunch")

    # the important memory that says "deploy" twice beats the plain one
    assert [m.id for m in memories.recall("deployment")] == [risky.id, deploy.id]
    results = memories.recall("deploying on fridays")
    assert [m.id for m in results] == [risky.id, deploy.id]
    assert results[0].score is not None and results[1].score is not None
    assert results[0].score > results[1].score > 0
    # a word matching more of the query wins over importance alone
    assert memories.recall("green tea")[0].id == tea.id
    assert memories.recall("TEA")[0].id == tea.id  # case-insensitive
    assert memories.recall("preferences")[0].id == tea.id  # tags are searched, stemmed
    assert {m.id for m in memories.recall("coffee OR tea")} == {tea.id, coffee.id}
    assert memories.recall("nothing-like-this") == []
    assert len(memories.recall("filler", limit=3)) == 3


def test_importance_breaks_equal_relevance(memories: MemoryStore) -> None:
    low = memories.remember("the staging password rotates monthly", importance=1)
    high = memories.remember("the staging password rotates monthly", importance=4)
    newer = memories.remember("the staging password rotates monthly", importance=1)
    assert [m.id for m in memories.recall("staging password")] == [high.id, newer.id, low.id]


def test_query_syntax_is_never_interpreted(memories: MemoryStore) -> None:
    memories.remember('He said "NEAR" AND -minus (braces) col:umn')
    for query in ["NEAR(", "AND", "-minus", "col:umn", "(braces", "a*b"]:
        memories.recall(query)  # no SQLite syntax error
    for nothing in ['"', "?! ...", ""]:
        with pytest.raises(ValueError, match="no words"):
            memories.recall(nothing)


def test_accents_and_case_are_folded(memories: MemoryStore) -> None:
    cafe = memories.remember("Café au lait with Élodie")
    assert [m.id for m in memories.recall("cafe")] == [cafe.id]
    assert [m.id for m in memories.recall("ELODIE")] == [cafe.id]


def test_short_terms_match_whole_words_only(memories: MemoryStore) -> None:
    ui = memories.remember("dark theme", ["ui"])
    memories.remember("build quietly")  # contains "ui" inside words only
    assert [m.id for m in memories.recall("ui")] == [ui.id]


def test_forget_and_list(memories: MemoryStore) -> None:
    a = memories.remember("a", ["work"])
    b = memories.remember("b", ["home"])
    c = memories.remember("c", ["work", "urgent"])
    assert [m.id for m in memories.list_memories()] == [c.id, b.id, a.id]
    assert [m.id for m in memories.list_memories(tag="WORK")] == [c.id, a.id]
    assert [m.id for m in memories.list_memories(limit=1)] == [c.id]
    assert memories.list_memories(tag="wor") == []  # whole tags only
    assert memories.forget(a.id) is True
    assert memories.forget(a.id) is False
    with pytest.raises(MemoryNotFound, match=f"no memory with id {a.id}"):
        memories.get(a.id)
    assert memories.recall("a") == []
    with pytest.raises(ValueError, match="limit"):
        memories.list_memories(limit=0)


def test_memories_survive_reopening(tmp_path: Path) -> None:
    with MemoryStore.in_folder(tmp_path) as first:
        memory = first.remember("kept on disk", ["x"])
    with MemoryStore.in_folder(tmp_path) as second:
        assert second.get(memory.id) == memory
        assert second.recall("disk")[0].id == memory.id
        assert second.remember("next").id > memory.id  # ids are never reused


@pytest.mark.skipif(not fts5_available(), reason="this Python's SQLite has no FTS5")
def test_index_written_without_fts5_is_rebuilt(tmp_path: Path) -> None:
    with MemoryStore.in_folder(tmp_path, "fts5") as indexed:
        old = indexed.remember("indexed while FTS5 was on")
    with MemoryStore.in_folder(tmp_path, "like") as scanning:  # as on a SQLite without FTS5
        scanning.forget(old.id)
        new = scanning.remember("written while FTS5 was off")
    with MemoryStore.in_folder(tmp_path, "fts5") as again:
        assert [m.id for m in again.recall("written")] == [new.id]
        assert again.recall("indexed") == []


def test_closed_store_refuses_clearly(tmp_path: Path) -> None:
    store = MemoryStore.in_folder(tmp_path)
    assert store.healthy()
    store.close()
    store.close()  # idempotent
    assert store.closed and not store.healthy()
    with pytest.raises(StoreClosed, match="closed"):
        store.remember("t")


def test_unknown_search_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="auto, fts5 or like"):
        MemoryStore.in_folder(tmp_path, "grep")  # type: ignore[arg-type]


def test_usable_from_other_threads(memories: MemoryStore) -> None:
    """jafhost runs each sync tool call in a thread of its own."""
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(10):
                memories.remember(f"thread {i} item {j}", [f"t{i}"])
                memories.recall(f"item {j}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert memories.count() == 40
    assert len(memories.list_memories(tag="t2", limit=100)) == 10


def test_query_helpers() -> None:
    assert [stem(w) for w in ["deploying", "deployment", "deployed", "fridays", "tea", "key"]] == [
        "deploy",
        "deploy",
        "deploy",
        "friday",
        "tea",
        "key",
    ]
    assert query_words("Déploiement, CAFÉ café x") == ["deploie", "cafe", "x"]
    assert fts_query(["deploy", "x"]) == '"deploy" OR "deploy"* OR "x"'


def test_tags_with_dashes_match_their_words(memories: MemoryStore) -> None:
    memory = memories.remember("remember this", ["long-term", "Team A"])
    assert memory.tags == ("long-term", "team-a")
    assert [m.id for m in memories.recall("term")] == [memory.id]
    assert [m.id for m in memories.recall("team")] == [memory.id]
