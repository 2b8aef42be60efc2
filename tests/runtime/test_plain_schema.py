"""``runtime.plain_schema`` gives exactly what the pydantic path gives, or nothing.

Every signature below is compiled into a real function and built twice: by
``tools.build_tool`` (pydantic's model and JSON schema, docstring_parser's reading) and
by ``plain_schema``. Where ``plain_schema`` answers, schema and description must be
equal to the last key order; the signatures it is meant to cover must be answered (so a
builder that answers nothing cannot pass); the others must not be.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import docstring_parser
import pytest
from pydantic import BaseModel

from jafhost.runtime import plain_schema
from jafhost.tools import build_tool

COVERED = [
    "text: str",
    "text: str, times: int = 1, loud: bool = False, ratio: float | None = None",
    "a: int = -3, b: float = 2.5, c: float = 1, d: str = 'x', e: bool = True",
    "a: Optional[int] = None, b: Optional[str] = 'd', c: Union[float, None] = 0.0",
    "a: None | bool = None",
    "items: list",
    "items: list[str], counts: list[int] | None = None",
    "table: dict",
    "table: dict[str, int], more: dict[str, float] | None = None",
    "mode: Literal['a', 'b'] = 'a'",
    "mode: Literal['only']",
    "n: Literal[1, 2, 3]",
    "n: Literal[7] = 7",
    "flag: Optional[Literal['x', 'y']] = None",
    "snake_case_name: str, MixedCase: int, x1_y2: bool, trailing_: str = ''",
    "*, key_only: str, other: int = 4",
    "a: 'str', b: 'int | None' = None",
    "",
    "weird: str = 'caf\\u00e9 \\u2603'",
    "big: int = 9007199254740993",
    "z: list[bool] | None = None",
]

NOT_COVERED = [
    "x",  # no annotation
    "x: Any",
    "x: tuple[int, int]",
    "x: set[str]",
    "x: list[list[int]]",
    "x: dict[int, str]",
    "x: int | str",
    "x: Annotated[int, Field(gt=0)]",
    "x: Literal['a', 1]",
    "x: Literal[True]",
    "x: datetime.date",
    "x: int = float('inf')",
    "x: list = [1]",
    "x: str = Path('/')",
    "x: int = 2 ** 70",
    "json: str",
    "schema: int",
    "model_name: str",
    "_private: str",
    "x: int, /",
    "*args: int",
    "**kwargs: int",
    "x: 'NoSuchName'",
    "x: bytes",
]

DOCSTRINGS = [
    "",
    "Return the text it is given.",
    "Summary line.\n\nA longer body\nover two lines.",
    "Summary line.\nno blank line before the body",
    "  Indented summary.\n\n    Indented body.\n",
    "Summary.\n\n\n\nBody after many blanks.\n\n",
    "Unicode: caf\u00e9 \u2603.",
    "Look up a user-id or e-mail address.",
    "Summary.\n\nArgs:\n    text: the text to repeat.\n    times: how often.\n",
    "Summary.\n\n:param text: the text\n:param times: how often\n",
    "Summary.\n\nParameters\n----------\ntext : str\n    the text\n",
    "Summary.\n\n@param text: the text\n",
    "Summary with a colon: here.",
    "Title\n=====\n\nBody.",
    "Returns:\n    nothing",
]

PREAMBLE = """
import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field
"""


def _function(signature: str, doc: str = "A tool.") -> Any:
    source = PREAMBLE + f"\ndef tool({signature}):\n    {doc!r}\n    return None\n"
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(source), "<tool>", "exec"), namespace)
    return namespace["tool"]


def _pydantic(fn: Any) -> tuple[dict[str, Any], str] | None:
    try:
        built = build_tool("plug", fn)
    except Exception:
        return None
    return built.input_schema, built.description


def _docs(fn: Any) -> dict[str, str]:
    import inspect

    parsed = docstring_parser.parse(inspect.getdoc(fn) or "")
    return {p.arg_name: p.description or "" for p in parsed.params if p.description}


@pytest.mark.parametrize("signature", COVERED)
def test_a_covered_signature_gives_pydantic_s_schema(signature: str) -> None:
    for doc in DOCSTRINGS:
        fn = _function(signature, doc)
        expected = _pydantic(fn)
        assert expected is not None, signature
        mine = plain_schema.tool_schema(fn, _docs(fn))
        assert mine is not None, (signature, doc)
        # equal to the key order: what the record, ``tools --json`` and MCP show
        assert json.dumps(mine) == json.dumps(expected[0]), (signature, doc)


@pytest.mark.parametrize("signature", NOT_COVERED)
def test_anything_else_is_left_to_pydantic(signature: str) -> None:
    fn = _function(signature)
    assert plain_schema.tool_schema(fn, {}) is None


@pytest.mark.parametrize("doc", DOCSTRINGS)
def test_a_description_read_without_the_parser_is_the_parser_s(doc: str) -> None:
    fn = _function("text: str", doc)
    import inspect

    mine = plain_schema.description(inspect.getdoc(fn) or "")
    expected = _pydantic(fn)
    assert expected is not None
    if mine is None:  # something a docstring style could read: the parser decides
        assert any(mark in doc for mark in (":", "@", "--", "=="))
        return
    assert (mine or "tool") == expected[1]


def test_plain_docstrings_are_read_without_the_parser() -> None:
    plain = [d for d in DOCSTRINGS if plain_schema.description(d) is not None]
    assert len(plain) >= 7


def test_the_reserved_names_cover_the_installed_pydantic() -> None:
    public = {n for n in dir(BaseModel) if not n.startswith("_") and not n.startswith("model_")}
    assert public <= plain_schema.RESERVED


def test_the_tool_name_rule_is_the_host_s() -> None:
    from jafhost import tools
    from jafhost.runtime import plain_record

    assert plain_record.TOOL_NAME.pattern == tools.TOOL_NAME.pattern
