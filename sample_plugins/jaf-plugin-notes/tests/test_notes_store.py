"""``NoteStore`` and the open-store registry on a temporary folder, without a host."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jaf_plugin_notes import store
from jaf_plugin_notes.store import NoteNotFound, NotesNotActive, NoteStore


@pytest.fixture
def notes(tmp_path: Path) -> Iterator[NoteStore]:
    with NoteStore.in_folder(tmp_path / "data") as opened:
        yield opened


def test_add_returns_the_stored_note(notes: NoteStore) -> None:
    note = notes.add("  Groceries ", "milk, eggs", ["Home", "shopping ", "home", ""])
    assert note.id >= 1
    assert note.title == "Groceries"
    assert note.tags == ("home", "shopping")  # trimmed, lowercase, unique, sorted
    assert note.created.endswith("+00:00")
    assert notes.get(note.id) == note
    assert note.to_json() == {
        "id": note.id,
        "title": "Groceries",
        "body": "milk, eggs",
        "tags": ["home", "shopping"],
        "created": note.created,
    }


def test_a_bare_string_is_one_tag_not_letters(notes: NoteStore) -> None:
    assert notes.add("t", "b", "work").tags == ("work",)


def test_empty_title_is_refused(notes: NoteStore) -> None:
    with pytest.raises(ValueError, match="title"):
        notes.add("  ", "body")
    assert notes.count() == 0


def test_get_missing_names_the_id(notes: NoteStore) -> None:
    with pytest.raises(NoteNotFound, match="no note with id 42"):
        notes.get(42)


def test_list_newest_first_by_tag_and_limit(notes: NoteStore) -> None:
    a = notes.add("a", "", ["work"])
    b = notes.add("b", "", ["home"])
    c = notes.add("c", "", ["work", "urgent"])
    assert [n.id for n in notes.list_notes()] == [c.id, b.id, a.id]
    assert [n.id for n in notes.list_notes(tag="WORK")] == [c.id, a.id]
    assert [n.id for n in notes.list_notes(limit=1)] == [c.id]
    assert notes.list_notes(tag="nothing") == []
    assert notes.list_notes(tag="work")[0].tags == ("urgent", "work")
    with pytest.raises(ValueError, match="limit"):
        notes.list_notes(limit=0)


def test_delete_removes_note_and_its_tags(notes: NoteStore) -> None:
    note = notes.add("x", "y", ["t"])
    assert notes.delete(note.id) is True
    assert notes.delete(note.id) is False
    assert notes.list_notes(tag="t") == []
    db = sqlite3.connect(notes.path)
    try:
        assert db.execute("SELECT count(*) FROM note_tags").fetchone()[0] == 0
    finally:
        db.close()


def test_notes_survive_reopening(tmp_path: Path) -> None:
    with NoteStore.in_folder(tmp_path) as first:
        note = first.add("kept", "on disk", ["x"])
    with NoteStore.in_folder(tmp_path) as second:
        assert second.get(note.id) == note
        assert second.add("next", "").id > note.id  # ids are never reused


def test_closed_store_refuses_clearly(tmp_path: Path) -> None:
    notes = NoteStore.in_folder(tmp_path)
    notes.close()
    notes.close()  # idempotent
    assert notes.closed
    with pytest.raises(NotesNotActive, match="closed"):
        notes.add("t", "b")


def test_usable_from_other_threads(notes: NoteStore) -> None:
    """jafhost runs each sync hook and tool call in a thread of its own."""
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(10):
                notes.add(f"n{i}-{j}", "body", [f"t{i}"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert notes.count() == 40
    assert len(notes.list_notes(tag="t2", limit=100)) == 10


def test_registry_tracks_the_running_store(tmp_path: Path) -> None:
    with pytest.raises(NotesNotActive, match="not active"):
        store.store_at(tmp_path / "a")
    first = store.open_store(tmp_path / "a")
    second = store.open_store(tmp_path / "b")
    try:
        assert store.store_at(tmp_path / "a") is first
        assert store.active_store() is second  # the most recently opened wins
        store.close_store(tmp_path / "b")
        assert second.closed
        assert store.active_store() is first
    finally:
        store.close_store(tmp_path / "a")
        store.close_store(tmp_path / "b")
    assert first.closed
    with pytest.raises(NotesNotActive, match="enable and activate 'notes'"):
        store.active_store()
