"""A tool's pydantic model built at its first call runs the plugin's code (its types'
schema hooks) as the plugin: a hook reading a file outside its grants is refused, in
both isolation modes, though the model is built long after the plugin's start.

A first host records the plugin (its schema hooks run at that start, denied); a second
offers it idle, starts it at the call and builds the one model there. The hook notes
what it read, or that it was refused, in the plugin's data folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, MARKER_MANIFEST, RecordOnce, Site
from jafhost.host.host import Host

MakeHost = Callable[..., Host]

CODE = """
import os
from pydantic_core import core_schema

_NOTES = os.path.join(os.environ["JAF_MARKER_DIR"], "notes")


class Path_(str):
    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        try:
            with open({secret!r}) as f:
                seen = "read:" + f.read()
        except OSError as exc:
            seen = "refused:" + type(exc).__name__
        with open(_NOTES, "a") as out:
            out.write(seen + "\\n")
        return core_schema.str_schema()


def show(path: Path_) -> str:
    return "shown " + path


def other(text: str) -> str:
    return text


@hookimpl
def jaf_tools():
    return [other, show]
"""


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_model_built_at_the_first_call_runs_as_its_plugin(
    site: Site, make_host: MakeHost, record_once: RecordOnce, isolation: str, secret: Path
) -> None:
    code = CODE.replace("{secret!r}", repr(str(secret)))
    site.plugin("schemer", code=code, manifest=MARKER_MANIFEST)
    data, first = record_once("schemer", isolation, "schemer.other", {"text": "a"})
    assert first.ok, first
    notes = data / "notes"
    notes.unlink()
    host = make_host()

    async def scenario() -> tuple[bool, object, str]:
        async with host:
            assert host.loaded("schemer").status == "idle"  # type: ignore[union-attr]
            assert (await host.call("schemer.other", {"text": "b"})).ok
            assert not notes.exists()  # started for ``other``: ``show``'s model not built
            result = await host.call("schemer.show", {"path": "p"})
            return result.ok, result.result, str(result.error)

    ok, value, error = asyncio.run(scenario())
    seen = notes.read_text()
    assert "TOP-SECRET-KEY" not in seen + error
    assert seen.startswith("refused:"), seen
    assert (ok, value) == (True, "shown p"), error
