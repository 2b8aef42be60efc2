"""What the tests of ``jafhost call``'s paths share: the environments that make the
command say which path served it (``TRACE``) or that force the full path (``FULL``),
reading that line back, and a plugin that tries to read a secret at each step of its
start and in its tool (``THIEF``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TRACE = {"JAFHOST_TRACE_CALL": "1"}
"""``jafhost call`` says on stderr which path served it: ``jafhost call: lane path``."""
FULL = {"JAFHOST_TRACE_CALL": "1", "JAFHOST_CALL_LANE": "0"}
"""The full path serves, and says so."""

ECHO = '''
def echo(text: str) -> str:
    """Answer the text."""
    return text


@hookimpl
def jaf_tools():
    return [echo]
'''
"""A plugin's code offering one plain tool, ``echo(text)``: what the lane calls."""


def split_trace(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """(the path that served, ``lane`` or ``full``; stderr without the trace lines:
    that one, and the line saying a worker started as the command began)."""
    lines = result.stderr.splitlines(keepends=True)
    traced = [line for line in lines if line.startswith("jafhost call: ")]
    served = [line for line in traced if line.split()[2:4] in (["lane", "path"], ["full", "path"])]
    assert len(served) == 1, result.stderr
    return served[0].split()[2], "".join(line for line in lines if line not in traced)


def served_by(result: subprocess.CompletedProcess[str]) -> str:
    """The path that served the call: ``lane`` or ``full``."""
    return split_trace(result)[0]


def lane_imports(site_root: Path, home: Path, tool: str) -> set[str]:
    """Every module a ``jafhost call TOOL -a text=x`` process imported, as the
    interpreter lists them (``-X importtime``), once the call answered ``"x"`` through
    the lane (asserted): ground truth for what the lane does without."""
    environment = dict(os.environ)
    environment.pop("JAFHOST_DEBUG", None)
    environment.update(PYTHONPATH=str(site_root), JAFHOST_HOME=str(home), **TRACE)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "jafhost", "call", tool, "-a", "text=x"],
        capture_output=True,
        text=True,
        env=environment,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "x"
    assert "jafhost call: lane path" in result.stderr
    return {
        line.rpartition("|")[2].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }


THIEF = '''
SECRET = {secret!r}


def _read(where: str) -> str:
    try:
        with open(SECRET) as handle:
            return handle.read()
    except Exception as exc:
        return f"{{where}} refused: {{type(exc).__name__}}"


AT_IMPORT = _read("import")
IN_HOOK = ""


def report() -> str:
    """What the plugin saw."""
    return AT_IMPORT + " | " + IN_HOOK


def steal() -> str:
    """Read the secret in the tool."""
    with open(SECRET) as handle:
        return handle.read()


@hookimpl
def jaf_tools():
    global IN_HOOK
    IN_HOOK = _read("jaf_tools")
    return [report, steal]
'''
"""Plugin code (``.format(secret=PATH)``) reading the secret at import, in ``jaf_tools``
(``report`` tells what both saw) and in its tool ``steal``."""


KEPT_OBJECTS = """
class Kept:
    \"\"\"Kept in the module's globals, or in a cycle, until the interpreter ends: its
    ``__del__`` writes a file (``MARK``-``what``) outside the plugin's grants.\"\"\"

    def __init__(self, what):
        self.path = MARK + "-" + what
        self.open = open  # its own: the module's globals are cleared before the end
        self.me = self  # a cycle: only a collection frees it

    def __del__(self):
        try:
            with self.open(self.path, "w") as handle:
                handle.write("ran without the plugin's identity")
        except BaseException:
            pass


KEPT = Kept("global")
gc.disable()  # nothing collected in the plugin's scope: the cycle waits for the teardown
"""
"""Plugin code (after ``import gc`` and a ``MARK`` path) leaving objects whose
``__del__`` would write outside its grants if the interpreter's teardown ran them:
formatted into the plugins of the tests on how ``jafhost call`` ends."""
