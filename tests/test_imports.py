"""Every module of the jafhost package imports on its own, first, in a fresh interpreter.

A module that works only because another one was imported before it (a command module
that needs ``jafhost.cli.app`` to have run, a cycle that resolves in one order only)
passes every other test and fails for the first user who imports it directly. Here each
module gets its own new process, with no ``jafhost`` module loaded before it; the modules
are found by walking ``host/jafhost``, so a new one is covered without being listed. The
processes run a few at a time (one fixture for the whole module), each module reported
as its own test.

Also: ``jafhost list --json``, the console script's fast path, loads neither typer nor
rich (nor the CLI's command modules).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "host" / "jafhost"


def _module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


MODULES = _module_names()

IMPORT_ONE = """
import importlib, sys
name = sys.argv[1]
loaded = sorted(m for m in sys.modules if m == "jafhost" or m.startswith("jafhost."))
if loaded:
    sys.exit(f"not a clean start: {loaded} already imported")
if name == "jafhost.__main__":  # importing it runs the CLI: something harmless
    sys.argv[1:] = ["--version"]
importlib.import_module(name)
"""


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAFHOST_")}
    env["JAFHOST_HOME"] = str(home)
    return env


def _import_alone(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", IMPORT_ONE, name],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.fixture(scope="module")
def imported(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    env = _environment(tmp_path_factory.mktemp("home"))
    with ThreadPoolExecutor(max_workers=max(2, min(4, (os.cpu_count() or 2) * 2))) as pool:
        done = pool.map(lambda name: _import_alone(name, env), MODULES)
        return dict(zip(MODULES, done, strict=True))


def test_the_walk_finds_the_package() -> None:
    assert {"jafhost", "jafhost.cli.app", "jafhost.cli._common", "jafhost.mcp.server"} <= set(
        MODULES
    )
    assert len(MODULES) > 50


@pytest.mark.parametrize("name", MODULES)
def test_imports_on_its_own(
    name: str, imported: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = imported[name]
    assert result.returncode == 0, f"import {name} alone failed:\n{result.stderr}"


def test_list_json_fast_path_loads_neither_typer_nor_rich(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from jafhost.cli.entry import main\n"
        "code = main(['list', '--json'])\n"
        "sys.stderr.write(json.dumps([code, sorted(sys.modules)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=_environment(tmp_path),
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    code, modules = json.loads(result.stderr.strip().splitlines()[-1])
    assert code == 0 and isinstance(json.loads(result.stdout), list), result.stderr
    heavy = [m for m in modules if m.split(".")[0] in ("typer", "rich", "click")]
    cli = [m for m in modules if m.startswith("jafhost.cli.") and m != "jafhost.cli.entry"]
    assert heavy == [] and cli == []


def test_call_fast_path_loads_neither_typer_nor_rich(tmp_path: Path) -> None:
    """``jafhost call`` (a real plugin, called in process) runs without the command-line
    framework or the other commands."""
    site = tmp_path / "site"
    (site / "jp_fastcall").mkdir(parents=True)
    (site / "jp_fastcall" / "__init__.py").write_text(
        "from jafhost import hookimpl\n\n"
        "def echo(text: str) -> str:\n    return text\n\n"
        "@hookimpl\ndef jaf_tools():\n    return [echo]\n"
    )
    dist = site / "jaf_plugin_fastcall-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jaf-plugin-fastcall\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text("[jaf.plugins]\nfastcall = jp_fastcall\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    script = (
        "import json, sys\n"
        "from jafhost.cli.entry import main\n"
        "code = main(['call', 'fastcall.echo', '-a', 'text=hi'])\n"
        "sys.stderr.write(json.dumps([code, sorted(sys.modules)]))\n"
    )
    env = _environment(home)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    code, modules = json.loads(result.stderr.strip().splitlines()[-1])
    assert code == 0 and json.loads(result.stdout) == "hi", result.stderr
    heavy = [m for m in modules if m.split(".")[0] in ("typer", "rich", "click")]
    commands = {"plugins", "doctor", "run", "agents", "config", "ecosystem", "mcp", "app"}
    cli = [m for m in modules if m.split(".")[:2] == ["jafhost", "cli"] and m[12:] in commands]
    assert heavy == [] and cli == []
