"""The activation record of a plugin that offers only plain tools, made without pydantic.

A ``jafhost call`` of a plugin that has no valid record starts it and records what it
offers (``host.runtime.Runtime._record``), building each tool with pydantic for its
schema. When the plugin implements ``jaf_tools()`` alone (no context, no other hook)
and every tool it returns has a signature ``plain_schema`` covers, the one-shot lane
makes the same record here: names, descriptions, schemas, ``confirm``, ``is_async`` and
plain parameters exactly as ``tools.build_tool``, ``lifecycle._build_tools`` and
``activation_records.record_of`` would give them (tests compare the two records). Where
that cannot be told without pydantic (a tool it does not cover, a name the host would
refuse, two tools of one name) it answers None, and the full path starts the plugin.

``plain_record`` reads the plugin's functions (annotations, ``@tool`` options,
docstrings): call it in the plugin's scope.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from jafhost.runtime.activation_records import ActivationRecord, RecordedTool
from jafhost.runtime.plain_params import plain_parameters
from jafhost.runtime.plain_schema import description, tool_schema
from jafhost.runtime.scope import exact_str, plain

TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
"""= ``tools.TOOL_NAME`` (a test keeps them equal): ``jafhost.tools`` is imported only
for a function ``@tool`` marked, whose plugin imported it already."""


def _docs(fn: Any, given: Any) -> tuple[str, dict[str, str]] | None:
    """The tool's description and its parameters' descriptions, as ``tools`` reads
    them; the parser is imported only for a docstring that may have sections."""
    doc = inspect.getdoc(fn) or ""
    text = description(doc)
    params: dict[str, str] = {}
    if text is None:
        import docstring_parser

        parsed = docstring_parser.parse(doc)
        text = "\n\n".join(p for p in (parsed.short_description, parsed.long_description) if p)
        params = {p.arg_name: p.description or "" for p in parsed.params if p.description}
    if given is not None and type(given) is not str:
        return None
    return str(given or text), params


def _recorded_tool(identity: str, fn: Any) -> RecordedTool | None:
    """One tool as the full path records it, or None when only pydantic can tell."""
    if not inspect.isfunction(fn):
        return None
    given_name, given_description, confirm = None, None, False
    options = getattr(fn, "__jaf_tool__", None)
    if options is not None:  # marked with ``@tool``: ``jafhost.tools`` is imported
        from jafhost.tools import ToolOptions

        if type(options) is not ToolOptions:
            return None
        given_name, given_description, confirm = options.name, options.description, options.confirm
    if given_name is not None and type(given_name) is not str:
        return None
    name = given_name or fn.__name__
    if not TOOL_NAME.match(name) or "__" in name or len(identity) + 2 + len(name) > 64:
        return None
    docs = _docs(fn, given_description)
    if docs is None:
        return None
    text, params = docs
    schema = tool_schema(fn, params)
    if schema is None:
        return None
    is_async = inspect.iscoroutinefunction(fn)
    facts = None if is_async else plain_parameters(fn)
    return RecordedTool(
        exact_str(name),
        exact_str(text or name),
        plain(schema),
        bool(confirm),
        is_async,
        facts,
    )


def plain_record(identity: str, name: str, key: str, functions: Any) -> ActivationRecord | None:
    """The record of plugin ``name`` (running as ``identity``) under ``key``, whose only
    hook ``jaf_tools()`` returned ``functions`` and which has no config schema file;
    None when only the full path can make it."""
    if not isinstance(functions, list | tuple):
        return None
    tools: list[RecordedTool] = []
    for fn in functions:
        recorded = _recorded_tool(identity, fn)
        if recorded is None or any(t.name == recorded.name for t in tools):
            return None
        tools.append(recorded)
    return ActivationRecord(plugin=name, key=key, tools=tools, hooks={"jaf_tools": []})
