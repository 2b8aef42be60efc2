"""The READMEs' commands, as written.

- Every command of the README's usage block ("Using the host") runs, in order, in a new
  process against a fresh ``JAFHOST_HOME`` (and a temporary ``HOME``, so ``~`` in the
  commands is a temporary folder), after the sample plugins the README names are
  installed (the ``samples`` nox session installs every sample plugin; without them these
  tests skip). The block is parsed out of README.md here, so the two cannot drift: each
  command must succeed, or fail exactly as the README says it does. ``mcp`` is spoken to
  over stdio (initialize, the tool list, one call) and ``dev`` is started until it watches,
  then stopped with Ctrl-C. ``install``/``uninstall`` run pip for real in this environment
  on the plugin ``new`` rendered (not otherwise installed, and uninstalled by the README's
  own last line), offline: ``PIP_NO_INDEX`` and, for the build, this environment's
  hatchling instead of an isolated build environment (``PIP_NO_BUILD_ISOLATION=false``).
- Every ``pip install`` line of a sample plugin's README (and the README's own) names only
  folders of this repository, and with each one the folders of the sample plugins it
  requires, since those exist nowhere else. A static check: the folders and their
  ``pyproject.toml`` files are read, nothing is installed.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLE_READMES = sorted(ROOT.glob("sample_plugins/*/README.md"))

NEEDS_CONFIG = (
    "plugin sqlite needs configuration: jafhost config set sqlite database PATH "
    "(or JAFHOST_SQLITE__DATABASE=PATH)"
)
"""What the README says the first ``doctor`` reports, and the host's message for it."""

COMMANDS_COVERED = {
    "list", "info", "enable", "disable", "doctor", "grant", "revoke", "config", "tools",
    "call", "emit", "agents", "run", "mcp", "dev", "new", "install", "uninstall",
}  # fmt: skip


# -- reading the READMEs -----------------------------------------------------------------


def code_blocks(text: str, heading: str | None = None) -> list[list[str]]:
    """The fenced code blocks of ``text`` (only those of the section under ``heading``, up
    to the next heading of the same or a higher level), each as its lines with ``\\``
    continuations joined."""
    level = len(heading) - len(heading.lstrip("#")) if heading else 0
    inside = heading is None
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if current is None and line.startswith("#") and heading is not None:
            hashes = len(line) - len(line.lstrip("#"))
            if line == heading:
                inside = True
            elif inside and hashes <= level and line[hashes:].startswith(" "):
                break
        elif line.lstrip().startswith("```"):
            if current is None:
                current = []
            else:
                if inside:
                    blocks.append(current)
                current = None
        elif current is not None:
            if current and current[-1].endswith("\\"):
                current[-1] = current[-1][:-1].rstrip() + " " + line.strip()
            else:
                current.append(line)
    return blocks


def commands(lines: list[str]) -> list[str]:
    """The command lines of a block, without blank lines and comments (quoted as
    ``shlex.join`` quotes them)."""
    found = []
    for line in lines:
        words = shlex.split(line, comments=True)
        if words:
            found.append(shlex.join(words))
    return found


def pip_arguments(command: str) -> list[str] | None:
    """What follows ``pip install`` (or ``python -m pip install``), else None."""
    words = shlex.split(command)
    at = words.index("pip") if "pip" in words else -1
    if at < 0 or words[at + 1 : at + 2] != ["install"]:
        return None
    return words[at + 2 :]


def pip_lines(blocks: list[list[str]]) -> list[str]:
    """Every ``pip install`` command of the blocks."""
    return [c for block in blocks for c in commands(block) if pip_arguments(c) is not None]


@dataclass
class Project:
    """A local project a pip line names: its folder, the extras asked for, its metadata."""

    folder: Path
    extras: set[str]
    name: str = ""
    version: str | None = None
    """None when it is dynamic (only a build would tell)."""
    requires: list[Requirement] = field(default_factory=list)


def read_project(argument: str, base: Path) -> Project | None:
    """``./sample_plugins/jaf-plugin-x[extra]`` as a project, or None when it is not a
    folder with a ``pyproject.toml`` under ``base``."""
    path, _, extras = argument.partition("[")
    folder = (base / path).resolve()
    if not (folder / "pyproject.toml").is_file():
        return None
    data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    chosen = {e.strip() for e in extras.rstrip("]").split(",") if e.strip()}
    requires = [Requirement(r) for r in data.get("dependencies", [])]
    for extra in sorted(chosen):
        requires += [Requirement(r) for r in data.get("optional-dependencies", {}).get(extra, [])]
    return Project(folder, chosen, canonicalize_name(data["name"]), data.get("version"), requires)


def pip_line_problems(line: str, base: Path = ROOT) -> list[str]:
    """Why ``line`` would not install from this repository as written: an argument that is
    not one of its folders, or a sample plugin it requires (one that exists only here)
    missing from the line or at a version that does not satisfy the requirement."""
    arguments = pip_arguments(shlex.join(shlex.split(line, comments=True))) or []
    problems: list[str] = []
    projects: dict[str, Project] = {}
    for argument in arguments:
        if argument in ("-e", "--editable"):
            continue
        if argument.startswith("-"):
            problems.append(f"{argument}: an option this check does not know")
            continue
        project = read_project(argument, base)
        if project is None:
            problems.append(f"{argument} is not a project folder of this repository")
        else:
            projects[project.name] = project
    local = {p.parent.name for p in ROOT.glob("sample_plugins/*/pyproject.toml")}
    for project in projects.values():
        for requirement in project.requires:
            name = canonicalize_name(requirement.name)
            if name not in local:
                continue
            given = projects.get(name)
            if given is None:
                problems.append(
                    f"{project.name} requires {requirement}, which exists only in this "
                    f"repository: add ./sample_plugins/{name} to the line"
                )
            elif given.version is not None and not requirement.specifier.contains(
                given.version, prereleases=True
            ):
                problems.append(f"{project.name} requires {requirement}; {given.version} given")
    return problems


# -- the sample READMEs' pip lines -------------------------------------------------------


@pytest.mark.parametrize(
    "readme", SAMPLE_READMES, ids=[p.parent.name for p in SAMPLE_READMES]
)  # fmt: skip
def test_sample_readme_pip_lines_install_from_this_repository(readme: Path) -> None:
    lines = pip_lines(code_blocks(readme.read_text(encoding="utf-8")))
    assert lines, f"{readme.relative_to(ROOT)} shows no pip install line"
    problems = {line: pip_line_problems(line) for line in lines}
    assert not {line: found for line, found in problems.items() if found}


def test_the_readme_installs_the_plugins_its_examples_use() -> None:
    assert len(SETUP) == 1
    assert pip_line_problems(SETUP[0]) == []


def test_the_pip_line_check_finds_what_does_not_install() -> None:
    """The check itself: what sample READMEs used to print is refused, with the reason."""
    assert pip_line_problems("pip install ./sample_plugins/jaf-plugin-support-agents") == [
        f"jaf-plugin-support-agents requires {dep}>=1.0, which exists only in this "
        f"repository: add ./sample_plugins/{dep} to the line"
        for dep in ("jaf-plugin-sqlite", "jaf-plugin-memory", "jaf-plugin-planner")
    ]
    assert pip_line_problems("pip install jaf-plugin-notes  # from an index") == [
        "jaf-plugin-notes is not a project folder of this repository"
    ]
    line = (
        "pip install -e sample_plugins/jaf-plugin-notes-search "
        "'./sample_plugins/jaf-plugin-support-agents[tracking]'"
    )
    assert pip_line_problems(line) == [
        "jaf-plugin-notes-search requires jaf-plugin-notes>=1.0, which exists only in this "
        "repository: add ./sample_plugins/jaf-plugin-notes to the line",
        *(
            f"jaf-plugin-support-agents requires {dep}>=1.0, which exists only in this "
            f"repository: add ./sample_plugins/{dep} to the line"
            for dep in (
                "jaf-plugin-sqlite",
                "jaf-plugin-memory",
                "jaf-plugin-planner",
                "jaf-plugin-http",
            )
        ),
    ]


# -- the README's usage block, run ------------------------------------------------------


USING = code_blocks(README.read_text(encoding="utf-8"), "## Using the host")
SETUP = pip_lines(USING[:1])
"""The README's ``pip install`` of the sample plugins its examples use."""
COMMANDS = commands(USING[1]) if len(USING) > 1 else []
"""The usage block's commands, in order."""


def test_the_usage_block_shows_every_command() -> None:
    used = {shlex.split(c)[1] for c in COMMANDS if shlex.split(c)[0] == "jafhost"}
    assert used >= COMMANDS_COVERED, COMMANDS_COVERED - used
    assert not [c for c in COMMANDS if re.search(r"\b(NAME|PERM|KEY|VALUE|K V)\b", c)]


def test_the_readme_shows_what_the_first_doctor_reports() -> None:
    assert NEEDS_CONFIG in README.read_text(encoding="utf-8")


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit status {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


MCP_MESSAGES = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "readme-test", "version": "0"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {
            "name": "sqlite__query",
            "arguments": {"sql": "select id, status from orders order by id"},
        },
    },
]


class Session:
    """One fresh home in which the block's commands run in order; a command runs the ones
    before it first (once), so any single test can be run alone."""

    def __init__(self, root: Path) -> None:
        self.home = root / "user"  # HOME: what ~ means in the commands
        self.cwd = root / "checkout"  # "this folder": demo/ as in the repository
        self.home.mkdir()
        shutil.copytree(ROOT / "demo", self.cwd / "demo")
        bin_dir = str(Path(sys.executable).parent)
        environ = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "JAFHOST_PLUGIN_PATH", "JAFHOST_DEBUG")
            and not k.startswith("JAFHOST_")
        }
        environ.update(
            HOME=str(self.home),
            USERPROFILE=str(self.home),
            JAFHOST_HOME=str(root / "jafhost-home"),
            PATH=os.pathsep.join([bin_dir, environ.get("PATH", "")]),
            COLUMNS="200",
            PYTHONUNBUFFERED="1",
            PIP_NO_INDEX="1",  # offline: nothing here may reach a package index
            PIP_NO_BUILD_ISOLATION="false",  # pip's spelling of --no-build-isolation
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        self.environ = environ
        self.results: dict[int, Outcome] = {}

    def argv(self, command: str) -> list[str]:
        """The command's words as a shell would give them: ``~`` at a word's start
        expanded; the program found on this environment's PATH."""
        words = [
            str(self.home) + w[1:] if w == "~" or w.startswith("~/") else w
            for w in shlex.split(command)
        ]
        found = shutil.which(words[0], path=self.environ["PATH"])
        assert found, f"{words[0]} is not on PATH"
        return [found, *words[1:]]

    def upto(self, index: int) -> Outcome:
        for i in range(index + 1):
            if i not in self.results:
                self.results[i] = self.execute(COMMANDS[i])
        return self.results[index]

    def execute(self, command: str) -> Outcome:
        argv = self.argv(command)
        if command == "jafhost mcp":
            stdin = "".join(json.dumps(m) + "\n" for m in MCP_MESSAGES)
            return self.run(argv, stdin=stdin)
        if command == "jafhost dev":
            return self.until_ready(argv, "watching for changes")
        return self.run(argv, timeout=600 if "install" in argv else 180)

    def run(self, argv: list[str], stdin: str | None = None, timeout: float = 180) -> Outcome:
        result = subprocess.run(
            argv,
            cwd=self.cwd,
            env=self.environ,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Outcome(result.returncode, result.stdout, result.stderr)

    def until_ready(self, argv: list[str], ready: str, timeout: float = 120) -> Outcome:
        """Start a long-running command, wait for its ``ready`` line, then Ctrl-C it (or
        let it end by itself, when it cannot start)."""

        def default_sigint() -> None:  # a shell's background jobs ignore SIGINT
            signal.signal(signal.SIGINT, signal.SIG_DFL)

        process = subprocess.Popen(
            argv,
            cwd=self.cwd,
            env=self.environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=default_sigint if os.name == "posix" else None,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if line is None:
                    break
                seen.append(line)
                if ready in line:
                    if os.name == "posix":
                        process.send_signal(signal.SIGINT)
                    else:
                        process.terminate()
                    break
            returncode = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        while (rest := lines.get(timeout=10)) is not None:
            seen.append(rest)
        assert process.stderr is not None
        return Outcome(returncode, "".join(seen), process.stderr.read())


def _json_lines(text: str) -> dict[int, Any]:
    answers = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {a["id"]: a for a in answers if "id" in a}


def check_list_json(out: Outcome) -> None:
    listed = {item["name"]: item for item in json.loads(out.stdout)}
    assert {"notes", "notes-search", "sqlite", "support-agents"} <= set(listed)


def check_first_doctor(out: Outcome) -> None:
    assert NEEDS_CONFIG in out.stdout
    assert "needs plugin sqlite, which is broken" in out.stdout


def check_config_show(out: Outcome) -> None:
    assert "shop/orders.db" in out.stdout and '"required"' in out.stdout  # value, schema


def check_add(out: Outcome) -> None:
    assert json.loads(out.stdout)["title"] == "x"


def check_search(out: Outcome) -> None:
    assert [hit["title"] for hit in json.loads(out.stdout)] == ["x"]


def check_emit(out: Outcome) -> None:
    assert json.loads(out.stdout)["event"] == "order.created"


def check_agents(out: Outcome) -> None:
    # the agent by its full name, and where it comes from
    assert re.search(r"\bsupport-agents\.support\b\W+plugin:support-agents\b", out.stdout)


def check_run(out: Outcome) -> None:
    assert '[[42, "shipped", "PostCo"' in out.stdout  # sqlite.query read the database
    assert "Order 42 has shipped with PostCo" in out.stdout
    assert "warning" not in out.stderr


def check_mcp(out: Outcome) -> None:
    answers = _json_lines(out.stdout)
    assert answers[1]["result"]["serverInfo"]["name"] == "jafhost"
    names = {tool["name"] for tool in answers[2]["result"]["tools"]}
    assert {"notes__add", "notes-search__search", "sqlite__query"} <= names
    call = answers[3]["result"]
    assert not call.get("isError") and '[42, "shipped"]' in call["content"][0]["text"]


def check_dev(out: Outcome) -> None:
    try:
        import watchfiles  # noqa: F401
    except ImportError:  # the README says it needs the extra: it must say so
        assert out.returncode == 1 and "jafhost[watch]" in out.stderr
        return
    assert "watching for changes" in out.stdout and "stopped" in out.stdout


def check_install(out: Outcome) -> None:
    assert "added weather 0.1.0 (jaf-plugin-weather): enabled" in out.stdout


def check_hello(out: Outcome) -> None:
    assert json.loads(out.stdout) == "Hello, Ada."


def check_uninstall(out: Outcome) -> None:
    assert "uninstalled jaf-plugin-weather (plugins: weather)" in out.stdout


EXIT_STATUS = {"jafhost doctor": 1, "jafhost dev": None}
"""Commands that do not exit 0 as written: the first doctor (see the README), and dev,
whose status depends on whether watchfiles is installed (``check_dev`` judges it)."""

CHECKS: dict[str, Callable[[Outcome], None]] = {
    "jafhost list --json": check_list_json,
    "jafhost doctor": check_first_doctor,
    "jafhost config show sqlite": check_config_show,
    """jafhost call notes.add --json '{"title": "x", "body": "y"}'""": check_add,
    "jafhost call notes-search.search -a query=x --timeout 5": check_search,
    """jafhost emit order.created --data '{"id": 42}'""": check_emit,
    "jafhost agents": check_agents,
    "jafhost run support 'Where is my order 42?' --model scripted:demo/support.jsonl": check_run,
    "jafhost mcp": check_mcp,
    "jafhost dev": check_dev,
    "jafhost install --allow-sdist ./jaf-plugin-weather": check_install,
    "jafhost call weather.hello -a name=Ada": check_hello,
    "jafhost uninstall weather --purge --yes": check_uninstall,
}


def test_every_check_names_a_command_of_the_block() -> None:
    assert set(CHECKS) | set(EXIT_STATUS) <= set(COMMANDS)


def require_samples() -> None:
    """Skip unless the sample plugins the README's setup line names are installed."""
    missing = []
    for line in SETUP:
        for argument in pip_arguments(line) or []:
            project = read_project(argument, ROOT)
            if project is None:
                continue
            try:
                metadata.distribution(project.name)
            except metadata.PackageNotFoundError:
                missing.append(project.name)
    if missing:
        pytest.skip(f"needs the sample plugins the README names: {', '.join(missing)}")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    require_samples()
    yield Session(tmp_path_factory.mktemp("readme"))
    # the README's last line uninstalls what `install` added; if a step failed, do it here
    try:
        metadata.distribution("jaf-plugin-weather")
    except metadata.PackageNotFoundError:
        return
    subprocess.run(
        [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "jaf-plugin-weather"],
        capture_output=True,
        timeout=300,
    )


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=COMMANDS)
def test_readme_command_works_as_written(session: Session, index: int) -> None:
    command = COMMANDS[index]
    out = session.upto(index)
    expected = EXIT_STATUS.get(command, 0)
    if expected is not None:
        assert out.returncode == expected, f"$ {command}\n{out}"
    assert not re.search(r"^Traceback", out.stderr, re.M), f"$ {command}\n{out}"
    check = CHECKS.get(command)
    if check is not None:
        try:
            check(out)
        except AssertionError as exc:
            raise AssertionError(f"$ {command}\n{out}") from exc


def test_after_the_readme_every_enabled_plugin_works(session: Session) -> None:
    """What the README says after its block: once sqlite is configured, doctor is clean."""
    session.upto(len(COMMANDS) - 1)
    out = session.run(session.argv("jafhost doctor"))
    assert out.returncode == 0, out
    assert "no problems found" in out.stdout


def test_a_plugin_needing_configuration_is_reported_once(tmp_path: Path) -> None:
    """Before ``config set``, ``run`` says once what sqlite needs; support-agents, blocked
    by it, points at it rather than repeating the reason."""
    require_samples()
    fresh = Session(tmp_path)
    assert fresh.run(fresh.argv("jafhost enable sqlite --yes")).returncode == 0
    run = fresh.run(
        fresh.argv(
            "jafhost run support 'Where is my order 42?' --model scripted:demo/support.jsonl"
        )
    )
    assert run.returncode != 0
    assert run.stderr.count(NEEDS_CONFIG) == 1, run.stderr
    assert (
        "warning: plugin support-agents is blocked (needs plugin sqlite, which is broken); "
        "its agents and tools are unavailable\n"
    ) in run.stderr
