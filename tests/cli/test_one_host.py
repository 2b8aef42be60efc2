"""One command, one ``Host``: the CLI builds the host once (``jafhost.cli._common.build_host``)
and every step of the command goes through it (the name check of ``call`` included).

A real process over a real plugin: ``Host.__init__`` is wrapped to count the hosts built,
then ``jafhost.cli.app.main`` runs the commands one after the other, as ``jafhost`` would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import Site

CALC = """
def add(a: int, b: int = 0) -> int:
    '''Add two numbers.'''
    return a + b

@hookimpl
def jaf_tools():
    return [add]
"""

COUNTING = """
import json, sys
from jafhost.host.host import Host

built = []
original = Host.__init__

def counting(self, *args, **kwargs):
    built.append(1)
    original(self, *args, **kwargs)

Host.__init__ = counting

from jafhost.cli.app import main

report = []
for argv in json.loads(sys.argv[2]):
    before = len(built)
    code = main(argv)
    report.append({"argv": argv, "code": code, "hosts": len(built) - before})
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump(report, f)
"""


def _count_hosts(
    commands: list[list[str]], site: Site, home: Path, tmp_path: Path
) -> tuple[list[dict[str, object]], subprocess.CompletedProcess[str]]:
    env = dict(os.environ)
    env.pop("JAFHOST_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join([str(site.root), *filter(None, [env.get("PYTHONPATH")])])
    env["JAFHOST_HOME"] = str(home)
    out = tmp_path / "hosts.json"
    done = subprocess.run(
        [sys.executable, "-c", COUNTING, str(out), json.dumps(commands)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 0 and out.exists(), done.stderr
    return json.loads(out.read_text(encoding="utf-8")), done


def test_a_call_builds_one_host(site: Site, home: Path, tmp_path: Path) -> None:
    site.plugin("calc", code=CALC)
    report, done = _count_hosts(
        [["call", "calc.add", "-a", "a=2", "-a", "b=3"]], site, home, tmp_path
    )
    assert report == [{"argv": report[0]["argv"], "code": 0, "hosts": 1}], done.stderr
    assert json.loads(done.stdout) == 5


def test_every_other_command_builds_one_host(site: Site, home: Path, tmp_path: Path) -> None:
    site.plugin("calc", code=CALC)
    commands = [
        ["list"],
        ["list", "--json"],
        ["info", "calc"],
        ["tools", "--json"],
        ["agents", "--json"],
        ["emit", "calc.checked"],
        ["doctor", "--json"],
        ["config", "show", "calc"],
        ["grant", "calc", "read:/tmp"],
        ["revoke", "calc", "read:/tmp"],
        ["disable", "calc"],
        ["enable", "calc", "--yes"],
        ["call", "calc.nope"],  # an unknown tool of a known plugin: the call says so
        ["call", "nope.add"],  # an unknown plugin: a usage error before anything starts
    ]
    report, done = _count_hosts(commands, site, home, tmp_path)
    assert [entry["argv"] for entry in report] == commands
    wrong = [entry for entry in report if entry["hosts"] != 1]
    assert wrong == [], done.stderr
    codes = {" ".join(entry["argv"]): entry["code"] for entry in report}  # type: ignore[arg-type]
    assert codes["call nope.add"] == 2 and codes["call calc.nope"] == 2, done.stderr
    assert all(code == 0 for argv, code in codes.items() if not argv.startswith(("call", "emit")))
