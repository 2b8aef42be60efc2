"""A tool's input schema and description for plain signatures, without pydantic.

A plugin's first start records every tool's input schema (``activation_records``). The
host builds it with pydantic (``tools.build_tool``: a model from the signature, then its
JSON schema), which costs importing pydantic and building a model per tool. For the
signatures most tools have, the schema pydantic gives is fixed and simple, so the
one-shot lane writes the record of a plugin whose tools are all such without pydantic.

``tool_schema`` answers only for what it covers exactly (tests compare it with
pydantic's own output over many signatures): parameters of ``str``, ``int``, ``float``,
``bool``, bare or parametrised ``list`` and ``dict`` of those, ``Literal`` of strings or
of integers, each maybe ``None``-able, with a ``None`` or scalar default; names pydantic
takes without a warning. For anything else it returns None and the host's pydantic path
decides (a name pydantic refuses, an ``Annotated`` type, a context parameter...).
``description`` likewise reads a docstring without ``docstring_parser`` only when it has
nothing any docstring style would read as a section.

Both read the function's annotations (``typing.get_type_hints`` may evaluate a string
annotation: plugin code), so call them in the plugin's scope.
"""

from __future__ import annotations

import inspect
import math
import re
import types
import typing
from collections.abc import Callable
from typing import Any

_SCALAR_SCHEMAS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
}
_DEFAULT_TYPES = (str, int, float, bool, type(None))
_INT_LIMIT = 2**63
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
RESERVED = frozenset(
    {
        "construct",
        "copy",
        "dict",
        "from_orm",
        "json",
        "parse_file",
        "parse_obj",
        "parse_raw",
        "schema",
        "schema_json",
        "update_forward_refs",
        "validate",
    }
)
"""Public attributes of pydantic's ``BaseModel`` outside ``model_*`` (a field of such a
name makes pydantic warn or refuse): such a parameter takes the pydantic path. A test
checks this covers the installed pydantic."""
_SECTION_MARKS = re.compile(r"[:@]|^\s*[-=~`^*+#]{2,}\s*$", re.M)
"""What any docstring style (reST, Google, NumPy, Epydoc) could read as a section or a
field: a colon, an ``@``, an underline."""


def _title(name: str) -> str:
    return name.title().replace("_", " ").strip()


def _literal(hint: Any) -> dict[str, Any] | None:
    values = typing.get_args(hint)
    kinds = {type(v) for v in values}
    if not values or len(kinds) != 1 or next(iter(kinds)) not in (str, int):
        return None
    if any(type(v) is int and abs(v) >= _INT_LIMIT for v in values):
        return None
    if any(type(v) is str and not _utf8(v) for v in values):
        return None
    kind = "string" if kinds == {str} else "integer"
    if len(values) == 1:
        return {"const": values[0], "type": kind}
    return {"enum": list(values), "type": kind}


def _type_schema(hint: Any) -> dict[str, Any] | None:
    """The schema pydantic gives ``hint`` (not None-able), or None when not covered."""
    if hint in _SCALAR_SCHEMAS:
        return dict(_SCALAR_SCHEMAS[hint])
    if hint is list:
        return {"items": {}, "type": "array"}
    if hint is dict:
        return {"additionalProperties": True, "type": "object"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return _literal(hint)
    if origin is list and len(args) == 1 and args[0] in _SCALAR_SCHEMAS:
        return {"items": dict(_SCALAR_SCHEMAS[args[0]]), "type": "array"}
    if origin is dict and len(args) == 2 and args[0] is str and args[1] in _SCALAR_SCHEMAS:
        return {"additionalProperties": dict(_SCALAR_SCHEMAS[args[1]]), "type": "object"}
    return None


def _hint_schema(hint: Any) -> dict[str, Any] | None:
    """``hint``'s schema, a ``None``-able one as pydantic writes it (``anyOf``)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        members = typing.get_args(hint)
        rest = [m for m in members if m is not type(None)]
        if len(members) != 2 or len(rest) != 1:
            return None
        inner = _type_schema(rest[0])
        return None if inner is None else {"anyOf": [inner, {"type": "null"}]}
    return _type_schema(hint)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _default_ok(value: Any) -> bool:
    if type(value) not in _DEFAULT_TYPES:
        return False
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is int:
        return abs(value) < _INT_LIMIT
    return type(value) is not str or _utf8(value)


def _sorted(schema: dict[str, Any]) -> dict[str, Any]:
    """Keys sorted as pydantic sorts them (recursively; a ``properties`` mapping keeps
    its order)."""
    out: dict[str, Any] = {}
    for key in sorted(schema):
        value = schema[key]
        if key == "properties":
            out[key] = {name: _sorted(sub) for name, sub in value.items()}
        elif isinstance(value, dict):
            out[key] = _sorted(value)
        elif isinstance(value, list):
            out[key] = [_sorted(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def hints_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """Resolved parameter annotations, read as ``tools.build_tool`` reads them (the
    return annotation left out); raises as ``typing.get_type_hints`` does."""
    annotations = dict(getattr(fn, "__annotations__", {}) or {})
    annotations.pop("return", None)
    holder = types.SimpleNamespace(__annotations__=annotations)
    namespace = getattr(inspect.unwrap(fn), "__globals__", {})
    return typing.get_type_hints(holder, globalns=namespace, include_extras=True)


def tool_schema(fn: Callable[..., Any], param_docs: dict[str, str]) -> dict[str, Any] | None:
    """The input schema ``tools.build_tool`` would give ``fn`` (``param_docs``: the
    parameters' descriptions from its docstring), or None when it is not one this
    module covers exactly."""
    try:
        signature = inspect.signature(fn)
        hints = hints_of(fn)
    except Exception:  # the pydantic path reports what is wrong
        return None
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in signature.parameters.values():
        name = param.name
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            return None
        if not _NAME.match(name) or name.startswith("model_") or name in RESERVED:
            return None
        if name not in hints:
            return None
        schema = _hint_schema(hints[name])
        if schema is None:
            return None
        if param.default is param.empty:
            required.append(name)
        elif _default_ok(param.default):
            schema["default"] = param.default
        else:
            return None
        doc = param_docs.get(name)
        if doc:
            if not _utf8(doc):
                return None
            schema["description"] = doc
        schema["title"] = _title(name)
        properties[name] = schema
    result: dict[str, Any] = {"additionalProperties": False, "properties": properties}
    if required:
        result["required"] = required
    result["type"] = "object"
    return _sorted(result)


def description(doc: str) -> str | None:
    """The text ``tools`` takes from a docstring (``inspect.getdoc``'s) through
    ``docstring_parser``: its summary and body joined by a blank line; None when the
    docstring has anything a docstring style could read as a section (then the parser
    decides). With none, every style finds no field and the first style tried (reST)
    gives this reading."""
    if not doc:
        return ""
    if _SECTION_MARKS.search(doc) or not _utf8(doc):
        return None
    text = inspect.cleandoc(doc)
    first, _, rest = text.partition("\n")
    body = rest.strip()
    return "\n\n".join(p for p in (first, body) if p)
