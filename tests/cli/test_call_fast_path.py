"""``jafhost call``'s fast path reads its options exactly as the typer command does.

The console script answers ``call`` without typer when ``calling.fast_arguments`` reads
the command line; for each command line below, what it reads must be what click hands
the typer command (or it must decline, and the full CLI decides). The typer side is the
real app, with ``calling.call`` replaced by a recorder so no host starts.
"""

from __future__ import annotations

import pytest

from jafhost.cli import app, calling

LINES = [
    ["t.x"],
    ["t.x", "-a", "k=v"],
    ["t.x", "--arg", "k=1", "-a", "j=[1]"],
    ["--arg=k=v", "t.x"],
    ["-a", "k=v", "t.x", "--yes"],
    ["t.x", "-y", "--timeout", "2.5"],
    ["t.x", "--timeout=3"],
    ["t.x", "--json", '{"a": 1}'],
    ["t.x", "--json=-"],
    ["t.x", "--json", "-"],
    ["t.x", "--json", "{}", "--json", '{"b": 2}'],
    ["t.x", "-a", "--yes"],
    ["t.x", "--timeout", "-1"],
    ["--", "t.x"],
    ["t.x", "--", "-a"],
    ["t.x", "--timeout", "soon"],
    ["t.x", "--verbose"],
    ["t.x", "-aK=V"],
    ["t.x", "u.y"],
    [],
    ["t.x", "-a"],
    ["t.x", "--yes=1"],
]


def _typer_reading(
    line: list[str], monkeypatch: pytest.MonkeyPatch
) -> calling.CallArguments | None:
    seen: list[calling.CallArguments] = []

    def record(given: calling.CallArguments) -> int:
        seen.append(given)
        return 0

    monkeypatch.setattr(calling, "call", record)
    code = app.main(["call", *line])
    assert (code == 0) == bool(seen)
    return seen[0] if seen else None


@pytest.mark.parametrize("line", LINES, ids=[" ".join(line) or "(none)" for line in LINES])
def test_the_fast_reading_is_the_typer_commands(
    line: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fast = calling.fast_arguments(line)
    typer_side = _typer_reading(line, monkeypatch)
    capsys.readouterr()
    if fast is not None:  # it reads only what click reads the same way
        assert typer_side == fast
    if typer_side is None:  # what click refuses, the fast path leaves to it
        assert fast is None


def test_the_plain_forms_take_the_fast_path() -> None:
    assert calling.fast_arguments(["t.x", "-a", "k=v", "--json", "{}", "--timeout", "1", "-y"]) == (
        calling.CallArguments("t.x", "{}", ["k=v"], 1.0, True)
    )
