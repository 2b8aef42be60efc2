"""The pytest plugin for plugin authors, exercised in a real inner pytest run, and the
helpers of ``jafhost.testing``."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from conftest import Site

pytest_plugins = ["pytester"]

PLUGIN = """
from jafhost import AgentSpec

def add(a: int, b: int) -> int:
    return a + b

def peek(path: str) -> str:
    return open(path).read()

@hookimpl
def jaf_tools():
    return [add, peek]

@hookimpl
def jaf_agents():
    return [AgentSpec(name="adder", instructions="Add numbers.", tools=("calc.add",))]
"""


def test_fixtures_in_a_plugin_authors_test_suite(
    pytester: pytest.Pytester, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.plugin("calc", code=PLUGIN, manifest='[permissions]\nread = ["/etc/hostname"]\n')
    site.plugin("other", code="raise RuntimeError('must not be loaded')")
    pytester.makepyfile(
        test_calc=textwrap.dedent("""
        import pytest

        def test_call(jafhost_factory):
            host = jafhost_factory("calc")
            assert host.active == ["calc"]  # only the plugin named
            assert host.call_ok("calc.add", {"a": 2, "b": 3}) == 5
            with pytest.raises(AssertionError, match="invalid_arguments"):
                host.call_ok("calc.add", {"a": "x"})

        def test_denied_with_narrowed_grants(jafhost_factory):
            host = jafhost_factory("calc", grants={"calc": []})
            error = host.assert_denied("calc.peek", {"path": "/etc/hostname"},
                                       permission="read:/etc/hostname")
            assert error.plugin == "calc"

        def test_requested_grants_allow(jafhost_factory):
            host = jafhost_factory("calc")
            with pytest.raises(AssertionError, match="was allowed"):
                host.assert_denied("calc.peek", {"path": "/etc/hostname"})

        def test_scripted_agent(jafhost_factory):
            host = jafhost_factory("calc")
            run = host.run_scripted("adder", "add 2 and 2", [
                {"tool_calls": [{"name": "calc.add", "arguments": {"a": 2, "b": 2}}]},
                {"content": "It is 4."},
            ])
            assert run.ok and run.output == "It is 4."

        def test_events_and_home(jafhost_factory, jafhost_home):
            host = jafhost_factory("calc")
            assert host.emit("nothing.listens").delivered == []
            assert host.layout.home == jafhost_home

        def test_a_second_host_in_the_same_home_starts_its_plugins(jafhost_factory):
            first = jafhost_factory("calc")
            first.close()
            again = jafhost_factory("calc")  # calc is recorded now: still started
            assert again.active == ["calc"]
            assert again.loaded("calc").status == "active"

        def test_unknown_plugin(jafhost_factory):
            with pytest.raises(LookupError, match="nope"):
                jafhost_factory("nope")
    """)
    )
    env_path = os.pathsep.join([str(site.root), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", env_path)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=7)


def test_hook_implementation_gives_a_plugins_own_function(tmp_path: Path) -> None:
    """What sample plugins' tests use to look inside a plugin the host started."""
    from jafhost import Host, SyncHost, hookimpl
    from jafhost.testing import hook_implementation

    class Adder:
        @hookimpl
        def jaf_tools(self) -> list[object]:
            def add(a: int, b: int) -> int:
                """Add."""
                return a + b

            return [add]

    with SyncHost(Host(tmp_path / "home", only=[])) as host:
        plugin = Adder()
        host.register(plugin, name="adder")
        host.activate("adder")
        jaf_tools = hook_implementation(host, "adder", "jaf_tools")
        assert jaf_tools is not None
        assert [fn.__name__ for fn in jaf_tools()] == ["add"]
        assert hook_implementation(host.host, "adder", "jaf_tools") is jaf_tools
        assert hook_implementation(host, "adder", "jaf_agents") is None
