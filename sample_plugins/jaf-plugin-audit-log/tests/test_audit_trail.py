"""``AuditTrail`` and ``Redactor`` on a temporary folder, without a host."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from jaf_plugin_audit_log.trail import REDACTED, TRAIL_FILE, AuditTrail, Redactor


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_append_writes_one_flushed_line_per_entry(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / TRAIL_FILE)
    trail.append({"kind": "call", "n": 1, "text": "ünïcode"})
    # readable by another reader before close: flushed after each line
    assert _lines(tmp_path / TRAIL_FILE) == [{"kind": "call", "n": 1, "text": "ünïcode"}]
    trail.append({"kind": "event", "n": 2, "odd": object()})  # not JSON: written as repr
    trail.close()
    trail.close()  # idempotent
    assert len(_lines(tmp_path / TRAIL_FILE)) == 2
    with pytest.raises(RuntimeError, match="closed"):
        trail.append({"kind": "late"})


def test_reopening_appends(tmp_path: Path) -> None:
    AuditTrail(tmp_path / TRAIL_FILE).append({"n": 1})
    second = AuditTrail(tmp_path / TRAIL_FILE)
    second.append({"n": 2})
    assert [e["n"] for e in second.recent()] == [1, 2]


def test_recent_filters_by_kind_glob_and_keeps_order(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / TRAIL_FILE)
    kinds = ["call", "plugin.activated", "call", "permission.denied", "plugin.failed", "call"]
    for n, kind in enumerate(kinds):
        trail.append({"kind": kind, "n": n})
    assert [e["n"] for e in trail.recent()] == [0, 1, 2, 3, 4, 5]
    assert [e["n"] for e in trail.recent(limit=2)] == [4, 5]
    assert [e["n"] for e in trail.recent(kind="call")] == [0, 2, 5]
    assert [e["n"] for e in trail.recent(limit=2, kind="call")] == [2, 5]
    assert [e["n"] for e in trail.recent(kind="plugin.*")] == [1, 4]
    assert trail.recent(kind="nothing") == []
    assert trail.recent(limit=0) == []


def test_rotation_keeps_the_configured_backups(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / TRAIL_FILE, max_bytes=200, backups=2)
    for n in range(40):
        trail.append({"kind": "call", "n": n, "pad": "x" * 20})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [TRAIL_FILE, f"{TRAIL_FILE}.1", f"{TRAIL_FILE}.2"]
    assert all(p.stat().st_size <= 200 for p in tmp_path.iterdir())
    newest_first = [_lines(p) for p in trail.files()]
    assert newest_first[0][-1]["n"] == 39
    assert newest_first[0][0]["n"] == newest_first[1][-1]["n"] + 1  # no gap between files
    # recent reads across the rotated files, oldest first
    everything = trail.recent(limit=1000)
    assert [e["n"] for e in everything] == list(range(everything[0]["n"], 40))
    assert len(everything) == sum(len(lines) for lines in newest_first)


def test_rotation_without_backups_starts_over(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / TRAIL_FILE, max_bytes=100, backups=0)
    for n in range(10):
        trail.append({"n": n, "pad": "y" * 30})
    assert [p.name for p in tmp_path.iterdir()] == [TRAIL_FILE]
    assert trail.recent()[-1]["n"] == 9


def test_a_line_larger_than_max_bytes_is_still_written(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / TRAIL_FILE, max_bytes=50, backups=1)
    trail.append({"big": "z" * 200})
    trail.append({"big": "w" * 200})
    assert [e["big"][0] for e in trail.recent()] == ["z", "w"]


def test_a_trail_moved_away_by_someone_else_is_reopened(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / TRAIL_FILE)
    trail.append({"n": 1})
    os.replace(tmp_path / TRAIL_FILE, tmp_path / "archived.jsonl")  # e.g. logrotate
    trail.append({"n": 2})
    assert _lines(tmp_path / TRAIL_FILE) == [{"n": 2}]
    assert _lines(tmp_path / "archived.jsonl") == [{"n": 1}]


def test_broken_lines_are_skipped_when_reading(tmp_path: Path) -> None:
    path = tmp_path / TRAIL_FILE
    path.write_text('{"n": 1}\n{"n": 2, "cut sh\n[1, 2]\n\n', encoding="utf-8")
    trail = AuditTrail(path)
    trail.append({"n": 3})
    assert [e["n"] for e in trail.recent()] == [1, 3]


def test_threads_never_interleave_lines(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / TRAIL_FILE, max_bytes=5000, backups=50)

    def work(i: int) -> None:
        for j in range(50):
            trail.append({"thread": i, "j": j, "pad": "p" * 50})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = trail.recent(limit=1000)
    assert len(entries) == 200
    for i in range(4):
        assert [e["j"] for e in entries if e["thread"] == i] == list(range(50))


def test_redaction_by_key_name_at_any_depth() -> None:
    redact = Redactor()
    data = {
        "user": "ann",
        "password": "hunter2",
        "API_Token": "abc",
        "options": {"client_secret": "s", "X-Auth-Token": "t", "keep": [{"apikey": "k"}]},
        "headers": [("Authorization", "Bearer x")],
        "db_credentials": {"user": "u"},
        "tokens_used": 12,  # also matches *token*: better one redaction too many
    }
    assert redact(data) == {
        "user": "ann",
        "password": REDACTED,
        "API_Token": REDACTED,
        "options": {
            "client_secret": REDACTED,
            "X-Auth-Token": REDACTED,
            "keep": [{"apikey": REDACTED}],
        },
        "headers": [["Authorization", "Bearer x"]],  # not a key: a list of pairs
        "db_credentials": REDACTED,
        "tokens_used": REDACTED,
    }
    assert data["password"] == "hunter2"  # the caller's data is left alone


def test_extra_patterns_truncation_and_odd_values() -> None:
    redact = Redactor(["*pin*"], max_chars=10)
    assert redact({"PIN_code": 1234, "token": "kept: not in this list"}) == {
        "PIN_code": REDACTED,
        "token": "kept: not … [22 characters]",
    }
    assert redact(["0123456789abc"]) == ["0123456789… [13 characters]"]
    assert Redactor()({"p": Path("x")}) == {"p": repr(Path("x"))}  # not JSON: its repr
    deep: dict[str, object] = {}
    node = deep
    for _ in range(30):
        node["d"] = {}
        node = node["d"]  # type: ignore[assignment]
    assert "[too deep]" in json.dumps(Redactor()(deep))
