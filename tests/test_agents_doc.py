"""The code in docs/agents.md runs, block after block, as a reader would run it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import run_doc_blocks

DOC = Path(__file__).resolve().parents[1] / "docs" / "agents.md"


def test_agents_doc_code_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    run_doc_blocks(DOC, 4)
    out = capsys.readouterr().out
    assert "AgentSpec 'greedy': tools must be a list or tuple of strings" in out
    assert "support config ['desk.lookup']" in out
    assert "desk.support plugin:desk ['desk.lookup']" in out
    assert "agents.broken.tools: Input should be a valid list" in out
    assert (
        "Order 7 is on its way. {'order': 7, 'caller': 'agent', 'agent': 'support', "
        "'metadata': {}} permission_denied" in out
    )
    assert "refunds [False, True]" in out
    assert "{'order': 1, 'caller': 'api', 'agent': None, 'metadata': {'user': 'ann'}}" in out
    assert "invalid_arguments context" in out


def test_the_readme_agent_profile_is_valid() -> None:
    """The operator's agent the README shows is what the host accepts (the demo writes
    the same table into its config.toml)."""
    import tomllib

    from jafhost.agents.profiles import parse_profile

    readme = DOC.parents[1] / "README.md"
    blocks = re.findall(r"```toml\n(.*?)```", readme.read_text(), flags=re.S)
    tables = [tomllib.loads(b) for b in blocks if "[agents." in b]
    assert tables, "README.md shows no agent profile"
    for table in tables:
        for name, profile in table["agents"].items():
            parsed = parse_profile(name, profile)
            assert parsed.from_ == "support-agents.support"
            limits = parsed.limits(name)["http"]
            assert limits.kinds == {"net": ("net:status.postco.example:443",)}
