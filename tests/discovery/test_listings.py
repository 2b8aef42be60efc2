"""A folder's names, kept while its stamp is the same (``discovery.listings``): what
both the shadowing check and the foreign-file check read of the site folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jafhost.discovery import listings
from jafhost.discovery.listings import names_in

HOUR_NS = 3600 * 1_000_000_000


def _age(folder: Path) -> None:
    """Modification time an hour back: old enough for a listing to be kept."""
    past = time.time_ns() - HOUR_NS
    os.utime(folder, ns=(past, past))


def test_the_names_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("")
    (tmp_path / "pkg").mkdir()
    assert names_in(str(tmp_path)) == {"a.py", "pkg"}


def test_a_kept_listing_follows_every_change_of_entries(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "one.py").write_text("")
    _age(folder)
    assert names_in(str(folder)) == {"one.py"}
    assert listings._KEPT[str(folder)][1] == {"one.py"}
    for change, expected in [
        (lambda: (folder / "two.py").write_text(""), {"one.py", "two.py"}),
        (lambda: (folder / "one.py").rename(folder / "uno.py"), {"uno.py", "two.py"}),
        (lambda: (folder / "two.py").unlink(), {"uno.py"}),
    ]:
        change()
        _age(folder)  # even with the modification time set back: the change time moved
        assert names_in(str(folder)) == expected


def test_a_folder_modified_just_now_is_listed_every_time(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    (folder / "x.py").write_text("")
    listings._KEPT.pop(str(folder), None)
    assert names_in(str(folder)) == {"x.py"}
    assert str(folder) not in listings._KEPT


def test_a_folder_replaced_by_another_is_listed_anew(tmp_path: Path) -> None:
    """Same path, another folder (a new inode): its own names, whatever the times."""
    folder = tmp_path / "swapped"
    folder.mkdir()
    (folder / "old.py").write_text("")
    _age(folder)
    assert names_in(str(folder)) == {"old.py"}
    other = tmp_path / "other"
    other.mkdir()
    (other / "new.py").write_text("")
    _age(other)
    folder.rename(tmp_path / "gone")
    other.rename(folder)
    assert names_in(str(folder)) == {"new.py"}


@pytest.mark.parametrize("what", ["missing", "file"])
def test_what_cannot_be_listed_has_no_names(tmp_path: Path, what: str) -> None:
    path = tmp_path / what
    if what == "file":
        path.write_text("")
    assert names_in(str(path)) is None


def test_the_empty_entry_is_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "here.py").write_text("")
    monkeypatch.chdir(tmp_path)
    assert names_in("") == {"here.py"}
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "there.py").write_text("")
    monkeypatch.chdir(other)
    assert names_in("") == {"there.py"}
