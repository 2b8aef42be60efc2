"""What the host and plugin loggers say reaches the CLI's stderr as ``warning: ...``
lines, one per record, a plugin's named after it, control characters escaped."""

from __future__ import annotations

from pathlib import Path

from conftest import Site, run_cli

CHATTY = '''
import time
from jafhost import PluginContext


def chat(ctx: PluginContext) -> str:
    """Warn, then answer."""
    ctx.logger.warning("careful\\x1b[2J now\\nsecond line")
    return "done"


def nap() -> str:
    """Sleep past any sane limit."""
    time.sleep(60)
    return "late"


@hookimpl
def jaf_tools():
    return [chat, nap]
'''


def _setup(site: Site, home: Path, isolation: str) -> None:
    site.plugin("chatty", code=CHATTY)
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')


def test_a_plugin_logger_warning_is_one_named_line(site: Site, home: Path) -> None:
    _setup(site, home, "inprocess")
    result = run_cli("call", "chatty.chat", site=site, home=home)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "careful" in line]
    assert lines == ["warning: plugin chatty: careful\\x1b[2J now second line"]
    assert "\x1b" not in result.stderr


def test_a_host_warning_starts_with_warning(site: Site, home: Path) -> None:
    _setup(site, home, "process")
    result = run_cli("call", "chatty.nap", "--timeout", "1", site=site, home=home)
    assert result.returncode == 1
    killed = [line for line in result.stderr.splitlines() if "killed" in line]
    assert killed, result.stderr
    assert all(line.startswith("warning: plugin chatty: ") for line in killed), killed
