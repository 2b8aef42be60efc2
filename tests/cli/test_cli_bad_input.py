"""Every CLI command fed broken input: exit 2, one ``error:`` line on stderr, nothing else.

The commands come from walking the typer app, so a new command without a row in the
table below fails ``test_every_command_has_bad_inputs``. The cases run against a real
home with two real installed plugins (``notes``: enabled, with a tool, an agent and a
config model; ``weather``: requests a permission, so it waits for approval), so an
unknown name and a known one differ. All cases run once, a few processes at a time, in
a module fixture; each case is then its own test. Broken input must change nothing:
the home's files are compared before and after.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from conftest import Site, run_cli
from jafhost.cli.app import app

BIG = "x" * 120_000
"""A 120 KB argument made of characters every name allows."""
MAX_LINE = 400
"""An error line stays short, whatever the input: long inputs are cut in messages."""

NOTES = """
from jafhost import AgentSpec
from pydantic import BaseModel

class Config(BaseModel):
    limit: int = 5

@hookimpl
def jaf_config_schema():
    return Config

def search(query: str) -> list:
    '''Search the notes.'''
    return [query]

@hookimpl
def jaf_tools():
    return [search]

@hookimpl
def jaf_agents():
    return [AgentSpec("helper", "You help.", tools=("notes.*",))]
"""
WEATHER = '[plugin]\nkinds = ["tool"]\n[permissions]\nnet = ["api.example.com:443"]\n'

BAD_NAMES = {
    "empty": "",
    "space": "a b",
    "slash": "a/b",
    "dotdot": "../x",
    "latin": "ñotes",
    "cjk": "插件",
    "emoji": "\U0001f9e9",
    "control": "no\x07tes",
    "newline": "no\ntes",
    "big": BIG,
}
"""Names that are not (and cannot be) plugin, tool or agent names."""

BAD_PERMISSIONS = {
    "net-empty": "net:",
    "read-relative": "read:relative",
    "port-range": "net:host:99999",
    "port-zero": "net:host:0",
    "unknown-kind": "bogus:x",
    "read-empty": "read:",
    "write-empty": "write:",
    "run-empty": "run:",
    "env-empty": "env:",
    "no-kind": "example.com",
    "empty": "",
    "ffi-value": "ffi:yes",
    "env-space": "env:A B",
    "unknown-variable": "read:$HOME/x",
    "big": "read:/" + BIG,
}


@dataclass(frozen=True)
class Case:
    command: str
    """The command path as typed: ``info``, ``config set``."""
    args: tuple[str, ...]
    quoted: str | None = None
    """The input the message must name (as ``repr`` gives it, cut when long)."""
    id: str = ""


def _cases() -> list[Case]:
    cases: list[Case] = []

    def add(command: str, case_id: str, *args: str, quoted: str | None = None) -> None:
        cases.append(Case(command, (*command.split(), *args), quoted, f"{command}-{case_id}"))

    for command in ("list", "doctor", "agents", "mcp", "tools"):
        add(command, "extra-argument", "extra")
        add(command, "unknown-option", "--bogus")
    add("tools", "format-yaml", "--format", "yaml", quoted="yaml")
    add("tools", "format-empty", "--format", "", quoted="")
    add("tools", "format-missing-value", "--format")

    for command in ("info", "enable", "disable", "config show"):
        add(command, "unknown", "nope", quoted="nope")
        add(command, "missing-argument")
        for case_id, name in BAD_NAMES.items():
            add(command, case_id, name, quoted=name)
    add("info", "unknown-option", "notes", "--bogus")
    add("enable", "known-and-unknown", "notes", "nope", quoted="nope")
    add("disable", "known-and-unknown", "notes", "nope", quoted="nope")
    add("enable", "isolation-sandbox", "weather", "--yes", "--isolation", "sandbox",
        quoted="sandbox")  # fmt: skip
    add("enable", "isolation-empty", "weather", "--yes", "--isolation", "", quoted="")
    add("enable", "isolation-missing-value", "weather", "--isolation")

    for command in ("grant", "revoke"):
        add(command, "unknown-plugin", "nope", "net:example.com", quoted="nope")
        add(command, "missing-permission", "weather")
        add(command, "missing-arguments")
        for case_id, name in BAD_NAMES.items():
            add(command, f"name-{case_id}", name, "net:example.com", quoted=name)
        for case_id, permission in BAD_PERMISSIONS.items():
            add(command, f"permission-{case_id}", "weather", permission, quoted=permission)

    add("call", "unknown-plugin", "nope.search", quoted="nope")
    add("call", "unknown-tool", "notes.nope", quoted="notes.nope")
    add("call", "unknown-tool-export-form", "notes__nope", quoted="notes__nope")
    add("call", "no-tool-part", "notes", quoted="notes")
    add("call", "missing-argument")
    for case_id, name in BAD_NAMES.items():
        add("call", case_id, name, quoted=name)
        add("call", f"tool-{case_id}", f"notes.{name}", quoted=f"notes.{name}")
    add("call", "json-malformed", "notes.search", "--json", "{nope")
    add("call", "json-empty", "notes.search", "--json", "")
    add("call", "json-not-object", "notes.search", "--json", "[1, 2]")
    add("call", "json-big", "notes.search", "--json", "{" + BIG)
    add("call", "pair-no-equals", "notes.search", "-a", "query", quoted="query")
    add("call", "pair-no-key", "notes.search", "-a", "=x", quoted="=x")
    add("call", "pair-big", "notes.search", "-a", BIG, quoted=BIG)
    add("call", "missing-tool-argument", "notes.search")
    add("call", "wrong-argument-type", "notes.search", "-a", "query=[1]")
    add("call", "unexpected-tool-argument", "notes.search", "-a", "query=a", "-a", "extra=1")
    # typer's own conversion errors name the option, not the value
    add("call", "timeout-abc", "notes.search", "-a", "query=a", "--timeout", "abc")
    add("call", "timeout-zero", "notes.search", "-a", "query=a", "--timeout", "0")
    add("call", "timeout-negative", "notes.search", "-a", "query=a", "--timeout", "-1")
    add("call", "timeout-nan", "notes.search", "-a", "query=a", "--timeout", "nan")

    add("emit", "missing-argument")
    for case_id, name in BAD_NAMES.items():
        add("emit", case_id, name, quoted=name)
    add("emit", "data-malformed", "order.created", "--data", "{nope")
    add("emit", "data-empty", "order.created", "--data", "")
    add("emit", "data-big", "order.created", "--data", "[" + BIG)

    add("run", "unknown-agent", "nope", "hi", quoted="nope")
    add("run", "unknown-plugin-agent", "nope.helper", "hi", quoted="nope.helper")
    add("run", "missing-message", "helper")
    add("run", "missing-arguments")
    for case_id, name in BAD_NAMES.items():
        add("run", case_id, name, "hi", quoted=name)
    add("run", "model-unknown-provider", "helper", "hi", "--model", "bogus:x", quoted="bogus")
    add("run", "model-empty", "helper", "hi", "--model", "", quoted="")
    add("run", "model-big", "helper", "hi", "--model", BIG, quoted=BIG)
    add("run", "max-turns-zero", "helper", "hi", "--max-turns", "0")
    add("run", "max-turns-abc", "helper", "hi", "--max-turns", "abc")

    add("config set", "unknown-plugin", "nope", "limit", "3", quoted="nope")
    add("config set", "missing-value", "notes", "limit")
    add("config set", "missing-arguments")
    for case_id, name in BAD_NAMES.items():
        add("config set", f"name-{case_id}", name, "limit", "3", quoted=name)
    add("config set", "unknown-key", "notes", "nope", "3", quoted="nope")
    add("config set", "empty-key", "notes", "", "3", quoted="")
    add("config set", "empty-key-part", "notes", "limit..x", "3", quoted="limit..x")
    add("config set", "big-key", "notes", BIG, "3", quoted=BIG)
    add("config set", "bad-value", "notes", "limit", "abc")
    add("config set", "big-value", "notes", "limit", BIG)

    add("install", "missing-argument")
    add("install", "unknown-option", "--bogus", "jaf-plugin-x")
    for case_id, name in BAD_NAMES.items():
        if case_id != "big":  # "x" * 120_000 is a well-formed requirement
            add("install", case_id, name, quoted=name)
    add("install", "big", "a b" * 40_000, quoted="a b" * 40_000)
    add("install", "missing-path", "./nope.whl", quoted="./nope.whl")
    add("install", "bad-specifier", "jaf-plugin-x>=>1", quoted="jaf-plugin-x>=>1")
    add("install", "option-as-package", "--", "-r", quoted="-r")

    add("search", "unknown-option", "--bogus")
    for case_id, url in {
        "ftp": "ftp://127.0.0.1/simple/",
        "empty": "",
        "no-host": "http:///simple/",
        "control": "http://127.0.0.1/\x07",
        "big": "http://127.0.0.1/" + BIG,
    }.items():
        add("search", f"index-{case_id}", "--index", url, quoted=url)

    add("verify", "unknown", "nope", quoted="nope")
    add("verify", "unknown-option", "--bogus")
    add("verify", "extra-argument", "notes", "extra")
    for case_id, name in BAD_NAMES.items():
        add("verify", case_id, name, quoted=name)
    add("lock", "unknown-option", "--bogus")
    add("lock", "extra-argument", "extra")
    add("lock", "output-missing-value", "--output")
    add("lock", "index-ftp", "--index", "ftp://127.0.0.1/simple/", quoted="ftp://127.0.0.1/simple/")
    add("sync", "missing-argument")
    add("sync", "unknown-option", "x.lock", "--bogus")
    add("sync", "missing-file", "/nonexistent/jafhost.lock", "--yes",
        quoted="/nonexistent/jafhost.lock")  # fmt: skip
    add("sync", "big-path", BIG, "--yes", quoted=BIG)
    add("sync", "index-empty", "x.lock", "--index", "", quoted="")

    add("uninstall", "unknown", "nope", "--yes", quoted="nope")
    add("uninstall", "missing-argument")
    for case_id, name in BAD_NAMES.items():
        add("uninstall", case_id, name, "--yes", quoted=name)

    # ``new`` never gets as far as writing: every case fails before (--output-dir is set)
    add("new", "unknown-option", "ok-name", "--bogus")
    for case_id, name in BAD_NAMES.items():
        add("new", case_id, name, "--no-input", quoted=name)
    add("new", "kinds-bogus", "ok-name", "--no-input", "--kinds", "bogus", quoted="bogus")
    add("new", "kinds-empty", "ok-name", "--no-input", "--kinds", "", quoted="")
    add("new", "permissions-bogus", "ok-name", "--no-input", "--permissions", "ffi",
        quoted="ffi")  # fmt: skip

    add("dev", "missing-folder", "/nonexistent/jafhost-dev", quoted="/nonexistent/jafhost-dev")
    add("dev", "empty-path", "", quoted="")
    add("dev", "big-path", BIG, quoted=BIG)
    add("dev", "unknown-option", "--bogus")

    cases.append(Case("", ("nosuchcommand",), "nosuchcommand", "unknown-command"))
    cases.append(Case("", ("--bogus",), None, "unknown-root-option"))
    cases.append(Case("", ("",), "", "empty-command"))
    cases.append(Case("", ("config", "nosuchcommand"), "nosuchcommand", "config-unknown-command"))
    return cases


CASES = _cases()


def _commands(group: Any, prefix: str = "") -> Iterator[str]:
    # typer bundles its own click: a group is whatever has subcommands
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if getattr(command, "commands", None) is not None:
            yield from _commands(command, path + " ")
        else:
            yield path


def test_every_command_has_bad_inputs() -> None:
    commands = set(_commands(typer.main.get_group(app)))
    covered = {case.command for case in CASES if case.command}
    assert commands - covered == set(), "commands without broken-input cases"
    assert covered - commands == set(), "cases for commands the CLI does not have"
    assert len({case.id for case in CASES}) == len(CASES)


OWN_PROCESS = {"call", "run", "tools", "agents", "emit", "doctor", "config show", "config set"}
"""Commands that run plugin code (or serve, or watch) get a process per case; the rest
run in a few driver processes, one ``jafhost.cli.app.main`` call per case with its own
file descriptors 1 and 2 (so whatever writes to them is caught, children included)."""
OWN_PROCESS |= {"dev", "mcp", ""}

DRIVER = """
import json, os, sys, tempfile, time
from jafhost.cli.app import main

def run(argv):
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush(); sys.stderr.flush()
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        start = time.monotonic()
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
            os.close(saved[0]); os.close(saved[1])
        out.seek(0); err.seek(0)
        text = lambda f: f.read().decode("utf-8", "replace")
        seconds = time.monotonic() - start
        return {"returncode": code, "stdout": text(out), "stderr": text(err), "seconds": seconds}

with open(sys.argv[1], encoding="utf-8") as f:
    cases = json.load(f)
with open(sys.argv[2], "w", encoding="utf-8") as f:
    json.dump([run(argv) for argv in cases], f)
"""


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class World:
    site: Site
    home: Path
    work: Path
    results: dict[str, Outcome | None]
    """None: still running after the time limit."""


def _argv(case: Case, work: Path) -> list[str]:
    return [*case.args, *(["--output-dir", str(work)] if case.command == "new" else [])]


def _in_processes(cases: list[Case], site: Site, home: Path, work: Path) -> list[Outcome | None]:
    """Run ``cases`` in one driver process (see ``DRIVER``)."""
    todo, done = work.parent / f"cases-{id(cases)}.json", work.parent / f"done-{id(cases)}.json"
    todo.write_text(json.dumps([_argv(c, work) for c in cases]), encoding="utf-8")
    environment = dict(os.environ, PYTHONPATH=str(site.root), JAFHOST_HOME=str(home))
    environment.pop("JAFHOST_DEBUG", None)
    environment["COLUMNS"] = "200"
    command = [sys.executable, "-c", DRIVER, str(todo), str(done)]
    try:
        subprocess.run(command, env=environment, stdin=subprocess.DEVNULL, timeout=120, check=True)
    except subprocess.TimeoutExpired:
        return [None] * len(cases)
    return [Outcome(**r) for r in json.loads(done.read_text(encoding="utf-8"))]


def _snapshot(home: Path) -> dict[str, bytes]:
    """The home's state and config (recorded schemas and lock files may come and go)."""
    return {name: (home / name).read_bytes() for name in ("state.json", "config.toml")
            if (home / name).exists()}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("bad-input")
    site = Site(root / "site")
    site.plugin("notes", code=NOTES)
    site.plugin("weather", manifest=WEATHER)
    home = root / "home"
    home.mkdir()
    work = root / "work"  # ``new`` would write here
    work.mkdir()
    # in process, so ``config set`` can validate against the model
    enabled = run_cli("enable", "notes", "--isolation", "inprocess", site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    before = _snapshot(home)
    assert "notes" in before["state.json"].decode()

    def alone(case: Case) -> list[Outcome | None]:
        start = time.monotonic()
        try:
            r = run_cli(*_argv(case, work), site=site, home=home, timeout=30)
        except subprocess.TimeoutExpired:
            return [None]
        return [Outcome(r.returncode, r.stdout, r.stderr, time.monotonic() - start)]

    together = [c for c in CASES if c.command not in OWN_PROCESS]
    batches = [together[i::2] for i in range(2)]
    separate = [c for c in CASES if c.command in OWN_PROCESS]
    jobs: list[tuple[list[Case], Callable[[], list[Outcome | None]]]] = [
        (batch, functools.partial(_in_processes, batch, site, home, work)) for batch in batches
    ]
    jobs += [([case], functools.partial(alone, case)) for case in separate]
    results: dict[str, Outcome | None] = {}
    with ThreadPoolExecutor(2) as pool:
        for (cases, _), outcomes in zip(jobs, pool.map(lambda job: job[1](), jobs), strict=True):
            results.update(zip((c.id for c in cases), outcomes, strict=True))
    yield World(site, home, work, results)
    assert _snapshot(home) == before, "broken input changed the home"
    assert list(work.iterdir()) == [], "broken input created files"
    shutil.rmtree(root, ignore_errors=True)


def _shown(text: str) -> str:
    """What a message must contain to name ``text``: its repr, or the start of it."""
    quoted = repr(text)
    return quoted if len(text) <= 40 else quoted[:30]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input(world: World, case: Case) -> None:
    result = world.results[case.id]
    assert result is not None, f"{case.id}: still running after the time limit"
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr[:2000]
    line = lines[0]
    assert line.startswith("error: "), line[:2000]
    assert len(line) <= MAX_LINE, line[:2000]
    assert result.returncode == 2, line
    assert result.stdout == ""
    if case.quoted is not None:
        assert _shown(case.quoted) in line, line
    if case.command == "install":  # refused before pip could reach an index
        assert result.seconds < 5, f"{case.id} took {result.seconds:.1f} s"
