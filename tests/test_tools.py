"""Building tools from plain functions: names, descriptions, schemas, validators."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from jafhost import PluginContext, tool
from jafhost.errors import ToolDefinitionError
from jafhost.runtime.dispatch import call_inline, validate
from jafhost.tools import build_tool, split_name
from jafhost.types import CallError


def add(
    title: str, body: str, tags: list[str] | None = None, priority: int = 1
) -> dict[str, object]:
    """Add a note.

    Notes are kept in the plugin's data folder.

    Args:
        title: A short title.
        body: The text of the note.
        tags: Labels to find it by.
    """
    return {"title": title, "body": body, "tags": tags or [], "priority": priority}


def test_schema_and_descriptions_from_hints_and_docstring() -> None:
    built = build_tool("notes", add)
    assert built.full_name == "notes.add"
    assert built.export_name == "notes__add"
    assert built.description == "Add a note.\n\nNotes are kept in the plugin's data folder."
    schema = built.input_schema
    assert schema["required"] == ["title", "body"]
    assert schema["properties"]["title"] == {
        "description": "A short title.",
        "title": "Title",
        "type": "string",
    }
    assert schema["properties"]["priority"]["default"] == 1
    assert schema["properties"]["tags"]["description"] == "Labels to find it by."
    assert "title" not in schema or schema.get("title") != "notes__add"
    assert not built.is_async and not built.confirm


def test_annotated_field_wins_and_decorator_renames() -> None:
    @tool(name="find", description="Find things.", confirm=True)
    async def search(
        query: Annotated[str, Field(description="What to look for", min_length=1)],
        mode: Literal["fast", "full"] = "fast",
        ctx: PluginContext | None = None,
    ) -> list[str]:
        """Ignored docstring.

        Args:
            query: docstring description loses to Field.
        """
        return [query]

    built = build_tool("notes", search)
    assert built.name == "find" and built.description == "Find things."
    assert built.confirm and built.is_async
    assert built.context_param == "ctx"
    props = built.input_schema["properties"]
    assert set(props) == {"query", "mode"}
    assert props["query"]["description"] == "What to look for"
    assert props["query"]["minLength"] == 1
    assert props["mode"]["enum"] == ["fast", "full"]


def test_validation_names_each_bad_field() -> None:
    built = build_tool("notes", add)
    error = validate(built, {"title": 3, "priority": "high", "colour": "red"})
    assert isinstance(error, CallError)
    assert error.code == "invalid_arguments"
    fields = {f["field"]: f["message"] for f in error.fields}
    assert set(fields) == {"title", "body", "priority", "colour"}
    assert fields["colour"] == "unexpected argument"
    assert "body: Field required" in error.message
    assert isinstance(validate(built, ["not", "a", "dict"]), CallError)
    assert validate(built, {"title": "t", "body": "b"}) == {
        "title": "t",
        "body": "b",
        "tags": None,
        "priority": 1,
    }


def test_results_are_json_ready() -> None:
    class Note(BaseModel):
        id: int
        title: str

    @dataclasses.dataclass
    class Pair:
        left: int
        right: set[int]

    def get(id: int) -> Note:
        return Note(id=id, title="x")

    def pair() -> Pair:
        return Pair(1, {2})

    assert call_inline(build_tool("n", get), {"id": "7"}, None).result == {"id": 7, "title": "x"}
    assert call_inline(build_tool("n", pair), {}, None).result == {"left": 1, "right": [2]}


def test_context_is_injected_not_exposed(tmp_path: object) -> None:
    import logging
    from pathlib import Path

    def where(ctx: PluginContext) -> str:
        return str(ctx.data_dir)

    ctx = PluginContext("n", None, Path("/data/n"), logging.getLogger("t"))
    built = build_tool("n", where)
    assert built.input_schema["properties"] == {}
    assert call_inline(built, {}, ctx).result == "/data/n"


@pytest.mark.parametrize(
    "fn,message",
    [
        (lambda *args: None, "not allowed"),
        ("not callable", "not callable"),
    ],
)
def test_bad_tools_are_refused(fn: object, message: str) -> None:
    with pytest.raises(ToolDefinitionError, match=message):
        build_tool("n", fn)  # type: ignore[arg-type]


def test_varargs_and_long_names_are_refused() -> None:
    def spread(*items: int) -> None: ...

    with pytest.raises(ToolDefinitionError, match=r"\*args"):
        build_tool("n", spread)
    with pytest.raises(ToolDefinitionError, match="64"):
        build_tool("a" * 40, tool(name="b" * 30)(add))
    with pytest.raises(ToolDefinitionError, match="not allowed"):
        build_tool("n", tool(name="two__parts")(add))


def test_split_name_accepts_both_forms() -> None:
    assert split_name("notes-search.find") == ("notes-search", "find")
    assert split_name("notes-search__find") == ("notes-search", "find")
    assert split_name("a_b__c") == ("a_b", "c")
    assert split_name("plain") is None
