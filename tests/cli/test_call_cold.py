"""``jafhost call`` of a plugin without a record (a cold home): the one-shot lane starts
it and records it exactly as the full path would, or hands the call over.

Real distributions on a temporary path, real ``jafhost`` processes; the record each path
writes is compared byte for byte, and ``JAFHOST_TRACE_CALL=1`` says which path served.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from call_paths import FULL, TRACE, lane_imports, served_by

from conftest import Site, run_cli

PLAIN = '''
from typing import Literal

from jafhost import tool


def echo(text: str, times: int = 1) -> str:
    """Repeat the text.

    Args:
        text: what to repeat.
        times: how often.
    """
    return text * times


@tool(name="pick", description="Pick one.", confirm=True)
def choose(mode: Literal["p", "q"] = "p", note: str | None = None) -> str:
    return mode


async def later(n: int) -> int:
    """Answer later."""
    return n


def shapes(items: list[str], table: dict[str, int] | None = None) -> int:
    """Count."""
    return len(items)


@hookimpl
def jaf_tools():
    return [echo, choose, later, shapes]
'''

ACTIVATED = '''
@hookimpl
def jaf_activate(ctx):
    (ctx.data_dir / "activated").write_text("yes")


def echo(text: str) -> str:
    """Echo."""
    return text


@hookimpl
def jaf_tools():
    return [echo]
'''

NOT_PLAIN = '''
def echo(text: str) -> str:
    """Echo."""
    return text


def pair(p: tuple[int, int]) -> int:
    """Add."""
    return p[0] + p[1]


@hookimpl
def jaf_tools():
    return [echo, pair]
'''

INPROCESS = '[host]\nisolation = "inprocess"\n'


def _untraced(stderr: str) -> str:
    return "".join(
        line for line in stderr.splitlines(keepends=True) if not line.startswith("jafhost call: ")
    )


def _forget(home: Path) -> None:
    """Everything but the user's choices: the next call is cold."""
    for entry in home.iterdir():
        if entry.name in ("config.toml", "state.json"):
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _record(home: Path, plugin: str) -> bytes:
    return (home / "cache" / "activation" / f"{plugin}.json").read_bytes()


def test_the_lane_records_a_plain_plugin_as_the_full_path_does(site: Site, home: Path) -> None:
    site.plugin("plainplug", code=PLAIN, manifest='[plugin]\nkinds = ["tool"]\n')
    (home / "config.toml").write_text(INPROCESS + "[plugins.plainplug]\nunused = 1\n")
    cold = run_cli(
        "call", "plainplug.echo", "-a", "text=ab", "-a", "times=2", site=site, home=home, env=TRACE
    )
    assert (served_by(cold), cold.returncode, cold.stdout) == ("lane", 0, '"abab"\n'), cold.stderr
    by_lane = _record(home, "plainplug")
    _forget(home)
    full = run_cli(
        "call", "plainplug.echo", "-a", "text=ab", "-a", "times=2", site=site, home=home, env=FULL
    )
    assert (served_by(full), full.returncode, full.stdout) == ("full", 0, '"abab"\n'), full.stderr
    assert by_lane == _record(home, "plainplug")
    assert _untraced(cold.stderr) == _untraced(full.stderr)
    record = json.loads(by_lane)
    assert [t["name"] for t in record["tools"]] == ["echo", "pick", "later", "shapes"]
    assert record["tools"][0]["input_schema"]["properties"]["text"]["description"] == (
        "what to repeat."
    )
    warm = run_cli("call", "plainplug.echo", "-a", "text=c", site=site, home=home, env=TRACE)
    assert (served_by(warm), warm.stdout) == ("lane", '"c"\n')


def test_a_plugin_with_another_hook_is_started_by_the_full_path(site: Site, home: Path) -> None:
    """Its ``jaf_activate`` runs (ground truth: the file it writes), as in any start."""
    site.plugin("activated", code=ACTIVATED)
    (home / "config.toml").write_text(INPROCESS)
    result = run_cli("call", "activated.echo", "-a", "text=x", site=site, home=home, env=TRACE)
    assert (served_by(result), result.returncode, result.stdout) == ("full", 0, '"x"\n'), (
        result.stderr
    )
    assert (home / "plugins" / "activated" / "data" / "activated").read_text() == "yes"


def test_a_tool_only_pydantic_describes_hands_the_call_over(site: Site, home: Path) -> None:
    site.plugin("mixed", code=NOT_PLAIN)
    (home / "config.toml").write_text(INPROCESS)
    cold = run_cli("call", "mixed.echo", "-a", "text=x", site=site, home=home, env=TRACE)
    assert (served_by(cold), cold.stdout) == ("full", '"x"\n'), cold.stderr
    tools = json.loads(_record(home, "mixed"))["tools"]
    assert [t["name"] for t in tools] == ["echo", "pair"]  # recorded by the full path
    warm = run_cli("call", "mixed.echo", "-a", "text=y", site=site, home=home, env=TRACE)
    assert (served_by(warm), warm.stdout) == ("lane", '"y"\n'), warm.stderr


def test_an_unknown_tool_answers_as_the_full_path(site: Site, home: Path) -> None:
    site.plugin("plainplug", code=PLAIN)
    (home / "config.toml").write_text(INPROCESS)
    cold = run_cli("call", "plainplug.absent", site=site, home=home, env=TRACE)
    _forget(home)
    full = run_cli("call", "plainplug.absent", site=site, home=home, env=FULL)
    assert (cold.returncode, cold.stdout) == (full.returncode, full.stdout) == (2, "")


HEAVY = ("pydantic", "pydantic_core", "asyncio", "typer", "click", "rich")


def test_a_cold_call_imports_none_of_the_heavy_modules(site: Site, home: Path) -> None:
    """Ground truth from the interpreter (``-X importtime``), with a manifest to read
    (``docstring_parser`` is imported: the plugin's docstrings have sections)."""
    site.plugin("plainplug", code=PLAIN, manifest='[plugin]\nkinds = ["tool"]\n')
    (home / "config.toml").write_text(INPROCESS)
    imported = lane_imports(site.root, home, "plainplug.echo")
    assert "jafhost.runtime.plain_record" in imported
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
