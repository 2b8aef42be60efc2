"""``PlanStore`` on a temporary folder, without a host."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from jaf_plugin_planner.store import (
    MAX_HISTORY,
    PLAN_FILE,
    PlanFull,
    PlanStore,
    TaskNotFound,
)


@pytest.fixture
def plan(tmp_path: Path) -> PlanStore:
    return PlanStore.in_folder(tmp_path / "data")


def _ids(store: PlanStore) -> list[int]:
    return [t.id for t in store.load().tasks]


def test_empty_until_the_first_task(plan: PlanStore) -> None:
    assert plan.load().tasks == []
    assert not plan.path.exists()
    assert plan.load().counts() == {"todo": 0, "doing": 0, "done": 0, "blocked": 0}


def test_add_in_order_at_the_top_and_after_a_task(plan: PlanStore) -> None:
    a = plan.add("  a ", " details ")
    assert (a.id, a.title, a.details, a.status) == (1, "a", "details", "todo")
    b = plan.add("b")
    top = plan.add("top", after=0)
    middle = plan.add("between a and b", after=a.id)
    assert _ids(plan) == [top.id, a.id, middle.id, b.id]
    with pytest.raises(TaskNotFound, match="no task with id 42"):
        plan.add("x", after=42)
    with pytest.raises(ValueError, match="non-empty title"):
        plan.add("   ")
    assert len(plan.load().tasks) == 4  # refused changes wrote nothing


def test_update_keeps_a_bounded_history(plan: PlanStore) -> None:
    task = plan.add("ship")
    updated = plan.update(task.id, "doing", " started ")
    assert updated.status == "doing"
    assert updated.history == [{"time": updated.updated, "status": "doing", "note": "started"}]
    for i in range(MAX_HISTORY + 5):
        plan.update(task.id, "blocked", f"try {i}")
    [stored] = plan.load().tasks
    assert len(stored.history) == MAX_HISTORY
    assert stored.history[-1]["note"] == f"try {MAX_HISTORY + 4}"
    assert stored.to_json(history=False)["note"] == f"try {MAX_HISTORY + 4}"
    with pytest.raises(TaskNotFound, match=r"no task with id 7 \(tasks: 1\)"):
        plan.update(7, "done")
    with pytest.raises(ValueError, match="status must be one of todo, doing, done, blocked"):
        plan.update(task.id, "finished")  # type: ignore[arg-type]


def test_clear_done_and_ids_are_never_reused(plan: PlanStore) -> None:
    a, b, c = plan.add("a"), plan.add("b"), plan.add("c")
    plan.update(a.id, "done")
    plan.update(c.id, "done")
    assert plan.clear_done() == [a.id, c.id]
    assert _ids(plan) == [b.id]
    assert plan.clear_done() == []
    assert plan.add("d").id == c.id + 1


def test_max_tasks(tmp_path: Path) -> None:
    small = PlanStore.in_folder(tmp_path, max_tasks=2)
    small.add("a")
    small.add("b")
    with pytest.raises(PlanFull, match="max_tasks = 2"):
        small.add("c")


def test_writes_are_atomic_json_and_leave_no_temporary_files(plan: PlanStore) -> None:
    plan.add("a")
    plan.update(1, "doing", "ünïcode kept as is")
    data = json.loads(plan.path.read_text(encoding="utf-8"))
    assert data["format"] == 1 and data["next_id"] == 2
    assert data["tasks"][0]["history"][0]["note"] == "ünïcode kept as is"
    assert sorted(p.name for p in plan.path.parent.iterdir()) == [PLAN_FILE, PLAN_FILE + ".lock"]


def test_a_failed_write_keeps_the_old_plan(
    plan: PlanStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan.add("kept")
    before = plan.path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        plan.add("lost")
    assert plan.path.read_bytes() == before
    assert [p.name for p in plan.path.parent.iterdir() if p.suffix == ".tmp"] == []


@pytest.mark.parametrize("content", ["{not json", '{"format": 1, "tasks": "x"}', "[]", "\xff"])
def test_a_corrupt_plan_is_moved_aside(tmp_path: Path, content: str) -> None:
    store = PlanStore.in_folder(tmp_path)
    store.path.write_text(content, encoding="latin-1")
    assert store.load().tasks == []
    [aside] = tmp_path.glob(f"{PLAN_FILE}.corrupt-*")
    assert aside.read_text(encoding="latin-1") == content
    assert store.add("fresh start").id == 1


def test_threads_do_not_lose_updates(plan: PlanStore) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(10):
                plan.add(f"t{i}-{j}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(_ids(plan)) == list(range(1, 41))


def _add_from_another_process(folder: str, count: int) -> None:
    store = PlanStore.in_folder(Path(folder))
    for i in range(count):
        store.add(f"from pid {os.getpid()} #{i}")


def test_processes_do_not_lose_updates(tmp_path: Path) -> None:
    """The file lock covers several host processes using one plan."""
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_add_from_another_process, args=(str(tmp_path), 10))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert sorted(_ids(PlanStore.in_folder(tmp_path))) == list(range(1, 31))
