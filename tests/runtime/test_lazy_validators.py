"""A tool's pydantic model (its validator) is built at the tool's first call once its
plugin's record holds: a plugin with many tools whose one tool is called builds that
one. Without a record every schema is built at the start, for the catalog and the new
record, and a tool that cannot describe itself fails the start naming it.

What was built is seen in a marker file: each tool's argument type is the plugin's own,
and its ``__get_pydantic_core_schema__`` (which pydantic runs while building the model)
appends the tool's name to it. Both isolation modes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site
from jafhost.host.host import Host

MakeHost = Callable[..., Host]
TOOLS = 8

HEAD = '''
import os, pathlib
from pydantic_core import core_schema
_DATA = pathlib.Path(os.environ.get("JAF_DATA_ROOT", "")) / "{name}" / "data"


def built(tool):
    """A string type of this plugin whose schema hook notes that ``tool``'s model is
    being built (and refuses while a ``break-TOOL`` file exists)."""

    class Value(str):
        @classmethod
        def __get_pydantic_core_schema__(cls, source, handler):
            with open(_DATA / "built", "a") as out:
                out.write(tool + "\\n")
            if (_DATA / ("break-" + tool)).exists():
                raise TypeError("the schema of " + tool + " is refused")
            return core_schema.str_schema()

    return Value
'''

TOOL = '''

T{i} = built("t{i}")


def t{i}(value: T{i}) -> str:
    """Tool number {i}."""
    return "t{i}:" + value
'''

TAIL = """

@hookimpl
def jaf_tools():
    return [{names}]
"""


def _code(name: str) -> str:
    tools = "".join(TOOL.replace("{i}", str(i)) for i in range(TOOLS))
    names = ", ".join(f"t{i}" for i in range(TOOLS))
    return HEAD.replace("{name}", name) + tools + TAIL.replace("{names}", names)


def _built(home: Path, name: str) -> list[str]:
    path = home / "plugins" / name / "data" / "built"
    return path.read_text().split() if path.exists() else []


@pytest.fixture(autouse=True)
def data_root(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the plugin's module finds its data folder (before it has a context)."""
    monkeypatch.setenv("JAF_DATA_ROOT", str(home / "plugins"))


def _prepare(site: Site, home: Path, name: str) -> Path:
    site.plugin(name, code=_code(name), manifest='[permissions]\nenv = ["JAF_DATA_ROOT"]\n')
    data = home / "plugins" / name / "data"
    data.mkdir(parents=True, exist_ok=True)
    return data


def _first_host(make_host: MakeHost, name: str, isolation: str) -> tuple[str, str]:
    """A first host: no record yet, so the plugin starts with it (and is recorded
    when it starts); its status and error there."""
    host = make_host(approve=True)
    host.enable([name], isolation=isolation, approve=lambda info, new: True)

    async def first() -> tuple[str, str]:
        async with host:
            loaded = host.loaded(name)
            assert loaded is not None
            return loaded.status, loaded.error or ""

    return asyncio.run(first())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_recorded_plugin_builds_only_the_called_tools_model(
    isolation: str, site: Site, home: Path, make_host: MakeHost
) -> None:
    data = _prepare(site, home, "many")
    assert _first_host(make_host, "many", isolation)[0] == "active"
    # no record yet: every schema was built at the start, for the catalog and the record
    assert sorted(_built(home, "many")) == [f"t{i}" for i in range(TOOLS)]
    (data / "built").unlink()
    host = make_host()

    async def second() -> None:
        async with host:
            assert host.loaded("many").status == "idle"  # type: ignore[union-attr]
            assert len(host.tools()) == TOOLS
            first = await host.call("many.t3", {"value": "x"})
            assert (first.ok, first.result) == (True, "t3:x"), first.error
            assert host.loaded("many").status == "active"  # type: ignore[union-attr]
            refused = await host.call("many.t3", {"value": 5, "extra": 1})
            assert refused.error is not None and refused.error.code == "invalid_arguments"
            schema = host.tool("many.t5").input_schema  # from the record: nothing built
            assert schema["properties"]["value"]["type"] == "string"

    asyncio.run(second())
    assert _built(home, "many") == ["t3"]  # built once, for the called tool only


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_tool_whose_model_cannot_be_built_fails_only_its_own_calls(
    isolation: str, site: Site, home: Path, make_host: MakeHost
) -> None:
    data = _prepare(site, home, "partly")
    assert _first_host(make_host, "partly", isolation)[0] == "active"
    (data / "break-t2").write_text("")  # the record still holds: its files are unchanged
    host = make_host()

    async def second() -> None:
        async with host:
            broken = await host.call("partly.t2", {"value": "x"})
            assert not broken.ok and broken.error is not None
            message = broken.error.message
            assert "tool partly.t2: cannot build its input schema" in message, message
            assert "the schema of t2 is refused" in message
            fine = await host.call("partly.t6", {"value": "y"})
            assert (fine.ok, fine.result) == (True, "t6:y"), fine.error
            assert host.loaded("partly").status == "active"  # type: ignore[union-attr]

    asyncio.run(second())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_without_a_record_a_tool_that_cannot_describe_itself_fails_the_start(
    isolation: str, site: Site, home: Path, make_host: MakeHost
) -> None:
    data = _prepare(site, home, "undescribed")
    (data / "break-t4").write_text("")
    status, error = _first_host(make_host, "undescribed", isolation)
    assert status == "broken"
    assert "tool undescribed.t4: cannot build its input schema" in error, error
