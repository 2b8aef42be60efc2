"""``plugin_template`` and ``jafhost new``: what the template renders is a real project.

The module renders one project per example-tool choice with ``jafhost new --no-input``,
installs the host (built from this checkout, so from its wheel, template included) and
the three projects into one new virtual environment, exactly as a plugin author would
(``pip install -e ".[test]"``), then checks that ``jafhost list`` shows them, that each
project's own tests pass with no edits, and that ``jafhost call`` reaches the new tool.
The environment is made once per module; it needs the package index for the host's
dependencies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest

from conftest import run_cli
from jafhost.ecosystem import scaffold
from jafhost.errors import ScaffoldError

ROOT = Path(__file__).resolve().parents[2]
CHOICES = {"none": "greeter", "read": "file-reader", "net": "web_fetch"}
"""Example-tool choice -> the plugin name rendered for it (both separators covered)."""


@dataclass
class Venv:
    path: Path
    home: Path

    @property
    def python(self) -> Path:
        return self.path / ("Scripts" if os.name == "nt" else "bin") / "python"

    def run(
        self, *args: str, cwd: Path | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run this environment's python with a clean environment and the test's home."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "JAFHOST_PLUGIN_PATH", "JAFHOST_DEBUG")
        }
        env.update(JAFHOST_HOME=str(self.home), COLUMNS="200", PIP_DISABLE_PIP_VERSION_CHECK="1")
        return subprocess.run(
            [str(self.python), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def check(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, cwd=cwd)
        assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result


@dataclass
class Rendered:
    venv: Venv
    projects: dict[str, Path]  # choice -> project folder


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    """Three rendered projects installed, editable, with the host into a new venv."""
    root = tmp_path_factory.mktemp("template")
    out = root / "projects"
    projects: dict[str, Path] = {}
    for choice, name in CHOICES.items():
        result = run_cli(
            "new", name, "--no-input", "-o", str(out), "--permissions", choice,
            "--kinds", "tool, capability" if choice == "read" else "tool",
            "--author", "Test Author", "--email", "author@example.com",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        projects[choice] = out / scaffold.distribution_for(name)
    venv = Venv(root / "venv", root / "home")
    subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True, timeout=300)
    # the README's command, build isolation and all, for the first project; the others
    # reuse the hatchling installed then, which saves a build environment each
    pip = ("-m", "pip", "install", "--quiet")
    venv.check(*pip, str(ROOT), "hatchling", "-e", f"{projects['none']}[test]")
    others = [arg for c in ("read", "net") for arg in ("-e", f"{projects[c]}[test]")]
    venv.check(*pip, "--no-build-isolation", *others)
    yield Rendered(venv, projects)


# -- the rendered projects in a fresh environment -----------------------------------


def test_rendered_plugins_show_up_in_jafhost_list(rendered: Rendered) -> None:
    listed = json.loads(rendered.venv.check("-m", "jafhost", "list", "--json").stdout)
    by_name = {item["name"]: item for item in listed}
    assert set(by_name) == set(CHOICES.values())
    greeter = by_name["greeter"]
    assert (greeter["distribution"], greeter["version"]) == ("jaf-plugin-greeter", "0.1.0")
    assert (greeter["status"], greeter["permissions"], greeter["kinds"]) == (
        "enabled",
        [],
        ["tool"],
    )
    reader = by_name["file-reader"]
    assert reader["status"] == "needs-approval"
    assert reader["permissions"] == ["read:" + str(Path("~/file-reader").expanduser())]
    assert reader["kinds"] == ["tool", "capability"]
    fetch = by_name["web_fetch"]
    assert (fetch["distribution"], fetch["permissions"]) == (
        "jaf-plugin-web-fetch",
        ["net:example.com:443"],
    )
    assert all(item["reason"] is None or item["status"] == "needs-approval" for item in listed)


@pytest.mark.parametrize("choice", list(CHOICES))
def test_rendered_project_passes_its_own_tests(rendered: Rendered, choice: str) -> None:
    project = rendered.projects[choice]
    result = rendered.venv.check("-m", "pytest", "-p", "no:cacheprovider", cwd=project)
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_the_new_tool_is_callable_through_the_cli(rendered: Rendered) -> None:
    """The README's path: install, then ``jafhost call`` routes to the generated tool."""
    result = rendered.venv.check("-m", "jafhost", "call", "greeter.hello", "-a", "name=Ada")
    assert json.loads(result.stdout) == "Hello, Ada."


def test_the_installed_wheel_ships_the_template(rendered: Rendered, tmp_path: Path) -> None:
    """The venv has jafhost from its wheel: ``new`` finds the template inside the package."""
    found = rendered.venv.check(
        "-c", "from jafhost.ecosystem import scaffold; print(scaffold.template_dir())"
    )
    location = Path(found.stdout.strip())
    assert location.parts[-2:] == ("jafhost", "plugin_template")
    assert ROOT not in location.parents
    result = rendered.venv.check(
        "-m", "jafhost", "new", "wheel-made", "--no-input", "-o", str(tmp_path)
    )
    assert (
        tmp_path / "jaf-plugin-wheel-made" / "src" / "jaf_plugin_wheel_made" / "plugin.py"
    ).is_file()
    assert "cd " in result.stdout


def test_rendered_projects_are_lint_clean(rendered: Rendered) -> None:
    pytest.importorskip("ruff")
    folders = [str(p) for p in rendered.projects.values()]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *folders],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- jafhost new: the command ---------------------------------------------------------


def test_new_renders_the_project_and_prints_the_next_commands(tmp_path: Path) -> None:
    result = run_cli(
        "new", "weather", "--no-input", "-o", str(tmp_path), "--description", 'Says "hi"',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    project = tmp_path / "jaf-plugin-weather"
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "src/jaf_plugin_weather/__init__.py",
        "src/jaf_plugin_weather/jaf-plugin.toml",
        "src/jaf_plugin_weather/plugin.py",
        "src/jaf_plugin_weather/py.typed",
        "tests/test_plugin.py",
    ]
    import tomllib

    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "jaf-plugin-weather"
    assert meta["project"]["description"] == 'Says "hi"'
    assert "jafhost>=0.1,<1" in meta["project"]["dependencies"]
    assert meta["project"]["entry-points"]["jaf.plugins"] == {
        "weather": "jaf_plugin_weather.plugin"
    }
    manifest = tomllib.loads((project / "src/jaf_plugin_weather/jaf-plugin.toml").read_text())
    assert manifest == {"plugin": {"kinds": ["tool"], "activation": "lazy"}, "permissions": {}}
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"created {project}: plugin weather")
    steps = [line.strip() for line in lines[lines.index("next:") + 1 :][:3]]
    assert steps[0] == f"cd {project}"
    assert steps[1].endswith('-m pip install -e ".[test]"')
    assert steps[2].endswith("-m pytest")
    assert "jafhost call weather.hello" in lines[-1]


def test_new_refuses_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "jaf-plugin-weather").mkdir()
    (tmp_path / "jaf-plugin-weather" / "mine.txt").write_text("keep me")
    result = run_cli("new", "weather", "--no-input", "-o", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'jaf-plugin-weather'} already exists; choose another name or "
        "--output-dir"
    ]
    assert (tmp_path / "jaf-plugin-weather" / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "args,message",
    [
        (["Weather"], "plugin name 'Weather' is not allowed"),
        (["my__tool"], "plugin name 'my__tool' is not allowed"),
        (["ok", "--kinds", "tool,widget"], "kinds 'tool,widget': each must be one of"),
        (["ok", "--permissions", "root"], "permissions 'root': choose one of none, read, net"),
    ],
)
def test_new_rejects_bad_answers_as_usage_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli("new", *args, "--no-input", "-o", str(tmp_path))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {message}")
    assert list(tmp_path.iterdir()) == []


def test_new_without_a_terminal_uses_the_defaults(tmp_path: Path) -> None:
    """Nothing to ask and nothing that needs a yes: it renders, and says so on stderr."""
    result = run_cli("new", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "no terminal" in result.stderr
    assert (tmp_path / "jaf-plugin-weather" / "pyproject.toml").is_file()


def test_new_prompts_on_a_terminal(tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS="120")
    env.pop("JAFHOST_DEBUG", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "jafhost", "new", "-o", str(tmp_path), "--description", "Typed in"],
        env=env,
        encoding="utf-8",
        timeout=60,
    )
    child.expect("Plugin name")
    child.sendline("tty-made")
    for prompt in ("One-line description", "Author", "Author's email", "Kinds"):
        child.expect(prompt)
        child.sendline("")
    child.expect("Example tool")
    child.expect("Choose from")
    child.sendline("2")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    project = tmp_path / "jaf-plugin-tty-made"
    manifest = (project / "src" / "jaf_plugin_tty_made" / "jaf-plugin.toml").read_text()
    assert 'read = ["~/tty-made"]' in manifest
    assert "Typed in" in (project / "pyproject.toml").read_text()


# -- the template itself ---------------------------------------------------------------


def test_the_pre_generation_hook_refuses_a_bad_name(tmp_path: Path) -> None:
    """Rendering with cookiecutter directly (not through ``new``) is checked too."""
    with pytest.raises(ScaffoldError, match="refused"):
        scaffold.render({"plugin_name": "Not-OK"}, tmp_path, no_input=True)
    assert list(tmp_path.iterdir()) == []


def test_the_template_is_found_in_the_checkout() -> None:
    location = scaffold.template_dir()
    assert (location / "cookiecutter.json").is_file()
    context = json.loads((location / "cookiecutter.json").read_text())
    assert context["permissions"] == list(scaffold.PERMISSION_CHOICES)
    assert {"plugin_name", "description", "author_name", "author_email", "kinds"} <= set(context)


def test_kinds_are_normalized() -> None:
    assert scaffold.check_kinds(" tool,capability , tool") == "tool, capability"
    assert scaffold.distribution_for("notes_search") == "jaf-plugin-notes-search"
    assert scaffold.package_for("notes-search") == "jaf_plugin_notes_search"
