"""``jafhost install`` / ``uninstall`` and ``jafhost.ecosystem.installer``.

The commands run pip in the host's own interpreter, so they are tested in a new virtual
environment (made once for the module, with the host installed from this checkout) and
never touch the environment running the tests. The plugins are tiny distributions built
here as wheels with hatchling; pip installs them from those files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest

from jafhost.discovery.records import PluginInfo
from jafhost.ecosystem.installer import PipResult, compare, forget, run_pip, uninstall_targets
from jafhost.errors import UsageError
from jafhost.home.paths import HomeLayout
from jafhost.home.state import State, StateStore

ROOT = Path(__file__).resolve().parents[2]
BIN = "Scripts" if os.name == "nt" else "bin"

PLUGIN_CODE = """
from jafhost import hookimpl


def ping() -> str:
    \"\"\"Answer pong.\"\"\"
    return "pong"


@hookimpl
def jaf_tools():
    return [ping]
"""


def _write_plugin(root: Path, name: str, version: str, permissions: str) -> Path:
    package = f"jaf_plugin_{name}"
    project = root / f"{name}-{version}"
    (project / package).mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "jaf-plugin-{name}"
        version = "{version}"
        dependencies = ["jafhost>=0.1,<1"]

        [project.entry-points."jaf.plugins"]
        {name} = "{package}"

        [tool.hatch.build.targets.wheel]
        packages = ["{package}"]
        """)
    )
    (project / package / "__init__.py").write_text(PLUGIN_CODE)
    (project / package / "jaf-plugin.toml").write_text(
        f'[plugin]\nkinds = ["tool"]\n\n[permissions]\n{permissions}'
    )
    return project


@dataclass
class Env:
    """The module's virtual environment and the plugin wheels built for it."""

    path: Path
    wheels: dict[str, Path]

    @property
    def python(self) -> str:
        return str(self.path / BIN / "python")

    def environ(self, home: Path) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "JAFHOST_PLUGIN_PATH", "JAFHOST_DEBUG")
        }
        env.update(JAFHOST_HOME=str(home), COLUMNS="200", PIP_DISABLE_PIP_VERSION_CHECK="1")
        return env

    def jafhost(self, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.python, "-m", "jafhost", *args],
            capture_output=True,
            text=True,
            env=self.environ(home),
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    def listed(self, home: Path) -> dict[str, dict[str, object]]:
        result = self.jafhost(home, "list", "--json")
        assert result.returncode == 0, result.stderr
        return {item["name"]: item for item in json.loads(result.stdout)}

    def installed(self) -> set[str]:
        result = subprocess.run(
            [self.python, "-m", "pip", "list", "--format=json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.environ(Path("/nonexistent")),
        )
        return {item["name"] for item in json.loads(result.stdout)}

    def remove(self, *distributions: str) -> None:
        """Uninstall with pip directly (test clean-up), whatever the test left."""
        subprocess.run(
            [self.python, "-m", "pip", "uninstall", "--yes", "--quiet", *distributions],
            capture_output=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    root = tmp_path_factory.mktemp("installer")
    made = Env(root / "venv", {})
    subprocess.run([sys.executable, "-m", "venv", str(made.path)], check=True, timeout=300)

    def pip(*args: str) -> None:
        result = subprocess.run(
            [made.python, "-m", "pip", *args],
            capture_output=True,
            text=True,
            timeout=600,
            env=made.environ(root / "home"),
        )
        assert result.returncode == 0, result.stdout + result.stderr

    pip("install", "--quiet", str(ROOT), "hatchling")
    specs = {
        "tiny-1": ("tiny", "1.0.0", 'env = ["TINY_TOKEN"]\n'),
        "tiny-2": ("tiny", "2.0.0", 'env = ["TINY_TOKEN"]\nnet = ["127.0.0.1:9"]\n'),
        "plain": ("plain", "1.0.0", ""),
    }
    wheels = root / "wheels"
    for key, (name, version, permissions) in specs.items():
        project = _write_plugin(root / "src", name, version, permissions)
        pip(
            "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(project)
        )
        [made.wheels[key]] = wheels.glob(f"jaf_plugin_{name}-{version}-*.whl")
    return made


@pytest.fixture
def venv(env: Env) -> Iterator[Env]:
    """The module's environment, with whatever a test installed removed afterwards."""
    yield env
    env.remove("jaf-plugin-tiny", "jaf-plugin-plain")


# -- the commands in a fresh environment ---------------------------------------------


def test_install_approve_upgrade_uninstall_and_purge(venv: Env, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = venv.jafhost(
        home, "install", str(venv.wheels["tiny-1"]), str(venv.wheels["plain"]), "--yes"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "added plain 1.0.0 (jaf-plugin-plain): enabled",
        "added tiny 1.0.0 (jaf-plugin-tiny): enabled",
    ]
    assert "Successfully installed" in result.stderr  # pip's output, streamed
    assert "env:TINY_TOKEN" in result.stderr  # the approval table
    listed = venv.listed(home)
    assert (listed["tiny"]["status"], listed["plain"]["status"]) == ("enabled", "enabled")
    info = json.loads(venv.jafhost(home, "info", "tiny", "--json").stdout)
    assert info["permissions_granted"] == ["env:TINY_TOKEN"]

    upgraded = venv.jafhost(home, "install", str(venv.wheels["tiny-2"]), "--yes")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.splitlines() == [
        "upgraded tiny 1.0.0 -> 2.0.0 (jaf-plugin-tiny): enabled"
    ]
    assert "net:127.0.0.1:9" in upgraded.stderr and "env:TINY_TOKEN" not in upgraded.stderr
    info = json.loads(venv.jafhost(home, "info", "tiny", "--json").stdout)
    assert info["permissions_granted"] == ["env:TINY_TOKEN", "net:127.0.0.1:9"]

    layout = HomeLayout(home)
    for name in ("tiny", "plain"):
        layout.data_dir(name).mkdir(parents=True, exist_ok=True)
        (layout.data_dir(name) / "saved.txt").write_text("data")

    kept = venv.jafhost(home, "uninstall", "plain", "--yes")  # by plugin name
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.splitlines() == [
        "uninstalled jaf-plugin-plain (plugins: plain)",
        f"kept the data of plain in {layout.data_dir('plain')} "
        "(`jafhost uninstall --purge plain` deletes it)",
    ]
    assert (layout.data_dir("plain") / "saved.txt").is_file()

    purged = venv.jafhost(home, "uninstall", "jaf-plugin-tiny", "--purge", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.splitlines() == [
        "uninstalled jaf-plugin-tiny (plugins: tiny)",
        "removed the state of tiny",
        f"deleted {layout.plugin_dir('tiny')}",
    ]
    assert not layout.plugin_dir("tiny").exists()
    assert "tiny" not in StateStore(layout).load().plugins

    leftover = venv.jafhost(home, "uninstall", "plain", "--purge", "--yes")
    assert leftover.returncode == 0, leftover.stderr
    assert not layout.plugin_dir("plain").exists()
    assert {"jaf-plugin-tiny", "jaf-plugin-plain"}.isdisjoint(venv.installed())
    assert {"tiny", "plain"}.isdisjoint(venv.listed(home))


def test_without_a_terminal_install_refuses_and_uninstall_needs_yes(
    venv: Env, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    packages = venv.installed()
    result = venv.jafhost(home, "install", str(venv.wheels["tiny-1"]))
    assert result.returncode == 1  # the review needs a yes: nothing is installed
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "error: nothing installed: tiny requests permissions and there is no terminal to "
        "ask; run again with --yes to approve them"
    )
    assert "env:TINY_TOKEN" in result.stderr
    assert venv.installed() == packages
    assert "tiny" not in StateStore(HomeLayout(home)).load().plugins

    installed = venv.jafhost(home, "install", str(venv.wheels["tiny-1"]), "--yes")
    assert installed.returncode == 0, installed.stderr
    refused = venv.jafhost(home, "uninstall", "tiny")
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].endswith("run again with --yes")
    assert "jaf-plugin-tiny" in venv.installed()


def test_install_prompts_on_a_terminal(venv: Env, tmp_path: Path) -> None:
    home = tmp_path / "home"
    packages = venv.installed()
    child = pexpect.spawn(
        venv.python,
        ["-m", "jafhost", "install", str(venv.wheels["tiny-1"])],
        env=venv.environ(home),
        encoding="utf-8",
        timeout=120,
    )
    child.expect("Install and grant these permissions to tiny")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1, child.before
    assert "not approved: nothing installed" in (child.before or "")
    assert venv.installed() == packages
    assert "tiny" not in venv.listed(home)


def test_a_failed_install_leaves_the_host_as_it_was(venv: Env, tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = StateStore(HomeLayout(home))
    store.update(lambda state: state.record("other").grants.append("env:OTHER"))
    before = store.path.read_bytes()
    packages = venv.installed()
    not_a_project = tmp_path / "no-such-plugin"  # a folder pip cannot build
    not_a_project.mkdir()
    refused = venv.jafhost(home, "install", str(not_a_project), "--yes")
    assert refused.returncode == 1  # a folder is built: only with --allow-sdist
    assert "--allow-sdist" in refused.stderr.splitlines()[-1]
    result = venv.jafhost(home, "install", str(not_a_project), "--yes", "--allow-sdist")
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: pip install failed: ")
    assert "no-such-plugin" in last
    assert store.path.read_bytes() == before
    assert venv.installed() == packages


def test_uninstall_refuses_what_is_not_a_plugin(venv: Env, tmp_path: Path) -> None:
    home = tmp_path / "home"
    for name in ("jaf-plugin-nope", "jafhost", "../..", "pip"):
        result = venv.jafhost(home, "uninstall", name, "--purge", "--yes")
        assert result.returncode == 2, (name, result.stderr)
        [line] = result.stderr.splitlines()
        assert line.startswith(f"error: {name!r} is not an installed plugin distribution")
    assert "jafhost" in venv.installed()


# -- jafhost.ecosystem.installer in-process -------------------------------------------------------


def _info(name: str, version: str = "1.0", dist: str | None = None, **kw: object) -> PluginInfo:
    return PluginInfo(
        name=name,
        distribution=dist or f"jaf-plugin-{name}",
        version=version,
        entry_point=name,
        **kw,  # type: ignore[arg-type]
    )


def test_pip_output_is_streamed_and_its_last_error_kept() -> None:
    seen: list[str] = []
    result = run_pip(["--version"], seen.append)
    assert result.ok and seen and seen[0].startswith("pip ")
    failed = PipResult(
        ("install", "x"),
        1,
        ("Collecting x", "ERROR: Could not find x", "ERROR: No matching distribution for x", ""),
    )
    assert failed.error_line() == "No matching distribution for x"
    assert PipResult((), 2, ("", "boom", "")).error_line() == "boom"
    assert PipResult((), 3, ()).error_line() == "pip exited with status 3"


def test_compare_finds_added_changed_and_removed() -> None:
    change = compare(
        [_info("a"), _info("b"), _info("c")],
        [_info("a"), _info("b", "2.0"), _info("d")],
    )
    assert [p.name for p in change.added] == ["d"]
    assert [(old.version, new.version) for old, new in change.changed] == [("1.0", "2.0")]
    assert [p.name for p in change.removed] == ["c"]
    assert [p.name for p in change.touched] == ["b", "d"]


def test_uninstall_targets(tmp_path: Path) -> None:
    layout = HomeLayout(tmp_path)
    plugins = [
        _info("a"),
        _info("a2", dist="jaf-plugin-a"),
        _info("b"),
        _info("dev", source="folder", location="/src/dev"),
    ]
    state = State()
    state.record("gone")
    targets = uninstall_targets(["JAF_Plugin.A", "b", "gone"], plugins, state, layout)
    assert targets.distributions == {"jaf-plugin-a": ["a", "a2"], "jaf-plugin-b": ["b"]}
    assert targets.leftovers == ["gone"]
    assert targets.plugins == ["a", "a2", "b", "gone"]
    with pytest.raises(UsageError, match="folder plugin"):
        uninstall_targets(["dev"], plugins, state, layout)
    with pytest.raises(UsageError, match="not an installed plugin distribution"):
        uninstall_targets(["jafhost"], plugins, state, layout)
    layout.plugin_dir("old").mkdir(parents=True)
    assert uninstall_targets(["old"], plugins, state, layout).leftovers == ["old"]


def test_forget_removes_records_and_purges_only_on_request(tmp_path: Path) -> None:
    layout = HomeLayout(tmp_path)
    store = StateStore(layout)
    store.update(lambda state: [state.record(n) for n in ("a", "b", "keep")])
    for name in ("a", "b"):
        layout.data_dir(name).mkdir(parents=True)
    kept = forget(store, layout, ["a"], purge=False)
    assert (kept.records, kept.purged, kept.kept) == (["a"], [], [layout.data_dir("a")])
    purged = forget(store, layout, ["a", "b"], purge=True)
    assert purged.records == ["b"]
    assert purged.purged == [layout.plugin_dir("a"), layout.plugin_dir("b")]
    assert list(store.load().plugins) == ["keep"]
    untouched = store.path.read_bytes()
    assert forget(store, layout, ["never-seen"], purge=True).records == []
    assert store.path.read_bytes() == untouched
