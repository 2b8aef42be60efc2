"""An operator's agent from ``config.toml`` narrows a plugin's grants in its own runs.

``[agents.reader.policies.files] read = [DIR/a]`` over a ``files`` plugin granted
``read:DIR``: a scripted run of ``reader`` (through the Python API and ``jafhost run``)
reads ``DIR/a/inside.txt`` and is denied ``DIR/b/outside.txt``, naming the agent's policy,
in both isolation modes; the same tool called outside the agent still reads
``DIR/b/outside.txt`` with the plugin's full grant. Ground truth: the file contents in
the results, and the secret never in a denied result or the CLI's output.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli
from jafhost.host.host import Host

FILES = '''
def read(path: str) -> str:
    """Read a file."""
    with open(path) as f:
        return f.read()


@hookimpl
def jaf_tools():
    return [read]
'''
SECRET = "OUTSIDE-B-SECRET"


def _setup(
    site: Site, home: Path, tmp_path: Path, make_host: Callable[..., Host], isolation: str
) -> tuple[Path, Path]:
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    inside, outside = root / "a" / "inside.txt", root / "b" / "outside.txt"
    inside.write_text("INSIDE-A")
    outside.write_text(SECRET)
    site.plugin("files", manifest=f'[permissions]\nread = ["{root}"]\n', code=FILES)
    make_host().enable(["files"], approve=lambda info, new: True, isolation=isolation)
    script = tmp_path / "reader.jsonl"
    turns = [
        {"tool_calls": [{"name": "files.read", "arguments": {"path": str(inside)}}]},
        {"tool_calls": [{"name": "files.read", "arguments": {"path": str(outside)}}]},
        {"content": "done"},
    ]
    script.write_text("".join(json.dumps(t) + "\n" for t in turns))
    config = home / "config.toml"
    config.write_text(
        f'[agents.reader]\ninstructions = "You read files."\ntools = ["files.*"]\n'
        f'model = "scripted:{script}"\n\n'
        f'[agents.reader.policies.files]\nread = ["{root / "a"}"]\n'
    )
    return inside, outside


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_config_agent_policy_narrows_its_runs_only(
    isolation: str,
    site: Site,
    home: Path,
    tmp_path: Path,
    make_host: Callable[..., Host],
) -> None:
    _inside, outside = _setup(site, home, tmp_path, make_host, isolation)
    host = make_host()

    async def scenario() -> None:
        async with host:
            run = await host.run_agent("reader", "read them")
            first, second = run.tool_results
            assert first.ok and first.result == "INSIDE-A", first
            assert not second.ok and second.error is not None, second
            assert second.error.code == "permission_denied", second.error
            assert second.error.permission == f"read:{outside}"
            assert "agent reader's policy for plugin files" in second.error.message
            assert SECRET not in repr(second)
            outside_the_agent = await host.call("files.read", {"path": str(outside)})
            assert outside_the_agent.ok and outside_the_agent.result == SECRET

    asyncio.run(scenario())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_jafhost_run_of_a_config_agent_is_narrowed(
    isolation: str,
    site: Site,
    home: Path,
    tmp_path: Path,
    make_host: Callable[..., Host],
) -> None:
    _inside, outside = _setup(site, home, tmp_path, make_host, isolation)
    ran = run_cli("run", "reader", "read them", "--json", site=site, home=home)
    assert SECRET not in ran.stdout + ran.stderr
    report = json.loads(ran.stdout)
    results = [s for s in report["steps"] if s["kind"] == "tool_result"]
    assert results[0]["ok"] and results[0]["result"] == "INSIDE-A", results
    assert not results[1]["ok"] and results[1]["error"]["code"] == "permission_denied"
    assert "agent reader's policy" in results[1]["error"]["message"]
    called = run_cli("call", "files.read", "-a", f"path={outside}", site=site, home=home)
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == SECRET
