"""The one-shot lane's plan (kept in the plugin's summary) is never stale.

A warm ``jafhost call`` of a recorded in-process plugin reads its plan from the
plugin's summary instead of parsing ``config.toml`` and deciding again. Each change
that must change what the plugin may do (a revoke, an operator policy in
``config.toml`` or named by ``JAFHOST_POLICY``, the plugin moved to process isolation)
is made after the lane served the plugin, and the next call must apply it: the
secret file is read only while the grant stands. Real distributions, real ``jafhost``
processes, real files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from call_paths import TRACE, served_by

from conftest import Site, run_cli

PEEKER = '''
SECRET = {secret!r}


def peek() -> str:
    """Read the secret, or say why not."""
    try:
        with open(SECRET) as handle:
            return handle.read()
    except Exception as exc:
        return f"refused: {{type(exc).__name__}}"


def where() -> str:
    """Whether the host's own modules are loaded here (in process) or not (a worker)."""
    import sys

    return "in the host" if "jafhost.cli.oneshot" in sys.modules else "in a worker"


@hookimpl
def jaf_tools():
    return [peek, where]
'''


@pytest.fixture
def granted(site: Site, home: Path, secret: Path) -> Path:
    """Plugin ``peeker`` in process, granted the secret's folder, served by the lane."""
    site.plugin("peeker", code=PEEKER.format(secret=str(secret)))
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    grant = run_cli("grant", "peeker", f"read:{secret.parent}", site=site, home=home)
    assert grant.returncode == 0, grant.stderr
    summaries = home / "cache" / "lane"
    for _ in range(4):  # the first records it, a later one writes its summary (the plan)
        warm = run_cli("call", "peeker.peek", site=site, home=home, env=TRACE)
        assert warm.returncode == 0, warm.stderr
        if served_by(warm) == "lane" and any(summaries.glob("*.json")):
            break
    assert served_by(warm) == "lane" and any(summaries.glob("*.json")), warm.stderr
    assert "TOP-SECRET" in warm.stdout  # granted: the plan is in use
    return home


def _peek(site: Site, home: Path, env: dict[str, str] | None = None) -> str:
    result = run_cli("call", "peeker.peek", site=site, home=home, env={**TRACE, **(env or {})})
    assert "TOP-SECRET" not in result.stderr
    return result.stdout


def test_a_revoke_applies_to_the_next_call(site: Site, granted: Path, secret: Path) -> None:
    revoke = run_cli("revoke", "peeker", f"read:{secret.parent}", site=site, home=granted)
    assert revoke.returncode == 0, revoke.stderr
    out = _peek(site, granted)
    assert "TOP-SECRET" not in out
    assert "refused: PermissionDenied" in out


def test_a_policy_added_to_config_applies(site: Site, granted: Path, secret: Path) -> None:
    config = granted / "config.toml"
    config.write_text(config.read_text() + f'\n[policy]\ndeny = ["read:{secret.parent}"]\n')
    out = _peek(site, granted)
    assert "TOP-SECRET" not in out


def test_a_policy_file_named_later_applies(
    site: Site, granted: Path, secret: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[policy]\ndeny = ["read:{secret.parent}"]\n')
    result = run_cli(
        "call", "peeker.peek", site=site, home=granted, env={**TRACE, "JAFHOST_POLICY": str(policy)}
    )
    assert served_by(result) == "full"
    assert "TOP-SECRET" not in result.stdout + result.stderr


def test_a_plugin_moved_to_process_isolation_no_longer_runs_in_the_host(
    site: Site, granted: Path
) -> None:
    """After the state moves the plugin to process isolation, its code runs in a worker
    (the isolated lane's or the full path's), never in the ``jafhost`` process."""
    state = granted / "state.json"
    data = json.loads(state.read_text())
    data["plugins"]["peeker"]["isolation"] = "process"
    state.write_text(json.dumps(data))
    result = run_cli("call", "peeker.where", site=site, home=granted, env=TRACE)
    assert "in the host" not in result.stdout, result.stderr


def test_a_forged_plan_in_the_summary_grants_nothing(site: Site, home: Path, secret: Path) -> None:
    """The grants come from the state, never from the summary: a summary edited to list
    the secret's folder (its key left as it was) gives the plugin nothing."""
    site.plugin("peeker", code=PEEKER.format(secret=str(secret)))
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    summaries = home / "cache" / "lane"
    for _ in range(4):  # a cold call records the plugin; a later one writes its summary
        warm = run_cli("call", "peeker.peek", site=site, home=home, env=TRACE)
        if served_by(warm) == "lane" and any(summaries.glob("*.json")):
            break
    assert served_by(warm) == "lane" and "refused" in warm.stdout, warm.stderr
    (summary,) = summaries.glob("*.json")
    data = json.loads(summary.read_text())
    data["plan"]["grants"] = [f"read:{secret.parent}"]
    data["info"]["permissions"] = [f"read:{secret.parent}"]
    summary.write_text(json.dumps(data))
    out = _peek(site, home)
    assert "TOP-SECRET" not in out
