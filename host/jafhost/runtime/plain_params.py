"""Which tools take only plain parameters, and which arguments fit them exactly.

A tool's arguments are validated by a pydantic model built from its signature. For the
commonest tools (every parameter exactly ``str``, ``int``, ``float`` or ``bool``, maybe
``None``-able, with no ``Annotated`` metadata, constraints or validators) pydantic hands an
argument of exactly that type back unchanged, and fills a missing optional one with the
function's own default. For those, and only those, ``jafhost call``'s one-shot lane calls
the function without pydantic; anything else (a string for an ``int``, an ``int`` for a
``float``, an unknown key) goes to the real validation, so errors and coercions stay
pydantic's own.

``plain_parameters`` runs plugin code (a string annotation is evaluated, an attribute
may be a property): call it in the plugin's scope. What it returns holds only exact
``str``, ``bool`` and host-made dicts, so the host compares it outside that scope
(a parameter named by a ``str`` subclass, through ``__signature__``, is not plain).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

PLAIN_TYPES: dict[Any, str] = {str: "str", int: "int", float: "float", bool: "bool"}
"""The parameter types taken as they are, by the name a record stores them under."""
_SCALARS = (str, int, float, bool, type(None))

Facts = dict[str, dict[str, Any]]
"""Per parameter: ``{"type": "str", "nullable": bool, "required": bool}``."""


def _plain_type(hint: Any) -> tuple[str, bool] | None:
    """(type name, None-able) for a plain hint, else None."""
    if hint in PLAIN_TYPES:
        return PLAIN_TYPES[hint], False
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        members = typing.get_args(hint)
        rest = [m for m in members if m is not type(None)]
        if len(members) == 2 and len(rest) == 1 and rest[0] in PLAIN_TYPES:
            return PLAIN_TYPES[rest[0]], True
    return None


def plain_parameters(fn: Callable[..., Any]) -> Facts | None:
    """The plain parameters of tool function ``fn``, or None when any parameter is not
    plain (or ``fn`` is not an ordinary synchronous function)."""
    if not inspect.isfunction(fn) or inspect.iscoroutinefunction(fn):
        return None
    try:
        signature = inspect.signature(fn)
        annotations = dict(getattr(fn, "__annotations__", {}) or {})
        annotations.pop("return", None)
        holder = types.SimpleNamespace(__annotations__=annotations)
        hints = typing.get_type_hints(holder, globalns=fn.__globals__, include_extras=True)
    except Exception:  # unreadable: the real validation says what is wrong
        return None
    facts: Facts = {}
    for param in signature.parameters.values():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            return None
        if type(param.name) is not str:  # a subclass's methods would run in the host's code
            return None
        found = _plain_type(hints.get(param.name))
        if found is None:
            return None
        required = param.default is param.empty
        if not required and type(param.default) not in _SCALARS:
            return None
        facts[param.name] = {"type": found[0], "nullable": found[1], "required": required}
    return facts


def _fits(value: Any, fact: dict[str, Any]) -> bool:
    if value is None:
        return bool(fact["nullable"])
    if type(value) is not {"str": str, "int": int, "float": float, "bool": bool}[fact["type"]]:
        return False
    if type(value) is str:  # a lone surrogate is not valid text for pydantic's core
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def fits_exactly(facts: Facts, arguments: Any) -> bool:
    """Whether ``arguments`` are what pydantic would hand back unchanged: a dict of known
    names, every required one present, each value of exactly its parameter's type."""
    if type(arguments) is not dict:
        return False
    if any(type(key) is not str or key not in facts for key in arguments):
        return False
    if any(fact["required"] and name not in arguments for name, fact in facts.items()):
        return False
    return all(_fits(value, facts[name]) for name, value in arguments.items())


def plain_tools(tools: list[Any]) -> dict[str, Facts]:
    """In the plugin's scope: tool name -> its plain parameters, for the tools whose
    parameters are all plain and that take no context (what a record keeps)."""
    found: dict[str, Facts] = {}
    for tool in tools:
        if tool.context_param is None and not tool.positional and not tool.is_async:
            facts = plain_parameters(tool.function)
            if facts is not None:
                found[str(tool.name)] = facts
    return found
