"""The plan: an ordered list of tasks in one JSON file, changed atomically under a lock.

``PlanStore`` knows nothing about jafhost, so it is tested on a temporary folder alone.

- Every change is read-modify-write inside ``PlanStore.edit()``: a lock shared by the
  threads of this process (jafhost runs each sync tool call in a thread of its own) and
  a file lock (``plan.json.lock``) shared with other processes (``jafhost call`` in two
  shells), so no update is lost.
- Writes are atomic: the new plan goes to a temporary file in the same folder, is
  flushed and fsync'ed, then renamed over ``plan.json``. A crash leaves the old plan or
  the new one, never half of one.
- A file that is not a plan (hand-edited, truncated by a full disk) is moved aside to
  ``plan.json.corrupt-<time>`` rather than deleted, and the plan starts empty.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast, get_args

from filelock import FileLock, Timeout

PLAN_FILE = "plan.json"
FORMAT = 1
MAX_HISTORY = 20
LOCK_TIMEOUT = 10.0

Status = Literal["todo", "doing", "done", "blocked"]
STATUSES: tuple[Status, ...] = get_args(Status)

LOGGER = logging.getLogger(__name__)


class TaskNotFound(LookupError):
    """No task has this id (the message names it, ready for an agent to read)."""


class PlanFull(ValueError):
    """The plan already holds ``max_tasks`` tasks."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Task:
    """One step of the plan. ``history`` keeps the last 20 updates (time, status, note)."""

    id: int
    title: str
    details: str = ""
    status: Status = "todo"
    created: str = field(default_factory=_now)
    updated: str = ""
    history: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.updated:
            self.updated = self.created

    def to_json(self, history: bool = True) -> dict[str, Any]:
        """Plain JSON; without ``history`` only the latest note (``note``) is kept."""
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "details": self.details,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
        }
        if history:
            data["history"] = [dict(h) for h in self.history]
        else:
            notes = [h["note"] for h in self.history if h.get("note")]
            data["note"] = notes[-1] if notes else ""
        return data

    @classmethod
    def from_json(cls, data: Any) -> Task:
        if not isinstance(data, dict):
            raise ValueError(f"a task must be an object, not {type(data).__name__}")
        status = data.get("status", "todo")
        if status not in STATUSES:
            raise ValueError(f"task {data.get('id')!r}: unknown status {status!r}")
        history = data.get("history", [])
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise ValueError(f"task {data.get('id')!r}: history must be a list of objects")
        task_id, title = data.get("id"), data.get("title")
        if not isinstance(task_id, int) or isinstance(task_id, bool) or not isinstance(title, str):
            raise ValueError(f"a task needs an integer id and a title: {data!r}")
        return cls(
            id=task_id,
            title=title,
            details=str(data.get("details", "")),
            status=cast(Status, status),
            created=str(data.get("created") or _now()),
            updated=str(data.get("updated", "")),
            history=[{str(k): str(v) for k, v in h.items()} for h in history],
        )


@dataclass
class Plan:
    """The whole file: tasks in plan order, and the next id to hand out."""

    tasks: list[Task] = field(default_factory=list)
    next_id: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "next_id": self.next_id,
            "tasks": [t.to_json() for t in self.tasks],
        }

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a plan (format {FORMAT} expected)")
        raw = data.get("tasks")
        if not isinstance(raw, list):
            raise ValueError("'tasks' must be a list")
        tasks = [Task.from_json(t) for t in raw]
        ids = [t.id for t in tasks]
        if len(set(ids)) != len(ids):
            raise ValueError("two tasks share an id")
        next_id = data.get("next_id")
        if not isinstance(next_id, int) or next_id <= max(ids, default=0):
            next_id = max(ids, default=0) + 1
        return cls(tasks, next_id)

    def find(self, task_id: int) -> int:
        """The index of task ``task_id``; ``TaskNotFound`` if there is none."""
        for index, task in enumerate(self.tasks):
            if task.id == task_id:
                return index
        known = ", ".join(str(t.id) for t in self.tasks) or "the plan is empty"
        raise TaskNotFound(f"no task with id {task_id} (tasks: {known})")

    def counts(self) -> dict[str, int]:
        """How many tasks have each status (every status present, zeros included)."""
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for task in self.tasks:
            counts[task.status] += 1
        return counts


_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(path, threading.Lock())


class PlanStore:
    """The plan in ``path`` (normally ``<data_dir>/plan.json``)."""

    def __init__(self, path: Path, max_tasks: int = 200) -> None:
        self.path = Path(path).absolute()
        self.max_tasks = max_tasks
        self._lock = _thread_lock(self.path)
        self._file_lock = FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT)

    @classmethod
    def in_folder(cls, data_dir: Path, max_tasks: int = 200) -> PlanStore:
        return cls(Path(data_dir) / PLAN_FILE, max_tasks)

    # -- reading and writing ------------------------------------------------------------

    def load(self) -> Plan:
        """The current plan (empty when there is no file yet)."""
        with self._locked():
            return self._read()

    @contextlib.contextmanager
    def edit(self) -> Iterator[Plan]:
        """Read the plan, let the caller change it, write it back atomically; all under
        the locks. Nothing is written when the block raises."""
        with self._locked():
            plan = self._read()
            yield plan
            self._write(plan)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            try:
                self._file_lock.acquire()
            except Timeout:
                raise TimeoutError(
                    f"the plan {self.path} is locked by another process (waited {LOCK_TIMEOUT:g} s)"
                ) from None
            try:
                yield
            finally:
                self._file_lock.release()

    def _read(self) -> Plan:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return Plan()
        try:
            return Plan.from_json(json.loads(raw.decode("utf-8")))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            aside = self.path.with_name(
                f"{self.path.name}.corrupt-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
            )
            os.replace(self.path, aside)
            LOGGER.warning("%s is not a valid plan (%s); moved to %s", self.path, exc, aside)
            return Plan()

    def _write(self, plan: Plan) -> None:
        fd, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(plan.to_json(), out, indent=2, ensure_ascii=False)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    # -- the operations the tools offer -------------------------------------------------

    def add(self, title: str, details: str = "", after: int | None = None) -> Task:
        """Add a task: at the end (``after=None``), at the top (``after=0``) or right
        after task ``after``."""
        title = title.strip()
        if not title:
            raise ValueError("a task needs a non-empty title")
        with self.edit() as plan:
            if len(plan.tasks) >= self.max_tasks:
                raise PlanFull(
                    f"the plan already has {len(plan.tasks)} tasks (max_tasks = "
                    f"{self.max_tasks}); finish or clear some first"
                )
            if after is None:
                index = len(plan.tasks)
            elif after == 0:
                index = 0
            else:
                index = plan.find(after) + 1
            task = Task(plan.next_id, title, details.strip())
            plan.next_id += 1
            plan.tasks.insert(index, task)
        return task

    def update(self, task_id: int, status: Status, note: str = "") -> Task:
        """Set a task's status, recording the change (and ``note``) in its history."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        with self.edit() as plan:
            task = plan.tasks[plan.find(task_id)]
            task.status = status
            task.updated = _now()
            task.history.append({"time": task.updated, "status": status, "note": note.strip()})
            del task.history[:-MAX_HISTORY]
        return task

    def clear_done(self) -> list[int]:
        """Remove every ``done`` task; returns their ids."""
        with self.edit() as plan:
            removed = [t.id for t in plan.tasks if t.status == "done"]
            plan.tasks = [t for t in plan.tasks if t.status != "done"]
        return removed
