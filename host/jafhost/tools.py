"""The ``@tool`` decorator: name, description and confirmation for a plugin's tool."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])
TOOL_ATTRIBUTE = "__jaf_tool__"


@dataclass(frozen=True)
class ToolOptions:
    """What ``@tool`` recorded on a function; absent means all defaults."""

    name: str | None = None
    description: str | None = None
    confirm: bool = False


@overload
def tool(fn: F, /) -> F: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, confirm: bool = False
) -> Callable[[F], F]: ...


def tool(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    confirm: bool = False,
) -> F | Callable[[F], F]:
    """Mark a function as a tool, optionally renaming it or asking for confirmation.

    ``confirm=True`` tools run only after the user says yes (refused when nobody can).
    """

    def mark(function: F) -> F:
        setattr(function, TOOL_ATTRIBUTE, ToolOptions(name, description, confirm))
        return function

    return mark(fn) if fn is not None else mark


def tool_options(fn: Callable[..., Any]) -> ToolOptions:
    return getattr(fn, TOOL_ATTRIBUTE, None) or ToolOptions()
