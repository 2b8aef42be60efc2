"""Hook-name mistakes of plugin authors are named, in both isolation modes: a function
named after a hook without ``@hookimpl``, and a name that is not a hook (with the closest
hook suggested), in module plugins and class-based plugins alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Site, run_cli

TOOL = '''
def hi() -> str:
    """Say hi."""
    return "hi"
'''

CASES = {
    "unmarked": (
        TOOL + "\ndef jaf_tools():\n    return [hi]\n",
        None,
        "function jaf_tools is not marked @hookimpl (from jafhost import hookimpl)",
    ),
    "misspelled": (
        TOOL + "\n@hookimpl\ndef jaf_tool():\n    return [hi]\n",
        None,
        "@hookimpl function jaf_tool is not a jafhost hook; did you mean jaf_tools?",
    ),
    "misspelled-unmarked": (
        "def jaf_activat(ctx):\n    pass\n",
        None,
        "function jaf_activat is not a jafhost hook; did you mean jaf_activate?",
    ),
    "unprefixed": (
        TOOL + "\n@hookimpl\ndef tools():\n    return [hi]\n",
        None,
        "@hookimpl function tools is not a jafhost hook; did you mean jaf_tools?",
    ),
    "specname": (
        TOOL
        + "\n@hookimpl(specname='jaf_tools')\ndef offer():\n    return [hi]\n"
        + "\n@hookimpl(tryfirst=True, specname='jaf_activate')\ndef start(ctx):\n"
        + "    return None\n",
        None,
        None,
    ),
    "specname-misspelled": (
        TOOL + "\n@hookimpl(specname='jaf_toolz')\ndef offer():\n    return [hi]\n",
        None,
        "@hookimpl function offer names hook jaf_toolz, which is not a jafhost hook; "
        "did you mean jaf_tools?",
    ),
    "class-unmarked": (
        TOOL
        + "\nfrom jafhost.plugin import Plugin\n\n"
        + "class Mine(Plugin):\n    def jaf_tools(self):\n        return [hi]\n",
        "Mine",
        "method jaf_tools is not marked @hookimpl (from jafhost import hookimpl)",
    ),
    "class-misspelled": (
        TOOL
        + "\nclass Mine:\n    @hookimpl\n    def jaf_event_handler(self):\n"
        + "        return {}\n",
        "Mine",
        "@hookimpl method jaf_event_handler is not a jafhost hook; did you mean "
        "jaf_event_handlers?",
    ),
    "class-fine": (
        TOOL
        + "\nfrom jafhost.plugin import Plugin\n\n"
        + "class Mine(Plugin):\n    def get_tools(self):\n        return [hi]\n",
        "Mine",
        None,
    ),
}


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
def test_hook_name_mistakes_are_named(isolation: str, site: Site, home: Path) -> None:
    for name, (code, attribute, _) in CASES.items():
        module = site.module_for(name)
        site.plugin(name, code=code, entry_point=f"{module}:{attribute}" if attribute else None)
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')

    ran = run_cli("doctor", "--json", site=site, home=home)
    assert ran.returncode == 1, ran.stderr
    report = {p["name"]: p for p in json.loads(ran.stdout)["plugins"]}
    for name, (_, _, expected) in CASES.items():
        assert report[name]["problem"] == expected, name
        assert report[name]["runtime"] == ("active" if expected is None else "broken"), name

    call = run_cli("call", "unmarked.hi", site=site, home=home)
    assert call.returncode == 1
    assert call.stderr.startswith("error: plugin unmarked is broken: function jaf_tools is not ")
    assert json.loads(run_cli("call", "class-fine.hi", site=site, home=home).stdout) == "hi"
