"""What plugin code hands back in the one-shot lane is read as plain data, never as its
own objects outside its identity.

The lane computes a tool's plain parameters in the plugin's scope, then compares them
with its plan and checks the arguments against them in the host's own code. A tool whose
``__signature__`` names a parameter with a ``str`` subclass would have its ``__eq__``
run there, with no plugin identity, so the guard would let it write anywhere. The plugin
here tries to write a file outside its grants from that ``__eq__``: it must never exist,
after a cold, a recording and warm calls, in each isolation mode. The same for an
object ``jaf_tools`` returns beside the tool, whose ``__del__`` runs wherever the host
drops the list.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from call_paths import KEPT_OBJECTS

from conftest import ISOLATION_MODES, Site, run_cli

SLY_NAME = '''
import inspect

MARK = {mark!r}


class Sly(str):
    """A parameter name whose comparison writes a file outside the plugin's grants."""

    def __eq__(self, other):
        try:
            with open(MARK, "w") as handle:
                handle.write("ran without the plugin's identity")
        except Exception:
            pass
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def echo(x: str) -> str:
    """Echo the text."""
    return x


@hookimpl
def jaf_tools():
    echo.__signature__ = inspect.Signature(
        [inspect.Parameter(Sly("x"), inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)]
    )
    return [echo]
'''


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_parameter_name_of_its_own_class_never_runs_outside_its_identity(
    isolation: str, site: Site, home: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    mark = victim / "written"
    site.plugin("sly", code=SLY_NAME.format(mark=str(mark)))
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    results = []
    for _ in range(4):  # cold, recorded, summary written, warm from the summary
        result = run_cli(
            "call", "sly.echo", "-a", 'x="hi"', site=site, home=home,
            env={"JAFHOST_TRACE_CALL": "1"},
        )  # fmt: skip
        results.append(result)
        assert not mark.exists(), result.stderr
    for result in results:
        if result.returncode == 0:
            assert json.loads(result.stdout) == "hi"
    assert [r.returncode for r in results] == [0, 0, 0, 0], results[-1].stderr


LEFT_IN_THE_LIST = """
MARK = {mark!r}


class Dropped:
    \"\"\"Not a tool: its ``__del__`` writes a file outside the plugin's grants.\"\"\"

    def __del__(self):
        try:
            with open(MARK, "w") as handle:
                handle.write("ran without the plugin's identity")
        except Exception:
            pass


def echo(x: str) -> str:
    \"\"\"Echo the text.\"\"\"
    return x


@hookimpl
def jaf_tools():
    return [echo, Dropped()]
"""


@pytest.mark.parametrize("lane", ["1", "0"])
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_an_object_returned_beside_the_tools_is_dropped_as_the_plugin(
    isolation: str, lane: str, site: Site, home: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    mark = victim / "written"
    site.plugin("dropper", code=LEFT_IN_THE_LIST.format(mark=str(mark)))
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    for _ in range(4):  # cold, recorded, summary written, warm from the summary
        result = run_cli(
            "call", "dropper.echo", "-a", 'x="hi"', site=site, home=home,
            env={"JAFHOST_TRACE_CALL": "1", "JAFHOST_CALL_LANE": lane},
        )  # fmt: skip
        assert not mark.exists(), result.stderr


KEPT_TO_THE_END = """
import gc

MARK = {mark!r}


{kept}

def echo(x: str) -> str:
    \"\"\"Echo the text, leaving a cycle behind.\"\"\"
    Kept("cycle")
    return x


@hookimpl
def jaf_tools():
    return [echo]
"""


@pytest.mark.parametrize("lane", ["1", "0"])
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_objects_kept_until_the_exit_never_run_outside_its_identity(
    isolation: str, lane: str, site: Site, home: Path, tmp_path: Path
) -> None:
    """The interpreter's teardown (modules' globals cleared, the last collection) runs
    no plugin ``__del__`` in the host: ``cli.finish`` ends the process before it."""
    victim = tmp_path / "victim"
    victim.mkdir()
    site.plugin(
        "keeper", code=KEPT_TO_THE_END.format(mark=str(victim / "written"), kept=KEPT_OBJECTS)
    )
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    for _ in range(4):  # cold, recorded, summary written, warm from the summary
        result = run_cli(
            "call", "keeper.echo", "-a", 'x="hi"', site=site, home=home,
            env={"JAFHOST_CALL_LANE": lane},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == "hi"
        assert sorted(p.name for p in victim.iterdir()) == [], result.stderr
