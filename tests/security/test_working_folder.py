"""The working folder and folder plugins: a folder plugin works from any working folder,
its own plugin folder included (which it lists; only its package folder it reads), while
the working folder stays unreadable to every other plugin.

Each test runs the real CLI in a new process from a chosen working folder, both as the
``jafhost`` console script (the working folder is not on ``sys.path``) and as
``python -m jafhost`` (it is ``sys.path[0]``), in both isolation modes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, folder_plugin

SCRIPT = str(Path(sys.executable).with_name("jafhost"))
LAUNCHERS = {"script": [SCRIPT], "module": [sys.executable, "-m", "jafhost"]}
SECRET = "WORKING-FOLDER-SECRET"

READER = """
import os

def read(path: str) -> str:
    \"\"\"Read a file.\"\"\"
    with open(path) as f:
        return f.read()

def listing(path: str) -> list[str]:
    \"\"\"List a folder.\"\"\"
    return sorted(os.listdir(path))

@hookimpl
def jaf_tools():
    return [read, listing]
"""


@pytest.fixture
def workdir(tmp_path: Path, site: Site) -> Path:
    """The working folder: a plugin folder holding ``hello-dev`` and a secret file."""
    root = tmp_path / "work"
    root.mkdir()
    folder_plugin(root, f"hello_dev_{site.tag}", "hello-dev", READER)
    (root / "secret.txt").write_text(SECRET)
    return root


def run(
    launcher: str,
    *args: str,
    cwd: Path,
    home: Path,
    site: Site,
    isolation: str,
    plugin_path: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("JAFHOST_DEBUG", "PYTHONPATH")}
    env.update(
        PYTHONPATH=str(site.root),
        JAFHOST_HOME=str(home),
        JAFHOST_PLUGIN_PATH=str(plugin_path or cwd),
        COLUMNS="200",
    )
    return subprocess.run(
        [*LAUNCHERS[launcher], *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
@pytest.mark.parametrize("launcher", ["script", "module"])
def test_a_folder_plugin_runs_from_its_own_folder(
    launcher: str, isolation: str, workdir: Path, home: Path, site: Site
) -> None:
    ran = run(launcher, "call", "hello-dev.listing", "-a", f"path={workdir}",
              cwd=workdir, home=home, site=site, isolation=isolation)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "secret.txt" in json.loads(ran.stdout)
    # its own package folder is its own to read, even in the working folder
    own = workdir / f"hello_dev_{site.tag}" / "jaf-plugin.toml"
    ran = run(launcher, "call", "hello-dev.read", "-a", f"path={own}",
              cwd=workdir, home=home, site=site, isolation=isolation)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "hello-dev" in json.loads(ran.stdout)
    # the plugin folder holding it is listed, not read: it holds other folder plugins
    ran = run(launcher, "call", "hello-dev.read", "-a", f"path={workdir / 'secret.txt'}",
              cwd=workdir, home=home, site=site, isolation=isolation)  # fmt: skip
    assert ran.returncode == 1 and SECRET not in ran.stdout + ran.stderr
    assert "permission" in (ran.stdout + ran.stderr).lower()


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
@pytest.mark.parametrize("launcher", ["script", "module"])
def test_other_plugins_still_cannot_read_the_working_folder(
    launcher: str, isolation: str, workdir: Path, home: Path, site: Site
) -> None:
    site.plugin("snoop", code=READER)
    for tool, path in (("read", workdir / "secret.txt"), ("listing", workdir)):
        ran = run(launcher, "call", f"snoop.{tool}", "-a", f"path={path}",
                  cwd=workdir, home=home, site=site, isolation=isolation)  # fmt: skip
        assert ran.returncode == 1, ran.stdout + ran.stderr
        assert SECRET not in ran.stdout + ran.stderr
        assert "secret.txt" not in ran.stdout
        assert "permission" in (ran.stdout + ran.stderr).lower()
    if isolation == "inprocess":
        return  # one interpreter: a package another plugin imported is in sys.modules
    # nor may it import the folder plugin's package out of the working folder
    module = f"hello_dev_{site.tag}"
    site.plugin("importer", code=f"""
        def peek() -> str:
            \"\"\"Import another plugin's package.\"\"\"
            import {module}
            return "imported"

        @hookimpl
        def jaf_tools():
            return [peek]
        """)  # fmt: skip
    ran = run(launcher, "call", "importer.peek",
              cwd=workdir, home=home, site=site, isolation=isolation)  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "imported" not in ran.stdout


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
def test_a_folder_plugin_runs_from_a_subfolder_and_from_elsewhere(
    isolation: str, workdir: Path, home: Path, site: Site, tmp_path: Path
) -> None:
    for cwd in (workdir / f"hello_dev_{site.tag}", tmp_path):
        ran = run("script", "call", "hello-dev.listing", "-a", f"path={workdir}",
                  cwd=cwd, home=home, site=site, isolation=isolation,
                  plugin_path=workdir)  # fmt: skip
        assert ran.returncode == 0, ran.stderr


def test_a_failed_import_by_another_plugin_does_not_hide_thefolder_plugin(
    workdir: Path, home: Path, site: Site
) -> None:
    """In-process, the first plugin to start looks for a module that does not exist, so
    Python lists every import path entry, the working folder included, while that
    plugin's guard is armed; the folder plugin that starts after it still imports."""
    site.plugin("aaa-optional", code="""
        try:
            import no_such_optional_module_here
        except ImportError:
            pass

        def ping() -> str:
            \"\"\"Ping.\"\"\"
            return "pong"

        @hookimpl
        def jaf_tools():
            return [ping]
        """)  # fmt: skip
    ran = run("script", "doctor", "--json", cwd=workdir, home=home, site=site,
              isolation="inprocess")  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = {p["name"]: p for p in json.loads(ran.stdout)["plugins"]}
    assert report["hello-dev"]["runtime"] == "active", report["hello-dev"]
    assert report["aaa-optional"]["runtime"] == "active"


EMBEDDING_PROGRAM = """
import asyncio, json, sys
from jafhost import Host

async def main() -> None:
    async with Host(sys.argv[1], paths=[sys.argv[2]]) as host:
        result = await host.call("snoop.read", {"path": sys.argv[3]})
        print(json.dumps(result.to_json()))

asyncio.run(main())
"""


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_the_embedding_programs_folder_is_not_readable(
    isolation: str, tmp_path: Path, home: Path, site: Site
) -> None:
    """``python app.py`` puts the program's folder first on ``sys.path``: its ``.env`` is
    the program's, not the Python installation's."""
    site.plugin("snoop", code=READER)
    program = tmp_path / "app"
    program.mkdir()
    (program / "app.py").write_text(EMBEDDING_PROGRAM)
    (program / ".env").write_text(f"TOKEN={SECRET}\n")
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("JAFHOST_DEBUG", "PYTHONPATH")}
    ran = subprocess.run(
        [sys.executable, str(program / "app.py"), str(home), str(site.root),
         str(program / ".env")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert SECRET not in ran.stdout + ran.stderr
    assert result["ok"] is False and "permission" in json.dumps(result).lower()
