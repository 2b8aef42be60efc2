"""A distribution reinstalled at the same version changes nothing the lane's stamps see;
what its plan says of the plugin is still checked once the plugin is imported.

``pip install --ignore-installed`` (``-I``) of a version already installed writes over
the files in place: it unlinks and creates each file of the wheel inside the existing
package and ``*.dist-info`` folders and replaces ``RECORD`` there, and creates no entry
in the site folder itself, so that folder's ``stat`` (device, inode, mode, mtime, ctime:
``cache.path_stamps``) stays exactly as it was. Discovery's fingerprint sees it (the
``*.dist-info`` folder and its ``entry_points.txt`` are stamped there); the stamps do
not, and a warm ``jafhost call`` keeps what the summary says of the other plugins. Of
the called plugin it checks its files by content (``RECORD``, its manifest and
metadata) and, once imported, its tool against the plan: the same parameters, neither
asking for confirmation nor async (``recorded_start.find_tool``); else the full path
(``JAFHOST_CALL_LANE=0``) serves, which decides on what is installed now.

Real wheels installed by the real ``pip`` into a prefix whose site folder is on the
path, real ``jafhost`` processes. Ground truth: the answer of the full path, and the
result only the reinstalled code can print.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from call_paths import FULL, TRACE
from pip_wheels import identity, pip_install, settle, wheel

from conftest import ISOLATION_MODES, Site, run_cli

ECHO = '''
from jafhost import hookimpl, tool


{decorator}
def echo(text: str) -> str:
    """Repeat the text."""
    return {result}


@hookimpl
def jaf_tools():
    return [echo]
'''


class Installed:
    """Plugin ``lane`` installed by pip from a wheel, enabled, recorded and called warm."""

    def __init__(self, tmp_path: Path, home: Path, isolation: str) -> None:
        self.tmp_path, self.home = tmp_path, home
        self.prefix = tmp_path / "prefix"
        self.cwd = tmp_path / "work"
        self.cwd.mkdir()
        self.module = Site(tmp_path / "unused").module_for("lane")
        self.site = Site(pip_install(self.prefix, self.plugin_wheel("first", "", '"hi"')))
        self.isolation = isolation

    def plugin_wheel(self, tag: str, decorator: str, result: str) -> Path:
        code = textwrap.dedent(ECHO.format(decorator=decorator, result=result))
        return wheel(
            self.tmp_path / tag, "jaf-plugin-lane", "1.0.0",
            {f"{self.module}/__init__.py": code},
            f"[jaf.plugins]\nlane = {self.module}\n",
        )  # fmt: skip

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, site=self.site, home=self.home, env=env, cwd=self.cwd)

    def call(self, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.cli("call", "lane.echo", "-a", "text=hi", env=env)

    def warm(self) -> None:
        enabled = self.cli("enable", "lane", "--yes", "--isolation", self.isolation)
        assert enabled.returncode == 0, enabled.stderr
        settle(self.site.root, self.cwd)
        for _ in range(3):  # recorded, summarised, served from the summary
            result = self.call(TRACE)
            assert (result.returncode, result.stdout.strip()) == (0, '"hi"'), result.stderr
        assert "jafhost call: lane path" in result.stderr, result.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugin_reinstalled_at_its_version_is_not_called_on_its_old_record(
    isolation: str, tmp_path: Path, home: Path
) -> None:
    """The plugin itself rebuilt at the same version, its tool now ``confirm=True``, and
    reinstalled with ``pip install -I``: its own ``METADATA`` and ``entry_points.txt``
    are the same bytes, its files match the new ``RECORD``, the site folder is untouched.
    The full path records it again and refuses the tool without a terminal to confirm
    on; a warm call must not run it from the summary's old plan."""
    installed = Installed(tmp_path, home, isolation)
    installed.warm()
    before = identity(installed.site.root)
    changed = installed.plugin_wheel("second", "@tool(confirm=True)", '"ran unconfirmed"')
    pip_install(installed.prefix, changed, "--ignore-installed")
    assert identity(installed.site.root) == before  # what the stamps look at
    result = installed.call(TRACE)
    full = installed.call(FULL)
    assert "ran unconfirmed" not in result.stdout
    assert full.returncode != 0 and "confirmation" in full.stderr, full.stderr
    assert (result.returncode, result.stdout) == (full.returncode, full.stdout)


def test_another_distribution_reinstalled_to_claim_the_name_runs_nothing_of_it(
    tmp_path: Path, home: Path
) -> None:
    """Another distribution, installed before the plugin was approved and with no plugin
    in it, rebuilt at the same version with a ``jaf.plugins`` entry point claiming the
    name ``lane`` and reinstalled with ``pip install -I``: two plugins claim the name and
    the full path calls neither. The stamps do not see a change inside another
    distribution's folder (the documented limit): a warm call still calls the plugin it
    checked (its own files compared by content), never the claimant; the next full
    command rescans, and from then on the lane answers as the full path does."""
    installed = Installed(tmp_path, home, "inprocess")
    helper = f"jaf_helper_{installed.module}"
    code = textwrap.dedent(ECHO.format(decorator="", result='"from the claimant"'))
    first = wheel(tmp_path / "h1", "jaf-helper", "1.0", {f"{helper}/__init__.py": code}, "")
    pip_install(installed.prefix, first)
    installed.warm()
    before = identity(installed.site.root)
    claimant = wheel(
        tmp_path / "h2", "jaf-helper", "1.0",
        {f"{helper}/__init__.py": code}, f"[jaf.plugins]\nlane = {helper}\n",
    )  # fmt: skip
    pip_install(installed.prefix, claimant, "--ignore-installed")
    assert identity(installed.site.root) == before
    result = installed.call(TRACE)
    assert (result.returncode, result.stdout) == (0, '"hi"\n'), result.stderr
    listed = installed.cli("list")
    assert listed.returncode == 0, listed.stderr
    result = installed.call(TRACE)
    full = installed.call(FULL)
    assert full.returncode != 0, full.stdout
    assert "from the claimant" not in result.stdout + full.stdout
    assert (result.returncode, result.stdout) == (full.returncode, full.stdout), result.stderr
