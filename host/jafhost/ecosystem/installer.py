"""pip in the host's own interpreter, and what an install or uninstall changed.

``jafhost install`` / ``uninstall`` are the skins (``jafhost.cli.ecosystem``); this module runs
``sys.executable -m pip`` with its output handed line by line to a callback, compares
discovery before and after, and forgets uninstalled plugins (their state records and,
on request, their folders under the host home). Nothing here prompts or prints.

Order matters for "a failed install leaves the host as it was": pip runs first, and the
state is touched only after it succeeded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from jafhost.discovery.manifest import PLUGIN_NAME
from jafhost.discovery.records import PluginInfo
from jafhost.errors import StateError, UsageError, quoted
from jafhost.home.paths import HomeLayout
from jafhost.home.state import State, StateStore

KEEP_LINES = 200


@dataclass(frozen=True)
class PipResult:
    """How pip ended and the last lines it printed (stdout and stderr merged)."""

    args: tuple[str, ...]
    returncode: int
    lines: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error_line(self) -> str:
        """pip's last ``ERROR:`` line, else its last line, else the exit status."""
        for line in reversed(self.lines):
            if line.startswith("ERROR:"):
                return line.removeprefix("ERROR:").strip()
        for line in reversed(self.lines):
            if line.strip():
                return line.strip()
        return f"pip exited with status {self.returncode}"


def run_pip(
    args: Sequence[str],
    on_line: Callable[[str], None] | None = None,
    *,
    python: str | None = None,
) -> PipResult:
    """Run ``python -m pip ARGS`` (default: this interpreter) without input, streaming
    each output line to ``on_line``."""
    command = [python or sys.executable, "-m", "pip", *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1")
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    kept: deque[str] = deque(maxlen=KEEP_LINES)
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
        )
    except OSError as exc:
        return PipResult(tuple(args), 127, (f"ERROR: cannot run {command[0]}: {exc}",))
    assert process.stdout is not None
    with process:
        for raw in process.stdout:
            line = raw.rstrip("\r\n")
            kept.append(line)
            if on_line is not None:
                on_line(line)
    return PipResult(tuple(args), process.returncode, tuple(kept))


@dataclass(frozen=True)
class Change:
    """Plugins that appeared, changed version or disappeared between two discoveries."""

    added: list[PluginInfo] = field(default_factory=list)
    changed: list[tuple[PluginInfo, PluginInfo]] = field(default_factory=list)
    removed: list[PluginInfo] = field(default_factory=list)

    @property
    def touched(self) -> list[PluginInfo]:
        """What is new to the user: added plugins and new versions, by name."""
        return sorted([*self.added, *(new for _, new in self.changed)], key=lambda p: p.name)


ARGUMENT_MAX = 4096
"""The longest argument ``install`` hands to pip (a path or a requirement)."""
_ARCHIVES = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".zip")


def check_install_arguments(packages: Iterable[str]) -> None:
    """Refuse, before pip runs (and before it touches an index), what is neither a
    requirement (``name``, ``name[extra]>=1``, ``name @ URL``), a URL, nor an existing
    file or folder. pip options are refused too: only what to install is passed on.
    ``UsageError`` names the argument and what is wrong with it."""
    for text in packages:
        bad = f"bad package {quoted(text)}"
        if not text.strip():
            raise UsageError(f"{bad}: empty")
        if len(text) > ARGUMENT_MAX:
            raise UsageError(f"{bad}: longer than {ARGUMENT_MAX} characters")
        if text.startswith("-"):
            raise UsageError(
                f"{bad}: pip options are not passed on; give names, requirements, wheel "
                "files or folders"
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise UsageError(f"{bad}: holds a control character (a line break, a tab...)")
        if "://" in text:
            continue  # a URL: pip fetches it
        path = text.split("[", 1)[0] if text.endswith("]") else text  # ./folder[extra]
        if os.sep in text or text.startswith(".") or text.endswith(_ARCHIVES):
            if not os.path.exists(path):
                raise UsageError(f"{bad}: no such file or folder")
            continue
        try:
            Requirement(text)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0] if str(exc) else "cannot be parsed"
            raise UsageError(
                f"{bad}: not a requirement (name, name[extra]>=1.0) nor an existing file "
                f"or folder: {reason}"
            ) from None


def compare(before: Iterable[PluginInfo], after: Iterable[PluginInfo]) -> Change:
    old = {p.name: p for p in before}
    new = {p.name: p for p in after}
    return Change(
        added=[new[n] for n in sorted(new.keys() - old.keys())],
        changed=[
            (old[n], new[n])
            for n in sorted(new.keys() & old.keys())
            if (old[n].version, old[n].distribution) != (new[n].version, new[n].distribution)
        ],
        removed=[old[n] for n in sorted(old.keys() - new.keys())],
    )


@dataclass(frozen=True)
class Targets:
    """What ``uninstall`` was asked to remove: distributions (with their plugins) for pip,
    and names of plugins that are no longer installed but left a record or a folder."""

    distributions: dict[str, list[str]]
    leftovers: list[str]

    @property
    def plugins(self) -> list[str]:
        names = [n for names in self.distributions.values() for n in names]
        return sorted({*names, *self.leftovers})


def uninstall_targets(
    requested: Iterable[str], plugins: Iterable[PluginInfo], state: State, layout: HomeLayout
) -> Targets:
    """Map each requested name to a plugin distribution: a distribution name, or a plugin
    name standing for its distribution, or a plugin no longer installed whose record or
    folder is left. ``UsageError`` for anything else (the host's own packages included:
    uninstall removes plugins, pip removes the rest)."""
    known = list(plugins)
    by_distribution: dict[str, list[PluginInfo]] = {}
    for info in known:
        if info.source == "distribution":
            by_distribution.setdefault(canonicalize_name(info.distribution), []).append(info)
    distributions: dict[str, list[str]] = {}
    leftovers: list[str] = []
    for text in requested:
        key = canonicalize_name(text)
        infos = by_distribution.get(key)
        if infos is None:
            named = [p for p in known if p.name == text]
            folder = [p for p in named if p.source != "distribution"]
            if folder:
                raise UsageError(
                    f"{text} is a folder plugin ({folder[0].location}); remove its folder "
                    "or the plugin path entry instead"
                )
            if named:
                infos = by_distribution[canonicalize_name(named[0].distribution)]
        if infos is not None:
            distributions.setdefault(infos[0].distribution, sorted(p.name for p in infos))
        elif PLUGIN_NAME.fullmatch(text) and (
            text in state.plugins or os.path.exists(layout.plugin_dir(text))
        ):
            leftovers.append(text)
        else:
            names = ", ".join(sorted({p.distribution for p in known if p.source == "distribution"}))
            raise UsageError(
                f"{quoted(text)} is not an installed plugin distribution or plugin name "
                f"(installed: {names or 'none'})"
            )
    return Targets(distributions, sorted(set(leftovers) - set(_names(distributions))))


def _names(distributions: dict[str, list[str]]) -> list[str]:
    return [n for names in distributions.values() for n in names]


@dataclass(frozen=True)
class Forgotten:
    """What ``forget`` removed, and the data folders it kept."""

    records: list[str]
    purged: list[Path]
    kept: list[Path]


def forget(
    store: StateStore, layout: HomeLayout, names: Iterable[str], *, purge: bool
) -> Forgotten:
    """Drop the plugins' state records (enabled flag, grants, isolation) and, with
    ``purge``, their folders ``plugins/NAME/`` (data, cache, recorded config schema)."""
    wanted = sorted(set(names))

    def apply(state: State) -> list[str]:
        return [n for n in wanted if state.plugins.pop(n, None) is not None]

    has_record = any(n in store.load().plugins for n in wanted)
    records = store.update(apply) if has_record else []
    purged: list[Path] = []
    kept: list[Path] = []
    for name in wanted:
        folder = layout.plugin_dir(name)
        if not folder.exists():
            continue
        if purge:
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                raise StateError(f"cannot remove {folder}: {exc}") from None
            purged.append(folder)
        elif layout.data_dir(name).exists():
            kept.append(layout.data_dir(name))
    return Forgotten(records, purged, kept)
